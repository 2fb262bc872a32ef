"""The serving roles with admission webhooks on and KServe's real controller.

A control plane of its own (admission webhooks on, in a network namespace,
see docs/testing-control-plane.md), so the shared one keeps running without
webhooks. KServe v0.20.0's controller-manager (tools/testbins/kserve) plays
the pod of its Deployment (tests/cluster/controllers.py): the roles'
ServingRuntime and InferenceServices go through its webhooks, it reconciles
them in Standard (raw Deployment) mode, its pod mutator shapes the predictor
pods, and the real scheduler places them on the simulated nodes.

cert-manager's and Knative's webhooks have no process here yet (their parts
of #16): they are switched off with a matchCondition that our re-applies
keep. (Knative's must run before the knative role's first apply succeeds:
serving-core.yaml carries a networking.internal.knative.dev Certificate
that its own webhook validates.)
"""
import json
import time
from pathlib import Path

import pytest
import yaml
from ansible_collections.mlops.stack.plugins.module_utils import model_deploy

from tests.cluster import gateway_api, missing_binaries, netns
from tests.cluster.controllers import KSERVE_POD, kserve_runner
from tests.helpers import require
from tests.playbook import ROOT, run_playbook
from tests.servers.bins import find_bin

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("k8s-webhooks"), pytest.mark.slow]

MIRROR = (ROOT.parent / "shared" / "upstream-manifests").resolve()
PLAYBOOKS = Path(__file__).parent / "playbooks"
SERVING_NS = "mlops-serving"
KSERVE_CORE = MIRROR / "kserve" / "v0.20.0" / "kserve-core.yaml"
CERT_MANAGER = MIRROR / "cert-manager" / "v1.19.4" / "cert-manager.yaml"
KNATIVE_CORE = MIRROR / "knative-serving" / "1.23.0" / "serving-core.yaml"
ISVC = "wine"


def _kjson(cluster, *args):
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def _inventory(tmp, cluster):
    """Both simulated GPU nodes in the GPU group (host names are node names)."""
    nodes = {n: {"gpu_count": 1, "gpu_product": "NVIDIA-L4"} for n in cluster.gpu_nodes}
    inv = {"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                           "ansible_python_interpreter": str(ROOT / ".venv/bin/python")}},
                   "children": {"gpu_inference_nodes": {"hosts": nodes}}}}
    path = tmp / "hosts.yml"
    path.write_text(yaml.safe_dump(inv))
    return path


