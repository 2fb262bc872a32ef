"""Session fixtures: a real PostgreSQL server and real MLflow servers on 127.0.0.1.

Loaded for every test through ``pytest_plugins`` in tests/conftest.py.

- ``pg_server``: tests/servers/postgres.py:PgServer (superuser host/port/
  user/password/dsn, ``connect()``, ``execute()``, ``uri()``).
- ``mlflow_server``: tests/servers/mlflow.py:MlflowServer with the
  PostgreSQL backend (a fresh database on ``pg_server``) and artifacts
  proxied to S3 (``s3_server``, SeaweedFS) when SeaweedFS is installed,
  else to a local dir (in CI the S3 server is required).
- ``mlflow_auth_server``: the same with ``--app-name basic-auth``
  (``username``/``password`` attributes are the admin credentials).

Every server runs in its own process group, killed on teardown (and at
interpreter exit if a teardown never ran).
"""
import atexit

import pytest

from tests.helpers import IN_CI, require
from tests.servers.mlflow import find_mlflow, start_mlflow
from tests.servers.postgres import find_pg_bindir, start_postgres

_running = []


@atexit.register
def _stop_leftovers():
    for srv in reversed(_running):
        try:
            srv.stop()
        except Exception:  # pylint: disable=broad-except
            pass


def _mlflow_auth_available():
    try:
        import flask_wtf  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
        return True
    except ImportError:
        return False


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """A PostgreSQL server (Debian's binaries) for the whole session."""
    require(find_pg_bindir() is not None,
            "PostgreSQL server not installed: apt-get install postgresql postgresql-contrib")
    server = start_postgres(tmp_path_factory.mktemp("pg"))
    _running.append(server)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_s3(request, tmp_path_factory):
    """The S3 server MLflow's artifacts go to: ``s3_server`` (tests/integration/conftest.py)
    where that fixture is visible, else an own SeaweedFS; None locally without SeaweedFS."""
    from tests.servers.s3 import backend_available, start_s3  # pylint: disable=import-outside-toplevel
    ok, reason = backend_available("seaweedfs")
    if not ok and not IN_CI:
        yield None
        return
    try:
        yield request.getfixturevalue("s3_server")
        return
    except pytest.FixtureLookupError:
        pass
    require(ok, reason)
    server = start_s3(tmp_path_factory.mktemp("mlflow-s3"), backend="seaweedfs")
    _running.append(server)
    try:
        yield server
    finally:
        server.stop()


def _s3_or_none(request):
    return request.getfixturevalue("mlflow_s3")


def _mlflow_fixture(request, tmp_path_factory, auth):
    require(find_mlflow() is not None, "mlflow CLI not installed: pip install 'mlflow>=3.17,<3.18'")
    if auth:
        require(_mlflow_auth_available(),
                "MLflow basic-auth needs Flask-WTF: pip install 'mlflow[auth]>=3.17,<3.18'")
    pg = request.getfixturevalue("pg_server")
    s3 = _s3_or_none(request)
    server = start_mlflow(tmp_path_factory.mktemp("mlflow-auth" if auth else "mlflow"), pg,
                          s3=s3, auth=auth)
    _running.append(server)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_server(request, tmp_path_factory):
    """`mlflow server` (uvicorn, 1 worker) with PostgreSQL backend and S3 artifacts."""
    yield from _mlflow_fixture(request, tmp_path_factory, auth=False)


@pytest.fixture(scope="session")
def mlflow_auth_server(request, tmp_path_factory):
    """`mlflow server --app-name basic-auth`; admin credentials in .username/.password."""
    yield from _mlflow_fixture(request, tmp_path_factory, auth=True)
