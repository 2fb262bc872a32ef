"""The GitOps tree of playbooks/render.yml, synced the way ArgoCD syncs it,
onto an empty control plane of its own.

No ArgoCD runs here (no image, no network); the test does what its
application controller does with this tree, in the same order:

1. ``kustomize build`` of every directory an Application points at (the
   repo server's job; kustomize v5.8.2 from tools/testbins/kustomize);
2. playbooks/secrets.yml, the documented step before the first sync;
3. Applications by sync wave; inside one, a server-side dry run of every
   object that does not carry SkipDryRunOnMissingResource, then each wave
   applied server-side (kinds in ArgoCD's order, conflicts forced as ArgoCD
   does) and waited for until Healthy before the next wave.

Every object must be accepted on the first pass. Differences from a real
ArgoCD: custom resources are only checked to be accepted (their Health needs
the controllers, which do not run here), admission webhooks are not called
(docs/testing-control-plane.md), and pods are simulated by kwok.
"""
import json
import os
import shutil
import subprocess
import time

import pytest
import yaml

from tests.cluster import gateway_api
from tests.helpers import require
from tests.k8s.site_env import site_inventory
from tests.playbook import run_playbook
from tests.servers.bins import BIN_DIR

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("gitops")]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = os.path.join(ROOT, "playbooks")
KUSTOMIZE = BIN_DIR / "kustomize"
WAVE = "argocd.argoproj.io/sync-wave"
OPTIONS = "argocd.argoproj.io/sync-options"
REPO = "https://git.example.org/platform/mlops.git"
ARGO_KIND_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy", "PodDisruptionBudget",
    "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job",
    "CronJob", "IngressClass", "Ingress", "APIService")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require(KUSTOMIZE.exists(), "kustomize missing: run scripts/build-testbins.sh kustomize")
    # The cluster's Gateway API implementation brings its CRDs, not the tree.
    with gateway_api.cluster_with_gateway_api(tmp_path_factory.mktemp("k8s-gitops"), "mlops-gitops") as cl:
        yield cl


@pytest.fixture(scope="module")
def inventory(cluster, tmp_path_factory):
    # Basic auth on: the Secrets step then also writes MLflow's and the
    # collector's credentials. Pods never run here: no bootstrap servers.
    return site_inventory(tmp_path_factory.mktemp("gitops-inv") / "hosts.yml", cluster, extra={
        "mlflow_auth_enabled": True, "mlops_gitops_path": "clusters/test",
        # A value from the inventory is used as given (no MLflow to ask while rendering).
        "otel_collector_experiment_id": "7"})


@pytest.fixture(scope="module")
def tree(inventory, tmp_path_factory):
    out = tmp_path_factory.mktemp("gitops") / "tree"
    res = run_playbook(os.path.join(PLAYBOOKS, "render.yml"), inventory=inventory,
                       extra_vars={"mlops_render_dir": str(out), "mlops_gitops_repo_url": REPO}, timeout=900)
    assert res.rc == 0, res.explain()
    return out


def _docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def _annotation(obj, key, default=""):
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(key, default)


def _kind_rank(kind):
    return (ARGO_KIND_ORDER.index(kind), "") if kind in ARGO_KIND_ORDER else (len(ARGO_KIND_ORDER), kind)


def _applications(tree):
    apps = []
    for path in sorted((tree / "apps").glob("*.yaml")):
        app = _docs(path.read_text())[0]
        apps.append(app)
    return sorted(apps, key=lambda a: int(_annotation(a, WAVE, "0")))


