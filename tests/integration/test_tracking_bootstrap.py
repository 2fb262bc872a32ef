"""Bootstrap parts of the object_store, postgresql and mlflow roles against real servers.

Pods never run on the kwok control plane, so the roles' bootstrap task files
(buckets.yml, bootstrap.yml) are exercised here by pointing the roles'
``<role>_bootstrap_*`` variables at the real local servers, through
ansible-playbook and the roles themselves (``include_role: tasks_from``).
"""
import secrets
import sys

import pytest

from tests.playbook import run_playbook, write_playbook

pytestmark = [pytest.mark.integration]


def _role_play(tmp_path, role, tasks_from, role_vars, show=None, name="play.yml"):
    tasks = [{
        "name": "Run the %s %s tasks" % (role, tasks_from),
        "ansible.builtin.include_role": {"name": "mlops.stack.%s" % role, "tasks_from": tasks_from},
        "vars": role_vars,
    }]
    if show:
        tasks.append({"name": "Show %s" % show, "ansible.builtin.debug": {"var": show}})
    return write_playbook(tmp_path, [{"name": "bootstrap", "hosts": "localhost", "gather_facts": False,
                                      "vars": {"ansible_python_interpreter": sys.executable},
                                      "tasks": tasks}], name=name)


def _uniq(prefix):
    return "%s-%s" % (prefix, secrets.token_hex(3))


def _run_twice(play):
    first = run_playbook(play)
    assert first.rc == 0, first.explain()
    second = run_playbook(play)
    assert second.rc == 0, second.explain()
    assert second.changed() == 0, "second run changed: %s" % second.explain()
    return first, second


# ---------------------------------------------------------------- S3 ----

@pytest.mark.xdist_group("s3")
@pytest.mark.parametrize("backend", ["minio", "seaweedfs", "external"])
def test_bucket_bootstrap(tmp_path, backend, s3_backend_server):
    """The object_store role's bucket step, whatever server the backend names."""
    s3 = s3_backend_server
    buckets = [_uniq("mlflow-artifacts"), _uniq("models"), _uniq("datasets"), _uniq("experiments")]
    role_vars = {
        "mlops_object_store": backend,
        "object_store_external_endpoint_url": s3.endpoint_url,
        "object_store_buckets": buckets,
        "object_store_versioned_buckets": [buckets[1]],
        "object_store_bootstrap_endpoint_url": s3.endpoint_url,
        "object_store_bootstrap_access_key": s3.access_key,
        "object_store_bootstrap_secret_key": s3.secret_key,
        "__object_store_admin_credentials": {"access_key": "", "secret_key": ""},
    }
    role = "object_store"
    first, dummy = _run_twice(_role_play(tmp_path, role, "buckets", role_vars))
    assert first.changed() >= 1
    client = s3.client()
    names = {b["Name"] for b in client.list_buckets()["Buckets"]}
    assert set(buckets) <= names
    assert client.get_bucket_versioning(Bucket=buckets[1]).get("Status") == "Enabled"
    assert client.get_bucket_versioning(Bucket=buckets[0]).get("Status") in (None, "Suspended")


# -------------------------------------------------------- PostgreSQL ----

def _pg_vars(pg, db, user, password, **extra):
    v = {
        "postgresql_mode": "bundled",
        "postgresql_database": db,
        "postgresql_username": user,
        "postgresql_extensions": [],
        "postgresql_bootstrap_host": pg.host,
        "postgresql_bootstrap_port": pg.port,
        "postgresql_bootstrap_admin_user": pg.user,
        "postgresql_bootstrap_admin_password": pg.password,
        "postgresql_app_secret": {"secret_data": {"password": password}},
    }
    v.update(extra)
    return v


@pytest.mark.xdist_group("pg")
def test_postgresql_bootstrap_creates_database_and_owner(tmp_path, pg_server):
    pg = pg_server
    db, user, password = _uniq("mlflow").replace("-", "_"), _uniq("mlflow").replace("-", "_"), secrets.token_hex(16)
    extensions = ["pg_trgm"] if "pg_trgm" in _available(pg) else []
    role_vars = _pg_vars(pg, db, user, password, postgresql_extensions=extensions)
    play = _role_play(tmp_path, "postgresql", "bootstrap", role_vars)
    first, dummy = _run_twice(play)
    assert first.changed() >= 1
    owner = pg.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (db,))
    assert owner == [(user,)]
    with pg.connect(dbname=db, user=user, password=password) as conn:
        exts = {r[0] for r in conn.execute("SELECT extname FROM pg_extension").fetchall()}
    assert set(extensions) <= exts


@pytest.mark.xdist_group("pg")
def test_postgresql_bootstrap_keeps_existing_database_owner(tmp_path, pg_server):
    pg = pg_server
    db, user = _uniq("existing").replace("-", "_"), _uniq("mlflow").replace("-", "_")
    pg.execute('CREATE DATABASE "%s"' % db)
    play = _role_play(tmp_path, "postgresql", "bootstrap", _pg_vars(pg, db, user, secrets.token_hex(16)))
    _run_twice(play)
    owner = pg.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (db,))
    assert owner == [(pg.user,)], "an existing database's owner must not be altered"
    assert pg.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)) == [(1,)]


def _available(pg):
    from tests.servers.postgres import available_extensions
    return available_extensions(pg.bindir)


# ------------------------------------------------------------ MLflow ----

@pytest.mark.xdist_group("pg")
@pytest.mark.parametrize("auth", [False, True], ids=["noauth", "basic-auth"])
def test_mlflow_experiment_bootstrap_exports_ids(tmp_path, request, auth):
    server = request.getfixturevalue("mlflow_auth_server" if auth else "mlflow_server")
    names = [_uniq("llm-traces"), _uniq("models")]
    role_vars = {
        "mlflow_experiments": [{"name": names[0], "tags": {"mlops.stack/purpose": "otel-traces"}},
                               {"name": names[1]}],
        "mlflow_bootstrap_tracking_uri": server.tracking_uri,
        "__mlflow_tracking_url_internal": server.tracking_uri,
    }
    if auth:
        role_vars.update({"mlflow_bootstrap_username": server.username,
                          "mlflow_bootstrap_password": server.password})
    play = _role_play(tmp_path, "mlflow", "bootstrap", role_vars, show="mlflow_experiment_ids")
    first, second = _run_twice(play)
    ids = second.task_result("Show mlflow_experiment_ids")["mlflow_experiment_ids"]
    assert set(ids) == set(names)
    assert ids == first.task_result("Show mlflow_experiment_ids")["mlflow_experiment_ids"]
    for name in names:
        status, body = server.api("GET", "experiments/get-by-name?experiment_name=%s" % name,
                                  username=server.username, password=server.password)
        assert status == 200, body
        assert body["experiment"]["experiment_id"] == ids[name]
