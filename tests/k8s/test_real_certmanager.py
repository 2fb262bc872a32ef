"""cert-manager v1.19.4 for real: controller, webhook and cainjector.

A control plane of its own with admission webhooks on (in a network
namespace, see docs/testing-control-plane.md). The three Deployments of the
release manifest that the certmanager role applies are played by the real
processes (tools/testbins/cert-manager, tests/cluster/certmanager.py), with
the args and env read from their pods. The role's issuers, the gateway role's
listener Certificate and the Certificates cert-manager's ingress-shim makes
for the mlflow/minio Ingresses must be issued by them: Ready, their Secrets
chaining to the stack's CA, every object validated by the real webhook,
whose CA the real cainjector put into the webhook configurations.
"""
import base64
import datetime
import json

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.cluster import certmanager, gateway_api
from tests.cluster.controllers import runner_logs, running
from tests.cluster.isolated_pods import expand
from tests.helpers import wait_for
from tests.k8s.serving_env import MIRROR, env, kjson
from tests.k8s.webhook_env import CERT_MANAGER, converge_twice, webhook_cluster
from tests.playbook import ROOT
from tests.servers.bins import find_bin

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("k8s-certmanager"), pytest.mark.slow]

PLAYBOOK = ROOT / "tests" / "k8s" / "playbooks" / "certmanager_converge.yml"
NS = "mlops"
ISSUER = "mlops-selfsigned"
STALE_LEASE_SECONDS = 40  # cainjector retries every 15 s: it leads ~45 s after it starts


def _extra(tmp):
    return {"mlops_manifest_dir": str(MIRROR), "certmanager_manifest_cache_dir": str(tmp / "download-cache"),
            "certmanager_wait_timeout": 180, "mlops_exposure": "ingress", "mlops_ingress_class": "nginx",
            "minio_ingress_enabled": True,
            "mlflow_ingress_enabled": True, "mlops_gateway_class": gateway_api.TEST_CLASS}


def _ready(obj):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj.get("status", {}).get("conditions", []))


def _when_ready(cluster, *args):
    """The object (kubectl get ARGS) once it exists with its Ready condition True, else None."""
    res = cluster.kubectl("get", *args, "-o", "json", check=False)
    if res.returncode != 0:
        assert "NotFound" in res.stderr, res.stderr
        return None
    obj = json.loads(res.stdout)
    return obj if _ready(obj) else None


def _issued(cert):
    """The Certificate once its issuing controller has recorded a revision, else None."""
    return cert if cert and cert.get("status", {}).get("revision") else None


def _cert(pem_b64):
    return x509.load_pem_x509_certificate(base64.b64decode(pem_b64))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with webhook_cluster(tmp_path_factory, "certmanager", certmanager.LOCAL_PODS, {"cert-manager": "cert-manager"},
                         "admission webhooks test") as cl:
        yield cl


def _stale_cainjector_lease(cluster, seconds):
    """cainjector's leader lease, still held by a pod that is gone (a node
    failure, a forced delete): the new cainjector runs, so its Deployment is
    available, but injects nothing until the lease has expired."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    cluster.apply_server_side({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "cert-manager-cainjector-leader-election", "namespace": "kube-system"},
        "spec": {"holderIdentity": "cert-manager-cainjector-5c7f9d6b8-gone_0b1c2d3e", "leaseDurationSeconds": seconds,
                 "acquireTime": now, "renewTime": now, "leaseTransitions": 3}})


@pytest.fixture(scope="module")
def converged(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real-certmanager")
    # The stack's namespace comes from the storage phase, before the gateway.
    cluster.kubectl("create", "namespace", NS)
    _stale_cainjector_lease(cluster, STALE_LEASE_SECONDS)
    runners = certmanager.runners(cluster, find_bin("cert-manager"), tmp / "pods", CERT_MANAGER)
    with running(runners):
        runs = converge_twice(PLAYBOOK, extra_vars=_extra(tmp), env=env(cluster))
        yield {"runs": runs, "runners": {r.component: r for r in runners}}


def test_converges_and_second_run_changes_nothing(converged):
    first = converged["runs"][0]
    assert first.rc == 0, first.explain() + runner_logs(converged["runners"].values())
    # The stale lease held cainjector back: the webhook had no CA in its
    # configurations when the Deployments were available, and the role waited.
    applied = first.task_result("Apply the cert-manager ClusterIssuers")
    assert applied.get("attempts", 1) > 1, applied
    second = converged["runs"][1]
    assert second.rc == 0, second.explain()
    assert second.changed() == 0, [t for t in second.stdout.splitlines() if '"changed": true' in t][:5]
    for r in converged["runners"].values():
        assert not r.errors, (r.component, r.errors)


def test_processes_run_with_the_manifest_args(converged):
    """Each process got its container's args from the release manifest
    ($(POD_NAMESPACE) expanded as kubelet does), and is the pod's only run."""
    deployments = {d["metadata"]["name"]: d for d in yaml.safe_load_all(CERT_MANAGER.read_text())
                   if d and d["kind"] == "Deployment"}
    assert len(deployments) == 3, list(deployments)
    seen = set()
    for dep in deployments.values():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        component = labels["app.kubernetes.io/component"]
        runner = converged["runners"][component]
        container = next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == runner.container)
        live = [e for e in runner.pods.values() if e["proc"].poll() is None]
        assert len(live) == 1, (component, runner.pods)
        want = [expand(a, {"POD_NAMESPACE": "cert-manager"}) for a in container["args"]]
        assert live[0]["argv"][2:] == want
        assert live[0]["restarts"] == 0, runner.logs()
        seen.add(component)
    assert seen == {"controller", "webhook", "cainjector"}


