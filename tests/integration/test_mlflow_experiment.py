"""mlops.stack.mlflow_experiment against a real `mlflow server` (PostgreSQL backend, S3
artifacts), through ansible-playbook."""
import secrets
import urllib.request

import pytest

from tests.playbook import run_playbook, write_playbook
from tests.servers.bins import free_port

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("mlflow")]

TASK = "Ensure experiment"


def run(tmp_path, args, **kw):
    pb = write_playbook(tmp_path, [{
        "name": "mlflow_experiment",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": TASK, "mlops.stack.mlflow_experiment": args}],
    }])
    res = run_playbook(pb, **kw)
    return res, res.task_result(TASK)


def uniq(prefix):
    return "%s-%s" % (prefix, secrets.token_hex(3))


def get_exp(srv, name):
    status, body = srv.api("GET", "experiments/get-by-name", {"experiment_name": name})
    if status == 404:
        return None
    assert status == 200, body
    exp = body["experiment"]
    exp["tags"] = {t["key"]: t["value"] for t in exp.get("tags", [])}
    return exp


def _raw(srv, method, path, data=None):
    req = urllib.request.Request(srv.tracking_uri + path, data=data, method=method)
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (loopback)
        return resp.read()


def test_lifecycle(mlflow_server, tmp_path):
    srv = mlflow_server
    name = uniq("traces")
    args = dict(tracking_uri=srv.tracking_uri, name=name, tags={"team": "platform", "n": 1})

    # check mode on a new experiment: reports it, creates nothing
    res, task = run(tmp_path, args, check=True, diff=True)
    assert res.rc == 0, res.explain()
    assert task["changed"] is True and task["experiment_id"] is None
    assert task["diff"]["before"] == {} and task["diff"]["after"]["tags"] == {"team": "platform", "n": "1"}
    assert get_exp(srv, name) is None

    # create
    res, task = run(tmp_path, args, diff=True)
    assert res.rc == 0 and res.changed() == 1, res.explain()
    exp_id = task["experiment_id"]
    assert exp_id and task["experiment"]["experiment_id"] == exp_id
    assert task["experiment"]["lifecycle_stage"] == "active"
    exp = get_exp(srv, name)
    assert exp["experiment_id"] == exp_id and exp["tags"]["team"] == "platform" and exp["tags"]["n"] == "1"

    # data in the experiment: a run with a proxied artifact (to S3 when the server has it)
    status, body = srv.api("POST", "runs/create", {"experiment_id": exp_id, "run_name": "r1"})
    assert status == 200, body
    run_id = body["run"]["info"]["run_id"]
    art = "/api/2.0/mlflow-artifacts/artifacts/%s/%s/artifacts/hello.txt" % (exp_id, run_id)
    _raw(srv, "PUT", art, b"hello")

    # second run unchanged, check mode unchanged, same id
    res, task = run(tmp_path, args)
    assert res.rc == 0 and res.changed() == 0, res.explain()
    assert task["experiment_id"] == exp_id and task["actions"] == []
    res, task = run(tmp_path, args, check=True, diff=True)
    assert res.rc == 0 and res.changed() == 0 and task["experiment_id"] == exp_id, res.explain()

    # a changed tag changes just that
    res, task = run(tmp_path, dict(args, tags={"team": "ml", "n": 1}), diff=True)
    assert res.rc == 0 and task["actions"] == ["set tag team"], res.explain()
    assert task["diff"]["before"]["tags"]["team"] == "platform"
    assert task["diff"]["after"]["tags"]["team"] == "ml"
    assert get_exp(srv, name)["tags"]["team"] == "ml"

    # purge_tags removes unlisted user tags only
    res, task = run(tmp_path, dict(args, tags={"team": "ml"}, purge_tags=True))
    assert res.rc == 0 and task["actions"] == ["delete tag n"], res.explain()
    tags = get_exp(srv, name)["tags"]
    assert "n" not in tags and tags["team"] == "ml"

    # artifact_location cannot change on an existing experiment: warning, no change
    res, task = run(tmp_path, dict(args, tags={"team": "ml"}, artifact_location="s3://elsewhere/x"))
    assert res.rc == 0 and res.changed() == 0, res.explain()
    assert any("artifact_location" in w for w in task.get("warnings", []))

    # the run and its artifact survived every re-run
    status, body = srv.api("GET", "runs/get", {"run_id": run_id})
    assert status == 200 and body["run"]["info"]["lifecycle_stage"] == "active"
    assert _raw(srv, "GET", art) == b"hello"

    # absent: check mode keeps it, then deletes, then no change
    absent = dict(tracking_uri=srv.tracking_uri, name=name, state="absent")
    res, task = run(tmp_path, absent, check=True, diff=True)
    assert res.rc == 0 and task["changed"] and get_exp(srv, name)["lifecycle_stage"] == "active"
    res, task = run(tmp_path, absent)
    assert res.rc == 0 and task["changed"] and task["experiment_id"] == exp_id, res.explain()
    assert get_exp(srv, name)["lifecycle_stage"] == "deleted"
    res, task = run(tmp_path, absent)
    assert res.rc == 0 and res.changed() == 0

    # present again restores the same experiment (same id, runs intact)
    res, task = run(tmp_path, dict(args, tags={"team": "ml"}), check=True)
    assert res.rc == 0 and task["changed"] and get_exp(srv, name)["lifecycle_stage"] == "deleted"
    res, task = run(tmp_path, dict(args, tags={"team": "ml"}))
    assert res.rc == 0 and task["changed"], res.explain()
    assert task["actions"] == ["restore deleted experiment %s" % name]
    assert task["experiment_id"] == exp_id
    assert get_exp(srv, name)["lifecycle_stage"] == "active"
    assert _raw(srv, "GET", art) == b"hello"


