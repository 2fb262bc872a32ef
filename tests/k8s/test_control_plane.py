"""Proof that the local control plane is a real Kubernetes control plane.

Every check goes through the real kube-apiserver, kube-controller-manager
(Deployment/ReplicaSet/StatefulSet/PV controllers) and kube-scheduler;
kwok only plays the kubelets.
"""
import json
import secrets
import time
from pathlib import Path

import pytest

from tests.helpers import wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("k8s")]

UPSTREAM = Path(__file__).resolve().parents[3] / "shared" / "upstream-manifests"
KSERVE_CRDS = UPSTREAM / "kserve" / "v0.20.0" / "kserve-crds.yaml"

RESTRICTED_CONTAINER = {
    "securityContext": {
        "runAsNonRoot": True, "runAsUser": 65532, "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                  "limits": {"cpu": "100m", "memory": "64Mi"}},
}


def get(cluster, *args):
    return json.loads(cluster.kubectl("get", *args, "-o", "json", "--show-managed-fields").stdout)


def deployment(ns, name="web", replicas=2):
    container = {"name": "web", "image": "registry.k8s.io/pause:3.10", **RESTRICTED_CONTAINER}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [container]}}},
    }


def gpu_pod(ns, name, tolerate):
    container = {"name": "infer", "image": "registry.k8s.io/pause:3.10", **RESTRICTED_CONTAINER}
    container = json.loads(json.dumps(container))
    container["resources"]["limits"]["nvidia.com/gpu"] = "1"
    container["resources"]["requests"]["nvidia.com/gpu"] = "1"
    spec = {"containers": [container], "nodeSelector": {"nvidia.com/gpu.present": "true"}}
    if tolerate:
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": spec}


