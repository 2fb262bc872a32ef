"""The MLflow migration Job's program, as the mlflow role renders it, run
with MLflow's own software against a real PostgreSQL: it migrates the
tracking tables and, with basic auth on, the auth tables (so server replicas
no longer race to do it at start), reading the database URLs from the
environment and the auth config file, never from its command line."""
import os
import re
import secrets
import subprocess
import sys

import pytest

from tests.runtime import render

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def job_command(tmp_path_factory):
    objs = render.render(tmp_path_factory.mktemp("render-mlflow-auth"), ["mlflow"],
                         extra_vars={"mlflow_auth_enabled": True})
    jobs = [o for o in objs if o["kind"] == "Job"]
    assert len(jobs) == 1 and jobs[0]["metadata"]["name"].startswith("mlflow-db-upgrade-"), jobs
    container = jobs[0]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == "/etc/mlflow-auth/basic_auth.ini"
    return container["command"] + container.get("args", [])


def _database(pg_server):
    name = "mlflow_upgrade_%s" % secrets.token_hex(4)
    pg_server.execute('CREATE DATABASE "%s"' % name)
    return name, pg_server.uri(name, driver="postgresql+psycopg")


def _run(command, env):
    # The image's `python` is the interpreter that has MLflow: here, ours.
    assert command[0] == "python"
    full = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    full.update(env)
    return subprocess.run([sys.executable] + command[1:], env=full, capture_output=True, text=True,
                          timeout=300, check=False)


def _heads():
    from alembic.script import ScriptDirectory  # pylint: disable=import-outside-toplevel
    from mlflow.server.auth.db import utils as auth_utils  # pylint: disable=import-outside-toplevel
    from mlflow.store.db import utils as db_utils  # pylint: disable=import-outside-toplevel
    tracking = ScriptDirectory.from_config(db_utils._get_alembic_config("sqlite://")).get_current_head()
    auth = ScriptDirectory.from_config(auth_utils._get_alembic_config("sqlite://")).get_current_head()
    return tracking, auth


def test_the_job_migrates_tracking_and_auth_tables_without_the_password_on_its_command_line(
        job_command, pg_server, tmp_path):
    name, uri = _database(pg_server)
    # No $(VAR) reference: the kubelet would expand it into the process's argv.
    assert not re.search(r"\$\([A-Za-z_][A-Za-z0-9_]*\)", " ".join(job_command)), job_command
    ini = tmp_path / "basic_auth.ini"
    ini.write_text("[mlflow]\ndefault_permission = READ\ndatabase_uri = %s\n"
                   "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                   % uri.replace("%", "%%"))
    env = {"MLFLOW_BACKEND_STORE_URI": uri, "MLFLOW_AUTH_CONFIG_PATH": str(ini)}
    first = _run(job_command, env)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-4000:]
    assert pg_server.password not in first.stdout + first.stderr
    tracking_head, auth_head = _heads()
    assert pg_server.execute("SELECT version_num FROM alembic_version", dbname=name) == [(tracking_head,)]
    assert pg_server.execute("SELECT version_num FROM alembic_version_auth", dbname=name) == [(auth_head,)]
    tables = {t for (t,) in pg_server.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'", dbname=name)}
    assert {"experiments", "runs", "users", "experiment_permissions"} <= tables
    # A re-run (a Job retried by its backoffLimit) changes nothing and succeeds.
    again = _run(job_command, env)
    assert again.returncode == 0, again.stderr[-4000:]


def test_without_auth_only_the_tracking_tables_are_migrated(job_command, pg_server):
    name, uri = _database(pg_server)
    res = _run(job_command, {"MLFLOW_BACKEND_STORE_URI": uri})
    assert res.returncode == 0, res.stderr[-4000:]
    tables = {t for (t,) in pg_server.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'", dbname=name)}
    assert "alembic_version" in tables and "alembic_version_auth" not in tables and "users" not in tables


def test_credentials_from_the_owners_own_secret(pg_server, tmp_path):
    """External PostgreSQL with postgresql_external_credentials_secret (a
    CloudNativePG <cluster>-app): the URI has no credentials and libpq takes
    the login from PGUSER/PGPASSWORD, which the pod reads from that Secret, so
    a password rotation there reaches MLflow. The migration runs as that
    least-privileged owner (no CREATEDB, no CREATEROLE)."""
    objs = render.render(tmp_path / "render", ["mlflow"],
                         extra_vars={"mlflow_postgresql_credentials_secret": "pg-app"})
    job = next(o for o in objs if o["kind"] == "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert refs["PGUSER"] == {"name": "pg-app", "key": "username"}
    assert refs["PGPASSWORD"] == {"name": "pg-app", "key": "password"}
    assert refs["MLFLOW_BACKEND_STORE_URI"] == {"name": "mlops-postgresql-mlflow", "key": "uri"}
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    server_env = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {"PGUSER", "PGPASSWORD"} <= server_env

    owner, password = "app_%s" % secrets.token_hex(4), secrets.token_urlsafe(24) + "@/%:"
    name = "mlflow_cnpg_%s" % secrets.token_hex(4)
    pg_server.execute("CREATE ROLE \"%s\" LOGIN NOCREATEDB NOCREATEROLE PASSWORD '%s'" % (owner, password))
    pg_server.execute('CREATE DATABASE "%s" OWNER "%s"' % (name, owner))
    uri = "postgresql://%s:%d/%s" % (pg_server.host, pg_server.port, name)  # as the role writes it
    # With basic auth on, mlflow's secrets.yml writes the same credential-less
    # URI into basic_auth.ini: the auth tables come from the same login.
    ini = tmp_path / "basic_auth.ini"
    ini.write_text("[mlflow]\ndefault_permission = READ\ndatabase_uri = %s\n"
                   "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n" % uri)
    res = _run(container["command"], {"MLFLOW_BACKEND_STORE_URI": uri, "PGUSER": owner, "PGPASSWORD": password,
                                      "MLFLOW_AUTH_CONFIG_PATH": str(ini)})
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    assert password not in res.stdout + res.stderr
    rows = pg_server.execute("SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'", dbname=name)
    assert {o for _t, o in rows} == {owner}
    assert {"experiments", "users", "alembic_version_auth"} <= {t for t, _o in rows}
