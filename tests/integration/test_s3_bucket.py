"""mlops.stack.s3_bucket through real ansible-playbook against real S3 servers.

Parametrized over the backends (SeaweedFS always; MinIO when built by
tools/testbins/minio). Each test uses its own bucket names, so the
session-scoped servers are shared.
"""
import json
import secrets

import pytest
from botocore.exceptions import ClientError

from tests.playbook import run_playbook, write_playbook
from tests.servers.bins import free_port

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("s3")]


@pytest.fixture
def srv(s3_backend_server):
    return s3_backend_server


def bucket_name(prefix="t"):
    return "%s-%s" % (prefix, secrets.token_hex(5))


def play(tmp_path, tasks, name="play.yml"):
    plays = [{"name": "s3_bucket", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    return write_playbook(tmp_path, plays, name)


def task(srv, task_name="Manage bucket", register=None, **args):
    conn = srv.module_args()
    conn.update(args)
    t = {"name": task_name, "mlops.stack.s3_bucket": conn}
    if register:
        t["register"] = register
    return t


def run(tmp_path, srv, check=False, diff=False, ignore_errors=False, **args):
    t = task(srv, **args)
    if ignore_errors:
        t["ignore_errors"] = True
    return run_playbook(play(tmp_path, [t], "pb-%s.yml" % secrets.token_hex(3)), check=check, diff=diff)


def result(res):
    return res.task_result("Manage bucket")


def ok(res):
    assert res.rc == 0 and res.failed() == 0, res.explain()
    return result(res)


def fails(res):
    assert res.rc != 0, res.explain()
    r = result(res)
    assert r.get("failed"), res.explain()
    msg = r["msg"]
    assert "Traceback" not in msg and "Traceback" not in res.stdout, res.explain()
    assert "exception" not in r or "Traceback" not in r.get("module_stderr", ""), res.explain()
    return msg


def exists(srv, name):
    try:
        srv.client().head_bucket(Bucket=name)
        return True
    except ClientError:
        return False


POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
         "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::{b}/*"]},
        {"Sid": "List", "Effect": "Allow", "Principal": {"AWS": ["*"]},
         "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": "arn:aws:s3:::{b}"},
    ],
}


def policy_for(name, reorder=False):
    text = json.dumps(POLICY).replace("{b}", name)
    pol = json.loads(text)
    if reorder:
        stmts = list(reversed(pol["Statement"]))
        for s in stmts:
            if isinstance(s["Action"], list):
                s["Action"] = list(reversed(s["Action"]))
        stmts = [dict(reversed(list(s.items()))) for s in stmts]
        stmts[0]["Principal"] = {"AWS": "*"}
        pol = {"Statement": stmts, "Version": pol["Version"]}
    return pol


LIFECYCLE = [
    {"id": "expire-tmp", "prefix": "tmp/", "expiration_days": 7},
    {"id": "old-versions", "noncurrent_version_expiration_days": 30, "enabled": False},
]


def test_create_idempotent_check_and_diff(tmp_path, srv):
    name = bucket_name("create")
    # check mode on a new bucket: reports a change, creates nothing
    r = ok(run(tmp_path, srv, check=True, diff=True, name=name))
    assert r["changed"] is True
    assert r["actions"] == ["create bucket %s" % name]
    assert r["bucket"]["exists"] is True
    assert not exists(srv, name)
    res = run(tmp_path, srv, diff=True, name=name)
    r = ok(res)
    assert r["changed"] is True and res.changed() == 1
    assert exists(srv, name)
    assert r["diff"]["before"] == {} and r["diff"]["after"]["name"] == name
    assert r["bucket"]["empty"] is True
    # second run: no change, no diff content change
    res = run(tmp_path, srv, diff=True, name=name)
    r = ok(res)
    assert r["changed"] is False and res.changed() == 0
    assert r["diff"]["before"] == r["diff"]["after"]
    assert r["actions"] == []


