"""otel_collector role against the local control plane (real kube-apiserver,
controllers, Pod Security admission; kwok runs the pods).

Covers: objects accepted in a namespace enforcing Pod Security "restricted",
Deployment Available, second converge changed=0, a config change rolls the
pods (checksum annotation), the Authorization Secret derived from the
mlflow-auth Secret without printing it, and the LLaMA Stack wiring that
sets only the OTLP env entries of an existing Deployment.
"""
import base64
import hashlib
import json
import uuid
from pathlib import Path

import pytest

from tests.k8s.llama_stack import RESTRICTED, llama_stack_deployment
from tests.playbook import run_playbook

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("k8s")]

PLAYBOOK = Path(__file__).parent / "playbooks" / "otel_converge.yml"
PASSWORD = "s3cr3t-" + uuid.uuid4().hex[:12]
# A secret of LLaMA Stack's own in its env: the role must never print it.
LLAMA_KEY = "sk-llama-" + uuid.uuid4().hex[:12]


def _kjson(cluster, *args):
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def _env(cluster):
    return {"K8S_AUTH_KUBECONFIG": cluster.kubeconfig, "K8S_AUTH_CONTEXT": cluster.context,
            "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}


def _llama_stack(ns):
    sidecar = {"name": "sidecar", "image": "docker.io/library/busybox:1.37", "env": [{"name": "KEEP", "value": "me"}],
               "securityContext": dict(RESTRICTED)}
    return llama_stack_deployment(ns, [{"name": "INFERENCE_MODEL", "value": "llama3.2:3b"},
                                       {"name": "LLAMA_API_KEY", "value": LLAMA_KEY},
                                       {"name": "OTEL_SERVICE_NAME", "value": "old-name"}], [sidecar])


def _vars(ns, **kw):
    v = {"otel_collector_namespace": ns, "otel_test_experiment_ids": {"llm-traces": "3"},
         "otel_test_tracking_url": "http://mlflow.%s.svc:5000" % ns,
         "otel_collector_mlflow_auth_enabled": True,
         "otel_collector_llama_stack_enabled": True,
         "otel_collector_llama_stack_telemetry_sinks": "console,otel_trace",
         "otel_collector_wait_timeout": 180}
    v.update(kw)
    return v


@pytest.fixture(scope="module")
def converged(k8s_cluster):
    ns = "otel-%s" % uuid.uuid4().hex[:8]
    k8s_cluster.kubectl("create", "namespace", ns)
    k8s_cluster.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    k8s_cluster.apply_server_side({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                                   "metadata": {"name": "mlflow-auth", "namespace": ns},
                                   "stringData": {"username": "admin", "password": PASSWORD}})
    k8s_cluster.apply_server_side(_llama_stack(ns), field_manager="llama-owner")
    llama_before = _kjson(k8s_cluster, "-n", ns, "get", "deployment", "llama-stack")
    first = run_playbook(PLAYBOOK, extra_vars=_vars(ns), env=_env(k8s_cluster))
    assert first.rc == 0, first.explain()
    second = run_playbook(PLAYBOOK, extra_vars=_vars(ns), env=_env(k8s_cluster))
    yield {"ns": ns, "first": first, "second": second, "llama_before": llama_before}
    k8s_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_second_converge_changes_nothing(converged):
    assert converged["first"].changed() > 0
    second = converged["second"]
    assert second.rc == 0, second.explain()
    assert second.changed() == 0, [t for t in second.stdout.splitlines() if '"changed": true' in t][:5]


def test_deployment_available_under_restricted_pod_security(converged, k8s_cluster):
    ns = converged["ns"]
    dep = _kjson(k8s_cluster, "-n", ns, "get", "deployment", "otel-collector")
    conds = {c["type"]: c["status"] for c in dep["status"]["conditions"]}
    assert conds["Available"] == "True"
    pods = _kjson(k8s_cluster, "-n", ns, "get", "pods", "-l",
                  "app.kubernetes.io/instance=otel-collector")["items"]
    assert pods, "no collector pod was admitted in a restricted namespace"
    spec = dep["spec"]["template"]["spec"]
    c = spec["containers"][0]
    assert c["image"] == "docker.io/otel/opentelemetry-collector-contrib:0.162.0"
    assert c["readinessProbe"]["httpGet"]["port"] == "health"
    assert {p["name"]: p["containerPort"] for p in c["ports"]}["health"] == 13133
    assert c["resources"]["limits"]["memory"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    svc = _kjson(k8s_cluster, "-n", ns, "get", "service", "otel-collector")
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {
        "otlp-grpc": 4317, "otlp-http": 4318, "metrics": 8888}
    np = _kjson(k8s_cluster, "-n", ns, "get", "networkpolicy", "otel-collector")
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_config_checksum_and_headers(converged, k8s_cluster):
    ns = converged["ns"]
    cm = _kjson(k8s_cluster, "-n", ns, "get", "configmap", "otel-collector")
    cfg = cm["data"]["config.yaml"]
    dep = _kjson(k8s_cluster, "-n", ns, "get", "deployment", "otel-collector")
    ann = dep["spec"]["template"]["metadata"]["annotations"]
    assert ann["checksum/config"] == hashlib.sha256(cfg.encode()).hexdigest()
    assert "x-mlflow-experiment-id: '3'" in cfg
    assert "traces_endpoint: http://mlflow.%s.svc:5000/v1/traces" % ns in cfg
    assert "Authorization: ${env:MLFLOW_AUTHORIZATION}" in cfg
    assert "compression: gzip" in cfg


def test_auth_secret_derived_and_not_printed(converged, k8s_cluster):
    ns = converged["ns"]
    sec = _kjson(k8s_cluster, "-n", ns, "get", "secret", "otel-collector-mlflow-auth")
    value = base64.b64decode(sec["data"]["authorization"]).decode()
    assert value == "Basic " + base64.b64encode(("admin:%s" % PASSWORD).encode()).decode()
    for res in (converged["first"], converged["second"]):
        assert PASSWORD not in res.stdout and PASSWORD not in res.stderr
        assert value.split()[1] not in res.stdout


def test_llama_stack_only_otel_env_changed(converged, k8s_cluster):
    ns = converged["ns"]
    before = converged["llama_before"]
    after = _kjson(k8s_cluster, "-n", ns, "get", "deployment", "llama-stack", "--show-managed-fields")
    b_c = {c["name"]: c for c in before["spec"]["template"]["spec"]["containers"]}
    a_c = {c["name"]: c for c in after["spec"]["template"]["spec"]["containers"]}
    env = {e["name"]: e.get("value") for e in a_c["server"]["env"]}
    assert env == {
        "INFERENCE_MODEL": "llama3.2:3b",
        "LLAMA_API_KEY": LLAMA_KEY,
        "OTEL_SERVICE_NAME": "llama-stack",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.%s.svc:4318" % ns,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "TELEMETRY_SINKS": "console,otel_trace",
    }
    # Everything else is as its owner left it.
    for key in ("image", "args", "ports", "resources", "securityContext"):
        assert a_c["server"].get(key) == b_c["server"].get(key), key
    assert a_c["sidecar"] == b_c["sidecar"]
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    assert after["spec"]["replicas"] == before["spec"]["replicas"]
    owners = {m["manager"] for m in after["metadata"]["managedFields"]}
    assert {"llama-owner", "mlops-stack-otel"} <= owners
    ours = next(m for m in after["metadata"]["managedFields"] if m["manager"] == "mlops-stack-otel")
    fields = json.dumps(ours["fieldsV1"])
    assert "image" not in fields and "sidecar" not in fields and "INFERENCE_MODEL" not in fields
    # The rollout was waited for, and the owner's env values were never printed.
    assert after["status"].get("updatedReplicas") == 1 and after["status"].get("availableReplicas") == 1
    for run in (converged["first"], converged["second"]):
        assert LLAMA_KEY not in run.stdout


def test_llama_stack_pods_refused_by_pod_security_fail_the_run_clearly(k8s_cluster):
    # Brown-field: LLaMA Stack runs as root in a namespace that enforces
    # "restricted" only since after its pod started; new pods are refused.
    ns = "otel-psa-%s" % uuid.uuid4().hex[:8]
    k8s_cluster.kubectl("create", "namespace", ns)
    try:
        k8s_cluster.apply_server_side({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                                       "metadata": {"name": "mlflow-auth", "namespace": ns},
                                       "stringData": {"username": "admin", "password": PASSWORD}})
        llama = _llama_stack(ns)
        pod = llama["spec"]["template"]["spec"]
        del pod["securityContext"]
        for container in pod["containers"]:
            del container["securityContext"]
        k8s_cluster.apply_server_side(llama, field_manager="llama-owner")
        k8s_cluster.kubectl("-n", ns, "rollout", "status", "deployment/llama-stack", "--timeout=120s")
        k8s_cluster.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
        res = run_playbook(PLAYBOOK, extra_vars=_vars(ns, otel_collector_llama_stack_wait_timeout=60),
                           env=_env(k8s_cluster))
        assert res.rc != 0
        msg = " ".join(res.failure_messages())
        assert "llama-stack" in msg and "new pods cannot be created" in msg and "PodSecurity" in msg, msg
        assert LLAMA_KEY not in res.stdout
        # The old pod still runs: nothing was deleted.
        status = _kjson(k8s_cluster, "-n", ns, "get", "deployment", "llama-stack")["status"]
        assert status.get("availableReplicas") == 1, status
    finally:
        k8s_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_config_change_rolls_the_pods(converged, k8s_cluster):
    ns = converged["ns"]
    before = _kjson(k8s_cluster, "-n", ns, "get", "deployment", "otel-collector")
    res = run_playbook(PLAYBOOK, extra_vars=_vars(ns, otel_collector_experiment_id="4"),
                       env=_env(k8s_cluster))
    assert res.rc == 0, res.explain()
    after = _kjson(k8s_cluster, "-n", ns, "get", "deployment", "otel-collector")
    assert after["metadata"]["generation"] > before["metadata"]["generation"]
    old = before["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    new = after["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert old != new
    cm = _kjson(k8s_cluster, "-n", ns, "get", "configmap", "otel-collector")
    assert "x-mlflow-experiment-id: '4'" in cm["data"]["config.yaml"]


def test_missing_llama_stack_is_skipped_with_a_message(converged, k8s_cluster):
    ns = converged["ns"]
    res = run_playbook(PLAYBOOK, extra_vars=_vars(ns, otel_collector_llama_stack_name="no-such-app"),
                       env=_env(k8s_cluster))
    assert res.rc == 0, res.explain()
    msg = res.task_result("Report that there is no LLaMA Stack Deployment")["msg"]
    assert "no-such-app does not exist" in msg


def test_missing_experiment_id_fails_before_applying(k8s_cluster):
    ns = "otel-%s" % uuid.uuid4().hex[:8]
    res = run_playbook(PLAYBOOK, extra_vars={"otel_collector_namespace": ns,
                                             "otel_collector_llama_stack_enabled": False},
                       env=_env(k8s_cluster))
    assert res.rc != 0
    assert any("experiment" in m for m in res.failure_messages()), res.explain()
    assert k8s_cluster.kubectl("get", "namespace", ns, check=False).returncode != 0
