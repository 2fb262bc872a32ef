"""mlops.stack.postgresql_database against a real PostgreSQL server, through ansible-playbook."""
import secrets

import pytest

from ansible_collections.mlops.stack.plugins.module_utils.postgres.scram import verify_password
from tests.playbook import run_playbook, write_playbook
from tests.servers.bins import free_port

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("pg")]

TASK = "Ensure database"


def _play(tmp_path, args, name="play.yml"):
    return write_playbook(tmp_path, [{
        "name": "postgresql_database",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": TASK, "mlops.stack.postgresql_database": args}],
    }], name=name)


def run(tmp_path, args, **kw):
    res = run_playbook(_play(tmp_path, args), **kw)
    return res, res.task_result(TASK)


def login(pg):
    return dict(login_host=pg.host, login_port=pg.port, login_user=pg.user,
                login_password=pg.password)


def uniq(prefix):
    return "%s_%s" % (prefix, secrets.token_hex(3))


def db_row(pg, name):
    rows = pg.execute("SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datconnlimit "
                      "FROM pg_database WHERE datname = %s", (name,))
    return rows[0] if rows else None


def role_exists(pg, name):
    return bool(pg.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)))


def extensions(pg, db):
    return {r[0] for r in pg.execute("SELECT extname FROM pg_extension", dbname=db)}


def test_lifecycle(pg_server, tmp_path):
    pg = pg_server
    name, rname, pw = uniq("app"), uniq("app_user"), secrets.token_urlsafe(12)
    args = dict(login(pg), name=name, encoding="UTF8", lc_collate="C", lc_ctype="C", conn_limit=20,
                extensions=["uuid-ossp", "pg_stat_statements"],
                role={"name": rname, "password": pw})

    # check mode on a new object: reports the change, creates nothing
    res, task = run(tmp_path, args, check=True, diff=True)
    assert res.rc == 0, res.explain()
    assert task["changed"] is True
    assert any(q.startswith("CREATE DATABASE") for q in task["queries"])
    assert task["diff"]["before"] == {} and task["diff"]["after"]["owner"] == rname
    assert db_row(pg, name) is None and not role_exists(pg, rname)

    # first run creates, with diff
    res, task = run(tmp_path, args, diff=True)
    assert res.rc == 0, res.explain()
    assert res.changed() == 1
    assert task["diff"]["after"]["conn_limit"] == 20 and task["diff"]["before"] == {}
    assert pw not in res.stdout  # the password is neither printed nor in the queries
    assert db_row(pg, name) == (rname, "UTF8", 20)
    assert {"uuid-ossp", "pg_stat_statements"} <= extensions(pg, name)
    verifier = pg.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (rname,))[0][0]
    assert verifier.startswith("SCRAM-SHA-256$") and verify_password(pw, verifier) is True
    # the role can log in and use its database
    with pg.connect(name, user=rname, password=pw) as conn:
        conn.execute("CREATE TABLE runs (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), v int)")
        conn.execute("INSERT INTO runs (v) SELECT generate_series(1, 100)")

    # second run: unchanged; check mode: unchanged
    res, task = run(tmp_path, args)
    assert res.rc == 0, res.explain()
    assert res.changed() == 0 and task["queries"] == []
    res, task = run(tmp_path, args, check=True, diff=True)
    assert res.rc == 0 and res.changed() == 0, res.explain()

    # a different conn_limit changes just that; the rows survive
    res, task = run(tmp_path, dict(args, conn_limit=30), diff=True)
    assert res.rc == 0, res.explain()
    assert task["queries"] == ['ALTER DATABASE "%s" CONNECTION LIMIT 30' % name]
    assert task["diff"]["before"]["conn_limit"] == 20 and task["diff"]["after"]["conn_limit"] == 30
    assert db_row(pg, name) == (rname, "UTF8", 30)
    assert pg.execute("SELECT count(*) FROM runs", dbname=name)[0][0] == 100

    # a new password is changed (and reported), once
    pw2 = secrets.token_urlsafe(12)
    args2 = dict(args, conn_limit=30, role={"name": rname, "password": pw2})
    res, task = run(tmp_path, args2)
    assert res.rc == 0 and task["role"]["password_changed"] is True, res.explain()
    res, task = run(tmp_path, args2)
    assert res.rc == 0 and res.changed() == 0, res.explain()
    with pg.connect(name, user=rname, password=pw2) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 100

    # encoding cannot change in place: refused, nothing touched
    res, task = run(tmp_path, dict(args2, encoding="LATIN1"))
    assert res.rc != 0
    msg = task["msg"]
    assert "postgresql://%s:%d" % (pg.host, pg.port) in msg
    assert "encoding UTF8 -> LATIN1" in msg and "cannot change in place" in msg
    assert "Traceback" not in res.stdout
    assert pg.execute("SELECT count(*) FROM runs", dbname=name)[0][0] == 100

    # absent with an open connection: refused unless force
    holder = pg.connect(name, user=rname, password=pw2)
    try:
        res, task = run(tmp_path, dict(login(pg), name=name, state="absent"))
        assert res.rc != 0 and "active connection" in task["msg"] and "force" in task["msg"]
        assert db_row(pg, name) is not None
        res, task = run(tmp_path, dict(login(pg), name=name, state="absent"), check=True)
        assert res.rc != 0  # check mode predicts the same refusal
    finally:
        holder.close()
    # absent on a database with tables: refused unless force (like s3_bucket with objects)
    res, task = run(tmp_path, dict(login(pg), name=name, state="absent"))
    assert res.rc != 0 and "holds 1 table(s)" in task["msg"] and "force=true" in task["msg"], res.explain()
    res, task = run(tmp_path, dict(login(pg), name=name, state="absent"), check=True)
    assert res.rc != 0 and "holds 1 table(s)" in task["msg"]  # check mode predicts the refusal
    res, task = run(tmp_path, dict(login(pg), name=name, state="absent", force=True), check=True, diff=True)
    assert res.rc == 0 and task["changed"] is True and db_row(pg, name) is not None, res.explain()
    assert pg.execute("SELECT count(*) FROM runs", dbname=name)[0][0] == 100
    res, task = run(tmp_path, dict(login(pg), name=name, state="absent", force=True))
    assert res.rc == 0 and task["changed"] is True, res.explain()
    assert db_row(pg, name) is None
    res, task = run(tmp_path, dict(login(pg), name=name, state="absent"))
    assert res.rc == 0 and res.changed() == 0
    assert role_exists(pg, rname)  # the role is kept