def test_versions_and_nodes(k8s_cluster):
    ver = json.loads(k8s_cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]
    assert ver["gitVersion"].startswith("v1.") and ver["gitVersion"] != "v0.0.0-master+$Format:%H$"
    assert int(ver["minor"].rstrip("+")) >= 34
    nodes = {n["metadata"]["name"]: n for n in get(k8s_cluster, "nodes")["items"]}
    assert len(k8s_cluster.cpu_nodes) >= 2 and len(k8s_cluster.gpu_nodes) >= 2
    for name in k8s_cluster.gpu_nodes:
        n = nodes[name]
        assert n["status"]["allocatable"]["nvidia.com/gpu"] == "1"
        assert n["status"]["capacity"]["nvidia.com/gpu"] == "1"
        assert n["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"
        assert n["metadata"]["labels"]["nvidia.com/gpu.product"]
        assert {"key": "nvidia.com/gpu", "effect": "NoSchedule"} in n["spec"]["taints"]
    for name in k8s_cluster.cpu_nodes + k8s_cluster.gpu_nodes:
        ready = [c for c in nodes[name]["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True"
    scs = get(k8s_cluster, "storageclass")["items"]
    assert [s["metadata"]["name"] for s in scs
            if s["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"]


def test_webhook_admission_disabled_but_pod_security_enforced(k8s_cluster, k8s_namespace):
    k8s_cluster.kubectl("label", "namespace", k8s_namespace,
                        "pod-security.kubernetes.io/enforce=restricted", "--overwrite")
    bad = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "priv", "namespace": k8s_namespace},
           "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                    "securityContext": {"privileged": True}}]}}
    out = k8s_cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(bad), check=False)
    assert out.returncode != 0 and "violates PodSecurity" in out.stderr
    ok = gpu_pod(k8s_namespace, "restricted-ok", tolerate=True)
    k8s_cluster.apply_server_side([ok])


def test_deployment_becomes_available_and_reapply_is_noop(k8s_cluster, k8s_namespace):
    dep = deployment(k8s_namespace)
    out = k8s_cluster.apply_server_side([dep]).stdout
    assert "serverside-applied" in out

    def available():
        d = get(k8s_cluster, "deployment", "web", "-n", k8s_namespace)
        conds = {c["type"]: c["status"] for c in (d.get("status") or {}).get("conditions") or []}
        return conds.get("Available") == "True" and d["status"].get("readyReplicas") == 2 and d
    d = wait_for("Deployment Available", available, timeout=90)
    assert d["status"]["availableReplicas"] == 2
    pods = get(k8s_cluster, "pods", "-n", k8s_namespace, "-l", "app=web")["items"]
    assert len(pods) == 2
    for p in pods:
        assert p["spec"]["nodeName"] in k8s_cluster.cpu_nodes  # GPU nodes are tainted
        assert p["status"]["phase"] == "Running"
        # ReplicaSet owner -> real controller-manager; token volume -> SA admission.
        assert p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"

    # Let the controllers settle (status updates bump resourceVersion too).
    def settled():
        a = get(k8s_cluster, "deployment", "web", "-n", k8s_namespace)
        time.sleep(2)
        b = get(k8s_cluster, "deployment", "web", "-n", k8s_namespace)
        return a["metadata"]["resourceVersion"] == b["metadata"]["resourceVersion"] and b
    d = wait_for("Deployment status to settle", settled, timeout=90)
    rv = d["metadata"]["resourceVersion"]
    gen = d["metadata"]["generation"]
    applied = [m for m in d["metadata"]["managedFields"] if m["manager"] == "mlops-tests"]
    assert applied and applied[0]["operation"] == "Apply"
    again = k8s_cluster.apply_server_side([deployment(k8s_namespace)]).stdout
    assert "serverside-applied" in again
    d2 = get(k8s_cluster, "deployment", "web", "-n", k8s_namespace)
    assert d2["metadata"]["generation"] == gen
    assert d2["metadata"]["resourceVersion"] == rv, "re-apply changed the object"
    assert [m for m in d2["metadata"]["managedFields"] if m["manager"] == "mlops-tests"] == applied
    diff = k8s_cluster.kubectl("diff", "--server-side", "--field-manager", "mlops-tests",
                               "--force-conflicts", "-f", "-", input=json.dumps(deployment(k8s_namespace)),
                               check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr


def test_gpu_pod_scheduled_only_with_toleration(k8s_cluster, k8s_namespace):
    k8s_cluster.apply_server_side([gpu_pod(k8s_namespace, "with-toleration", True),
                                   gpu_pod(k8s_namespace, "without-toleration", False)])

    def running_pod():
        pod = get(k8s_cluster, "pod", "with-toleration", "-n", k8s_namespace)
        return pod if (pod.get("status") or {}).get("phase") == "Running" else None

    p = wait_for("GPU pod scheduled and Running", running_pod, timeout=90)
    assert p["spec"]["nodeName"] in k8s_cluster.gpu_nodes

    def unschedulable():
        q = get(k8s_cluster, "pod", "without-toleration", "-n", k8s_namespace)
        for c in (q.get("status") or {}).get("conditions") or []:
            if c["type"] == "PodScheduled" and c["status"] == "False" and c.get("reason") == "Unschedulable":
                return q
        return None
    q = wait_for("scheduler to report Unschedulable", unschedulable, timeout=90)
    assert not q["spec"].get("nodeName")
    msg = [c for c in q["status"]["conditions"] if c["type"] == "PodScheduled"][0]["message"]
    assert "2 node(s) had untolerated taint" in msg, msg


def test_pvc_backed_statefulset_rolls_out(k8s_cluster, k8s_namespace):
    container = {"name": "db", "image": "registry.k8s.io/pause:3.10", **RESTRICTED_CONTAINER,
                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    sts = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": k8s_namespace},
        "spec": {"serviceName": "db", "replicas": 2, "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [container]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]},
    }
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": k8s_namespace},
           "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]}}
    k8s_cluster.apply_server_side([svc, sts])
    k8s_cluster.kubectl("rollout", "status", "statefulset/db", "-n", k8s_namespace, "--timeout=120s",
                        timeout=150)
    s = get(k8s_cluster, "statefulset", "db", "-n", k8s_namespace)
    assert s["status"]["readyReplicas"] == 2
    pvcs = get(k8s_cluster, "pvc", "-n", k8s_namespace)["items"]
    assert sorted(p["metadata"]["name"] for p in pvcs) == ["data-db-0", "data-db-1"]
    for p in pvcs:
        assert p["status"]["phase"] == "Bound"
        assert p["spec"]["storageClassName"]  # filled in by the DefaultStorageClass admission plugin


def test_kserve_crd_established_and_custom_resource_accepted(k8s_cluster, k8s_namespace):
    if not KSERVE_CRDS.exists():
        pytest.skip("upstream manifest mirror not present: %s" % KSERVE_CRDS)
    k8s_cluster.apply_server_side(str(KSERVE_CRDS), field_manager="mlops-stack")
    # (kubectl wait errors out while a fresh CRD has no status yet: poll.)

    def established(name):
        crd = get(k8s_cluster, "crd", name)
        return any(c["type"] == "Established" and c["status"] == "True"
                   for c in (crd.get("status") or {}).get("conditions") or [])
    for name in ("inferenceservices.serving.kserve.io", "servingruntimes.serving.kserve.io"):
        wait_for(name + " Established", lambda n=name: established(n), timeout=180)
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "sklearn-iris", "namespace": k8s_namespace},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"},
                                         "storageUri": "s3://models/iris"}}},
    }
    k8s_cluster.apply_server_side([isvc])
    got = get(k8s_cluster, "inferenceservice", "sklearn-iris", "-n", k8s_namespace)
    assert got["spec"]["predictor"]["model"]["storageUri"] == "s3://models/iris"
    # Structural schema validation by the real apiserver rejects bad objects.
    bad = json.loads(json.dumps(isvc))
    bad["metadata"]["name"] = "bad"
    bad["spec"]["predictor"]["minReplicas"] = "lots"
    res = k8s_cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(bad), check=False)
    assert res.returncode != 0 and "minReplicas" in res.stderr
    # Re-applying the CRDs changes nothing.
    again = k8s_cluster.apply_server_side(str(KSERVE_CRDS), field_manager="mlops-stack").stdout
    assert "serverside-applied" in again


