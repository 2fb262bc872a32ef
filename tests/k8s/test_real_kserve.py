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

import pytest
from ansible_collections.mlops.stack.plugins.module_utils import model_deploy

from tests.cluster.controllers import KSERVE_POD, kserve_runner
from tests.helpers import wait_for
from tests.k8s.serving_env import PLAYBOOKS, SERVING_NS, conditions, env, extra, get, kjson
from tests.k8s.webhook_env import (CERT_MANAGER, KNATIVE_CORE, KSERVE_CORE, gpu_isvc, scheduled_pod, serving_deployed,
                                   webhook_cluster)
from tests.playbook import run_playbook
from tests.servers.bins import find_bin

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("k8s-webhooks"), pytest.mark.slow]

ISVC = "wine"
CPU_SCALING = {"min_replicas": 1, "max_replicas": 3, "scale_metric": "cpu", "scale_target": 70}


def _extra(tmp):
    return dict(extra(tmp), kserve_deployment_mode="Standard", kserve_wait_timeout=120)


def _isvc(name, runtime, sched):
    return gpu_isvc(name, runtime, sched, **CPU_SCALING)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with webhook_cluster(tmp_path_factory, "webhooks", [KSERVE_POD], {"kserve-manager": "kserve"},
                         "admission webhooks test") as cl:
        yield cl


@pytest.fixture(scope="module")
def converged(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real-kserve")
    runner = kserve_runner(cluster, find_bin("kserve-manager"), tmp / "kserve", KSERVE_CORE)
    with serving_deployed(cluster, tmp, [runner], _extra(tmp), lambda sched: _isvc(ISVC, "mlflow-mlserver", sched),
                          webhooks_off=(CERT_MANAGER, KNATIVE_CORE)) as out:
        yield dict(out, runner=runner)


def _pod(cluster, isvc):
    return wait_for("a scheduled pod of " + isvc,
                    lambda: scheduled_pod(cluster, "serving.kserve.io/inferenceservice=" + isvc))


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
    rt = kjson(cluster, "-n", SERVING_NS, "get", "servingruntime", "mlflow-mlserver")
    bad = {"apiVersion": rt["apiVersion"], "kind": "ServingRuntime",
           "metadata": {"name": "dup-priority", "namespace": SERVING_NS},
           "spec": dict(rt["spec"], supportedModelFormats=[
               {"name": "mlflow", "version": "2", "autoSelect": True, "priority": 1},
               {"name": "mlflow", "version": "2", "autoSelect": True, "priority": 2}])}
    res = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(bad), check=False)
    assert res.returncode != 0
    assert "admission webhook" in res.stderr and "servingruntime.kserve-webhook-server.validator" in res.stderr, \
        res.stderr
    isvc = kjson(cluster, "-n", SERVING_NS, "get", "inferenceservice", ISVC)
    # Our object has no such annotation: the defaulting webhook adds the
    # inferenceservice-config's default mode.
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard", isvc["metadata"]


def test_controller_creates_deployment_service_hpa(converged, cluster):
    name = ISVC + "-predictor"
    dep = wait_for("Deployment " + name, lambda: get(cluster, "-n", SERVING_NS, "get", "deployment", name))
    assert dep["metadata"]["ownerReferences"][0]["kind"] == "InferenceService"
    svc = kjson(cluster, "-n", SERVING_NS, "get", "service", name)
    assert svc["spec"]["selector"]
    hpa = kjson(cluster, "-n", SERVING_NS, "get", "hpa", name)
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
    tmpl = kjson(cluster, "-n", SERVING_NS, "get", "deployment", ISVC + "-predictor")["spec"]["template"]
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
    isvc = kjson(cluster, "-n", SERVING_NS, "get", "inferenceservice", name)
    return isvc, conditions(isvc)


