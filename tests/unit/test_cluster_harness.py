"""Pure logic of the local control-plane harness (tests/cluster)."""
import base64
import ipaddress

import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.cluster import kubeconfig, objects, pki


def _cert(pem):
    return x509.load_pem_x509_certificate(pem)


def test_ca_signs_serving_and_client_certs():
    ca = pki.new_ca()
    ca_cert = _cert(ca.cert_pem)
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    serving = pki.issue(ca, "kube-apiserver", dns=pki.APISERVER_DNS,
                        ips=pki.apiserver_ips("10.96.0.0/16"), server=True)
    c = _cert(serving.cert_pem)
    assert c.issuer == ca_cert.subject
    c.verify_directly_issued_by(ca_cert)
    san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("10.96.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc" in san.get_values_for_type(x509.DNSName)
    eku = c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku

    admin = _cert(pki.issue(ca, "mlops-admin", orgs=("system:masters",), client=True).cert_pem)
    admin.verify_directly_issued_by(ca_cert)
    assert admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    assert admin.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "mlops-admin"
    assert ExtendedKeyUsageOID.CLIENT_AUTH in admin.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value


def test_service_account_keys_are_rsa_pem():
    priv, pub = pki.service_account_keys()
    assert b"PRIVATE KEY" in priv and b"PUBLIC KEY" in pub


def test_kubeconfig_embeds_credentials():
    doc = kubeconfig.make_kubeconfig("https://127.0.0.1:6443", b"CA", b"CERT", b"KEY",
                                     cluster="c1", user="admin")
    parsed = yaml.safe_load(kubeconfig.dump(doc))
    assert parsed["current-context"] == "c1"
    assert parsed["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(parsed["clusters"][0]["cluster"]["certificate-authority-data"]) == b"CA"
    assert base64.b64decode(parsed["users"][0]["user"]["client-key-data"]) == b"KEY"
    assert parsed["contexts"][0]["context"] == {"cluster": "c1", "user": "admin"}


def test_default_nodes_gpu_shape():
    cpu, gpu, nodes = objects.default_nodes(2, 2)
    assert len(cpu) == 2 and len(gpu) == 2 and len(nodes) == 4
    by_name = {n["metadata"]["name"]: n for n in nodes}
    for name in gpu:
        n = by_name[name]
        assert n["status"]["capacity"]["nvidia.com/gpu"] == "1"
        assert n["status"]["allocatable"]["nvidia.com/gpu"] == "1"
        assert n["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"
        assert n["metadata"]["labels"]["nvidia.com/gpu.product"] == objects.GPU_PRODUCT
        assert n["spec"]["taints"] == [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    for name in cpu:
        n = by_name[name]
        assert "nvidia.com/gpu" not in n["status"]["capacity"]
        assert not n["spec"].get("taints")
    for n in nodes:
        assert n["metadata"]["annotations"][objects.KWOK_ANNOTATION] == "fake"


def test_storage_class_is_default_and_ours():
    sc = objects.storage_class()
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert sc["provisioner"] == objects.PROVISIONER


def test_persistent_volume_prebound_to_claim():
    pvc = {"metadata": {"name": "data-db-0", "namespace": "ns", "uid": "abc-123",
                        "annotations": {"volume.kubernetes.io/selected-node": "kwok-cpu-1"}},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}}
    pv = objects.persistent_volume_for(pvc, "standard")
    assert pv["metadata"]["name"] == "pvc-abc-123"
    assert pv["spec"]["capacity"] == {"storage": "5Gi"}
    assert pv["spec"]["claimRef"]["uid"] == "abc-123"
    assert pv["spec"]["claimRef"]["namespace"] == "ns"
    assert pv["spec"]["storageClassName"] == "standard"
    assert pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == objects.PROVISIONER
    term = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
    assert term["values"] == ["kwok-cpu-1"]
    del pvc["metadata"]["annotations"]
    assert "nodeAffinity" not in objects.persistent_volume_for(pvc, "standard")["spec"]
