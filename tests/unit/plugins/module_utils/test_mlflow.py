import io
import json
from urllib.error import HTTPError, URLError

import pytest

from ansible_collections.mlops.stack.plugins.module_utils.mlflow import (
    MlflowApi, MlflowError, desired_from_params, diff_view, ensure_experiment, experiment_view,
    http_error_message, normalize_tags, normalize_tracking_uri, plan, predicted_view,
    url_error_message, validate_name)

EXP = {
    "experiment_id": "7", "name": "traces", "artifact_location": "mlflow-artifacts:/7",
    "lifecycle_stage": "active", "creation_time": 1, "last_update_time": 2,
    "tags": [{"key": "team", "value": "ml"}, {"key": "mlflow.note.content", "value": "x"}],
}


def desired(**kw):
    base = dict(name="traces", state="present", tags=None, purge_tags=False, artifact_location=None)
    base.update(kw)
    return base


# --- validation ---------------------------------------------------------------

@pytest.mark.parametrize("uri, out", [
    ("http://mlflow:5000/", "http://mlflow:5000"),
    ("https://x.example/prefix/", "https://x.example/prefix"),
])
def test_tracking_uri_ok(uri, out):
    assert normalize_tracking_uri(uri) == out


@pytest.mark.parametrize("uri, text", [
    (None, "tracking_uri is required"),
    ("file:///tmp/mlruns", "http:// or https://"),
    ("databricks", "http:// or https://"),
    ("http://user:pw@host", "credentials"),
])
def test_tracking_uri_bad(uri, text):
    with pytest.raises(MlflowError) as exc:
        normalize_tracking_uri(uri)
    assert text in str(exc.value)


@pytest.mark.parametrize("name", ["", "  ", "a\nb", "a\x00b", " x", "x" * 501, None])
def test_bad_names(name):
    with pytest.raises(MlflowError):
        validate_name(name)


def test_good_names():
    assert validate_name("Team/LLM traces: v2") == "Team/LLM traces: v2"


def test_normalize_tags():
    assert normalize_tags({"a": 1, "b": True, "c": "x", "d": {"k": [1]}}) == {
        "a": "1", "b": "true", "c": "x", "d": '{"k": [1]}'}
    for bad in ({"bad;key": "x"}, {"": "x"}, {"k" * 251: "x"}, {"a": None}, {"a": "v" * 20001}):
        with pytest.raises(MlflowError):
            normalize_tags(bad)


# --- mapping and planning ------------------------------------------------------

def test_experiment_view():
    v = experiment_view(EXP)
    assert v["experiment_id"] == "7" and v["tags"] == {"team": "ml", "mlflow.note.content": "x"}
    assert experiment_view(None) is None
    assert experiment_view({"experiment_id": 3, "name": "n"})["lifecycle_stage"] == "active"
    assert "creation_time" not in diff_view(v)


def test_plan_create():
    acts, warns = plan(None, desired(tags={"a": "1"}, artifact_location="s3://b/x"))
    assert acts == [dict(op="create", artifact_location="s3://b/x", tags={"a": "1"})] and warns == []


def test_plan_noop():
    acts, warns = plan(experiment_view(EXP), desired(tags={"team": "ml"}))
    assert acts == [] and warns == []
    assert plan(experiment_view(EXP), desired())[0] == []


def test_plan_restore_and_tags():
    cur = experiment_view(dict(EXP, lifecycle_stage="deleted"))
    acts, dummy = plan(cur, desired(tags={"team": "ai", "new": "1"}))
    assert [a["op"] for a in acts] == ["restore", "set_tag", "set_tag"]
    assert [a.get("key") for a in acts[1:]] == ["new", "team"]


def test_plan_purge_keeps_system_tags():
    cur = experiment_view(dict(EXP, tags=EXP["tags"] + [{"key": "old", "value": "1"}]))
    acts, dummy = plan(cur, desired(tags={"team": "ml"}, purge_tags=True))
    assert acts == [dict(op="delete_tag", key="old")]


def test_plan_artifact_location_differs_warns():
    acts, warns = plan(experiment_view(EXP), desired(artifact_location="s3://other/x"))
    assert acts == [] and len(warns) == 1 and "cannot change" in warns[0]
    acts, warns = plan(experiment_view(EXP), desired(artifact_location="mlflow-artifacts:/7/"))
    assert warns == []


def test_plan_absent():
    assert plan(None, desired(state="absent"))[0] == []
    assert plan(experiment_view(EXP), desired(state="absent"))[0] == [dict(op="delete")]
    assert plan(experiment_view(dict(EXP, lifecycle_stage="deleted")), desired(state="absent"))[0] == []


def test_predicted_view():
    cur = experiment_view(dict(EXP, lifecycle_stage="deleted"))
    d = desired(tags={"team": "ai"}, purge_tags=True)
    acts, dummy = plan(cur, d)
    after = predicted_view(cur, d, acts)
    assert after["lifecycle_stage"] == "active" and after["tags"] == {"team": "ai", "mlflow.note.content": "x"}
    assert cur["tags"]["team"] == "ml"  # input not mutated
    new = predicted_view(None, desired(tags={"a": "1"}), [])
    assert new["experiment_id"] is None and new["tags"] == {"a": "1"}


def test_desired_from_params():
    d = desired_from_params(dict(name="x", state="present", tags={"a": 1}, purge_tags=None,
                                 artifact_location=""))
    assert d == dict(name="x", state="present", tags={"a": "1"}, purge_tags=False, artifact_location=None)


# --- error messages -------------------------------------------------------------