def test_gateway_exposure_routes_but_is_not_ready(converged, cluster):
    """The default exposure (Gateway API): the controller publishes the predictor
    with an HTTPRoute on the stack's Gateway; with no Gateway implementation
    here nobody accepts the route, so only the ingress is not ready."""
    cfg = json.loads(kjson(cluster, "-n", "kserve", "get", "cm", "inferenceservice-config")["data"]["ingress"])
    assert cfg["enableGatewayApi"] is True
    gw_ns, gw_name = cfg["kserveIngressGateway"].split("/")
    route = wait_for("HTTPRoute %s-predictor" % ISVC, lambda: cluster.kubectl(
        "-n", SERVING_NS, "get", "httproute", ISVC + "-predictor", "-o", "json", check=False).stdout)
    route = json.loads(route)
    assert route["metadata"]["ownerReferences"][0]["name"] == ISVC
    assert {"name": gw_name, "namespace": gw_ns} in [
        {"name": p["name"], "namespace": p.get("namespace")} for p in route["spec"]["parentRefs"]]

    def settled():
        isvc, conds = _isvc_conditions(cluster, ISVC)
        return (isvc, conds) if conds.get("PredictorReady", {}).get("status") == "True" \
            and "IngressReady" in conds else None
    isvc, conds = wait_for("PredictorReady of %s" % ISVC, settled)
    assert conds["IngressReady"]["status"] == "False"
    assert conds["IngressReady"]["reason"] == "ParentStatusNotAvailable", conds["IngressReady"]
    ready, reason = model_deploy.service_ready(isvc)
    assert not ready and "IngressReady" in reason, reason


def test_unmarked_mlserver_runtime_gets_no_model_env(converged, cluster):
    """The bug of #16: without serving.kserve.io/server-type, KServe v0.20.0
    does not set MLSERVER_MODEL_NAME/URI and MLServer exits (InvalidModelURI)."""
    rt = kjson(cluster, "-n", SERVING_NS, "get", "servingruntime", "mlflow-mlserver")
    assert rt["metadata"].get("annotations", {}).get("serving.kserve.io/server-type") == "mlserver", \
        "roles/kserve: the mlflow-mlserver ServingRuntime lacks serving.kserve.io/server-type: mlserver"
    # autoSelect off: the validating webhook refuses two runtimes that auto-select
    # the same format with the same priority in one namespace.
    formats = [dict(f, autoSelect=False) for f in rt["spec"]["supportedModelFormats"]]
    bare = {"apiVersion": rt["apiVersion"], "kind": "ServingRuntime",
            "metadata": {"name": "mlserver-unmarked", "namespace": SERVING_NS},
            "spec": dict(rt["spec"], supportedModelFormats=formats)}
    cluster.apply_server_side(bare)
    res = run_playbook(PLAYBOOKS / "serving_raw_isvc.yml", inventory=converged["inv"], env=env(cluster),
                       extra_vars=dict(converged["extra"], isvc_definition=_isvc(
                           "unmarked", "mlserver-unmarked", converged["sched"])))
    assert res.rc == 0, res.explain()
    dep = wait_for("Deployment unmarked-predictor", lambda: cluster.kubectl(
        "-n", SERVING_NS, "get", "deployment", "unmarked-predictor", "-o", "json", check=False).stdout)
    main = next(c for c in json.loads(dep)["spec"]["template"]["spec"]["containers"] if c["name"] == "kserve-container")
    assert "MLSERVER_MODEL_URI" not in _env_of(main)
    assert "MLSERVER_MODEL_NAME" not in _env_of(main)


def test_isvc_ready_with_ingress_exposure(converged, cluster):
    """kserve_exposure=ingress re-applied by the role: the running controller
    reads the new inferenceservice-config on its next reconcile (it re-queues
    the not-ready service every second), publishes an Ingress, and the
    InferenceService reports Ready -- what model_deployment waits for."""
    res = run_playbook(PLAYBOOKS / "serving_converge.yml", inventory=converged["inv"], env=env(cluster),
                       extra_vars=dict(converged["extra"], kserve_exposure="ingress", serving_roles=["kserve"]))
    assert res.rc == 0, res.explain()

    def ready():
        isvc, conds = _isvc_conditions(cluster, ISVC)
        return isvc if conds.get("Ready", {}).get("status") == "True" else None
    isvc = wait_for("InferenceService %s Ready" % ISVC, ready)
    assert model_deploy.service_ready(isvc) == (True, "Ready")
    assert isvc["status"]["modelStatus"]["states"]["activeModelState"] == "Loaded", isvc["status"]
    ing = kjson(cluster, "-n", SERVING_NS, "get", "ingress", ISVC)
    assert ing["metadata"]["ownerReferences"][0]["name"] == ISVC
