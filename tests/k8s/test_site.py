"""playbooks/site.yml, render.yml, validate.yml and teardown.yml end to end on
the local control plane (real kube-apiserver, controller-manager, scheduler,
kwok nodes), with the bootstrap steps pointed at real local servers."""
import base64
import filecmp
import json
import subprocess
import sys
import urllib.request

import pytest

from tests.cluster import gateway_api
from tests.k8s.site_env import ROOT, site_inventory
from tests.playbook import run_playbook
from tests.servers.s3 import serve_s3

pytestmark = [pytest.mark.k8s, pytest.mark.slow, pytest.mark.xdist_group("k8s")]

PLAYBOOKS = ROOT / "playbooks"
STACK_LABEL = "app.kubernetes.io/part-of=mlops-stack"


@pytest.fixture(scope="module")
def site_s3(tmp_path_factory):
    # MinIO, the inventory's backend: the object_store role creates MLflow's and KServe's users through
    # its admin API.
    yield from serve_s3(tmp_path_factory, "minio")


@pytest.fixture(scope="module")
def site_inv(tmp_path_factory, k8s_cluster, site_s3, pg_server, mlflow_server):
    return site_inventory(tmp_path_factory.mktemp("site-inv") / "hosts.yml", k8s_cluster,
                          s3=site_s3, pg=pg_server, mlflow=mlflow_server)


def _changed_hosts(result):
    return {h: s.get("changed", 0) for h, s in result.stats.items() if s.get("changed", 0)}


def _stack_objects(cluster):
    # Explicit kinds: the "all" category would include the deleted Knative
    # types from kubectl's discovery cache.
    out = cluster.kubectl("get", "deployments,statefulsets,daemonsets,services,jobs,configmaps,ingresses,"
                          "networkpolicies,poddisruptionbudgets,serviceaccounts,roles,rolebindings",
                          "-A", "-l", STACK_LABEL, "-o", "json")
    return json.loads(out.stdout)["items"]


def test_site_converges_then_noop(k8s_cluster, site_inv):
    first = run_playbook(PLAYBOOKS / "site.yml", inventory=site_inv, timeout=2400)
    assert first.rc == 0, first.explain()
    assert first.changed() > 0
    second = run_playbook(PLAYBOOKS / "site.yml", inventory=site_inv, timeout=2400)
    assert second.rc == 0, second.explain()
    assert _changed_hosts(second) == {}, "second run changed: %s\n%s" % (_changed_hosts(second), second.explain())
    for res in (first, second):
        assert _noise(res) == []


def _noise(res):
    """Deprecations, and the warning about a result key Ansible reserves (a list in "skipped" is read as
    a skipped task): output a user should never see from the collection."""
    return [n for n in res.notices() if n[1] == "deprecations" or "converted to bool" in n[2]] + [
        line for line in res.stderr.splitlines() if "DEPRECATION" in line or "converted to bool" in line]


def test_site_single_phase_by_tag(k8s_cluster, site_inv):
    res = run_playbook(PLAYBOOKS / "site.yml", inventory=site_inv, tags="tracking", timeout=1200)
    assert res.rc == 0, res.explain()
    # Argument-spec validation is tagged `always`; it runs for every role.
    names = {t["task"]["name"] for p in res.data.get("plays", []) for t in p.get("tasks", [])
             if "Validating arguments" not in t["task"]["name"]}
    assert any("mlflow" in n.lower() for n in names)
    assert not any("kserve" in n.lower() or "knative" in n.lower() for n in names), names


def test_observability_phase_alone_asks_mlflow_for_the_experiment(k8s_cluster, site_inv, mlflow_server):
    # No mlflow role in this run: the collector role asks MLflow for the id.
    res = run_playbook(PLAYBOOKS / "site.yml", inventory=site_inv, tags="observability", timeout=1200)
    assert res.rc == 0, res.explain()
    lookup = res.task_result("Look up the trace experiment in MLflow")
    assert lookup.get("changed") is False, lookup
    req = urllib.request.Request(mlflow_server.tracking_uri + "/api/2.0/mlflow/experiments/get-by-name?"
                                 "experiment_name=llm-traces")
    with urllib.request.urlopen(req, timeout=30) as resp:
        expected = json.loads(resp.read())["experiment"]["experiment_id"]
    assert lookup["experiment_id"] == expected
    config = json.loads(k8s_cluster.kubectl("-n", "mlops", "get", "configmap", "-l", STACK_LABEL, "-o", "json").stdout)
    text = "".join(v for cm in config["items"] for v in (cm.get("data") or {}).values())
    assert "x-mlflow-experiment-id: '%s'" % expected in text
    assert _changed_hosts(res) == {}, "the phase alone changed what site.yml converged: %s" % res.explain()


