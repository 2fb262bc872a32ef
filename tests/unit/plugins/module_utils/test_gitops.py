"""Unit tests for plugins/module_utils/gitops.py: sync waves, Namespace
ownership, examples, Application paths and stale-file removal."""
import json

import pytest
import yaml

from ansible_collections.mlops.stack.plugins.module_utils import gitops

SETTINGS = {"argocd": True, "repo_url": "https://git.example.org/mlops.git", "revision": "HEAD", "path": "",
            "argocd_namespace": "argocd", "argocd_project": "default",
            "destination_server": "https://kubernetes.default.svc", "root_name": "mlops-stack", "retry_limit": 5}


def obj(api_version, kind, name, namespace=None, **extra):
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    out = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    out.update(extra)
    return out


def crd(group, kind):
    return obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "%ss.%s" % (kind.lower(), group),
               spec={"group": group, "names": {"kind": kind}})


def ns(name, **labels):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def annotations(o):
    return o["metadata"].get("annotations", {})


def docs(tree, path):
    return [d for d in yaml.safe_load_all(tree[path]) if d]


def test_waves_put_crds_first_and_own_custom_resources_after_their_controller():
    own = {("serving.kserve.io", "ServingRuntime")}
    waves = {k: gitops.object_wave(o, own) for k, o in {
        "crd": crd("serving.kserve.io", "ServingRuntime"),
        "sa": obj("v1", "ServiceAccount", "a", "n"),
        "cm": obj("v1", "ConfigMap", "a", "n"),
        "deploy": obj("apps/v1", "Deployment", "a", "n"),
        "webhook": obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "w"),
        "own_cr": obj("serving.kserve.io/v1alpha1", "ServingRuntime", "r", "n"),
        "foreign_cr": obj("cert-manager.io/v1", "Certificate", "c", "n"),
        "route": obj("gateway.networking.k8s.io/v1", "HTTPRoute", "r", "n"),
        "migration": obj("batch/v1", "Job", "j", "n", metadata={"name": "j", "annotations": {
            "mlops.stack/phase": "migrate"}}),
        "job": obj("batch/v1", "Job", "j2", "n"),
    }.items()}
    assert waves == {"crd": -3, "sa": -2, "cm": -2, "deploy": 0, "webhook": 0, "own_cr": 1, "foreign_cr": -1,
                     "route": -1, "migration": -1, "job": 0}


def test_annotate_keeps_a_declared_wave_and_adds_sync_options():
    route = obj("gateway.networking.k8s.io/v1", "HTTPRoute", "r", "n")
    route["metadata"]["annotations"] = {gitops.WAVE_ANNOTATION: "5", gitops.OPTIONS_ANNOTATION: "Replace=true"}
    out = gitops.annotate(route, set())
    assert annotations(out)[gitops.WAVE_ANNOTATION] == "5"
    assert annotations(out)[gitops.OPTIONS_ANNOTATION] == "Replace=true,SkipDryRunOnMissingResource=true"
    assert route["metadata"]["annotations"][gitops.OPTIONS_ANNOTATION] == "Replace=true", "input not mutated"
    pvc = gitops.annotate(obj("v1", "PersistentVolumeClaim", "data", "n"), set())
    assert annotations(pvc)[gitops.OPTIONS_ANNOTATION] == "Prune=false,Delete=false"
    assert gitops.OPTIONS_ANNOTATION not in annotations(gitops.annotate(obj("apps/v1", "Deployment", "d", "n"), set()))


def test_argo_order_is_wave_then_kind_then_name():
    objs = [gitops.annotate(o, {("cert-manager.io", "ClusterIssuer")}) for o in (
        obj("cert-manager.io/v1", "ClusterIssuer", "ca"),
        obj("apps/v1", "Deployment", "b", "n"),
        obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "w"),
        obj("v1", "Service", "b", "n"),
        crd("cert-manager.io", "ClusterIssuer"),
        obj("v1", "ServiceAccount", "a", "n"),
    )]
    assert [o["kind"] for o in gitops.argo_order(objs)] == [
        "CustomResourceDefinition", "ServiceAccount", "Service", "Deployment", "ValidatingWebhookConfiguration",
        "ClusterIssuer"]


def _tree(components, **settings):
    return gitops.build_tree(components, dict(SETTINGS, **settings))


