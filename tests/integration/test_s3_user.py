"""mlops.stack.s3_user through real ansible-playbook against real MinIO and SeaweedFS.

What is proved with boto3 and the NEW users' own keys (never the root keys):
MLflow's user can put/get/list/delete (and upload multipart) in its buckets
and is denied elsewhere; KServe's user can get/list the model bucket and is
denied put/delete. On MinIO the users are created by the module (admin API,
encrypted bodies); on SeaweedFS by the identity file the filter renders,
which the module then verifies.
"""
import json
import secrets

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.helpers import require
from tests.playbook import run_playbook, write_playbook
from tests.servers.s3 import backend_available, start_seaweedfs_with

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("s3")]


def suffix():
    return secrets.token_hex(4)


def user_secret():
    return "us-" + secrets.token_urlsafe(24)[:30]


def user_client(srv, access_key, secret_key):
    return boto3.client(
        "s3", endpoint_url=srv.endpoint_url, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        region_name=srv.region, config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                              connect_timeout=5, read_timeout=30))


def denied(call, *args, **kwargs):
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    code = info.value.response["Error"]["Code"]
    assert code in ("AccessDenied", "403"), code
    return code


def make_buckets(srv, tag):
    names = {"art": "art-%s" % tag, "models": "models-%s" % tag, "other": "other-%s" % tag}
    admin = srv.client()
    for name in names.values():
        admin.create_bucket(Bucket=name)
    admin.put_object(Bucket=names["models"], Key="m/model.bin", Body=b"weights")
    admin.put_object(Bucket=names["other"], Key="secret.txt", Body=b"not yours")
    return names


def user_task(srv, task_name, backend, **args):
    module_args = {"backend": backend, "endpoint_url": srv.endpoint_url, "region": srv.region}
    if backend == "minio":
        module_args.update(access_key=srv.access_key, secret_key=srv.secret_key)
    module_args.update(args)
    return {"name": task_name, "mlops.stack.s3_user": module_args}


