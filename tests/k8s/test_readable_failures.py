"""Readable failures, and still no secret in any log (issue #14, item 5).

The roles' secret tasks carry no task-level ``no_log`` any more: the modules
protect the values themselves (``no_log`` options, no value in messages,
results with values hidden by the action plugin). So a task that fails says
why, and a ``-vvv`` run prints no value of the Secrets it generated.
"""
import base64
import json
import socket
import uuid

import pytest
import yaml

from tests.playbook import run_playbook, write_playbook

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("k8s")]

CONVERGE = "tests/k8s/playbooks/tracking_converge.yml"
CENSORED = "the output has been hidden"

# role, tasks file, extra role vars, the task that must fail readably
SECRET_TASKS = [
    ("minio", "secrets", {}, "Ensure the MinIO root credentials"),
    ("seaweedfs", "secrets", {}, "Ensure the SeaweedFS S3 keys"),
    ("object_store", "secrets", {}, "Read the credentials Secret of the object store"),
    ("postgresql", "secrets", {}, "Ensure the PostgreSQL superuser Secret"),
    ("postgresql", "bootstrap", {"postgresql_mode": "external", "postgresql_external_admin_secret": "pg-admin",
                                 "postgresql_external_namespace": "db"}, "Read the external admin credentials"),
    ("mlflow", "secrets", {}, "Ensure the admin credentials"),
    ("otel_collector", "auth", {}, "Read the MLflow credentials"),
    ("kserve", "main", {}, "Read the stack's S3 Secret"),
]

# Keys of the stack's Secrets that hold no secret (they name endpoints,
# users and databases, which the output may show).
PUBLIC_KEYS = {"AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "S3_USE_HTTPS", "S3_VERIFY_SSL",
               "host", "port", "dbname", "username"}


def _closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _dead_kubeconfig(path, port):
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": "https://127.0.0.1:%d" % port,
                                                  "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "u"}}],
    }))
    return path