def test_each_namespace_has_one_owner_that_never_prunes_it():
    tree = _tree([
        {"name": "minio", "files": [("resources.yaml", [ns("mlops", a="1"), obj("apps/v1", "StatefulSet", "m", "mlops")])]},
        {"name": "mlflow", "files": [("resources.yaml", [ns("mlops", b="2"), obj("apps/v1", "Deployment", "d", "mlops")])]},
    ])
    namespaces = docs(tree, "namespaces/namespaces.yaml")
    assert [n["metadata"]["name"] for n in namespaces] == ["mlops"]
    assert namespaces[0]["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert annotations(namespaces[0])[gitops.OPTIONS_ANNOTATION] == "Prune=false,Delete=false"
    for comp in ("minio", "mlflow"):
        assert all(d["kind"] != "Namespace" for d in docs(tree, comp + "/resources.yaml"))
    app = docs(tree, "apps/namespaces.yaml")[0]
    assert app["spec"]["syncPolicy"]["automated"]["prune"] is False
    assert "finalizers" not in app["metadata"]
    assert annotations(app)[gitops.WAVE_ANNOTATION] == "0"
    waves = [int(annotations(docs(tree, "apps/%s.yaml" % c)[0])[gitops.WAVE_ANNOTATION]) for c in ("minio", "mlflow")]
    assert waves == [1, 2]


def test_two_components_that_disagree_on_a_namespace_label_fail():
    with pytest.raises(gitops.GitOpsError, match="Namespace mlops: label a is '1' in one component and '2' in mlflow"):
        _tree([{"name": "minio", "files": [("r.yaml", [ns("mlops", a="1")])]},
               {"name": "mlflow", "files": [("r.yaml", [ns("mlops", a="2")])]}])


def test_inference_services_are_examples_outside_every_application():
    isvc = obj("serving.kserve.io/v1beta1", "InferenceService", "llm", "serving")
    tree = _tree([{"name": "gpu_serving", "files": [("resources.yaml", [isvc, obj("node.k8s.io/v1", "RuntimeClass", "nvidia")])]}])
    assert docs(tree, "examples/examples.yaml") == [isvc]
    assert [d["kind"] for d in docs(tree, "gpu_serving/resources.yaml")] == ["RuntimeClass"]
    assert not any(p.startswith("apps/examples") for p in tree)


@pytest.mark.parametrize("path,expected", [("", "mlflow"), ("clusters/prod", "clusters/prod/mlflow"),
                                           ("/clusters/prod/", "clusters/prod/mlflow"), (".", "mlflow")])
def test_application_paths_join_with_a_slash(path, expected):
    tree = _tree([{"name": "mlflow", "files": [("resources.yaml", [obj("v1", "Service", "s", "n")])]}], path=path)
    assert docs(tree, "apps/mlflow.yaml")[0]["spec"]["source"]["path"] == expected
    assert docs(tree, "root-application.yaml")[0]["spec"]["source"]["path"] == (expected[:-len("mlflow")] + "apps")


def test_plain_kustomize_keeps_namespaces_and_writes_no_applications():
    tree = _tree([{"name": "mlflow", "files": [("resources.yaml", [ns("mlops"), obj("v1", "Service", "s", "mlops")])]}],
                 argocd=False)
    assert sorted(tree) == ["mlflow/kustomization.yaml", "mlflow/resources.yaml"]
    assert [d["kind"] for d in docs(tree, "mlflow/resources.yaml")] == ["Namespace", "Service"]


def test_rewrites_only_changed_files_and_removes_only_its_own_stale_files(tmp_path):
    first = {"minio/resources.yaml": "a\n", "minio/kustomization.yaml": "k\n", "apps/minio.yaml": "app\n"}
    assert gitops.write_tree(str(tmp_path), first) == (sorted(first), [])
    (tmp_path / "minio" / "README.md").write_text("the user's own file\n")
    second = {"seaweedfs/resources.yaml": "s\n", "apps/minio.yaml": "app\n"}
    written, removed = gitops.write_tree(str(tmp_path), second, check_mode=True)
    assert (written, removed) == (["seaweedfs/resources.yaml"], ["minio/kustomization.yaml", "minio/resources.yaml"])
    assert (tmp_path / "minio" / "resources.yaml").exists(), "check mode writes nothing"
    assert gitops.write_tree(str(tmp_path), second) == (written, removed)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        ".mlops-render.json", "apps/minio.yaml", "minio/README.md", "seaweedfs/resources.yaml"]
    assert json.loads((tmp_path / ".mlops-render.json").read_text())["files"] == sorted(second)
    assert gitops.write_tree(str(tmp_path), second) == ([], [])
    gitops.write_tree(str(tmp_path), {"apps/minio.yaml": "app\n"})
    assert not (tmp_path / "seaweedfs").exists(), "an emptied directory goes too"