def run_tasks(tmp_path, tasks, check=False, diff=False, extra_args=(), env=None, extra_vars=None):
    plays = [{"name": "s3_user", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    path = write_playbook(tmp_path, plays, "pb-%s.yml" % secrets.token_hex(3))
    return run_playbook(path, check=check, diff=diff, extra_args=extra_args, env=env, extra_vars=extra_vars)


def ok(res):
    assert res.rc == 0 and res.failed() == 0, res.explain()
    return res


def failure(res, task_name):
    """The message of a failed (ignore_errors) task; never a traceback."""
    r = res.task_result(task_name)
    assert r.get("failed"), res.explain()
    assert "Traceback" not in r["msg"] and "Traceback" not in res.stdout, res.explain()
    return r["msg"]


def policy_resources(user_view):
    return sorted(x for s in user_view["policy"]["Statement"] for x in s["Resource"])


def assert_mlflow_access(cli, names):
    """Read-write on art and models (objects, listing, multipart), nothing on other."""
    for bucket in (names["art"], names["models"]):
        cli.put_object(Bucket=bucket, Key="run/1/artifact.txt", Body=b"artifact")
        assert cli.get_object(Bucket=bucket, Key="run/1/artifact.txt")["Body"].read() == b"artifact"
        keys = [o["Key"] for o in cli.list_objects_v2(Bucket=bucket, Prefix="run/").get("Contents", [])]
        assert keys == ["run/1/artifact.txt"]
        cli.delete_object(Bucket=bucket, Key="run/1/artifact.txt")
        assert cli.list_objects_v2(Bucket=bucket, Prefix="run/").get("KeyCount") == 0
    upload = cli.create_multipart_upload(Bucket=names["art"], Key="big/model.bin")
    part = cli.upload_part(Bucket=names["art"], Key="big/model.bin", UploadId=upload["UploadId"], PartNumber=1,
                           Body=b"x" * 1024)
    cli.complete_multipart_upload(Bucket=names["art"], Key="big/model.bin", UploadId=upload["UploadId"],
                                  MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    assert cli.get_object(Bucket=names["art"], Key="big/model.bin")["Body"].read() == b"x" * 1024
    denied(cli.put_object, Bucket=names["other"], Key="x", Body=b"x")
    denied(cli.get_object, Bucket=names["other"], Key="secret.txt")
    denied(cli.list_objects_v2, Bucket=names["other"])
    denied(cli.delete_object, Bucket=names["other"], Key="secret.txt")


def assert_kserve_access(cli, names):
    """Read-only on models, nothing else."""
    assert cli.get_object(Bucket=names["models"], Key="m/model.bin")["Body"].read() == b"weights"
    keys = [o["Key"] for o in cli.list_objects_v2(Bucket=names["models"], Prefix="m/").get("Contents", [])]
    assert keys == ["m/model.bin"]
    denied(cli.put_object, Bucket=names["models"], Key="m/evil.bin", Body=b"x")
    denied(cli.delete_object, Bucket=names["models"], Key="m/model.bin")
    denied(cli.list_objects_v2, Bucket=names["art"])
    denied(cli.get_object, Bucket=names["other"], Key="secret.txt")


def assert_other_untouched(srv, names):
    admin = srv.client()
    assert admin.get_object(Bucket=names["other"], Key="secret.txt")["Body"].read() == b"not yours"
    assert admin.get_object(Bucket=names["models"], Key="m/model.bin")["Body"].read() == b"weights"


# ------------------------------------------------------------------ MinIO --

def minio_admin(srv):
    from ansible_collections.mlops.stack.plugins.module_utils.s3.minio_admin import MinioAdmin
    return MinioAdmin(srv.endpoint_url, srv.access_key, srv.secret_key, region=srv.region)


def stack_tasks(srv, names, mlflow, kserve, state="present", **extra):
    return [
        user_task(srv, "User mlflow", "minio", name=mlflow["name"], user_secret_key=mlflow["secret"],
                  buckets_rw=[names["art"], names["models"]], state=state, **extra),
        user_task(srv, "User kserve", "minio", name=kserve["name"], user_secret_key=kserve["secret"],
                  buckets_ro=[names["models"]], state=state, **extra),
    ]


def test_minio_scoped_users(tmp_path, minio_server):
    srv = minio_server
    tag = suffix()
    names = make_buckets(srv, tag)
    mlflow = {"name": "mlflow-%s" % tag, "secret": user_secret()}
    kserve = {"name": "kserve-%s" % tag, "secret": user_secret()}
    admin = minio_admin(srv)

    # Check mode on a server without the users: reports the work, creates nothing.
    res = ok(run_tasks(tmp_path, stack_tasks(srv, names, mlflow, kserve), check=True, diff=True))
    assert res.changed() == 2
    assert res.task_result("User mlflow")["actions"] == [
        "write policy mlops-%s" % mlflow["name"], "create user %s" % mlflow["name"],
        "attach policy mlops-%s (only) to user %s" % (mlflow["name"], mlflow["name"])]
    assert admin.user_info(mlflow["name"]) is None and admin.policy("mlops-%s" % mlflow["name"]) is None

    res = ok(run_tasks(tmp_path, stack_tasks(srv, names, mlflow, kserve), diff=True))
    assert res.changed() == 2
    created = res.task_result("User kserve")["user"]
    assert created["policies"] == ["mlops-%s" % kserve["name"]] and created["status"] == "enabled"
    info = admin.user_info(kserve["name"])
    assert info["policyName"] == "mlops-%s" % kserve["name"]
    # list-users answers encrypted under the admin key: our DecryptData reads MinIO's EncryptData.
    assert {mlflow["name"], kserve["name"]} <= set(admin.list_users())

    assert_mlflow_access(user_client(srv, mlflow["name"], mlflow["secret"]), names)
    assert_kserve_access(user_client(srv, kserve["name"], kserve["secret"]), names)
    assert_other_untouched(srv, names)

    # Second run: nothing to do (the secret is not re-sent).
    res = ok(run_tasks(tmp_path, stack_tasks(srv, names, mlflow, kserve), diff=True))
    assert res.changed() == 0, [r.get("actions") for r in res.task_results("User")]

    # Check mode with more buckets for kserve: reported, not applied.
    wider = stack_tasks(srv, names, mlflow, kserve)[1]
    wider["mlops.stack.s3_user"]["buckets_ro"] = [names["models"], names["other"]]
    res = ok(run_tasks(tmp_path, [wider], check=True, diff=True))
    r = res.task_result("User kserve")
    assert r["changed"] and r["actions"] == ["write policy mlops-%s" % kserve["name"]]
    before, after = r["diff"]["before"], r["diff"]["after"]
    assert "arn:aws:s3:::%s/*" % names["other"] not in policy_resources(before)
    assert "arn:aws:s3:::%s/*" % names["other"] in policy_resources(after)
    assert before["policies"] == after["policies"] == ["mlops-%s" % kserve["name"]]
    assert kserve["secret"] not in json.dumps(r)
    denied(user_client(srv, kserve["name"], kserve["secret"]).get_object, Bucket=names["other"], Key="secret.txt")

    # A policy changed behind the module's back and a second policy attached are put back.
    admin.put_policy("mlops-%s" % kserve["name"], {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::*"]}]})
    admin.set_user_policies(kserve["name"], ["mlops-%s" % kserve["name"], "readwrite"])
    res = ok(run_tasks(tmp_path, stack_tasks(srv, names, mlflow, kserve)[1:]))
    assert res.task_result("User kserve")["actions"] == [
        "write policy mlops-%s" % kserve["name"],
        "attach policy mlops-%s (only) to user %s" % (kserve["name"], kserve["name"])]
    assert_kserve_access(user_client(srv, kserve["name"], kserve["secret"]), names)

    # state=absent removes the user and its policy; its keys stop working.
    res = ok(run_tasks(tmp_path, stack_tasks(srv, names, mlflow, kserve, state="absent")[1:], diff=True))
    assert res.changed() == 1
    assert admin.user_info(kserve["name"]) is None and admin.policy("mlops-%s" % kserve["name"]) is None
    with pytest.raises(ClientError) as info:
        user_client(srv, kserve["name"], kserve["secret"]).get_object(Bucket=names["models"], Key="m/model.bin")
    assert info.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    res = ok(run_tasks(tmp_path, stack_tasks(srv, names, mlflow, kserve, state="absent")[1:]))
    assert res.changed() == 0
    # mlflow is untouched by kserve's removal.
    assert_mlflow_access(user_client(srv, mlflow["name"], mlflow["secret"]), names)


def test_minio_secret_never_printed(tmp_path, minio_server):
    srv = minio_server
    tag = suffix()
    names = make_buckets(srv, tag)
    name = "app-%s" % tag
    first, second = user_secret(), user_secret()
    task = user_task(srv, "User app", "minio", name=name, user_secret_key="{{ app_secret }}",
                     buckets_rw=[names["art"]])
    env = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}
    res = run_tasks(tmp_path, [task], diff=True, extra_args=("-vvv",), env=env, extra_vars={"app_secret": first})
    assert res.rc == 0, res.explain()
    for text in (res.stdout, res.stderr):
        assert first not in text and srv.secret_key not in text
    assert "changed=1" in res.stdout
    user_client(srv, name, first).put_object(Bucket=names["art"], Key="k", Body=b"v")

    # update_secret=on_create: a new secret is not sent to an existing user.
    res = run_tasks(tmp_path, [task], extra_args=("-vvv",), env=env, extra_vars={"app_secret": second})
    assert res.rc == 0 and "changed=0" in res.stdout, res.explain()
    assert second not in res.stdout + res.stderr
    user_client(srv, name, first).get_object(Bucket=names["art"], Key="k")

    # update_secret=always: rotates it (and always reports a change).
    task["mlops.stack.s3_user"]["update_secret"] = "always"
    res = run_tasks(tmp_path, [task], extra_args=("-vvv",), env=env, extra_vars={"app_secret": second})
    assert res.rc == 0 and "changed=1" in res.stdout, res.explain()
    assert second not in res.stdout + res.stderr
    user_client(srv, name, second).get_object(Bucket=names["art"], Key="k")
    with pytest.raises(ClientError):
        user_client(srv, name, first).get_object(Bucket=names["art"], Key="k")
    assert minio_admin(srv).user_info(name)["policyName"] == "mlops-%s" % name


def test_minio_readable_failures(tmp_path, minio_server):
    srv = minio_server
    tag = suffix()
    bad_admin = user_task(srv, "Bad admin", "minio", name="u-%s" % tag, user_secret_key=user_secret(),
                          buckets_ro=["models-%s" % tag], secret_key="wrong-" + secrets.token_hex(8))
    no_secret = user_task(srv, "No secret", "minio", name="v-%s" % tag, buckets_ro=["models-%s" % tag])
    short = user_task(srv, "Short secret", "minio", name="w-%s" % tag, user_secret_key="abc",
                      buckets_ro=["models-%s" % tag])
    bad_bucket = user_task(srv, "Bad bucket", "minio", name="x-%s" % tag, user_secret_key=user_secret(),
                           buckets_rw=["Not_A_Bucket"])
    for t in (bad_admin, no_secret, short, bad_bucket):
        t["ignore_errors"] = True
    res = run_tasks(tmp_path, [bad_admin, no_secret, short, bad_bucket])
    msg = failure(res, "Bad admin")
    assert srv.endpoint_url in msg and "secret_key" in msg, msg
    assert "user_secret_key" in failure(res, "No secret")
    msg = failure(res, "Short secret")
    assert "8 to 40" in msg and "abc" not in msg
    assert "Not_A_Bucket" in failure(res, "Bad bucket")
    assert minio_admin(srv).user_info("v-%s" % tag) is None


def test_minio_builtin_policy_calls(minio_server):
    """The encrypted attach/detach calls (the fallback for servers without set-user-or-group-policy)."""
    srv = minio_server
    admin = minio_admin(srv)
    name = "builtin-%s" % suffix()
    admin.add_user(name, user_secret())
    try:
        answer = admin.builtin_policy("attach", name, ["readonly", "diagnostics"])
        assert sorted(answer["policiesAttached"]) == ["diagnostics", "readonly"]
        assert sorted(admin.user_info(name)["policyName"].split(",")) == ["diagnostics", "readonly"]
        answer = admin.builtin_policy("detach", name, ["diagnostics"])
        assert answer["policiesDetached"] == ["diagnostics"]
        assert admin.user_info(name)["policyName"] == "readonly"
    finally:
        admin.remove_user(name)


# -------------------------------------------------------------- SeaweedFS --

@pytest.fixture(scope="module")
def seaweed_users(tmp_path_factory):
    """SeaweedFS started with an s3.json rendered by the filter (through ansible-playbook) with two users."""
    ok_, reason = backend_available("seaweedfs")
    require(ok_, reason)
    tmp = tmp_path_factory.mktemp("s3-users-seaweedfs")
    tag = suffix()
    names = {"art": "art-%s" % tag, "models": "models-%s" % tag, "other": "other-%s" % tag}
    creds = {"admin": ("AK" + secrets.token_hex(9).upper(), secrets.token_urlsafe(30)),
             "mlflow": ("mlflow-%s" % tag, user_secret()), "kserve": ("kserve-%s" % tag, user_secret())}
    config = tmp / "s3.json"
    users = [
        {"name": "mlflow", "access_key": creds["mlflow"][0], "secret_key": creds["mlflow"][1],
         "buckets_rw": [names["art"], names["models"]]},
        {"name": "kserve", "access_key": creds["kserve"][0], "secret_key": creds["kserve"][1],
         "buckets_ro": [names["models"]]},
    ]
    render_identity_file(tmp, config, creds["admin"], users)
    doc = json.loads(config.read_text())
    assert [i["name"] for i in doc["identities"]] == ["mlops", "mlflow", "kserve"]
    server = start_seaweedfs_with(tmp, config, *creds["admin"])
    try:
        admin = server.client()
        for name in names.values():
            admin.create_bucket(Bucket=name)
        admin.put_object(Bucket=names["models"], Key="m/model.bin", Body=b"weights")
        admin.put_object(Bucket=names["other"], Key="secret.txt", Body=b"not yours")
        yield server, names, creds
    finally:
        server.stop()


def test_seaweedfs_scoped_users(tmp_path, seaweed_users):
    srv, names, creds = seaweed_users
    assert_mlflow_access(user_client(srv, *creds["mlflow"]), names)
    assert_kserve_access(user_client(srv, *creds["kserve"]), names)
    assert_other_untouched(srv, names)


def test_seaweedfs_module_verifies(tmp_path, seaweed_users):
    srv, names, creds = seaweed_users
    tasks = [
        user_task(srv, "Verify mlflow", "seaweedfs", name="mlflow", user_access_key=creds["mlflow"][0],
                  user_secret_key=creds["mlflow"][1], buckets_rw=[names["art"], names["models"]]),
        user_task(srv, "Verify kserve", "seaweedfs", name="kserve", user_access_key=creds["kserve"][0],
                  user_secret_key=creds["kserve"][1], buckets_ro=[names["models"]]),
        user_task(srv, "Verify gone", "seaweedfs", name="gone-%s" % suffix(), user_secret_key=user_secret(),
                  state="absent"),
    ]
    for check in (False, True):
        res = ok(run_tasks(tmp_path, tasks, check=check, diff=True))
        assert res.changed() == 0
        assert res.task_result("Verify kserve")["verified"] == ["user %s can list bucket %s"
                                                                % (creds["kserve"][0], names["models"])]
        assert res.task_result("Verify kserve")["user"]["actions"] == ["Read:%s" % names["models"],
                                                                       "List:%s" % names["models"]]

    wrong = [
        user_task(srv, "Kserve wants other", "seaweedfs", name="kserve", user_access_key=creds["kserve"][0],
                  user_secret_key=creds["kserve"][1], buckets_ro=[names["other"]]),
        user_task(srv, "Unknown user", "seaweedfs", name="nobody-%s" % suffix(), user_secret_key=user_secret(),
                  buckets_ro=[names["models"]]),
        user_task(srv, "Still there", "seaweedfs", name="kserve", user_access_key=creds["kserve"][0],
                  user_secret_key=creds["kserve"][1], state="absent"),
    ]
    for t in wrong:
        t["ignore_errors"] = True
    res = run_tasks(tmp_path, wrong)
    msg = failure(res, "Kserve wants other")
    assert "cannot list bucket %s" % names["other"] in msg and srv.endpoint_url in msg
    assert "seaweedfs_s3_config" in failure(res, "Unknown user")
    assert "still exists" in failure(res, "Still there")
    for secret in (creds["kserve"][1], creds["mlflow"][1]):
        assert secret not in res.stdout + res.stderr


def test_seaweedfs_filter_rejects_bad_users(tmp_path):
    bad = [{"name": "Write", "ansible.builtin.debug": {
        "msg": "{{ 'ak' | mlops.stack.seaweedfs_s3_config('sk', users=[{'name': 'x', 'secret_key': 's3cr3t-x', "
               "'buckets_rw': ['Bad_Name']}]) }}"}, "ignore_errors": True}]
    res = run_tasks(tmp_path, bad)
    msg = res.task_result("Write")["msg"]
    assert "Bad_Name" in msg and "s3cr3t-x" not in msg


def render_identity_file(tmp, config, admin, users):
    """Write s3.json with the filter, as the role does (through ansible-playbook)."""
    render = [{"name": "Write the identity file", "ansible.builtin.copy": {
        "dest": str(config), "mode": "0600",
        "content": "{{ admin_key | mlops.stack.seaweedfs_s3_config(admin_secret, users=s3_users) }}"}}]
    ok(run_tasks(tmp, render, extra_vars={"admin_key": admin[0], "admin_secret": admin[1], "s3_users": users}))


def test_seaweedfs_user_removed_from_the_file(tmp_path):
    """Removing a user from the file and restarting SeaweedFS (the role's checksum restart) revokes its keys."""
    ok_, reason = backend_available("seaweedfs")
    require(ok_, reason)
    tag = suffix()
    bucket = "models-%s" % tag
    admin = ("AK" + secrets.token_hex(9).upper(), secrets.token_urlsafe(30))
    mlflow = {"name": "mlflow", "access_key": "mlflow-%s" % tag, "secret_key": user_secret(), "buckets_rw": [bucket]}
    kserve = {"name": "kserve", "access_key": "kserve-%s" % tag, "secret_key": user_secret(), "buckets_ro": [bucket]}
    config = tmp_path / "s3.json"

    def verify(state, task_name="Verify kserve"):
        t = user_task(srv, task_name, "seaweedfs", name="kserve", user_access_key=kserve["access_key"],
                      user_secret_key=kserve["secret_key"], buckets_ro=[bucket], state=state)
        t["ignore_errors"] = True
        return run_tasks(tmp_path, [t])

    render_identity_file(tmp_path, config, admin, [mlflow, kserve])
    srv = start_seaweedfs_with(tmp_path, config, *admin)
    try:
        srv.client().create_bucket(Bucket=bucket)
        user_client(srv, mlflow["access_key"], mlflow["secret_key"]).put_object(Bucket=bucket, Key="m", Body=b"v")
        assert verify("present").failed() == 0
        assert "still exists" in failure(verify("absent"), "Verify kserve")
    finally:
        srv.stop()

    render_identity_file(tmp_path, config, admin, [mlflow])
    srv = start_seaweedfs_with(tmp_path, config, *admin)   # same data directory: the bucket and object survive
    try:
        res = verify("absent")
        assert res.failed() == 0 and res.task_result("Verify kserve")["verified"] == [
            "access key %s is rejected" % kserve["access_key"]], res.explain()
        assert "is not active" in failure(verify("present"), "Verify kserve")
        with pytest.raises(ClientError) as info:
            user_client(srv, kserve["access_key"], kserve["secret_key"]).get_object(Bucket=bucket, Key="m")
        assert info.value.response["Error"]["Code"] == "InvalidAccessKeyId"
        cli = user_client(srv, mlflow["access_key"], mlflow["secret_key"])
        assert cli.get_object(Bucket=bucket, Key="m")["Body"].read() == b"v"
    finally:
        srv.stop()
