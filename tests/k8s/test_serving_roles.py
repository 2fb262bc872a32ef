"""certmanager, knative, kserve and gpu_serving against the local control plane.

Everything is installed from the local manifest mirror (../shared/upstream-manifests);
download caches point into the test's tmp dir and proxies point at a dead
port, so a download attempt would fail and the cache dir would exist.
"""
import base64
import json
import time
from pathlib import Path

import pytest
import yaml

from tests.playbook import ROOT, run_playbook

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("k8s"), pytest.mark.slow]

MIRROR = (ROOT.parent / "shared" / "upstream-manifests").resolve()
PLAYBOOKS = Path(__file__).parent / "playbooks"
SERVING_NS = "mlops-serving"
CRDS = [
    "certificates.cert-manager.io", "clusterissuers.cert-manager.io",
    "services.serving.knative.dev", "revisions.serving.knative.dev",
    "inferenceservices.serving.kserve.io", "servingruntimes.serving.kserve.io",
    "clusterservingruntimes.serving.kserve.io",
]


def _kjson(cluster, *args):
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def _inventory(tmp_path, cluster, gpu_nodes, hostvars=None):
    nodes = {}
    for name in gpu_nodes:
        labels = _kjson(cluster, "get", "node", name)["metadata"]["labels"] if name in cluster.gpu_nodes else {}
        hv = {"gpu_count": 1}
        if labels.get("nvidia.com/gpu.product"):
            hv["gpu_product"] = labels["nvidia.com/gpu.product"]
        hv.update((hostvars or {}).get(name, {}))
        nodes[name] = hv
    inv = {"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                           "ansible_python_interpreter": str(Path(ROOT / ".venv/bin/python"))}},
                   "children": {"gpu_inference_nodes": {"hosts": nodes}}}}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inv))
    return path


def _env(cluster):
    return {
        "K8S_AUTH_KUBECONFIG": cluster.kubeconfig,
        "K8S_AUTH_CONTEXT": cluster.context,
        # Any download would go through a dead proxy and fail.
        "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
        "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost",
    }


def _extra(tmp_path):
    cache = str(tmp_path / "download-cache")
    return {
        "mlops_manifest_dir": str(MIRROR),
        "certmanager_manifest_cache_dir": cache, "knative_manifest_cache_dir": cache,
        "kserve_manifest_cache_dir": cache, "gpu_serving_manifest_cache_dir": cache,
    }


def _s3_secret(cluster):
    cluster.kubectl("create", "namespace", "mlops", check=False)
    data = {"AWS_ACCESS_KEY_ID": "test-access", "AWS_SECRET_ACCESS_KEY": "test-secret-key",
            "AWS_ENDPOINT_URL": "http://minio.mlops.svc.cluster.local:9000", "AWS_DEFAULT_REGION": "us-east-1",
            "S3_USE_HTTPS": "0", "S3_VERIFY_SSL": "0"}
    cluster.apply_server_side({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                               "metadata": {"name": "mlops-s3", "namespace": "mlops"}, "stringData": data})
    return data


