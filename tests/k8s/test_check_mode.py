"""`ansible-playbook site.yml --check --diff` on a control plane the stack was
never deployed to: it must complete, write nothing, and say what it would
create.

The session control plane is shared, so the run gets namespaces of its own
(mlops_namespace and the Gateway namespace are fresh names): every namespaced
object of the stack is new to it. The bootstrap steps (buckets, database,
experiment) are left as users have them, reaching their servers through the
in-cluster Services, which check mode never creates: they must plan instead
of failing.

Writes are counted with the API server's audit log. Check mode sends
server-side dry runs (write verbs with ``dryRun=All`` in the request URI):
they persist nothing, so they are allowed, and there must be some (the run
really asked the server). Any write without ``dryRun`` fails the test; the
objects are also looked up afterwards.
"""
import uuid

import pytest
import yaml

from tests.k8s.site_env import ROOT, site_inventory
from tests.playbook import run_playbook

pytestmark = [pytest.mark.k8s, pytest.mark.slow, pytest.mark.xdist_group("k8s")]

PLAYBOOKS = ROOT / "playbooks"


def _inventory(path, cluster, namespace):
    path = site_inventory(path, cluster, extra={"mlops_namespace": namespace,
                                                "mlops_gateway_namespace": namespace + "-gw"})
    inv = yaml.safe_load(path.read_text())
    # site_inventory switches bootstrap off without local servers; a user's
    # inventory has it on, through the Services the run itself deploys.
    for key in [k for k in inv["all"]["vars"] if k.endswith("_bootstrap_enabled")]:
        del inv["all"]["vars"][key]
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return path


def _exists(cluster, *args):
    return cluster.kubectl("get", *args, "-o", "name", check=False).returncode == 0


@pytest.fixture(scope="module")
def check_run(k8s_cluster, tmp_path_factory):
    namespace = "chk-%s" % uuid.uuid4().hex[:8]
    inv = _inventory(tmp_path_factory.mktemp("check-mode") / "hosts.yml", k8s_cluster, namespace)
    cert_manager_before = _exists(k8s_cluster, "crd", "clusterissuers.cert-manager.io")
    mark = k8s_cluster.audit_mark()
    res = run_playbook(PLAYBOOKS / "site.yml", inventory=inv, check=True, diff=True, timeout=1500)
    writes = k8s_cluster.audit_writes(mark)
    yield {"res": res, "writes": writes, "ns": namespace, "cert_manager_before": cert_manager_before}
    for ns in (namespace, namespace + "-serving", namespace + "-gw"):
        k8s_cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)


def _apply_entries(res):
    """(ref, result) of every object every k8s_apply task reported."""
    out = []
    for result in res.task_results(""):
        for item in result.get("results") or [result]:
            for entry in item.get("objects") or []:
                if isinstance(entry, dict) and "ref" in entry:
                    out.append((entry["ref"], entry["result"]))
    return out


def test_check_mode_completes(check_run):
    res = check_run["res"]
    assert res.rc == 0, res.explain()
    assert res.failed() == 0
    assert res.changed() > 0, "check mode on an empty cluster must predict changes"


def test_check_mode_persists_nothing(check_run, k8s_cluster):
    writes, ns = check_run["writes"], check_run["ns"]
    real = [(w["verb"], w.get("requestURI")) for w in writes if "dryRun" not in (w.get("requestURI") or "")]
    assert real == [], "check mode wrote to the API server: %s" % real[:20]
    dry = [w for w in writes if "dryRun=All" in (w.get("requestURI") or "")]
    assert len(dry) > 10, "expected server-side dry runs, saw %d" % len(dry)
    for args in (("namespace", ns), ("namespace", ns + "-serving"), ("namespace", ns + "-gw"),
                 ("-n", ns, "secret", "mlops-s3"), ("-n", ns, "deployment", "mlflow")):
        assert not _exists(k8s_cluster, *args), "check mode created %s" % (args,)
    if not check_run["cert_manager_before"]:
        assert not _exists(k8s_cluster, "crd", "clusterissuers.cert-manager.io")


def test_check_mode_lists_what_it_would_create(check_run):
    res, ns = check_run["res"], check_run["ns"]
    created = {ref for ref, result in _apply_entries(res) if result.startswith("created")}
    for ref in ("Namespace %s" % ns, "StatefulSet %s/minio" % ns, "StatefulSet %s/postgresql" % ns,
                "Deployment %s/mlflow" % ns, "Job %s/" % ns, "Deployment %s/otel-collector" % ns,
                "Namespace %s-serving" % ns, "Gateway %s-gw/mlops" % ns):
        assert any(c.startswith(ref) for c in created), "%s not listed as created: %s" % (ref, sorted(created))
    # The MLflow Deployment is applied by a later task than its Namespace.
    mlflow = [r for ref, r in _apply_entries(res) if ref == "Deployment %s/mlflow" % ns]
    assert mlflow == ["created (namespace %s created by an earlier task)" % ns], mlflow
    if not check_run["cert_manager_before"]:
        issuers = [r for ref, r in _apply_entries(res) if ref.startswith("ClusterIssuer ")]
        assert issuers and all(r.startswith("created") for r in issuers), issuers
    # --diff shows the objects that would be created.
    diffs = [d for t in res.task_results("Roll out the MLflow Deployment") for d in t.get("diff") or []]
    assert any(d.get("after_header") == "Deployment %s/mlflow" % ns and d.get("before") == {} for d in diffs), diffs


def test_check_mode_plans_the_bootstrap(check_run):
    res, ns = check_run["res"], check_run["ns"]
    buckets = res.task_result("Ensure the buckets")
    assert buckets["changed"] and not buckets.get("failed"), buckets
    actions = [a for r in buckets["results"] for a in r["actions"]]
    assert "create bucket mlflow-artifacts" in actions and "create bucket models" in actions, actions
    assert any("Service %s/minio does not exist" % ns in w for w in buckets.get("warnings", [])), buckets
    database = res.task_result("Ensure the application database, owner role and extensions")
    assert "create database mlflow" in database["actions"] and "create role mlflow" in database["actions"], database
    experiments = res.task_result("Ensure the experiments")["results"]
    assert [e["actions"][0] for e in experiments] == ["create experiment llm-traces"], experiments
    assert [e["experiment_id"] for e in experiments] == [None], experiments
    # The collector's header names the experiment this run would create.
    collector = [d for t in res.task_results("Apply the collector objects") for d in t.get("diff") or []]
    assert any("(id of experiment llm-traces, created by this run)" in str(d.get("after")) for d in collector)