def test_artifact_location_on_create(mlflow_server, tmp_path):
    srv = mlflow_server
    name = uniq("located")
    loc = srv.artifacts_destination.rstrip("/") + "/custom-" + name
    res, task = run(tmp_path, dict(tracking_uri=srv.tracking_uri, name=name, artifact_location=loc))
    assert res.rc == 0 and task["changed"], res.explain()
    assert get_exp(srv, name)["artifact_location"] == loc
    res, task = run(tmp_path, dict(tracking_uri=srv.tracking_uri, name=name, artifact_location=loc))
    assert res.rc == 0 and res.changed() == 0 and not task.get("warnings")


def test_id_reused_by_later_task(mlflow_server, tmp_path):
    """What the otel_collector role does: register the id and use it in a later task."""
    srv = mlflow_server
    name = uniq("otel")
    pb = write_playbook(tmp_path, [{
        "hosts": "localhost", "gather_facts": False,
        "tasks": [
            {"name": TASK, "mlops.stack.mlflow_experiment": {"tracking_uri": srv.tracking_uri,
                                                             "name": name},
             "register": "exp"},
            {"name": "Header", "ansible.builtin.set_fact": {
                "hdr": {"x-mlflow-experiment-id": "{{ exp.experiment_id }}"}}},
        ]}])
    res = run_playbook(pb)
    assert res.rc == 0, res.explain()
    hdr = res.task_result("Header")["ansible_facts"]["hdr"]
    assert hdr["x-mlflow-experiment-id"] == get_exp(srv, name)["experiment_id"]


@pytest.mark.parametrize("name, expect", [
    ("", "invalid experiment name"),
    ("bad\nname", "control characters"),
    (" padded", "whitespace"),
    ("x" * 501, "longer than 500"),
])
def test_bad_name(mlflow_server, tmp_path, name, expect):
    res, task = run(tmp_path, dict(tracking_uri=mlflow_server.tracking_uri, name=name))
    assert res.rc != 0 and expect in task["msg"]
    assert "Traceback" not in res.stdout + res.stderr


def test_bad_tag_key(mlflow_server, tmp_path):
    res, task = run(tmp_path, dict(tracking_uri=mlflow_server.tracking_uri, name=uniq("t"),
                                   tags={"bad;key": "x"}))
    assert res.rc != 0 and "invalid tag key 'bad;key'" in task["msg"]


def test_wrong_tracking_uri(tmp_path):
    port = free_port()
    uri = "http://127.0.0.1:%d" % port
    res, task = run(tmp_path, dict(tracking_uri=uri, name="x", timeout=5))
    assert res.rc != 0
    msg = task["msg"]
    assert msg.startswith(uri + ": cannot reach MLflow") and "tracking_uri" in msg
    assert "Traceback" not in res.stdout
    res, task = run(tmp_path, dict(tracking_uri="file:///tmp/mlruns", name="x"))
    assert res.rc != 0 and "http:// or https://" in task["msg"]


def test_not_the_api(mlflow_server, tmp_path):
    uri = mlflow_server.tracking_uri + "/not-mlflow"
    res, task = run(tmp_path, dict(tracking_uri=uri, name="x"))
    assert res.rc != 0
    assert uri in task["msg"] and "HTTP 404" in task["msg"] and "tracking_uri" in task["msg"]


def test_basic_auth(mlflow_auth_server, tmp_path):
    srv = mlflow_auth_server
    name = uniq("secured")
    args = dict(tracking_uri=srv.tracking_uri, name=name, username=srv.username,
                password=srv.password, tags={"a": "b"})
    res, task = run(tmp_path, args)
    assert res.rc == 0 and task["changed"] and task["experiment_id"], res.explain()
    assert srv.password not in res.stdout
    res, task = run(tmp_path, args)
    assert res.rc == 0 and res.changed() == 0, res.explain()

    # credentials from the MLflow client's environment variables
    env = {"MLFLOW_TRACKING_USERNAME": srv.username, "MLFLOW_TRACKING_PASSWORD": srv.password}
    res, task = run(tmp_path, dict(tracking_uri=srv.tracking_uri, name=name), env=env)
    assert res.rc == 0 and res.changed() == 0, res.explain()

    # wrong password
    res, task = run(tmp_path, dict(args, password="wrong-pass-123"))
    assert res.rc != 0
    msg = task["msg"]
    assert msg.startswith(srv.tracking_uri) and "authentication failed" in msg
    assert "HTTP 401" in msg and "username/password" in msg
    assert "wrong-pass-123" not in res.stdout

    # no credentials at all
    res, task = run(tmp_path, dict(tracking_uri=srv.tracking_uri, name=name))
    assert res.rc != 0 and "authentication failed" in task["msg"]
    assert "requires authentication" in task["msg"]
