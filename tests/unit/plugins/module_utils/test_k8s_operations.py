"""Unit tests for plugins/module_utils/k8s/operations.py: run() in render mode
(no cluster) and delete_objects against a recording stand-in for the API
client. The order and skip logic is pure; the real deletes are exercised by
tests/k8s/test_site.py::test_teardown_removes_stack on a real API server."""
import json

import pytest

from ansible_collections.mlops.stack.plugins.module_utils.k8s.manifests import sha256_text
from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import K8sApplyError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.operations import delete_objects, run

CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}, "data": {"a": "1"}}


def test_run_checksum_mismatch(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text(json.dumps(CM))
    with pytest.raises(K8sApplyError, match="checksum mismatch"):
        run({"src": [{"path": str(f), "checksum": "0" * 64}], "render_path": str(tmp_path / "o.yaml")})
    res = run({"src": [{"path": str(f), "checksum": sha256_text(f.read_bytes())}],
               "render_path": str(tmp_path / "o.yaml")})
    assert res["changed"] and (tmp_path / "o.yaml").exists()


def test_run_fails_on_unmatched_override(tmp_path):
    with pytest.raises(K8sApplyError, match="overrides match no object"):
        run({"definition": [CM], "overrides": [{"kind": "Secret", "name": "x", "merge": {}}],
             "render_path": str(tmp_path / "o.yaml")})


class Recorder(object):
    endpoint = "https://127.0.0.1:6443"

    def __init__(self, existing, unserved=()):
        self.existing = set(existing)
        self.unserved = set(unserved)
        self.deleted = []

    def path(self, obj, namespace_default=None):
        if obj["kind"] in self.unserved:
            raise K8sApplyError("not served")
        return "/%s/%s" % (obj["kind"], obj["metadata"]["name"]), None

    def get(self, path, metadata_only=False):
        return {"metadata": {}} if path in self.existing else None

    def request(self, method, path, body=None, **kw):
        assert method == "DELETE"
        self.deleted.append(path)
        self.existing.discard(path)
        return {}


def obj(kind, name, api="v1"):
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name}}


OBJS = [
    obj("Namespace", "mlops"),
    obj("CustomResourceDefinition", "isvc", "apiextensions.k8s.io/v1"),
    obj("Deployment", "mlflow", "apps/v1"),
    obj("Secret", "creds"),
    obj("InferenceService", "example", "serving.kserve.io/v1beta1"),
    obj("ValidatingWebhookConfiguration", "hook", "admissionregistration.k8s.io/v1"),
]


def test_reverse_install_order_and_keep_kinds():
    api = Recorder(["/%s/%s" % (o["kind"], o["metadata"]["name"]) for o in OBJS])
    res = delete_objects(api, OBJS, {"keep_kinds": ["Secret", "Namespace"], "sort": True})
    assert res["changed"] is True
    assert api.deleted == ["/ValidatingWebhookConfiguration/hook", "/InferenceService/example",
                           "/Deployment/mlflow", "/CustomResourceDefinition/isvc"]


def test_absent_and_unserved_objects_are_no_change():
    api = Recorder([], unserved=["InferenceService"])
    res = delete_objects(api, OBJS, {"keep_kinds": [], "sort": True})
    assert res["changed"] is False and api.deleted == []
    assert res["counts"] == {"absent": 6}


def test_check_mode_reports_without_deleting():
    api = Recorder(["/Deployment/mlflow"])
    res = delete_objects(api, OBJS, {"keep_kinds": [], "sort": True}, check_mode=True)
    assert res["changed"] is True and api.deleted == []
    assert {"ref": "Deployment/mlflow", "result": "deleted"} in res["objects"] or res["counts"]["deleted"] == 1
