"""Unit tests for plugins/module_utils/k8s/transforms.py: filters, overrides, image mirroring."""
from ansible_collections.mlops.stack.plugins.module_utils.k8s.transforms import (
    apply_overrides,
    dedupe_objects,
    filter_objects,
    mirror_object_images,
)

CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}, "data": {"a": "1"}}


def test_overrides_merge_and_report_unmatched():
    objs, unmatched = apply_overrides([CM], [
        {"kind": "ConfigMap", "name": "c", "merge": {"data": {"b": "2", "a": None}}},
        {"kind": "ConfigMap", "name": "missing", "merge": {}}])
    assert objs[0]["data"] == {"b": "2"}
    assert CM["data"] == {"a": "1"}  # input untouched
    assert [u["name"] for u in unmatched] == ["missing"]


def test_dedupe_keeps_first_position_last_content():
    a1 = dict(CM, data={"v": "1"})
    a2 = dict(CM, data={"v": "2"})
    other = dict(CM, metadata={"name": "o", "namespace": "n"})
    assert dedupe_objects([a1, other, a2]) == [a2, other]


def test_filter_objects():
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}
    assert filter_objects([ns, CM], include_kinds=["ConfigMap"]) == [CM]
    assert filter_objects([ns, CM], exclude=[{"kind": "Namespace"}]) == [CM]


def test_mirror_images_everywhere():
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "quay.io/jetstack/cert-manager-controller:v1.19.4",
                        "args": ["--acme-http01-solver-image=quay.io/jetstack/cert-manager-acmesolver:v1.19.4",
                                 "--v=2"]}]}}}}
    out = mirror_object_images(dep, "reg.corp/m")
    c = out["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "reg.corp/m/jetstack/cert-manager-controller:v1.19.4"
    assert c["args"] == ["--acme-http01-solver-image=reg.corp/m/jetstack/cert-manager-acmesolver:v1.19.4", "--v=2"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].startswith("quay.io")
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {
        "queue-sidecar-image": "gcr.io/knative-releases/queue@sha256:" + "a" * 64,
        "storageInitializer": '{\n  "image" : "kserve/storage-initializer:v0.20.0",\n  "cpu": "1"}',
        "other": "image: not-touched"}}
    data = mirror_object_images(cm, "reg.corp/m")["data"]
    assert data["queue-sidecar-image"] == "reg.corp/m/knative-releases/queue@sha256:" + "a" * 64
    assert '"image" : "reg.corp/m/kserve/storage-initializer:v0.20.0"' in data["storageInitializer"]
    assert data["other"] == "image: not-touched"
    assert mirror_object_images(cm, "") is cm