def _build(tree, app):
    """kustomize build of the Application's directory, as the repo server does."""
    path = app["spec"]["source"]["path"]
    assert path.startswith("clusters/test/"), path
    res = subprocess.run([str(KUSTOMIZE), "build", str(tree / path[len("clusters/test/"):])],
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, "kustomize build %s: %s" % (path, res.stderr[-2000:])
    return _docs(res.stdout)


def _ref(obj):
    meta = obj["metadata"]
    return "%s %s%s" % (obj["kind"], (meta.get("namespace") + "/") if meta.get("namespace") else "", meta["name"])


def _apply(cluster, objs, dry_run=False):
    args = ["apply", "--server-side", "--force-conflicts", "--field-manager", "argocd-controller", "-f", "-"]
    if dry_run:
        args.append("--dry-run=server")
    return cluster.kubectl(*args, input=yaml.safe_dump_all(objs), check=False, timeout=300)


def _healthy(cluster, obj):
    """ArgoCD's health of the built-in kinds (None: not assessed here)."""
    kind, meta = obj["kind"], obj["metadata"]
    if kind not in ("CustomResourceDefinition", "Deployment", "StatefulSet", "DaemonSet", "Job"):
        return None
    args = ["get", "%s/%s" % (kind.lower() if kind != "CustomResourceDefinition" else "crd", meta["name"]),
            "-o", "json"]
    if meta.get("namespace"):
        args += ["-n", meta["namespace"]]
    live = json.loads(cluster.kubectl(*args).stdout)
    status = live.get("status") or {}
    if kind == "CustomResourceDefinition":
        return any(c["type"] == "Established" and c["status"] == "True" for c in status.get("conditions") or [])
    if kind == "Deployment":
        return status.get("observedGeneration", 0) >= live["metadata"]["generation"] and \
            status.get("availableReplicas", 0) >= live["spec"].get("replicas", 1) and \
            status.get("updatedReplicas", 0) >= live["spec"].get("replicas", 1)
    if kind == "StatefulSet":
        return status.get("observedGeneration", 0) >= live["metadata"]["generation"] and \
            status.get("readyReplicas", 0) >= live["spec"].get("replicas", 1)
    if kind == "DaemonSet":
        return status.get("observedGeneration", 0) >= live["metadata"]["generation"] and \
            status.get("numberReady", 0) >= status.get("desiredNumberScheduled", 0)
    return any(c["type"] == "Complete" and c["status"] == "True" for c in status.get("conditions") or [])


def _wait_healthy(cluster, objs, what, timeout=240):
    deadline = time.monotonic() + timeout
    pending = [o for o in objs if _healthy(cluster, o) is False]
    while pending:
        if time.monotonic() > deadline:
            raise AssertionError("%s: not Healthy after %ss: %s" % (what, timeout, [_ref(o) for o in pending]))
        time.sleep(1)
        pending = [o for o in pending if not _healthy(cluster, o)]


def _sync(cluster, tree):
    """Every Application in sync-wave order, each wave by wave; returns the
    number of objects applied per Application."""
    applied = {}
    for app in _applications(tree):
        name = app["metadata"]["name"]
        objs = _build(tree, app)
        checked = [o for o in objs if "SkipDryRunOnMissingResource=true" not in _annotation(o, OPTIONS)]
        dry = _apply(cluster, checked, dry_run=True) if checked else None
        assert dry is None or dry.returncode == 0, "%s: the dry run fails before the first wave:\n%s" % (name, dry.stderr[-3000:])
        for wave in sorted({int(_annotation(o, WAVE, "0")) for o in objs}):
            batch = sorted((o for o in objs if int(_annotation(o, WAVE, "0")) == wave),
                           key=lambda o: (_kind_rank(o["kind"]), o["metadata"].get("namespace", ""),
                                          o["metadata"]["name"]))
            res = _apply(cluster, batch)
            assert res.returncode == 0, "%s wave %s not accepted on the first pass:\n%s" % (
                name, wave, res.stderr[-3000:])
            _wait_healthy(cluster, batch, "%s wave %s" % (name, wave))
        applied[name] = len(objs)
    return applied


def test_every_application_directory_builds_with_kustomize(tree):
    apps = _applications(tree)
    names = [a["metadata"]["name"] for a in apps]
    assert names[0] == "mlops-namespaces"
    assert {"mlops-minio", "mlops-postgresql", "mlops-mlflow", "mlops-certmanager", "mlops-gateway",
            "mlops-knative", "mlops-kserve", "mlops-gpu-serving", "mlops-otel-collector"} <= set(names)
    for app in apps:
        built = _build(tree, app)
        assert built, app["metadata"]["name"]
        assert app["spec"]["source"]["repoURL"] == REPO
    root = _docs((tree / "root-application.yaml").read_text())[0]
    assert root["spec"]["source"]["path"] == "clusters/test/apps"
    # Namespaces have one owner; examples belong to no Application.
    namespaces = [o for app in apps for o in _build(tree, app) if o["kind"] == "Namespace"]
    assert len(namespaces) == len({o["metadata"]["name"] for o in namespaces})
    assert all(o["kind"] != "InferenceService" for app in apps for o in _build(tree, app))
    assert any(o["kind"] == "InferenceService" for o in _docs((tree / "examples" / "examples.yaml").read_text()))
    collector = [o for o in _docs((tree / "otel_collector" / "resources.yaml").read_text()) if o["kind"] == "ConfigMap"]
    assert "x-mlflow-experiment-id: '7'" in collector[0]["data"]["config.yaml"]


def test_rerendering_removes_only_what_an_earlier_render_wrote(inventory, tree, tmp_path):
    out = tmp_path / "tree"
    shutil.copytree(tree, out)
    (out / "minio" / "NOTES.md").write_text("kept\n")
    res = run_playbook(os.path.join(PLAYBOOKS, "render.yml"), inventory=inventory,
                       extra_vars={"mlops_render_dir": str(out), "mlops_gitops_repo_url": REPO,
                                   "mlops_object_store": "seaweedfs"}, timeout=900)
    assert res.rc == 0, res.explain()
    result = res.task_result("Write the Kustomize directories and the ArgoCD Applications")
    assert "minio/upstream.yaml" not in result["removed"] and "minio/resources.yaml" in result["removed"]
    assert "apps/minio.yaml" in result["removed"] and "seaweedfs/resources.yaml" in result["written"]
    assert sorted(p.name for p in (out / "minio").iterdir()) == ["NOTES.md"]
    assert not (out / "apps" / "minio.yaml").exists() and (out / "apps" / "seaweedfs.yaml").exists()
    again = run_playbook(os.path.join(PLAYBOOKS, "render.yml"), inventory=inventory,
                         extra_vars={"mlops_render_dir": str(out), "mlops_gitops_repo_url": REPO,
                                     "mlops_object_store": "seaweedfs"}, timeout=900)
    assert again.rc == 0, again.explain()
    result = again.task_result("Write the Kustomize directories and the ArgoCD Applications")
    assert (result["changed"], result["written"], result["removed"]) == (False, [], [])


def test_the_tree_syncs_onto_an_empty_cluster_on_the_first_pass(cluster, inventory, tree):
    assert json.loads(cluster.kubectl("get", "crd", "-o", "json").stdout)["items"] == [] or all(
        o["spec"]["group"] == "gateway.networking.k8s.io"
        for o in json.loads(cluster.kubectl("get", "crd", "-o", "json").stdout)["items"]), "not an empty cluster"
    secrets = run_playbook(os.path.join(PLAYBOOKS, "secrets.yml"), inventory=inventory, timeout=900)
    assert secrets.rc == 0, secrets.explain()
    # The Secrets the tree refers to and never carries.
    have = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in json.loads(
        cluster.kubectl("get", "secrets", "-A", "-o", "json").stdout)["items"]}
    for ref in [("mlops", "minio-root"), ("mlops", "mlops-s3"), ("mlops", "mlops-s3-kserve"),
                ("mlops", "postgresql-superuser"), ("mlops", "mlops-postgresql-mlflow"), ("mlops-serving", "mlops-s3")]:
        assert ref in have, (ref, sorted(have))

    applied = _sync(cluster, tree)
    assert applied["mlops-kserve"] > 40 and applied["mlops-mlflow"] >= 5, applied

    # What the pods of the tree need exists and runs (simulated kubelets).
    for ns, kind, name in [("mlops", "statefulset", "minio"), ("mlops", "statefulset", "postgresql"),
                           ("mlops", "deployment", "mlflow"), ("mlops", "deployment", "otel-collector"),
                           ("kserve", "deployment", "kserve-controller-manager")]:
        live = json.loads(cluster.kubectl("get", "-n", ns, kind, name, "-o", "json").stdout)
        assert live["status"].get("readyReplicas", 0) >= 1, (kind, name, live["status"])
    jobs = json.loads(cluster.kubectl("get", "jobs", "-n", "mlops", "-o", "json").stdout)["items"]
    assert [j["metadata"]["name"].startswith("mlflow-db-upgrade-") for j in jobs] == [True]

    # A second sync of the same tree is accepted as is (selfHeal re-applies it).
    again = _sync(cluster, tree)
    assert again == applied


def test_post_sync_labels_the_inventory_gpu_nodes(cluster, inventory, tree):
    steps = [{"role": "gpu_serving", "tasks": ["nodes"]}]
    res = run_playbook(os.path.join(PLAYBOOKS, "post_sync.yml"), inventory=inventory,
                       extra_vars={"mlops_gitops_post_sync_steps": steps}, timeout=900)
    assert res.rc == 0, res.explain()
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    labelled = sorted(n["metadata"]["name"] for n in nodes
                      if n["metadata"].get("labels", {}).get("workload-type") == "inference")
    assert labelled == sorted(cluster.gpu_nodes)