def test_settings_idempotent_and_semantic_policy(tmp_path, srv):
    name = bucket_name("cfg")
    args = dict(name=name, versioning=True, policy=policy_for(name), tags={"team": "ml", "n": 1},
                lifecycle_rules=LIFECYCLE)
    ok(run(tmp_path, srv, name=name))
    # check mode on settings: reports the change, leaves the bucket alone
    r = ok(run(tmp_path, srv, check=True, diff=True, **args))
    assert r["changed"] is True and len(r["actions"]) == 4, r["actions"]
    cli = srv.client()
    assert cli.get_bucket_versioning(Bucket=name).get("Status") is None
    r = ok(run(tmp_path, srv, diff=True, **args))
    assert r["changed"] is True
    assert r["diff"]["before"]["versioning"] == "Disabled" and r["diff"]["after"]["versioning"] == "Enabled"
    assert cli.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    assert {t["Key"]: t["Value"] for t in cli.get_bucket_tagging(Bucket=name)["TagSet"]} == {"team": "ml", "n": "1"}
    assert len(cli.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]) == 2
    assert json.loads(cli.get_bucket_policy(Bucket=name)["Policy"])["Statement"]
    # re-run unchanged
    r = ok(run(tmp_path, srv, **args))
    assert r["changed"] is False, r["actions"]
    b = r["bucket"]
    assert b["versioning"] == "Enabled" and b["tags"] == {"team": "ml", "n": "1"}
    assert [x["id"] for x in b["lifecycle_rules"]] == ["expire-tmp", "old-versions"]
    # reordered policy / rules, policy as JSON string: unchanged
    args2 = dict(args)
    args2.update(policy=json.dumps(policy_for(name, reorder=True)), lifecycle_rules=list(reversed(LIFECYCLE)))
    r = ok(run(tmp_path, srv, **args2))
    assert r["changed"] is False, r["actions"]
    # purge_tags=false adds, purge_tags=true replaces, {} removes
    r = ok(run(tmp_path, srv, name=name, tags={"owner": "x"}, purge_tags=False))
    assert r["changed"] and r["bucket"]["tags"] == {"team": "ml", "n": "1", "owner": "x"}
    r = ok(run(tmp_path, srv, name=name, tags={"owner": "x"}))
    assert r["changed"] and r["bucket"]["tags"] == {"owner": "x"}
    r = ok(run(tmp_path, srv, name=name, tags={}))
    assert r["changed"] and r["bucket"]["tags"] == {}
    # versioning off -> Suspended; policy and lifecycle removal
    r = ok(run(tmp_path, srv, name=name, versioning=False, policy={}, lifecycle_rules=[]))
    assert r["changed"] and r["bucket"]["versioning"] == "Suspended"
    assert r["bucket"]["policy"] is None and r["bucket"]["lifecycle_rules"] == []
    with pytest.raises(ClientError):
        cli.get_bucket_policy(Bucket=name)
    r = ok(run(tmp_path, srv, name=name, versioning=False, policy={}, lifecycle_rules=[], tags={}))
    assert r["changed"] is False, r["actions"]


def test_objects_survive_and_absent(tmp_path, srv):
    name = bucket_name("data")
    cli = srv.client()
    ok(run(tmp_path, srv, name=name, versioning=True))
    cli.put_object(Bucket=name, Key="model/weights.bin", Body=b"x" * 1024)
    cli.put_object(Bucket=name, Key="model/weights.bin", Body=b"y" * 1024)  # second version
    cli.put_object(Bucket=name, Key="readme", Body=b"hello")
    r = ok(run(tmp_path, srv, name=name, versioning=True, tags={"a": "b"}))
    assert r["bucket"]["empty"] is False
    assert cli.get_object(Bucket=name, Key="readme")["Body"].read() == b"hello"
    # absent without force: clear failure, nothing deleted
    msg = fails(run(tmp_path, srv, name=name, state="absent"))
    assert "not empty" in msg and "force" in msg and srv.endpoint_url in msg
    assert cli.get_object(Bucket=name, Key="readme")["Body"].read() == b"hello"
    # absent with force in check mode: reports, deletes nothing
    r = ok(run(tmp_path, srv, check=True, name=name, state="absent", force=True))
    assert r["changed"] is True and exists(srv, name)
    res = run(tmp_path, srv, diff=True, name=name, state="absent", force=True)
    r = ok(res)
    assert r["changed"] is True and not exists(srv, name)
    assert r["diff"]["after"] == {} and r["diff"]["before"]["name"] == name
    r = ok(run(tmp_path, srv, name=name, state="absent"))
    assert r["changed"] is False and r["bucket"]["exists"] is False


def test_absent_empty_bucket(tmp_path, srv):
    name = bucket_name("empty")
    ok(run(tmp_path, srv, name=name))
    r = ok(run(tmp_path, srv, name=name, state="absent"))
    assert r["changed"] and not exists(srv, name)


BAD_NAMES = ["Upper-Case", "ab", "192.168.1.1", "a..b", "-lead", "has_underscore", "x" * 64, "xn--idn"]


