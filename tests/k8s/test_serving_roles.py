"""certmanager, knative, kserve and gpu_serving against the local control plane.

Everything is installed from the local manifest mirror (../shared/upstream-manifests);
download caches point into the test's tmp dir and proxies point at a dead
port, so a download attempt would fail and the cache dir would exist.
"""
import base64
import json
import time

import pytest

from tests.k8s.serving_env import CRDS, PLAYBOOKS, SERVING_NS, env, extra, inventory, kjson
from tests.playbook import run_playbook

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("k8s"), pytest.mark.slow]


@pytest.fixture
def converged(serving_converged):
    return serving_converged


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
        crd = kjson(k8s_cluster, "get", "crd", name)
        conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conds.get("Established") == "True", name
        assert (crd["spec"].get("conversion") or {}).get("strategy", "None") == "None", name


def test_controllers_available(converged, k8s_cluster):
    for ns, name in [("cert-manager", "cert-manager-webhook"), ("knative-serving", "controller"),
                     ("knative-serving", "webhook"), ("kourier-system", "3scale-kourier-gateway"),
                     ("kserve", "kserve-controller-manager")]:
        dep = kjson(k8s_cluster, "-n", ns, "get", "deployment", name)
        conds = {c["type"]: c["status"] for c in dep["status"].get("conditions", [])}
        assert conds.get("Available") == "True", (ns, name)


def test_issuers_and_knative_config(converged, k8s_cluster):
    issuers = kjson(k8s_cluster, "get", "clusterissuers")["items"]
    names = {i["metadata"]["name"] for i in issuers}
    assert {"mlops-selfsigned", "mlops-selfsigned-bootstrap"} <= names
    feats = kjson(k8s_cluster, "-n", "knative-serving", "get", "cm", "config-features")["data"]
    for flag in ("nodeselector", "tolerations", "affinity"):
        assert feats["kubernetes.podspec-" + flag] == "enabled"
    assert "_example" in feats  # upstream keys kept (merged, not replaced)
    net = kjson(k8s_cluster, "-n", "knative-serving", "get", "cm", "config-network")["data"]
    assert net["ingress-class"] == "kourier.ingress.networking.knative.dev"
    dom = kjson(k8s_cluster, "-n", "knative-serving", "get", "cm", "config-domain")["data"]
    assert "mlops.local" in dom