@pytest.fixture(scope="module")
def converged(k8s_cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serving")
    s3 = _s3_secret(k8s_cluster)
    group = k8s_cluster.gpu_nodes[:1]
    inv = _inventory(tmp, k8s_cluster, group)
    cpu_before = {n: _kjson(k8s_cluster, "get", "node", n) for n in k8s_cluster.cpu_nodes}
    others = [n for n in k8s_cluster.gpu_nodes if n not in group]
    others_before = {n: _kjson(k8s_cluster, "get", "node", n) for n in others}
    t0 = time.monotonic()
    first = run_playbook(PLAYBOOKS / "serving_converge.yml", inventory=inv, extra_vars=_extra(tmp),
                         env=_env(k8s_cluster))
    t1 = time.monotonic()
    assert first.rc == 0, first.explain()
    second = run_playbook(PLAYBOOKS / "serving_converge.yml", inventory=inv, extra_vars=_extra(tmp),
                          env=_env(k8s_cluster))
    t2 = time.monotonic()
    return {"first": first, "second": second, "first_s": t1 - t0, "second_s": t2 - t1, "tmp": tmp, "inv": inv,
            "group": group, "s3": s3, "cpu_before": cpu_before, "others_before": others_before}


def test_converge_is_idempotent_and_offline(converged):
    first, second = converged["first"], converged["second"]
    print("serving converge: first %.1fs (changed=%s), second %.1fs (changed=%s)"
          % (converged["first_s"], first.changed(), converged["second_s"], second.changed()))
    assert first.changed() > 0
    assert second.rc == 0, second.explain()
    assert second.changed() == 0, [t for t in second.stdout.splitlines() if '"changed": true' in t][:5]
    assert not (converged["tmp"] / "download-cache").exists(), "a download was attempted"


def test_crds_established(converged, k8s_cluster):
    for name in CRDS:
        crd = _kjson(k8s_cluster, "get", "crd", name)
        conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conds.get("Established") == "True", name
        assert (crd["spec"].get("conversion") or {}).get("strategy", "None") == "None", name


def test_controllers_available(converged, k8s_cluster):
    for ns, name in [("cert-manager", "cert-manager-webhook"), ("knative-serving", "controller"),
                     ("knative-serving", "webhook"), ("kourier-system", "3scale-kourier-gateway"),
                     ("kserve", "kserve-controller-manager")]:
        dep = _kjson(k8s_cluster, "-n", ns, "get", "deployment", name)
        conds = {c["type"]: c["status"] for c in dep["status"].get("conditions", [])}
        assert conds.get("Available") == "True", (ns, name)


def test_issuers_and_knative_config(converged, k8s_cluster):
    issuers = _kjson(k8s_cluster, "get", "clusterissuers")["items"]
    names = {i["metadata"]["name"] for i in issuers}
    assert {"mlops-selfsigned", "mlops-selfsigned-bootstrap"} <= names
    feats = _kjson(k8s_cluster, "-n", "knative-serving", "get", "cm", "config-features")["data"]
    for flag in ("nodeselector", "tolerations", "affinity"):
        assert feats["kubernetes.podspec-" + flag] == "enabled"
    assert "_example" in feats  # upstream keys kept (merged, not replaced)
    net = _kjson(k8s_cluster, "-n", "knative-serving", "get", "cm", "config-network")["data"]
    assert net["ingress-class"] == "kourier.ingress.networking.knative.dev"
    dom = _kjson(k8s_cluster, "-n", "knative-serving", "get", "cm", "config-domain")["data"]
    assert "mlops.local" in dom


def test_kserve_objects_accepted(converged, k8s_cluster):
    cfg = _kjson(k8s_cluster, "-n", "kserve", "get", "cm", "inferenceservice-config")["data"]
    assert json.loads(cfg["deploy"])["defaultDeploymentMode"] == "Knative"
    assert json.loads(cfg["ingress"])["ingressDomain"] == "mlops.local"
    rt = _kjson(k8s_cluster, "-n", SERVING_NS, "get", "servingruntime", "mlflow-mlserver")
    assert rt["spec"]["supportedModelFormats"][0]["name"] == "mlflow"
    assert rt["spec"]["protocolVersions"] == ["v2"]
    isvc = _kjson(k8s_cluster, "-n", SERVING_NS, "get", "inferenceservice", "mlflow-example")
    assert isvc["spec"]["predictor"]["model"]["storageUri"].startswith("s3://models/")
    llm = _kjson(k8s_cluster, "-n", SERVING_NS, "get", "inferenceservice", "llm-example")
    pred = llm["spec"]["predictor"]
    assert pred["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pred["nodeSelector"] == {"workload-type": "inference"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pred["tolerations"]
    assert _kjson(k8s_cluster, "get", "clusterservingruntime", "kserve-huggingfaceserver")


def test_s3_secret_and_service_account(converged, k8s_cluster):
    sec = _kjson(k8s_cluster, "-n", SERVING_NS, "get", "secret", "mlops-s3")
    got = {k: base64.b64decode(v).decode() for k, v in sec["data"].items()}
    assert got == converged["s3"]
    sa = _kjson(k8s_cluster, "-n", SERVING_NS, "get", "serviceaccount", "kserve-s3")
    ann = sa["metadata"]["annotations"]
    assert ann["serving.kserve.io/s3-endpoint"] == "minio.mlops.svc.cluster.local:9000"
    assert ann["serving.kserve.io/s3-usehttps"] == "0"
    assert sa["secrets"] == [{"name": "mlops-s3"}]
    # no secret value in the playbook output
    assert "test-secret-key" not in converged["first"].stdout


def test_only_inventory_gpu_nodes_touched(converged, k8s_cluster):
    for name in converged["group"]:
        node = _kjson(k8s_cluster, "get", "node", name)
        assert node["metadata"]["labels"]["workload-type"] == "inference"
        taints = [t for t in node["spec"]["taints"] if t["key"] == "nvidia.com/gpu"]
        assert taints == [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    for name, before in list(converged["cpu_before"].items()) + list(converged["others_before"].items()):
        node = _kjson(k8s_cluster, "get", "node", name)
        assert "workload-type" not in node["metadata"]["labels"], name
        assert node["metadata"]["labels"] == before["metadata"]["labels"], name
        assert node["spec"].get("taints") == before["spec"].get("taints"), name
        assert not any(m.get("manager") == "mlops-stack" for m in node["metadata"].get("managedFields", [])), name


def test_device_plugin_on_gpu_nodes_only(converged, k8s_cluster):
    ds = _kjson(k8s_cluster, "-n", "kube-system", "get", "ds", "nvidia-device-plugin-daemonset")
    assert ds["spec"]["template"]["spec"]["nodeSelector"] == {"workload-type": "inference"}


def test_gpu_predictor_pod_lands_on_inventory_gpu_node(converged, k8s_cluster, k8s_namespace):
    res = run_playbook(PLAYBOOKS / "serving_gpu_pod.yml", inventory=converged["inv"],
                       extra_vars=dict(_extra(converged["tmp"]), probe_namespace=k8s_namespace,
                                       probe_pod_name="gpu-probe"),
                       env=_env(k8s_cluster))
    assert res.rc == 0, res.explain()
    node = ""
    for dummy in range(60):
        pod = _kjson(k8s_cluster, "-n", k8s_namespace, "get", "pod", "gpu-probe")
        node = pod["spec"].get("nodeName") or ""
        if node:
            break
        time.sleep(1)
    assert node in converged["group"], "pod scheduled on %r, expected one of %s" % (node, converged["group"])
    assert node not in k8s_cluster.cpu_nodes


@pytest.mark.parametrize("case", ["deployment_mode", "gpu_count", "unknown_node"])
def test_bad_values_fail_early(case, converged, k8s_cluster, tmp_path):
    roles = ["kserve"] if case == "deployment_mode" else ["gpu_serving"]
    extra = dict(_extra(tmp_path), serving_roles=roles)
    group = converged["group"]
    hostvars = {}
    if case == "deployment_mode":
        extra["kserve_deployment_mode"] = "Serverlesss"
        expect = "kserve_deployment_mode"
    elif case == "gpu_count":
        hostvars = {group[0]: {"gpu_count": "two"}}
        expect = "gpu_count of GPU node %s must be a positive integer" % group[0]
    else:
        group = group + ["no-such-node"]
        expect = "not in the cluster: no-such-node"
    inv = _inventory(tmp_path, k8s_cluster, group, hostvars)
    res = run_playbook(PLAYBOOKS / "serving_converge.yml", inventory=inv, extra_vars=extra,
                       env=_env(k8s_cluster))
    assert res.rc != 0
    assert expect in res.stdout, res.explain()
    assert res.changed() == 0