def test_validate_reports_healthy_stack(k8s_cluster, site_inv):
    # The Gateway the stack created is Programmed only once an implementation serves its class.
    before = run_playbook(PLAYBOOKS / "validate.yml", inventory=site_inv, timeout=600)
    assert before.rc != 0
    assert "Gateway not Programmed" in "\n".join(before.task_result("Show the stack status")["msg"])
    gateway_api.program(k8s_cluster, "mlops-gateway", "mlops")
    res = run_playbook(PLAYBOOKS / "validate.yml", inventory=site_inv, timeout=600)
    assert res.rc == 0, res.explain()
    table = res.task_result("Show the stack status")["msg"]
    text = "\n".join(table) if isinstance(table, list) else table
    assert "COMPONENT" in text and "mlflow" in text


def test_validate_fails_when_a_component_is_broken(k8s_cluster, site_inv):
    k8s_cluster.kubectl("-n", "mlops", "delete", "deployment/mlflow", "--wait=true")
    try:
        res = run_playbook(PLAYBOOKS / "validate.yml", inventory=site_inv, timeout=600)
        assert res.rc != 0
        table = "\n".join(res.task_result("Show the stack status")["msg"])
        assert "not found" in table and "Unhealthy: mlflow" in " ".join(res.failure_messages())
    finally:
        # Give the stack back its declared state for the tests that follow.
        again = run_playbook(PLAYBOOKS / "site.yml", inventory=site_inv, tags="tracking", timeout=1200)
        assert again.rc == 0, again.explain()


def test_validate_names_a_missing_kserve_s3_secret(k8s_cluster, site_inv):
    """KServe's own S3 Secret (object_store_consumers.kserve, read by kserve_s3_source_secret_name) is part of the
    stack's contract like MLflow's mlops-s3: without it validate fails and says what writes it."""
    k8s_cluster.kubectl("-n", "mlops", "delete", "secret", "mlops-s3-kserve", "--wait=true")
    try:
        res = run_playbook(PLAYBOOKS / "validate.yml", inventory=site_inv, timeout=600)
        assert res.rc != 0, res.explain()
        rows = {line.split()[0]: line for line in res.task_result("Show the stack status")["msg"][1:] if line.strip()}
        assert "Secret mlops/mlops-s3-kserve not found" in rows["s3-secret-kserve"], rows
        assert "not found" not in rows["s3-secret"], rows
        failure = " ".join(res.failure_messages())
        assert "Unhealthy: s3-secret-kserve (" in failure, failure
        assert "the object_store role writes" in failure and "site.yml --tags storage" in failure, failure
        # Only checked when KServe runs: without the serving phase nobody reads it.
        no_serving = run_playbook(PLAYBOOKS / "validate.yml", inventory=site_inv, timeout=600,
                                  extra_vars={"mlops_serving_enabled": False})
        assert no_serving.rc == 0, no_serving.explain()
        table = "\n".join(no_serving.task_result("Show the stack status")["msg"])
        assert "s3-secret-kserve" not in table and "s3-secret" in table, table
    finally:
        # The storage phase writes it again (the keys of the kserve MinIO user are kept in minio-user-kserve).
        again = run_playbook(PLAYBOOKS / "site.yml", inventory=site_inv, tags="storage", timeout=1200)
        assert again.rc == 0, again.explain()
    res = run_playbook(PLAYBOOKS / "validate.yml", inventory=site_inv, timeout=600)
    assert res.rc == 0, res.explain()


def _render(tmp_path, inv, name):
    out = tmp_path / name
    res = run_playbook(PLAYBOOKS / "render.yml", inventory=inv,
                       extra_vars={"mlops_render_dir": str(out), "mlops_gitops_repo_url": "https://git.example.org/mlops.git"},
                       timeout=900)
    assert res.rc == 0, res.explain()
    assert _noise(res) == []
    return out


def _same_tree(a, b):
    cmp = filecmp.dircmp(a, b)
    problems = cmp.left_only + cmp.right_only + cmp.diff_files + cmp.funny_files
    for sub in cmp.common_dirs:
        problems += _same_tree(a / sub, b / sub)
    return problems


