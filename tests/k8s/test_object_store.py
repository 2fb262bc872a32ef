"""mlops_object_store: none through the real playbooks on the local control plane.

No object-store role runs: site.yml installs only what the inventory enables
(storage and tracking here; serving, GPU and observability switched off),
MLflow keeps its artifacts on a PVC, nobody writes or needs ``mlops-s3``, and
validate.yml checks exactly the enabled components. PostgreSQL and MLflow
bootstrap against the real local servers (pods never run on kwok).
(The external backend: tests/k8s/test_tracking_roles.py.)
"""
import json
import types
import uuid

import pytest

from tests.k8s.site_env import ROOT, site_inventory
from tests.playbook import run_playbook

pytestmark = [pytest.mark.k8s, pytest.mark.slow, pytest.mark.xdist_group("k8s")]

PLAYBOOKS = ROOT / "playbooks"


def _kjson(cluster, *args):
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def _changed_hosts(result):
    return {h: s.get("changed", 0) for h, s in result.stats.items() if s.get("changed", 0)}


def test_no_object_store_tracking_on_a_pvc(k8s_cluster, pg_server, mlflow_server, tmp_path):
    ns = "nos-%s" % uuid.uuid4().hex[:8]
    db = "mlflow_%s" % ns.replace("-", "_")
    inv = site_inventory(tmp_path / "hosts.yml", k8s_cluster, s3=None, pg=pg_server, mlflow=mlflow_server,
                         object_store="none", extra={
                             "mlops_namespace": ns, "postgresql_database": db, "postgresql_username": db,
                             "mlops_exposure": "none", "mlops_tls_enabled": False, "mlops_gateway_create": False,
                             "mlops_certmanager_enabled": False, "mlops_serving_enabled": False,
                             "mlops_observability_enabled": False, "mlflow_replicas": 1,
                             "mlflow_experiments": [{"name": "exp-%s" % ns}]})
    try:
        first = run_playbook(PLAYBOOKS / "site.yml", inventory=inv, timeout=1800)
        assert first.rc == 0, first.explain()
        roles = [r["checked_roles"] for r in first.task_results("Check the inventory and the cluster before any change")
                 if "checked_roles" in r][0]
        assert roles == ["postgresql", "mlflow"], roles
        second = run_playbook(PLAYBOOKS / "site.yml", inventory=inv, timeout=1800)
        assert second.rc == 0, second.explain()
        assert _changed_hosts(second) == {}, "second run changed: %s\n%s" % (
            _changed_hosts(second), second.explain())
        secrets = {s["metadata"]["name"] for s in _kjson(k8s_cluster, "-n", ns, "get", "secret")["items"]}
        assert "mlops-s3" not in secrets and "mlops-postgresql-mlflow" in secrets, secrets
        assert not _kjson(k8s_cluster, "-n", ns, "get", "statefulset", "-l",
                          "app.kubernetes.io/component=object-storage")["items"]
        dep = _kjson(k8s_cluster, "-n", ns, "get", "deployment", "mlflow")
        pod = dep["spec"]["template"]["spec"]
        args = pod["containers"][0]["args"]
        assert "--artifacts-destination=/mlartifacts" in args or any(a.endswith("/mlartifacts") for a in args), args
        assert "mlops-s3" not in json.dumps(pod)
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
        assert claims == ["mlflow-artifacts"]
        assert _kjson(k8s_cluster, "-n", ns, "get", "pvc", "mlflow-artifacts")["status"]["phase"] == "Bound"
        for ns_ in ("kserve", "knative-serving"):
            assert ns_ not in {n["metadata"]["name"] for n in _kjson(k8s_cluster, "get", "namespace")["items"]} or \
                not _kjson(k8s_cluster, "-n", ns_, "get", "deployment", "-l",
                           "app.kubernetes.io/part-of=mlops-stack")["items"]

        validate = run_playbook(PLAYBOOKS / "validate.yml", inventory=inv, timeout=600)
        assert validate.rc == 0, validate.explain()
        table = "\n".join(validate.task_result("Show the stack status")["msg"])
        rows = [line.split()[0] for line in table.splitlines()[1:]]
        assert rows == ["postgresql", "mlflow"], table

        # Teardown removes the enabled components' objects and keeps the data.
        down = run_playbook(PLAYBOOKS / "teardown.yml", inventory=inv, timeout=900,
                            extra_vars={"mlops_teardown_dir": str(tmp_path / "teardown")})
        assert down.rc == 0, down.explain()
        assert not _kjson(k8s_cluster, "-n", ns, "get", "deployment,statefulset")["items"]
        assert _kjson(k8s_cluster, "-n", ns, "get", "pvc", "mlflow-artifacts")["metadata"]["name"]
        assert sorted(p.name for p in (tmp_path / "teardown").iterdir() if p.is_dir()) == ["mlflow", "postgresql"]
    finally:
        k8s_cluster.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


@pytest.mark.parametrize("store,dirs", [
    ("none", {"postgresql", "mlflow"}),
    ("external", {"object_store", "postgresql", "mlflow"}),
])
def test_render_follows_the_object_store(tmp_path, store, dirs):
    """The GitOps tree (no cluster needed) holds only the enabled components: with none no object store and
    MLflow's artifacts PVC; with external no server, the object_store role's namespace in namespaces/."""
    extra = {"mlops_serving_enabled": False, "mlops_observability_enabled": False,
             "mlops_certmanager_enabled": False, "mlops_gateway_create": False, "mlops_exposure": "none"}
    if store == "external":
        extra["object_store_external_endpoint_url"] = "https://s3.example.com"
    no_cluster = types.SimpleNamespace(kubeconfig=str(tmp_path / "no-kubeconfig"), context="", gpu_nodes=[])
    inv = site_inventory(tmp_path / "hosts.yml", no_cluster, object_store=store, extra=extra)
    out = tmp_path / "gitops"
    res = run_playbook(PLAYBOOKS / "render.yml", inventory=inv, timeout=600,
                       extra_vars={"mlops_render_dir": str(out), "mlops_render_argocd": False})
    assert res.rc == 0, res.explain()
    assert {p.name for p in out.iterdir() if p.is_dir()} == dirs
    mlflow = (out / "mlflow" / "resources.yaml").read_text()
    if store == "none":
        assert "mlflow-artifacts" in mlflow and "PersistentVolumeClaim" in mlflow and "mlops-s3" not in mlflow
    else:
        assert "mlops-s3" in mlflow and "--artifacts-destination=s3://mlflow-artifacts" in mlflow
        assert "kind: Namespace" in (out / "object_store" / "resources.yaml").read_text()