def test_cluster_issuers_ready(converged, cluster):
    for name in (ISSUER + "-bootstrap", ISSUER):
        issuer = wait_for("ClusterIssuer %s Ready" % name, lambda n=name: _when_ready(cluster, "clusterissuer", n))
        assert issuer["status"]["conditions"][0]["reason"] in ("IsReady", "KeyPairVerified"), issuer["status"]


def _expected_certificates(cluster):
    """(namespace, Certificate name, Secret name, DNS names) the stack asks for."""
    out = [("cert-manager", "mlops-ca", "mlops-ca", []),
           (NS, "mlops-tls", "mlops-tls", ["*.mlops.local", "mlops.local"])]  # gateway role
    for ing in kjson(cluster, "-n", NS, "get", "ingress")["items"]:
        assert ing["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == ISSUER
        for tls in ing["spec"]["tls"]:
            out.append((NS, tls["secretName"], tls["secretName"], tls["hosts"]))
    return out


def test_certificates_issued_by_the_stack_ca(converged, cluster):
    expected = _expected_certificates(cluster)
    assert len(expected) >= 4, expected  # the CA, the Gateway's, mlflow's and minio's Ingresses
    ca_secret = kjson(cluster, "-n", "cert-manager", "get", "secret", "mlops-ca")
    ca = _cert(ca_secret["data"]["tls.crt"])
    assert ca.subject == ca.issuer and ca.verify_directly_issued_by(ca) is None  # self-signed root
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "mlops-stack-ca"
    for ns, name, secret_name, hosts in expected:
        # ingress-shim's Certificates: the Ingresses exist before cert-manager (site.yml's order), and its
        # first creates fail while the webhook has no CA yet; it retries with a doubling back-off from 5 s.
        # Ready comes from cert-manager's readiness controller, status.revision from its issuing controller: two
        # writers, so Ready can be seen a moment before the revision is recorded.
        cert = wait_for("Certificate %s/%s Ready and issued" % (ns, name),
                        lambda ns=ns, name=name: _issued(_when_ready(cluster, "-n", ns, "certificate", name)),
                        timeout=240)
        assert cert["status"]["revision"] >= 1, cert["status"]
        secret = kjson(cluster, "-n", ns, "get", "secret", secret_name)
        assert secret["type"] == "kubernetes.io/tls", (name, secret["type"])
        assert secret["metadata"]["annotations"]["cert-manager.io/certificate-name"] == name, secret["metadata"]
        leaf = _cert(secret["data"]["tls.crt"])
        key = serialization.load_pem_private_key(base64.b64decode(secret["data"]["tls.key"]), None)
        assert key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
            == leaf.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        if name == "mlops-ca":
            continue
        leaf.verify_directly_issued_by(ca)  # raises unless the stack's CA signed it
        assert _cert(secret["data"]["ca.crt"]) == ca, (name, _cert(secret["data"]["ca.crt"]).serial_number, ca.serial_number,
                                                       cert["status"], kjson(cluster, "-n", "cert-manager", "get",
                                                                             "certificate", "mlops-ca")["status"])
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(hosts), (name, san)
        assert secret["metadata"]["annotations"]["cert-manager.io/issuer-name"] == ISSUER
        assert secret["metadata"]["annotations"]["cert-manager.io/issuer-kind"] == "ClusterIssuer"


def test_requests_went_through_the_webhooks(converged, cluster):
    """Every CertificateRequest the controller made was approved by its
    approver and carries the identity cert-manager's mutating webhook
    stamps on CREATE: the controller's own service account."""
    reqs = kjson(cluster, "get", "certificaterequests", "-A")["items"]
    assert len(reqs) >= len(_expected_certificates(cluster)), [r["metadata"]["name"] for r in reqs]
    for req in reqs:
        conds = {c["type"]: c for c in req["status"]["conditions"]}
        assert conds["Approved"]["status"] == "True", req["status"]
        assert conds["Ready"]["status"] == "True", req["status"]
        assert req["spec"]["username"] == "system:serviceaccount:cert-manager:cert-manager", req["spec"]


def test_webhook_rejects_an_invalid_certificate(converged, cluster):
    """The CRD schema accepts a Certificate without any subject; cert-manager's
    validating webhook refuses it."""
    bad = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "no-subject", "namespace": NS},
           "spec": {"secretName": "no-subject", "issuerRef": {"kind": "ClusterIssuer", "name": ISSUER}}}
    res = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(bad), check=False)
    assert res.returncode != 0
    assert 'admission webhook "webhook.cert-manager.io" denied the request' in res.stderr, res.stderr
    assert "at least one of" in res.stderr, res.stderr


def test_cainjector_injected_the_webhook_ca(converged, cluster):
    """The real cainjector copied the CA the webhook keeps in its Secret into both
    webhook configurations (our role never sets caBundle)."""
    ca = kjson(cluster, "-n", "cert-manager", "get", "secret", "cert-manager-webhook-ca")["data"]["ca.crt"]
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        cfg = kjson(cluster, "get", kind, "cert-manager-webhook", "--show-managed-fields")
        assert [w["clientConfig"]["caBundle"] for w in cfg["webhooks"]] == [ca], kind
        managers = {m["manager"] for m in cfg["metadata"]["managedFields"]}
        assert any("cainjector" in m for m in managers), managers