def _env(cluster):
    dead = "http://127.0.0.1:9"  # any download attempt fails
    return {"K8S_AUTH_KUBECONFIG": cluster.kubeconfig, "K8S_AUTH_CONTEXT": cluster.context,
            "http_proxy": dead, "https_proxy": dead, "HTTP_PROXY": dead, "HTTPS_PROXY": dead,
            "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}


def _extra(tmp):
    cache = str(tmp / "download-cache")
    return {"mlops_manifest_dir": str(MIRROR), "kserve_deployment_mode": "Standard", "kserve_wait_timeout": 120,
            "certmanager_manifest_cache_dir": cache, "knative_manifest_cache_dir": cache,
            "kserve_manifest_cache_dir": cache, "gpu_serving_manifest_cache_dir": cache}


def _s3_secret(cluster):
    data = {"AWS_ACCESS_KEY_ID": "test-access", "AWS_SECRET_ACCESS_KEY": "test-secret-key",
            "AWS_ENDPOINT_URL": "http://minio.mlops.svc.cluster.local:9000", "AWS_DEFAULT_REGION": "us-east-1",
            "S3_USE_HTTPS": "0", "S3_VERIFY_SSL": "0"}
    cluster.kubectl("create", "namespace", "mlops", check=False)
    cluster.apply_server_side({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                               "metadata": {"name": "mlops-s3-kserve", "namespace": "mlops"}, "stringData": data})


def _isvc(name, runtime, sched):
    """The InferenceService mlops.stack.model_deployment applies, with the
    options roles/kserve/tasks/deploy_model.yml passes it for a GPU model."""
    params = {"model": name, "namespace": SERVING_NS, "runtime": runtime, "model_format": "mlflow",
              "protocol_version": "v2", "service_account": "kserve-s3", "resources": sched["resources"],
              "node_selector": sched["nodeSelector"], "tolerations": sched["tolerations"],
              "affinity": sched["affinity"], "min_replicas": 1, "max_replicas": 3,
              "scale_metric": "cpu", "scale_target": 70}
    return model_deploy.inference_service(params, name, {
        "version": "1", "artifact_uri": "mlflow-artifacts:/1/abc/artifacts/model",
        "storage_uri": "s3://models/%s/1" % name})


def _wait(what, fn, timeout=120):
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError("timed out waiting for %s" % what)


def _switch_off_webhooks(cluster, manifest):
    """Pre-create a release's webhook configurations with a matchCondition
    that never matches, under a field manager of the test: the role's
    server-side apply of the upstream objects keeps a field it does not set.
    For the webhooks whose process does not run here yet."""
    docs = [d for d in yaml.safe_load_all(manifest.read_text())
            if d and d["kind"].endswith("WebhookConfiguration")]
    for d in docs:
        for w in d["webhooks"]:
            w["matchConditions"] = [{"name": "mlops-tests-no-webhook-process", "expression": "false"}]
    cluster.apply_server_side(docs, field_manager="mlops-tests-webhook-off")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    missing = missing_binaries()
    require(not missing, "control-plane binaries missing (%s): run scripts/build-testbins.sh" % ", ".join(missing))
    require(find_bin("kserve-manager"), "kserve-manager missing: run scripts/build-testbins.sh kserve")
    why = netns.available()
    require(not why, "admission webhooks test: " + why)
    with gateway_api.cluster_with_gateway_api(tmp_path_factory.mktemp("k8s-webhooks"), "mlops-webhooks",
                                              webhooks=True, local_pods=[KSERVE_POD]) as cl:
        yield cl


@pytest.fixture(scope="module")
def converged(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real-kserve")
    _s3_secret(cluster)
    for manifest in (CERT_MANAGER, KNATIVE_CORE):
        _switch_off_webhooks(cluster, manifest)
    runner = kserve_runner(cluster, find_bin("kserve-manager"), tmp / "kserve", KSERVE_CORE)
    runner.start()
    inv = _inventory(tmp, cluster)
    extra = _extra(tmp)
    t0 = time.monotonic()
    runs = [run_playbook(PLAYBOOKS / "serving_converge.yml", inventory=inv, extra_vars=extra, env=_env(cluster))]
    if runs[0].rc == 0:
        runs.append(run_playbook(PLAYBOOKS / "serving_converge.yml", inventory=inv, extra_vars=extra,
                                 env=_env(cluster)))
    t1 = time.monotonic()
    sched = run_playbook(PLAYBOOKS / "serving_raw_isvc.yml", inventory=inv, extra_vars=extra, env=_env(cluster))
    sched = sched.task_result("Report the scheduling")["gpu_serving_predictor_scheduling"]
    body = _isvc(ISVC, "mlflow-mlserver", sched)
    deploys = [run_playbook(PLAYBOOKS / "serving_raw_isvc.yml", inventory=inv, env=_env(cluster),
                            extra_vars=dict(extra, isvc_definition=body)) for dummy in range(2)]
    print("real KServe: converge x2 %.1fs, isvc x2 %.1fs" % (t1 - t0, time.monotonic() - t1))
    try:
        yield {"runs": runs, "deploys": deploys, "runner": runner, "inv": inv, "extra": extra, "sched": sched}
    finally:
        runner.stop()


def _pod(cluster, isvc):
    def ready():
        pods = _kjson(cluster, "-n", SERVING_NS, "get", "pods", "-l", "serving.kserve.io/inferenceservice=" + isvc)
        pods = [p for p in pods["items"] if p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")]
        return pods[-1] if pods else None
    return _wait("a scheduled pod of " + isvc, ready)


def _env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def test_roles_converge_with_webhooks_on(converged):
    first = converged["runs"][0]
    assert first.rc == 0, first.explain() + converged["runner"].logs()
    second = converged["runs"][1]
    assert second.rc == 0, second.explain()
    assert second.changed() == 0, [t for t in second.stdout.splitlines() if '"changed": true' in t][:5]
    assert not converged["runner"].errors, converged["runner"].errors


def test_isvc_apply_passes_webhooks_and_is_idempotent(converged):
    first, second = converged["deploys"]
    assert first.rc == 0, first.explain()
    assert second.rc == 0, second.explain()
    # The defaulting webhook mutates the object on every apply; a re-run must not count as a change.
    assert second.changed() == 0, second.explain()


def test_webhooks_are_called(converged, cluster):
    """The validating webhook, not the CRD schema, refuses this runtime."""
    rt = _kjson(cluster, "-n", SERVING_NS, "get", "servingruntime", "mlflow-mlserver")
    bad = {"apiVersion": rt["apiVersion"], "kind": "ServingRuntime",
           "metadata": {"name": "dup-priority", "namespace": SERVING_NS},
           "spec": dict(rt["spec"], supportedModelFormats=[
               {"name": "mlflow", "version": "2", "autoSelect": True, "priority": 1},
               {"name": "mlflow", "version": "2", "autoSelect": True, "priority": 2}])}
    res = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(bad), check=False)
    assert res.returncode != 0
    assert "admission webhook" in res.stderr and "servingruntime.kserve-webhook-server.validator" in res.stderr, \
        res.stderr
    isvc = _kjson(cluster, "-n", SERVING_NS, "get", "inferenceservice", ISVC)
    # Our object has no such annotation: the defaulting webhook adds the
    # inferenceservice-config's default mode.
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard", isvc["metadata"]


def test_controller_creates_deployment_service_hpa(converged, cluster):
    name = ISVC + "-predictor"
    dep = _wait("Deployment " + name, lambda: _kjson(cluster, "-n", SERVING_NS, "get", "deployment", name)
                if cluster.kubectl("-n", SERVING_NS, "get", "deployment", name, check=False).returncode == 0
                else None)
    assert dep["metadata"]["ownerReferences"][0]["kind"] == "InferenceService"
    svc = _kjson(cluster, "-n", SERVING_NS, "get", "service", name)
    assert svc["spec"]["selector"]
    hpa = _kjson(cluster, "-n", SERVING_NS, "get", "hpa", name)
    assert hpa["spec"]["minReplicas"] == 1
    assert hpa["spec"]["maxReplicas"] == 3
    metric = hpa["spec"]["metrics"][0]["resource"]
    assert metric["name"] == "cpu"
    assert metric["target"] == {"type": "Utilization", "averageUtilization": 70}


def test_predictor_pod_spec(converged, cluster):
    pod = _pod(cluster, ISVC)
    spec = pod["spec"]
    # The controller only annotates the template; KServe's pod mutator
    # webhook adds the storage initializer when the ReplicaSet creates the pod.
    tmpl = _kjson(cluster, "-n", SERVING_NS, "get", "deployment", ISVC + "-predictor")["spec"]["template"]
    assert tmpl["metadata"]["annotations"]["internal.serving.kserve.io/storage-initializer-sourceuri"] \
        == "s3://models/%s/1" % ISVC
    assert not tmpl["spec"].get("initContainers")
    init = {c["name"]: c for c in spec.get("initContainers", [])}
    assert "storage-initializer" in init, list(init)
    si = init["storage-initializer"]
    assert si["args"][:1] == ["s3://models/%s/1" % ISVC]
    si_env = _env_of(si)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert si_env[key]["valueFrom"]["secretKeyRef"]["name"] == "mlops-s3", si_env.get(key)
    assert si_env["S3_ENDPOINT"]["value"] == "minio.mlops.svc.cluster.local:9000"
    assert si_env["S3_USE_HTTPS"]["value"] == "0"
    main = next(c for c in spec["containers"] if c["name"] == "kserve-container")
    env = _env_of(main)
    assert env["MLSERVER_MODEL_NAME"]["value"] == ISVC
    assert env["MLSERVER_MODEL_URI"]["value"] == "/mnt/models"
    assert main["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert spec["nodeSelector"] == {"workload-type": "inference"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["serviceAccountName"] == "kserve-s3"
    assert spec["nodeName"] in cluster.gpu_nodes
    assert spec["nodeName"] not in cluster.cpu_nodes


def _isvc_conditions(cluster, name):
    isvc = _kjson(cluster, "-n", SERVING_NS, "get", "inferenceservice", name)
    return isvc, {c["type"]: c for c in isvc.get("status", {}).get("conditions", [])}


def test_gateway_exposure_routes_but_is_not_ready(converged, cluster):
    """The default exposure (Gateway API): the controller publishes the predictor
    with an HTTPRoute on the stack's Gateway; with no Gateway implementation
    here nobody accepts the route, so only the ingress is not ready."""
    cfg = json.loads(_kjson(cluster, "-n", "kserve", "get", "cm", "inferenceservice-config")["data"]["ingress"])
    assert cfg["enableGatewayApi"] is True
    gw_ns, gw_name = cfg["kserveIngressGateway"].split("/")
    route = _wait("HTTPRoute %s-predictor" % ISVC, lambda: cluster.kubectl(
        "-n", SERVING_NS, "get", "httproute", ISVC + "-predictor", "-o", "json", check=False).stdout)
    route = json.loads(route)
    assert route["metadata"]["ownerReferences"][0]["name"] == ISVC
    assert {"name": gw_name, "namespace": gw_ns} in [
        {"name": p["name"], "namespace": p.get("namespace")} for p in route["spec"]["parentRefs"]]

    def settled():
        isvc, conds = _isvc_conditions(cluster, ISVC)
        return (isvc, conds) if conds.get("PredictorReady", {}).get("status") == "True" \
            and "IngressReady" in conds else None
    isvc, conds = _wait("PredictorReady of %s" % ISVC, settled)
    assert conds["IngressReady"]["status"] == "False"
    assert conds["IngressReady"]["reason"] == "ParentStatusNotAvailable", conds["IngressReady"]
    ready, reason = model_deploy.service_ready(isvc)
    assert not ready and "IngressReady" in reason, reason


def test_unmarked_mlserver_runtime_gets_no_model_env(converged, cluster):
    """The bug of #16: without serving.kserve.io/server-type, KServe v0.20.0
    does not set MLSERVER_MODEL_NAME/URI and MLServer exits (InvalidModelURI)."""
    rt = _kjson(cluster, "-n", SERVING_NS, "get", "servingruntime", "mlflow-mlserver")
    assert rt["metadata"].get("annotations", {}).get("serving.kserve.io/server-type") == "mlserver", \
        "roles/kserve: the mlflow-mlserver ServingRuntime lacks serving.kserve.io/server-type: mlserver"
    # autoSelect off: the validating webhook refuses two runtimes that auto-select
    # the same format with the same priority in one namespace.
    formats = [dict(f, autoSelect=False) for f in rt["spec"]["supportedModelFormats"]]
    bare = {"apiVersion": rt["apiVersion"], "kind": "ServingRuntime",
            "metadata": {"name": "mlserver-unmarked", "namespace": SERVING_NS},
            "spec": dict(rt["spec"], supportedModelFormats=formats)}
    cluster.apply_server_side(bare)
    res = run_playbook(PLAYBOOKS / "serving_raw_isvc.yml", inventory=converged["inv"], env=_env(cluster),
                       extra_vars=dict(converged["extra"], isvc_definition=_isvc(
                           "unmarked", "mlserver-unmarked", converged["sched"])))
    assert res.rc == 0, res.explain()
    dep = _wait("Deployment unmarked-predictor", lambda: cluster.kubectl(
        "-n", SERVING_NS, "get", "deployment", "unmarked-predictor", "-o", "json", check=False).stdout)
    main = next(c for c in json.loads(dep)["spec"]["template"]["spec"]["containers"] if c["name"] == "kserve-container")
    assert "MLSERVER_MODEL_URI" not in _env_of(main)
    assert "MLSERVER_MODEL_NAME" not in _env_of(main)


def test_isvc_ready_with_ingress_exposure(converged, cluster):
    """kserve_exposure=ingress re-applied by the role: the running controller
    reads the new inferenceservice-config on its next reconcile (it re-queues
    the not-ready service every second), publishes an Ingress, and the
    InferenceService reports Ready -- what model_deployment waits for."""
    res = run_playbook(PLAYBOOKS / "serving_converge.yml", inventory=converged["inv"], env=_env(cluster),
                       extra_vars=dict(converged["extra"], kserve_exposure="ingress", serving_roles=["kserve"]))
    assert res.rc == 0, res.explain()

    def ready():
        isvc, conds = _isvc_conditions(cluster, ISVC)
        return isvc if conds.get("Ready", {}).get("status") == "True" else None
    isvc = _wait("InferenceService %s Ready" % ISVC, ready)
    assert model_deploy.service_ready(isvc) == (True, "Ready")
    assert isvc["status"]["modelStatus"]["states"]["activeModelState"] == "Loaded", isvc["status"]
    ing = _kjson(cluster, "-n", SERVING_NS, "get", "ingress", ISVC)
    assert ing["metadata"]["ownerReferences"][0]["name"] == ISVC