def test_empty_database_is_dropped_without_force(pg_server, tmp_path):
    pg = pg_server
    name = uniq("empty")
    pg.execute('CREATE DATABASE "%s"' % name)
    res, task = run(tmp_path, dict(login(pg), name=name, state="absent"))
    assert res.rc == 0 and task["changed"] is True, res.explain()
    assert db_row(pg, name) is None


def test_force_drop_with_connections(pg_server, tmp_path):
    pg = pg_server
    name = uniq("scratch")
    pg.execute('CREATE DATABASE "%s"' % name)
    holder = pg.connect(name)
    try:
        res, task = run(tmp_path, dict(login(pg), name=name, state="absent", force=True))
        assert res.rc == 0 and task["changed"], res.explain()
        assert db_row(pg, name) is None
    finally:
        try:
            holder.close()
        except Exception:  # pylint: disable=broad-except
            pass


def test_existing_data_and_unmanaged_settings_survive(pg_server, tmp_path):
    """A database made by someone else: only what the task names is changed."""
    pg = pg_server
    name = uniq("legacy")
    pg.execute('CREATE DATABASE "%s" CONNECTION LIMIT 7' % name)
    pg.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2), (3)", dbname=name)
    res, task = run(tmp_path, dict(login(pg), name=name, extensions=["pg_trgm"]))
    assert res.rc == 0 and task["queries"] == ['CREATE EXTENSION IF NOT EXISTS "pg_trgm"'], res.explain()
    assert db_row(pg, name)[2] == 7
    assert pg.execute("SELECT count(*) FROM t", dbname=name)[0][0] == 3
    res, task = run(tmp_path, dict(login(pg), name=name, extensions=["pg_trgm"]))
    assert res.rc == 0 and res.changed() == 0