def test_bad_names_fail_locally(tmp_path, srv):
    """One playbook, one failing task per bad name (ignore_errors)."""
    tasks = []
    for i, bad in enumerate(BAD_NAMES):
        t = task(srv, task_name="Bad name %d" % i, name=bad)
        t["ignore_errors"] = True
        tasks.append(t)
    res = run_playbook(play(tmp_path, tasks, "bad-names.yml"))
    assert res.rc == 0, res.explain()
    assert "Traceback" not in res.stdout
    for i, bad in enumerate(BAD_NAMES):
        r = res.task_result("Bad name %d" % i)
        assert r.get("failed") and "Invalid bucket name %r" % bad in r["msg"], r
        assert "module_stderr" not in r


def test_wrong_secret_key(tmp_path, srv):
    name = bucket_name("creds")
    res = run(tmp_path, srv, name=name, secret_key="wrong-" + secrets.token_hex(8))
    msg = fails(res)
    assert srv.endpoint_url in msg
    assert "credentials" in msg and "secret_key" in msg
    assert not exists(srv, name)
    assert "wrong-" not in res.stdout  # no_log


def test_unreachable_endpoint(tmp_path, srv):
    port = free_port()  # nothing listens there
    msg = fails(run(tmp_path, srv, name=bucket_name("down"), endpoint_url="http://127.0.0.1:%d" % port,
                    timeout=5))
    assert "http://127.0.0.1:%d" % port in msg
    assert "cannot connect" in msg and "endpoint_url" in msg


def test_invalid_policy_and_lifecycle_fail_locally(tmp_path, srv):
    name = bucket_name("inval")
    msg = fails(run(tmp_path, srv, name=name, policy="{not json"))
    assert "policy is not valid JSON" in msg
    msg = fails(run(tmp_path, srv, name=name, lifecycle_rules=[{"id": "x"}]))
    assert "sets no action" in msg
    assert not exists(srv, name)


def test_lifecycle_abort_multipart(tmp_path, srv):
    """SeaweedFS implements AbortIncompleteMultipartUpload; MinIO does not:
    the module must then fail clearly instead of reporting a change forever."""
    name = bucket_name("mpu")
    rules = [{"id": "abort-mpu", "abort_incomplete_multipart_upload_days": 2, "expiration_days": 30}]
    if srv.backend == "minio":
        msg = fails(run(tmp_path, srv, name=name, lifecycle_rules=rules))
        assert srv.endpoint_url in msg and "abort_incomplete_multipart_upload_days" in msg
        return
    r = ok(run(tmp_path, srv, name=name, lifecycle_rules=rules))
    assert r["changed"] is True
    r = ok(run(tmp_path, srv, name=name, lifecycle_rules=rules))
    assert r["changed"] is False
    assert r["bucket"]["lifecycle_rules"][0]["abort_incomplete_multipart_upload_days"] == 2


def test_buckets_list_one_task(tmp_path, srv):
    """Several buckets in one module call: per-entry settings over the
    top-level ones, idempotent, and entries validated like options."""
    names = [bucket_name("many"), bucket_name("many"), bucket_name("many")]
    buckets = [{"name": names[0], "versioning": True},
               {"name": names[1], "tags": {"team": "ml"}},
               {"name": names[2]}]
    r = ok(run(tmp_path, srv, buckets=buckets, tags={"owner": "platform"}))
    assert r["changed"] is True
    assert [x["bucket"]["name"] for x in r["results"]] == names
    assert all(x["changed"] for x in r["results"])
    assert all(exists(srv, n) for n in names)
    client = srv.client()
    assert client.get_bucket_versioning(Bucket=names[0]).get("Status") == "Enabled"
    assert "Status" not in client.get_bucket_versioning(Bucket=names[2])
    # The entry's tags replace the top-level ones for that bucket only.
    assert r["results"][1]["bucket"]["tags"] == {"team": "ml"}
    assert r["results"][2]["bucket"]["tags"] == {"owner": "platform"}
    again = ok(run(tmp_path, srv, buckets=buckets, tags={"owner": "platform"}))
    assert again["changed"] is False and not any(x["changed"] for x in again["results"])
    # A wrong entry fails before anything is sent, naming the entry.
    msg = fails(run(tmp_path, srv, buckets=[{"name": bucket_name("bad")}, {"name": "x", "versoning": True}]))
    assert "buckets[1]" in msg and "versoning" in msg
    msg = fails(run(tmp_path, srv, name=names[0], buckets=[{"name": names[1]}]))
    assert "mutually exclusive" in msg
