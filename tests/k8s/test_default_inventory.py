"""The default inventory (inventories/local) end to end, as `make rehearse` runs it (issue #14).

Only the rehearsal's extra vars are added (cluster connection, manifest
mirror, bootstrap endpoints of real local servers), so this also tests
tests/rehearse.py. The GPU group is empty there: the GPU phase must be
skipped with its notice and touch nothing, although the cluster has GPU nodes.
"""
import json

import pytest

from tests import rehearse
from tests.helpers import require
from tests.k8s.site_env import ROOT
from tests.playbook import run_playbook

pytestmark = [pytest.mark.k8s, pytest.mark.slow, pytest.mark.xdist_group("k8s")]

PLAYBOOKS = ROOT / "playbooks"
INVENTORY = ROOT / "inventories" / "local"
COMPONENTS = ("object-store", "s3-secret", "s3-secret-kserve", "postgresql", "mlflow", "cert-manager", "knative-serving",
              "kserve", "otel-collector")
# Roles that render objects (object_store declares none next to a server role).
ROLES = {"minio", "postgresql", "mlflow", "certmanager", "knative", "kserve", "otel_collector"}
STACK_LABEL = "app.kubernetes.io/part-of=mlops-stack"


@pytest.fixture(scope="module")
def default_vars(tmp_path_factory, k8s_cluster):
    from tests.servers.mlflow import find_mlflow
    from tests.servers.postgres import find_pg_bindir
    require(find_pg_bindir() is not None, "PostgreSQL server not installed: apt-get install postgresql")
    require(find_mlflow() is not None, "mlflow CLI not installed: pip install 'mlflow>=3.17,<3.18'")
    # The inventory's own backend (MinIO): the rehearsal never falls back to another S3 server.
    s3_problem = rehearse.s3_server_problem()
    require(s3_problem is None, s3_problem)
    # The rehearsal's own servers, so its server start-up is tested as well.
    with rehearse.local_servers(tmp_path_factory.mktemp("default-inv")) as (s3, pg, mlflow):
        yield rehearse.rehearsal_vars(k8s_cluster, s3, pg, mlflow, rehearse.manifest_dir())


def _run(name, extra_vars, timeout=2400, **kw):
    return run_playbook(PLAYBOOKS / name, inventory=INVENTORY, extra_vars=extra_vars, timeout=timeout, **kw)


def _changed_hosts(result):
    return {h: s["changed"] for h, s in result.stats.items() if s.get("changed", 0)}


def test_site_skips_the_gpu_phase(k8s_cluster, default_vars):
    mark = k8s_cluster.audit_mark()
    res = _run("site.yml", default_vars)
    assert res.rc == 0, res.explain()
    assert res.changed() > 0
    # Every phase imports the preflight; the first one checks the roles.
    checked = res.task_results("Check the inventory and the cluster")[0]["checked_roles"]
    assert "gpu_serving" not in checked and "mlflow" in checked, checked
    assert "GPU serving skipped: inventory group gpu_inference_nodes has no hosts" in \
        res.task_result("Say that GPU serving is skipped")["msg"]
    # Nothing of gpu_serving exists, and no node was labelled or tainted.
    plugin = k8s_cluster.kubectl("-n", "kube-system", "get", "daemonsets", "-o", "name").stdout
    assert "nvidia-device-plugin" not in plugin, plugin
    gpu_objs = k8s_cluster.kubectl("get", "runtimeclasses,inferenceservices", "-A", "-o", "name",
                                   "-l", "app.kubernetes.io/name=gpu-serving").stdout
    assert gpu_objs.strip() == ""
    node_writes = [(w["verb"], w["objectRef"].get("name")) for w in k8s_cluster.audit_writes(mark)
                   if w["objectRef"].get("resource") == "nodes"]
    assert node_writes == []


def test_second_site_run_changes_nothing(default_vars):
    res = _run("site.yml", default_vars)
    assert res.rc == 0, res.explain()
    assert _changed_hosts(res) == {}, "second run changed: %s\n%s" % (_changed_hosts(res), res.explain())


def test_validate_lists_the_enabled_components(default_vars):
    res = _run("validate.yml", default_vars, timeout=600)
    assert res.rc == 0, res.explain()
    rows = res.task_result("Show the stack status")["msg"]
    listed = {line.split()[0] for line in rows[1:] if line.strip()}
    assert listed == set(COMPONENTS), rows


def test_render_leaves_out_gpu_serving(tmp_path, default_vars):
    out = tmp_path / "gitops"
    res = _run("render.yml", dict(default_vars, mlops_render_dir=str(out),
                                  mlops_gitops_repo_url="https://git.example.org/mlops.git"), timeout=900)
    assert res.rc == 0, res.explain()
    assert not (out / "gpu_serving").exists()
    assert {p.name for p in out.iterdir() if p.is_dir()} == ROLES | {"apps", "namespaces"}


def _stack_objects(cluster):
    out = cluster.kubectl("get", "deployments,statefulsets,daemonsets,services,jobs,configmaps,networkpolicies,"
                          "poddisruptionbudgets,serviceaccounts", "-A", "-l", STACK_LABEL, "-o", "json").stdout
    return [(o["kind"], o["metadata"]["name"]) for o in json.loads(out)["items"]]


def test_teardown_removes_the_stack(tmp_path, k8s_cluster, default_vars):
    # Its own render dir: the default one under ~/.cache is shared with other runs.
    ev = dict(default_vars, mlops_teardown_dir=str(tmp_path / "teardown"))
    res = _run("teardown.yml", ev, timeout=1200)
    assert res.rc == 0, res.explain()
    assert _stack_objects(k8s_cluster) == []
    assert "mlops-postgresql-mlflow" in k8s_cluster.kubectl("-n", "mlops", "get", "secrets", "-o", "name").stdout
    # The k8s tests after this one expect a cluster without the stack: purge
    # the kept data, namespaces and platform releases too.
    res = _run("teardown.yml", dict(ev, mlops_purge=True, mlops_teardown_platform=True), timeout=1200)
    assert res.rc == 0, res.explain()
    k8s_cluster.kubectl("wait", "--for=delete", "namespace/mlops", "--timeout=180s", check=False)
    assert k8s_cluster.kubectl("get", "namespace", "mlops", check=False).returncode != 0
    crds = k8s_cluster.kubectl("get", "crd", "-o", "name").stdout
    assert not any(g in crds for g in ("serving.kserve.io", "serving.knative.dev", "cert-manager.io")), crds