def test_render_is_stable_and_valid(tmp_path, site_inv):
    one = _render(tmp_path, site_inv, "one")
    two = _render(tmp_path, site_inv, "two")
    assert _same_tree(one, two) == []
    comps = sorted(p.name for p in one.iterdir() if p.is_dir() and p.name not in ("apps", "examples"))
    assert {"mlflow", "postgresql", "kserve", "knative", "certmanager", "otel_collector"} <= set(comps)
    assert sorted(p.stem for p in (one / "apps").glob("*.yaml")) == comps
    check = subprocess.run([sys.executable, str(ROOT / "tests" / "k8s" / "validate_render.py"), str(one)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout[-4000:] + check.stderr[-2000:]


FOREIGN_DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "mlflow", "namespace": "mlops", "labels": {"app": "someone-elses"}},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "someone-elses"}},
             "template": {"metadata": {"labels": {"app": "someone-elses"}},
                          "spec": {"containers": [{"name": "c", "image": "example.org/app:1"}]}}},
}


def test_teardown_removes_only_what_the_stack_applied(k8s_cluster, site_inv):
    # A Deployment with one of the stack's names, created by someone else.
    k8s_cluster.kubectl("-n", "mlops", "delete", "deployment/mlflow", "--wait=true")
    k8s_cluster.kubectl("create", "-f", "-", input=json.dumps(FOREIGN_DEPLOYMENT))
    try:
        res = run_playbook(PLAYBOOKS / "teardown.yml", inventory=site_inv, timeout=1200)
        assert res.rc == 0, res.explain()
        listing = res.task_result("Show what will be deleted and what is kept")["msg"]
        assert "Deployment mlops/otel-collector" in listing and "Deployment mlops/mlflow" in listing.split(
            "objects another field manager created")[1], listing
        left = [(o["kind"], o["metadata"]["name"]) for o in _stack_objects(k8s_cluster)
                if o["kind"] not in ("PersistentVolumeClaim", "Secret")]
        assert left == [], left
        kept = json.loads(k8s_cluster.kubectl("-n", "mlops", "get", "deployment/mlflow", "-o", "json").stdout)
        assert kept["metadata"]["labels"] == {"app": "someone-elses"}
    finally:
        k8s_cluster.kubectl("-n", "mlops", "delete", "deployment/mlflow", "--ignore-not-found", check=False)
    # Shared platform objects stay: CRDs (deleting one deletes every object of
    # that kind in the cluster), the controllers and their webhooks.
    crd_names = k8s_cluster.kubectl("get", "crd", "-o", "name").stdout
    for group in ("serving.kserve.io", "serving.knative.dev", "cert-manager.io"):
        assert group in crd_names, crd_names
    assert k8s_cluster.kubectl("-n", "kserve", "get", "deployment/kserve-controller-manager").returncode == 0
    # Data is kept unless purge is asked for.
    secrets = k8s_cluster.kubectl("-n", "mlops", "get", "secrets", "-o", "name").stdout
    assert "mlops-postgresql-mlflow" in secrets


def test_teardown_of_the_platform_is_explicit(k8s_cluster, site_inv):
    res = run_playbook(PLAYBOOKS / "teardown.yml", inventory=site_inv,
                       extra_vars={"mlops_teardown_platform": True}, timeout=1200)
    assert res.rc == 0, res.explain()
    crd_names = k8s_cluster.kubectl("get", "crd", "-o", "name").stdout
    for group in ("serving.kserve.io", "serving.knative.dev", "cert-manager.io"):
        assert group not in crd_names, crd_names


def test_teardown_purge_removes_the_data(k8s_cluster, site_inv):
    secret = json.loads(k8s_cluster.kubectl("-n", "mlops", "get", "secret/mlops-postgresql-mlflow",
                                            "-o", "json").stdout)
    password = base64.b64decode(secret["data"]["password"]).decode()
    res = run_playbook(PLAYBOOKS / "teardown.yml", inventory=site_inv,
                       extra_vars={"mlops_purge": True, "mlops_teardown_platform": True}, timeout=1200)
    assert res.rc == 0, res.explain()
    # The stack's Namespace goes with the components (it is not kept with
    # purge), and its Secrets and volumes with it; tests/k8s/test_teardown_purge.py
    # covers the purge step for a namespace the stack did not create.
    left = k8s_cluster.kubectl("-n", "mlops", "get", "secrets,pvc", "-l", STACK_LABEL, "-o", "name",
                               check=False).stdout
    assert left.strip() == "", left
    # The Secrets were read (hidden result) and deleted by name: no value printed.
    assert password not in res.stdout