def test_non_superuser_app_user(pg_server, tmp_path):
    """Like CloudNativePG's `app` user on the -rw service: owns its db, no CREATEDB/CREATEROLE."""
    pg = pg_server
    user, pw = uniq("cnpg_app"), secrets.token_urlsafe(12)
    pg.execute('CREATE ROLE "%s" LOGIN PASSWORD \'%s\'' % (user, pw))
    pg.execute('CREATE DATABASE "%s" OWNER "%s"' % (user, user))
    pg.execute('CREATE EXTENSION "uuid-ossp"', dbname=user)
    app = dict(login_host=pg.host, login_port=pg.port, login_user=user, login_password=pw,
               login_db=user)
    args = dict(app, name=user, owner=user, extensions=["uuid-ossp"],
                role={"name": user, "password": pw})
    res, task = run(tmp_path, args)
    assert res.rc == 0, res.explain()
    assert res.changed() == 0 and task["queries"] == []
    res, task = run(tmp_path, args, check=True, diff=True)
    assert res.rc == 0 and res.changed() == 0, res.explain()
    # it may change what an owner may change ...
    res, task = run(tmp_path, dict(args, conn_limit=15))
    assert res.rc == 0 and task["changed"], res.explain()
    # check mode (the preflight) reports what the login may not do, before any change
    other = uniq("other")
    res, task = run(tmp_path, dict(app, name=other, role={"name": user}), check=True)
    assert res.rc == 0, res.explain()
    assert task["missing_privileges"] == ["create database %s (needs CREATEDB)" % other], task
    assert db_row(pg, other) is None
    foreign = uniq("foreign")
    pg.execute('CREATE DATABASE "%s"' % foreign)  # owned by the superuser, nothing granted to the app user
    pg.execute('REVOKE ALL ON DATABASE "%s" FROM PUBLIC' % foreign)
    foreign_args = dict(app, name=foreign, owner=pg.user, role={"name": user, "database_privileges": ["CONNECT"]})
    res, task = run(tmp_path, foreign_args, check=True)
    assert res.rc != 0 and "does not have CONNECT privilege" in task["msg"], task["msg"]
    pg.execute('GRANT CONNECT ON DATABASE "%s" TO "%s"' % (foreign, user))
    res, task = run(tmp_path, foreign_args, check=True)
    assert res.rc == 0, res.explain()
    assert [m.split(" (")[0] for m in task["missing_privileges"]] == [
        "grant CREATE on schema public to %s" % user], task
    res, task = run(tmp_path, dict(args, conn_limit=15), check=True)
    assert task["missing_privileges"] == [], task
    # ... and a change needing a privilege it lacks fails naming it
    res, task = run(tmp_path, dict(app, name=uniq("other")))
    assert res.rc != 0
    assert "may not create database" in task["msg"] and "CREATEDB" in task["msg"], task["msg"]
    res, task = run(tmp_path, dict(args, extensions=["pg_stat_statements"]))
    assert res.rc != 0 and "create extension pg_stat_statements" in task["msg"], task["msg"]


def test_unavailable_extension(pg_server, tmp_path):
    pg = pg_server
    name = uniq("vec")
    res, task = run(tmp_path, dict(login(pg), name=name, extensions=["uuid-ossp", "no_such_ext"]))
    assert res.rc != 0
    assert "no_such_ext" in task["msg"] and "pg_available_extensions" in task["msg"]
    assert db_row(pg, name) is None  # refused before anything was created