def test_k8s_read_and_secret_namespace_creation(k8s_cluster, tmp_path):
    """k8s_read (one object, a filtered list, an unserved kind) and
    k8s_generated_secret's create_namespace, through ansible-playbook."""
    from tests.playbook import run_playbook, write_playbook

    ns = "read-" + secrets.token_hex(3)
    tasks = [
        {"name": "Secret in a new namespace", "mlops.stack.k8s_generated_secret": {
            "name": "s", "namespace": ns, "generate": ["password"], "create_namespace": True}},
        {"name": "Again", "mlops.stack.k8s_generated_secret": {
            "name": "s2", "namespace": ns, "values": {"k": "v"}, "labels": {"app": "x"}, "create_namespace": True}},
        {"name": "Read one", "register": "one", "mlops.stack.k8s_read": {"kind": "Secret", "name": "s", "namespace": ns}},
        {"name": "Read missing", "register": "missing",
         "mlops.stack.k8s_read": {"kind": "Secret", "name": "nope", "namespace": ns}},
        {"name": "List labelled", "register": "listed",
         "mlops.stack.k8s_read": {"kind": "Secret", "namespace": ns, "label_selectors": ["app=x"]}},
        {"name": "Nodes", "register": "nodes", "mlops.stack.k8s_read": {"kind": "Node"}},
        {"name": "Nodes, metadata only", "mlops.stack.k8s_read": {"kind": "Node", "metadata_only": True}},
        {"name": "Unserved kind", "register": "unserved", "mlops.stack.k8s_read": {
            "api_version": "nvidia.com/v1", "kind": "ClusterPolicy"}},
        {"name": "Namespaced read without namespace", "ignore_errors": True, "mlops.stack.k8s_read": {
            "kind": "Secret", "name": "s"}},
        # Results holding Secrets are hidden from the output, registered in full.
        {"name": "Show the Secrets read", "ansible.builtin.debug": {"msg": {
            "one": "{{ one.resources | map(attribute='metadata.name') | list }}",
            "one_api_found": "{{ one.api_found }}",
            "listed": "{{ listed.resources | map(attribute='kind') | zip(listed.resources | map(attribute='apiVersion'),"
                      " listed.resources | map(attribute='metadata.name')) | list }}"}}},
    ]
    play = write_playbook(tmp_path, [{"name": "read", "hosts": "localhost", "gather_facts": False,
                                      "tasks": tasks}], name="read.yml")
    env = {"K8S_AUTH_KUBECONFIG": k8s_cluster.kubeconfig, "K8S_AUTH_CONTEXT": k8s_cluster.context}
    try:
        res = run_playbook(play, env=env)
        assert res.rc == 0, res.explain()
        first = res.task_result("Secret in a new namespace")
        assert first["changed"] and first["namespace_created"] is True
        assert res.task_result("Again")["namespace_created"] is False
        assert "censored" in res.task_result("Read one") and "censored" in res.task_result("List labelled")
        shown = res.task_result("Show the Secrets read")["msg"]
        assert shown["one"] == ["s"] and shown["one_api_found"] is True
        assert res.task_result("Read missing")["resources"] == []
        assert shown["listed"] == [["Secret", "v1", "s2"]]
        names = sorted(r["metadata"]["name"] for r in res.task_result("Nodes")["resources"])
        nodes = json.loads(k8s_cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
        assert names and names == sorted(n["metadata"]["name"] for n in nodes)
        slim = res.task_result("Nodes, metadata only")["resources"]
        assert sorted(r["metadata"]["name"] for r in slim) == names
        assert all(set(r) == {"apiVersion", "kind", "metadata"} and r["kind"] == "Node"
                   and "managedFields" not in r["metadata"] and r["metadata"]["labels"] for r in slim), slim[0]
        unserved = res.task_result("Unserved kind")
        assert unserved["resources"] == [] and unserved["api_found"] is False
        bad = res.task_result("Namespaced read without namespace")
        assert bad["failed"] and "set namespace" in bad["msg"]
    finally:
        k8s_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_in_process_and_module_paths_agree(k8s_cluster, tmp_path):
    """The action plugins run k8s_apply/k8s_read/k8s_generated_secret in the
    controller process; MLOPS_STACK_IN_PROCESS=0 runs the modules the usual
    way. Both must give the same results and failures."""
    from tests.playbook import run_playbook, write_playbook

    ns = "inproc-" + secrets.token_hex(3)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": ns}, "data": {"k": "v"}}
    tasks = [
        {"name": "Secret", "register": "sec", "mlops.stack.k8s_generated_secret": {
            "name": "s", "namespace": ns, "create_namespace": True, "generate": ["password"],
            "values": {"dbname": "mlflow"}, "return_values": True}},
        {"name": "Registered values", "ansible.builtin.debug": {"msg": {
            "dbname": "{{ sec.secret_data.dbname }}", "password_length": "{{ sec.secret_data.password | length }}"}}},
        {"name": "Apply", "mlops.stack.k8s_apply": {"definition": [cm], "wait": True}},
        {"name": "Read", "mlops.stack.k8s_read": {"kind": "ConfigMap", "namespace": ns, "name": "cm"}},
        # Templated values are tagged str subclasses in the controller; the
        # YAML dumper of render mode must still take them.
        {"name": "Render", "mlops.stack.k8s_apply": {
            "definition": [dict(cm, metadata={"name": "cm", "namespace": ns, "labels": {"app": "{{ 'x' ~ 'y' }}"}})],
            "render_path": str(tmp_path / "rendered.yaml")}},
        {"name": "Bad option", "ignore_errors": True, "mlops.stack.k8s_read": {"kind": "ConfigMap", "bogus": 1}},
        {"name": "Bad object", "ignore_errors": True, "mlops.stack.k8s_apply": {
            "definition": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": ns}}]}},
    ]
    play = write_playbook(tmp_path, [{"name": "p", "hosts": "localhost", "gather_facts": False, "tasks": tasks}],
                          name="inproc.yml")
    base = {"K8S_AUTH_KUBECONFIG": k8s_cluster.kubeconfig, "K8S_AUTH_CONTEXT": k8s_cluster.context}
    try:
        runs = {}
        for mode in ("1", "0", "1"):
            res = run_playbook(play, env=dict(base, MLOPS_STACK_IN_PROCESS=mode))
            assert res.rc == 0, res.explain()
            runs.setdefault(mode, []).append(res)
        first_in, module_run, second_in = runs["1"][0], runs["0"][0], runs["1"][1]
        assert first_in.task_result("Secret")["changed"] and first_in.task_result("Apply")["changed"]
        for res in (module_run, second_in):
            assert not res.task_result("Secret")["changed"] and not res.task_result("Apply")["changed"]
        for name in ("Secret", "Apply", "Read"):
            a, b = module_run.task_result(name), second_in.task_result(name)
            keys = set(a) - {"invocation", "_ansible_no_log", "warnings", "deprecations"}
            assert {k: a[k] for k in keys} == {k: b.get(k) for k in keys}, name
        assert "app: xy" in (tmp_path / "rendered.yaml").read_text()
        # A result with values is hidden from the output, and registered with
        # the Secret's own values unscrubbed, in either path.
        for res in (module_run, second_in):
            assert "censored" in res.task_result("Secret")
            data = res.task_result("Registered values")["msg"]
            assert data["dbname"] == "mlflow" and int(data["password_length"]) == 32
        for res in (module_run, second_in):
            bad = res.task_result("Bad option")
            assert bad["failed"] and "bogus" in bad["msg"]
            bad = res.task_result("Bad object")
            assert bad["failed"] and "metadata.name" in bad["msg"]
    finally:
        k8s_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