def test_http_401_messages():
    m = http_error_message("http://m:5000", "read experiment 'x'", 401, {"raw": "You are not authenticated."}, "basic")
    assert m.startswith("http://m:5000: authentication failed") and "HTTP 401" in m
    assert "username/password" in m
    m = http_error_message("http://m:5000", "x", 401, {}, None)
    assert "requires authentication" in m
    m = http_error_message("http://m:5000", "x", 401, {}, "token")
    assert "token" in m


def test_http_other_messages():
    body = {"error_code": "PERMISSION_DENIED", "message": "Permission denied"}
    assert "permission denied" in http_error_message("u", "x", 403, body, "basic")
    assert "--allowed-hosts" in http_error_message("u", "x", 403, {"raw": "Invalid Host header"}, None)
    assert "base URL" in http_error_message("u", "x", 404, {"raw": "Not Found"}, None)
    m = http_error_message("u", "create experiment 'x'", 500,
                           {"error_code": "INTERNAL_ERROR", "message": "db down"}, None)
    assert "server error" in m and "INTERNAL_ERROR: db down" in m and "mlflow db upgrade" in m
    assert "RESOURCE_ALREADY_EXISTS" in http_error_message(
        "u", "x", 400, {"error_code": "RESOURCE_ALREADY_EXISTS", "message": "m"}, None)


def test_url_error_messages():
    m = url_error_message("http://127.0.0.1:1", "read experiment 'x'", URLError(ConnectionRefusedError(111, "refused")))
    assert m.startswith("http://127.0.0.1:1: cannot reach MLflow") and "kubernetes_service" in m
    m = url_error_message("https://m", "x", URLError("certificate verify failed"))
    assert "ca_path" in m


# --- the client with a fake transport -----------------------------------------------

class FakeServer:
    """Answers like MLflow's REST API, in memory."""

    def __init__(self):
        self.exps = {}
        self.calls = []

    def __call__(self, url, data=None, method=None, headers=None, **kw):
        path = url.split("/api/2.0/mlflow/", 1)[1]
        self.calls.append((method, path.split("?")[0]))
        body = json.loads(data) if data else {}
        if path.startswith("experiments/get-by-name"):
            name = path.split("experiment_name=", 1)[1]
            for e in self.exps.values():
                if e["name"] == name:
                    return self._ok({"experiment": e})
            raise HTTPError(url, 404, "nf", {}, io.BytesIO(json.dumps(
                {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "nope"}).encode()))
        if path.startswith("experiments/get"):
            return self._ok({"experiment": self.exps[path.split("experiment_id=", 1)[1]]})
        if path == "experiments/create":
            eid = str(len(self.exps) + 1)
            self.exps[eid] = {"experiment_id": eid, "name": body["name"], "lifecycle_stage": "active",
                              "artifact_location": body.get("artifact_location") or "mlflow-artifacts:/" + eid,
                              "tags": body.get("tags", [])}
            return self._ok({"experiment_id": eid})
        e = self.exps[body["experiment_id"]]
        if path == "experiments/set-experiment-tag":
            e["tags"] = [t for t in e["tags"] if t["key"] != body["key"]] + [
                {"key": body["key"], "value": body["value"]}]
        elif path == "experiments/delete-experiment-tag":
            e["tags"] = [t for t in e["tags"] if t["key"] != body["key"]]
        elif path == "experiments/delete":
            e["lifecycle_stage"] = "deleted"
        elif path == "experiments/restore":
            e["lifecycle_stage"] = "active"
        return self._ok({})

    @staticmethod
    def _ok(obj):
        return io.BytesIO(json.dumps(obj).encode())


def test_ensure_experiment_flow():
    fake = FakeServer()
    api = MlflowApi("http://m", opener=fake)
    d = desired(tags={"a": "1"})
    r = ensure_experiment(api, d, check_mode=True)
    assert r["changed"] and r["experiment_id"] is None and fake.exps == {}
    r = ensure_experiment(api, d)
    assert r["changed"] and r["experiment_id"] == "1" and r["experiment"]["tags"] == {"a": "1"}
    r = ensure_experiment(api, d)
    assert not r["changed"] and r["experiment_id"] == "1"
    r = ensure_experiment(api, desired(state="absent"))
    assert r["changed"] and fake.exps["1"]["lifecycle_stage"] == "deleted"
    assert r["diff"]["after"]["lifecycle_stage"] == "deleted"
    r = ensure_experiment(api, d)
    assert r["changed"] and r["actions"] == ["restore deleted experiment traces"] and r["experiment_id"] == "1"


def test_client_auth_headers():
    seen = {}

    def opener(url, headers=None, **kw):
        seen.update(headers)
        return io.BytesIO(b'{"experiment": {"experiment_id": "1", "name": "n"}}')

    MlflowApi("http://m", username="admin", password="pw", opener=opener).get_by_name("n")
    assert seen["Authorization"] == "Basic YWRtaW46cHc="
    MlflowApi("http://m", token="tok", opener=opener).get_by_name("n")
    assert seen["Authorization"] == "Bearer tok"


def test_client_non_json_answer():
    api = MlflowApi("http://m", opener=lambda url, **kw: io.BytesIO(b"<html>login</html>"))
    with pytest.raises(MlflowError) as exc:
        api.get_by_name("n")
    assert "not MLflow's JSON" in str(exc.value)


def test_client_connection_refused():
    def opener(url, **kw):
        raise URLError(ConnectionRefusedError(111, "Connection refused"))
    with pytest.raises(MlflowError) as exc:
        MlflowApi("http://127.0.0.1:9", opener=opener).get_by_name("n")
    assert "cannot reach MLflow" in str(exc.value) and "Connection refused" in str(exc.value)