def test_vector_extension(pg_server, tmp_path):
    """`vector` where pgvector is installed; else the same clear refusal."""
    pg = pg_server
    name = uniq("vec")
    available = bool(pg.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"))
    res, task = run(tmp_path, dict(login(pg), name=name, extensions=["vector"]))
    if available:
        assert res.rc == 0 and "vector" in extensions(pg, name), res.explain()
        run(tmp_path, dict(login(pg), name=name, state="absent"))
    else:
        assert res.rc != 0 and "vector" in task["msg"] and "pgvector" in task["msg"]


@pytest.mark.parametrize("args, expect", [
    (dict(name="bad name;drop"), "invalid database name 'bad name;drop'"),
    (dict(name="ok", role={"name": "r'; DROP ROLE postgres; --"}), "invalid role name"),
    (dict(name="ok", extensions=["uuid-ossp; drop"]), "invalid extension name"),
    (dict(name="ok", role={"name": "r", "database_privileges": ["SELECT"]}), "invalid database privilege"),
])
def test_bad_input_fails_cleanly(pg_server, tmp_path, args, expect):
    res, task = run(tmp_path, dict(login(pg_server), **args))
    assert res.rc != 0
    assert expect in task["msg"]
    assert "Traceback" not in res.stdout + res.stderr
    assert db_row(pg_server, "ok") is None


def test_wrong_password(pg_server, tmp_path):
    pg = pg_server
    res, task = run(tmp_path, dict(login(pg), login_password="wrong-password", name="never"))
    assert res.rc != 0
    msg = task["msg"]
    assert "postgresql://%s:%d" % (pg.host, pg.port) in msg
    assert "authentication failed for user 'postgres'" in msg and "login_password" in msg
    assert "wrong-password" not in res.stdout
    assert "Traceback" not in res.stdout


def test_closed_port(tmp_path):
    port = free_port()
    res, task = run(tmp_path, dict(login_host="127.0.0.1", login_port=port, login_password="x",
                                   name="never", connect_timeout=3))
    assert res.rc != 0
    msg = task["msg"]
    assert "postgresql://127.0.0.1:%d" % port in msg and "cannot connect" in msg
    assert "login_host/login_port" in msg
    assert "Traceback" not in res.stdout


def verifier(pg, name):
    return pg.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (name,))[0][0]


def test_owned_never_changes_the_password_of_someone_elses_role(pg_server, tmp_path):
    """update_password: owned, as the postgresql role uses it on external servers."""
    pg = pg_server
    theirs, their_pw = uniq("cnpg_app"), secrets.token_urlsafe(12)
    pg.execute('CREATE ROLE "%s" LOGIN PASSWORD \'%s\'' % (theirs, their_pw))
    before = verifier(pg, theirs)
    db = uniq("shared")
    args = dict(login(pg), name=db, role={"name": theirs, "password": "not-" + their_pw, "update_password": "owned"})
    res, task = run(tmp_path, args)
    assert res.rc != 0
    assert "was not created by mlops.stack" in task["msg"] and "refusing to change the password" in task["msg"]
    assert verifier(pg, theirs) == before and db_row(pg, db) is None, "nothing was changed"
    # Its right password: accepted as is, nothing altered.
    res, task = run(tmp_path, dict(args, role=dict(args["role"], password=their_pw)))
    assert res.rc == 0, res.explain()
    assert verifier(pg, theirs) == before and not any("PASSWORD" in q for q in task["queries"])
    # A role the module creates is marked, and its password follows the Secret.
    ours = uniq("ours")
    first = dict(login(pg), name=uniq("ownsdb"),
                 role={"name": ours, "password": "one-" + their_pw, "update_password": "owned"})
    res, task = run(tmp_path, first)
    assert res.rc == 0, res.explain()
    assert pg.execute("SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s",
                      (ours,)) == [("created by mlops.stack",)]
    res, task = run(tmp_path, dict(first, role=dict(first["role"], password="two-" + their_pw)))
    assert res.rc == 0 and task["changed"], res.explain()
    assert verify_password("two-" + their_pw, verifier(pg, ours), ours)