def _secret_tasks_play():
    tasks = []
    for role, tasks_from, role_vars, dummy in SECRET_TASKS:
        tasks.append({"name": "Try %s/%s" % (role, tasks_from), "block": [{
            "name": "Include %s/%s" % (role, tasks_from),
            "ansible.builtin.include_role": {"name": "mlops.stack.%s" % role, "tasks_from": tasks_from},
            "vars": dict(role_vars, mlops_namespace="nowhere")}],
            "rescue": [{"name": "Go on after %s/%s" % (role, tasks_from), "ansible.builtin.debug": {"msg": "next"}}]})
    return [{"name": "secret tasks", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]


@pytest.mark.parametrize("in_process", ["1", "0"], ids=["in-process", "module"])
def test_secret_tasks_fail_readably_when_the_api_server_is_unreachable(tmp_path, in_process):
    port = _closed_port()
    kubeconfig = _dead_kubeconfig(tmp_path / "kubeconfig", port)
    play = write_playbook(tmp_path, _secret_tasks_play())
    res = run_playbook(play, env={"K8S_AUTH_KUBECONFIG": str(kubeconfig), "K8S_AUTH_CONTEXT": "",
                                  "MLOPS_STACK_IN_PROCESS": in_process}, extra_args=["-v"])
    assert res.data, res.explain()
    for role, tasks_from, dummy, task_name in SECRET_TASKS:
        result = res.task_result(task_name)
        where = "%s/%s: %s" % (role, tasks_from, json.dumps(result)[:2000])
        assert result.get("failed") and "censored" not in result, where
        msg = result["msg"]
        assert "https://127.0.0.1:%d" % port in msg, where
        assert "Connection refused" in msg and str(kubeconfig) in msg, where
        assert "Is the API server up" in msg or "Check kubeconfig/context" in msg, where
    assert CENSORED not in res.stdout + res.stderr, res.explain()


def test_missing_kubeconfig_is_named_in_the_default_output(tmp_path):
    """The issue's case: KUBECONFIG points nowhere, the default callback."""
    missing = tmp_path / "no-such-kubeconfig"
    play = write_playbook(tmp_path, [{"name": "minio", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "MinIO secrets", "vars": {"mlops_namespace": "nowhere"},
         "ansible.builtin.include_role": {"name": "mlops.stack.minio", "tasks_from": "secrets"}}]}])
    res = run_playbook(play, env={"KUBECONFIG": str(missing), "K8S_AUTH_KUBECONFIG": "", "K8S_AUTH_CONTEXT": "",
                                  "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    out = res.stdout + res.stderr
    assert res.rc != 0, out
    assert "Ensure the MinIO root credentials" in out
    assert "cannot load the Kubernetes configuration (kubeconfig=%s" % missing in out, out
    assert "no kubeconfig (%s)" % missing in out, out
    assert CENSORED not in out, out


def _secret_values(cluster, ns):
    """Every secret value (and its base64 form) of the Secrets in *ns*,
    mapped to where it comes from (failure messages name that, not the value)."""
    items = json.loads(cluster.kubectl("-n", ns, "get", "secrets", "-o", "json").stdout)["items"]
    found, names = {}, []
    for item in items:
        if item.get("type") != "Opaque":
            continue
        names.append(item["metadata"]["name"])
        for key, b64 in (item.get("data") or {}).items():
            if key in PUBLIC_KEYS:
                continue
            value = base64.b64decode(b64).decode()
            assert len(value) >= 16, "%s/%s is too short to be checked meaningfully" % (item["metadata"]["name"], key)
            where = "%s/%s" % (item["metadata"]["name"], key)
            found[b64] = where + " (base64)"
            if "\n" not in value:
                found[value] = where
            # A multi-line value (basic_auth.ini) is made of the other values.
    return sorted(names), found


def test_generated_secrets_never_appear_in_verbose_output(k8s_cluster, pg_server, tmp_path):
    """minio + postgresql (bootstrap on a real server) + mlflow with auth,
    converged with -vvv --diff, in-process then as modules: the output shows
    every task's result but no value of any Secret the roles generated."""
    ns = "rf-%s" % uuid.uuid4().hex[:8]
    extra = {
        "tracking_roles": ["minio", "object_store", "postgresql", "mlflow"], "mlops_namespace": ns,
        "object_store_bootstrap_enabled": False,
        "postgresql_database": "mlflow_%s" % ns.replace("-", "_"),
        "postgresql_username": "mlflow_%s" % ns.replace("-", "_"),
        "postgresql_extensions": [],
        "postgresql_bootstrap_host": pg_server.host, "postgresql_bootstrap_port": pg_server.port,
        "postgresql_bootstrap_admin_user": pg_server.user,
        "postgresql_bootstrap_admin_password": pg_server.password,
        "mlflow_auth_enabled": True,
        "mlflow_bootstrap_enabled": False,
    }
    env = {"K8S_AUTH_KUBECONFIG": k8s_cluster.kubeconfig, "K8S_AUTH_CONTEXT": k8s_cluster.context,
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
           "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}
    try:
        outputs = []
        for in_process in ("1", "0"):
            res = run_playbook(CONVERGE, extra_vars=extra, diff=True, extra_args=["-vvv"],
                               env=dict(env, MLOPS_STACK_IN_PROCESS=in_process))
            assert res.rc == 0, res.explain()
            outputs.append(res.stdout + res.stderr)
        names, values = _secret_values(k8s_cluster, ns)
        assert {"minio-root", "mlops-s3", "postgresql-superuser", "mlops-postgresql-mlflow",
                "mlflow-auth", "mlflow-auth-config"} <= set(names), names
        assert len(values) >= 15  # 7 generated values and the URI, each also base64; the ini as base64
        for out in outputs:
            # The results were shown (-vvv), those with values hidden by the modules.
            assert "Ensure the application database, owner role and extensions" in out
            assert "Ensure the MinIO root credentials" in out and CENSORED in out
            leaked = sorted(where for value, where in values.items() if value in out)
            assert not leaked, "secret values in the -vvv output: %s" % leaked
    finally:
        k8s_cluster.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)