def test_kserve_objects_accepted(converged, k8s_cluster):
    cfg = kjson(k8s_cluster, "-n", "kserve", "get", "cm", "inferenceservice-config")["data"]
    assert json.loads(cfg["deploy"])["defaultDeploymentMode"] == "Knative"
    assert json.loads(cfg["ingress"])["ingressDomain"] == "mlops.local"
    rt = kjson(k8s_cluster, "-n", SERVING_NS, "get", "servingruntime", "mlflow-mlserver")
    assert rt["spec"]["supportedModelFormats"][0]["name"] == "mlflow"
    assert rt["spec"]["protocolVersions"] == ["v2"]
    # KServe injects MLSERVER_MODEL_NAME/URI only into runtimes marked as MLServer.
    assert rt["metadata"]["annotations"]["serving.kserve.io/server-type"] == "mlserver"
    # No InferenceService pointing at a model nobody registered: models are
    # served with playbooks/deploy_model.yml (tests/k8s/test_deploy_model.py).
    isvcs = kjson(k8s_cluster, "-n", SERVING_NS, "get", "inferenceservice")["items"]
    assert "mlflow-example" not in [i["metadata"]["name"] for i in isvcs]
    llm = kjson(k8s_cluster, "-n", SERVING_NS, "get", "inferenceservice", "llm-example")
    pred = llm["spec"]["predictor"]
    assert pred["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pred["nodeSelector"] == {"workload-type": "inference"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pred["tolerations"]
    assert kjson(k8s_cluster, "get", "clusterservingruntime", "kserve-huggingfaceserver")


def test_s3_secret_and_service_account(converged, k8s_cluster):
    sec = kjson(k8s_cluster, "-n", SERVING_NS, "get", "secret", "mlops-s3")
    got = {k: base64.b64decode(v).decode() for k, v in sec["data"].items()}
    assert got == converged["s3"]
    sa = kjson(k8s_cluster, "-n", SERVING_NS, "get", "serviceaccount", "kserve-s3")
    ann = sa["metadata"]["annotations"]
    assert ann["serving.kserve.io/s3-endpoint"] == "minio.mlops.svc.cluster.local:9000"
    assert ann["serving.kserve.io/s3-usehttps"] == "0"
    assert sa["secrets"] == [{"name": "mlops-s3"}]
    # no secret value in the playbook output
    assert "test-secret-key" not in converged["first"].stdout


def test_only_inventory_gpu_nodes_touched(converged, k8s_cluster):
    for name in converged["group"]:
        node = kjson(k8s_cluster, "get", "node", name)
        assert node["metadata"]["labels"]["workload-type"] == "inference"
        taints = [t for t in node["spec"]["taints"] if t["key"] == "nvidia.com/gpu"]
        assert taints == [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    for name, before in list(converged["cpu_before"].items()) + list(converged["others_before"].items()):
        node = kjson(k8s_cluster, "get", "node", name)
        assert "workload-type" not in node["metadata"]["labels"], name
        assert node["metadata"]["labels"] == before["metadata"]["labels"], name
        assert node["spec"].get("taints") == before["spec"].get("taints"), name
        assert not any(m.get("manager") == "mlops-stack" for m in node["metadata"].get("managedFields", [])), name


def test_device_plugin_on_gpu_nodes_only(converged, k8s_cluster):
    ds = kjson(k8s_cluster, "-n", "kube-system", "get", "ds", "nvidia-device-plugin-daemonset")
    assert ds["spec"]["template"]["spec"]["nodeSelector"] == {"workload-type": "inference"}


def test_gpu_predictor_pod_lands_on_inventory_gpu_node(converged, k8s_cluster, k8s_namespace):
    res = run_playbook(PLAYBOOKS / "serving_gpu_pod.yml", inventory=converged["inv"],
                       extra_vars=dict(extra(converged["tmp"]), probe_namespace=k8s_namespace,
                                       probe_pod_name="gpu-probe"),
                       env=env(k8s_cluster))
    assert res.rc == 0, res.explain()
    node = ""
    for dummy in range(60):
        pod = kjson(k8s_cluster, "-n", k8s_namespace, "get", "pod", "gpu-probe")
        node = pod["spec"].get("nodeName") or ""
        if node:
            break
        time.sleep(1)
    assert node in converged["group"], "pod scheduled on %r, expected one of %s" % (node, converged["group"])
    assert node not in k8s_cluster.cpu_nodes


@pytest.mark.parametrize("case", ["deployment_mode", "gpu_count", "unknown_node"])
def test_bad_values_fail_early(case, converged, k8s_cluster, tmp_path):
    roles = ["kserve"] if case == "deployment_mode" else ["gpu_serving"]
    extra_vars = dict(extra(tmp_path), serving_roles=roles)
    group = converged["group"]
    hostvars = {}
    if case == "deployment_mode":
        extra_vars["kserve_deployment_mode"] = "Serverlesss"
        expect = "kserve_deployment_mode"
    elif case == "gpu_count":
        hostvars = {group[0]: {"gpu_count": "two"}}
        expect = "gpu_count of GPU node %s must be a positive integer" % group[0]
    else:
        group = group + ["no-such-node"]
        expect = "not in the cluster: no-such-node"
    inv = inventory(tmp_path, k8s_cluster, group, hostvars)
    res = run_playbook(PLAYBOOKS / "serving_converge.yml", inventory=inv, extra_vars=extra_vars,
                       env=env(k8s_cluster))
    assert res.rc != 0
    assert expect in res.stdout, res.explain()
    assert res.changed() == 0
