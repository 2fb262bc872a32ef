import base64
import hashlib

import pytest

from ansible_collections.mlops.stack.plugins.module_utils.postgres import names as pg_names
from ansible_collections.mlops.stack.plugins.module_utils.postgres.errors import PgError, describe_connect_error
from ansible_collections.mlops.stack.plugins.module_utils.postgres.names import (
    normalize_privileges, quote_ident, quote_literal, validate_name)
from ansible_collections.mlops.stack.plugins.module_utils.postgres.plan import (
    check_immutable, desired_from_params, missing_privileges, plan, predicted_view, redact_sql, state_view)
from ansible_collections.mlops.stack.plugins.module_utils.postgres.scram import (
    _scram_keys, scram_verifier, verify_password)


def params(**kw):
    base = dict(name="mlflow", state="present", owner=None, encoding=None, lc_collate=None,
                lc_ctype=None, template="template0", conn_limit=None, extensions=[], role=None,
                force=False)
    base.update(kw)
    return base


def role(**kw):
    base = dict(name="mlflow", password="pw", update_password="always", login=True,
                database_privileges=["ALL"], schema="public", schema_privileges=["USAGE", "CREATE"])
    base.update(kw)
    return base


def current(db=None, role_=None, **kw):
    base = dict(session_user="postgres", superuser=True, createdb=True, createrole=True,
                template_encoding="UTF8", template_collate="C.UTF-8", template_ctype="C.UTF-8",
                server_version=150000, database=db, role=role_)
    base.update(kw)
    return base


def existing_db(**kw):
    base = dict(name="mlflow", owner="mlflow", encoding="UTF8", lc_collate="C.UTF-8",
                lc_ctype="C.UTF-8", conn_limit=-1, allow_connections=True,
                extensions={"plpgsql": "1.0"})
    base.update(kw)
    return base


def existing_role(**kw):
    base = dict(name="mlflow", login=True, password_matches=True,
                database_privileges=["CONNECT", "CREATE", "TEMPORARY"],
                schema_privileges=["USAGE", "CREATE"])
    base.update(kw)
    return base


# --- identifiers ----------------------------------------------------------

@pytest.mark.parametrize("name", ["mlflow", "_x", "App-DB", "a$b", "x" * 63])
def test_valid_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "bad name;drop", "1abc", 'a"b', "a'b", "x" * 64, "é" * 32,
                                  "a;b", "a b", None])
def test_invalid_names(name):
    with pytest.raises(PgError) as exc:
        validate_name(name, "database name")
    assert "invalid database name" in str(exc.value)


def test_quote_ident_and_literal():
    assert quote_ident("App-DB") == '"App-DB"'
    assert quote_ident('we"ird') == '"we""ird"'
    assert quote_literal("it's") == "'it''s'"
    with pytest.raises(PgError):
        quote_ident("a\x00b")


def test_normalize_privileges():
    assert normalize_privileges(["all"], pg_names.DATABASE_PRIVILEGES, "database") == [
        "CONNECT", "CREATE", "TEMPORARY"]
    assert normalize_privileges(["temp", "connect", "CONNECT"], pg_names.DATABASE_PRIVILEGES, "database") == [
        "CONNECT", "TEMPORARY"]
    with pytest.raises(PgError) as exc:
        normalize_privileges(["SELECT"], pg_names.SCHEMA_PRIVILEGES, "schema")
    assert "invalid schema privilege 'SELECT'" in str(exc.value)


# --- SCRAM ----------------------------------------------------------------

# The integration tests also check verify_password against verifiers the
# real server stored in pg_authid.
def test_scram_roundtrip_and_known_vector():
    salt = b"0123456789abcdef"
    v = scram_verifier("s3cret", salt=salt, iterations=4096)
    assert v.startswith("SCRAM-SHA-256$4096:%s$" % base64.b64encode(salt).decode())
    assert verify_password("s3cret", v) is True
    assert verify_password("S3cret", v) is False
    assert scram_verifier("s3cret", salt=salt) == v  # deterministic with a fixed salt
    assert scram_verifier("s3cret") != scram_verifier("s3cret")  # random salt


def test_scram_rfc7677_keys():
    # RFC 7677 test vector: password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    stored, server = _scram_keys("pencil", salt, 4096)  # pylint: disable=protected-access
    # ServerSignature in the RFC is over an AuthMessage; check ServerKey via the
    # documented SaltedPassword instead.
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    assert base64.b64encode(salted).decode() == "xKSVEDI6tPlSysH6mUQZOeeOp01r6B3fcJbodRPcYV0="
    assert len(stored) == 32 and len(server) == 32


def test_verify_md5_and_unknown():
    v = "md5" + hashlib.md5(b"pwmlflow").hexdigest()
    assert verify_password("pw", v, "mlflow") is True
    assert verify_password("nope", v, "mlflow") is False
    assert verify_password("pw", "plain-or-unknown") is None
    assert verify_password("pw", None) is False
    assert verify_password("pw", "SCRAM-SHA-256$garbage") is None


def test_non_ascii_password_normalized():
    v = scram_verifier("\u2168", salt=b"x" * 16)  # ROMAN NUMERAL NINE -> "IX" under NFKC
    assert verify_password("IX", v) is True


# --- desired state ----------------------------------------------------------

def test_desired_defaults_owner_to_role():
    d = desired_from_params(params(role=role()))
    assert d["owner"] == "mlflow"
    assert d["role"]["database_privileges"] == ["CONNECT", "CREATE", "TEMPORARY"]
    assert d["role"]["schema_privileges"] == ["CREATE", "USAGE"]


@pytest.mark.parametrize("kw, text", [
    (dict(name="bad name;drop"), "invalid database name"),
    (dict(extensions=["uuid-ossp", "x;drop"]), "invalid extension name"),
    (dict(encoding="UTF8'; drop"), "invalid encoding"),
    (dict(lc_collate="C' x"), "invalid lc_collate"),
    (dict(conn_limit=-2), "invalid conn_limit"),
    (dict(owner="a b"), "invalid owner role name"),
    (dict(role=role(name="r;x")), "invalid role name"),
    (dict(template="t 0"), "invalid template"),
])
def test_desired_rejects(kw, text):
    with pytest.raises(PgError) as exc:
        desired_from_params(params(**kw))
    assert text in str(exc.value)


# --- immutables ---------------------------------------------------------------

def test_encoding_change_refused():
    d = desired_from_params(params(encoding="LATIN1"))
    with pytest.raises(PgError) as exc:
        check_immutable(existing_db(), d, "postgresql://db:5432")
    msg = str(exc.value)
    assert msg.startswith("postgresql://db:5432: ")
    assert "encoding UTF8 -> LATIN1" in msg and "cannot change in place" in msg and "Fix:" in msg


def test_equivalent_spellings_accepted():
    d = desired_from_params(params(encoding="utf-8", lc_collate="C.utf8", lc_ctype="C.UTF-8"))
    check_immutable(existing_db(), d, "x")  # no exception
    check_immutable(None, d, "x")


# --- plan -----------------------------------------------------------------

def kinds(actions):
    return [a["kind"] for a in actions]


def test_plan_new_everything():
    d = desired_from_params(params(role=role(), encoding="UTF8", conn_limit=5,
                                   extensions=["uuid-ossp"]))
    acts = plan(current(), d)
    assert kinds(acts) == ["create_role", "comment_role", "create_database", "create_extension"]
    assert acts[0]["secret"] and "SCRAM-SHA-256$" in acts[0]["sql"]
    assert redact_sql(acts[0]) == "CREATE ROLE \"mlflow\" LOGIN PASSWORD '********'"
    assert acts[1]["sql"] == """COMMENT ON ROLE "mlflow" IS 'created by mlops.stack'"""
    assert acts[2]["sql"] == ('CREATE DATABASE "mlflow" OWNER "mlflow" TEMPLATE "template0" '
                              "ENCODING 'UTF8' CONNECTION LIMIT 5")


def test_plan_new_db_other_owner_grants():
    d = desired_from_params(params(owner="postgres", role=role(password=None)))
    acts = plan(current(), d)
    assert kinds(acts) == ["create_role", "comment_role", "create_database", "grant_database", "grant_schema"]
    assert acts[3]["sql"] == 'GRANT CONNECT, CREATE, TEMPORARY ON DATABASE "mlflow" TO "mlflow"'
    assert acts[4]["sql"] == 'GRANT CREATE, USAGE ON SCHEMA "public" TO "mlflow"'


def test_plan_noop_when_in_sync():
    d = desired_from_params(params(role=role(), conn_limit=-1, extensions=["plpgsql"]))
    assert plan(current(existing_db(), existing_role()), d) == []


def test_plan_only_what_differs():
    d = desired_from_params(params(role=role(), conn_limit=30, extensions=["uuid-ossp"]))
    cur = current(existing_db(conn_limit=20),
                  existing_role(password_matches=False, schema_privileges=["USAGE"]))
    acts = plan(cur, d)
    assert kinds(acts) == ["alter_role_password", "alter_conn_limit", "create_extension", "grant_schema"]
    assert acts[1]["sql"] == 'ALTER DATABASE "mlflow" CONNECTION LIMIT 30'
    assert acts[3]["sql"] == 'GRANT CREATE ON SCHEMA "public" TO "mlflow"'


def test_plan_password_unknown_or_on_create_is_left_alone():
    d = desired_from_params(params(role=role(update_password="on_create")))
    assert plan(current(existing_db(), existing_role(password_matches=False)), d) == []
    d = desired_from_params(params(role=role()))
    assert plan(current(existing_db(), existing_role(password_matches=None)), d) == []


def test_plan_owned_changes_only_the_password_of_a_role_it_created():
    d = desired_from_params(params(role=role(update_password="owned")))
    ours = existing_role(password_matches=False, comment="created by mlops.stack")
    assert kinds(plan(current(existing_db(), ours), d)) == ["alter_role_password"]
    assert plan(current(existing_db(), existing_role(password_matches=True)), d) == []
    theirs = existing_role(password_matches=False, comment=None)
    with pytest.raises(PgError, match="role mlflow exists and was not created by mlops.stack"):
        plan(current(existing_db(), theirs), d)


def test_plan_owner_and_login_change():
    d = desired_from_params(params(role=role(login=False, password=None)))
    acts = plan(current(existing_db(owner="postgres"), existing_role()), d)
    assert kinds(acts) == ["alter_role", "alter_owner"]
    assert acts[0]["sql"] == 'ALTER ROLE "mlflow" NOLOGIN'
    assert acts[1]["sql"] == 'ALTER DATABASE "mlflow" OWNER TO "mlflow"'


def test_missing_privileges_of_a_least_privileged_login():
    # A CloudNativePG app user: no CREATEDB, no CREATEROLE.
    app = dict(superuser=False, createdb=False, createrole=False, session_user="app")
    d = desired_from_params(params(role=role(name="app", password=None, database_privileges=["CONNECT"])))
    cur = current(None, existing_role(name="app"), **app)
    acts = plan(cur, d)
    assert missing_privileges(cur, acts) == ["create database mlflow (needs CREATEDB)"]
    assert missing_privileges(dict(cur, createdb=True), acts) == []
    # a database someone else owns, without grants: the grants need its owner
    cur = current(existing_db(owner="postgres", owned_by_login=False),
                  existing_role(name="app", database_privileges=[], schema_privileges=[]), **app)
    keep_owner = desired_from_params(params(owner="postgres", role=role(name="app", password=None,
                                                                        database_privileges=["CONNECT"])))
    assert [m.split(" (")[0] for m in missing_privileges(cur, plan(cur, keep_owner))] == [
        "grant CONNECT on database mlflow to app", "grant CREATE, USAGE on schema public to app"]
    # the recipe's result (owned by app): nothing to do, nothing missing
    cur = current(existing_db(owner="app", owned_by_login=True), existing_role(name="app"), **app)
    assert plan(cur, d) == [] and missing_privileges(cur, []) == []
    # a role may set its own password; another's needs CREATEROLE; a superuser may all
    d = desired_from_params(params(role=role(name="app", update_password="always")))
    cur = current(existing_db(owner="app", owned_by_login=True), existing_role(name="app", password_matches=False), **app)
    assert kinds(plan(cur, d)) == ["alter_role_password"] and missing_privileges(cur, plan(cur, d)) == []
    cur["session_user"] = "other"
    assert missing_privileges(cur, plan(cur, d)) == ["set password of role app (needs CREATEROLE)"]
    assert missing_privileges(current(), plan(current(), d)) == []


def test_plan_absent():
    d = desired_from_params(params(state="absent"))
    assert plan(current(), d) == []
    assert [a["sql"] for a in plan(current(existing_db()), d)] == ['DROP DATABASE "mlflow"']
    d = desired_from_params(params(state="absent", force=True))
    assert [a["sql"] for a in plan(current(existing_db()), d)] == ['DROP DATABASE "mlflow" WITH (FORCE)']


# --- diff views -------------------------------------------------------------

def test_views_for_new_database():
    d = desired_from_params(params(role=role(), conn_limit=5, extensions=["uuid-ossp"]))
    cur = current()
    acts = plan(cur, d)
    assert state_view(cur, d) == {}
    after = predicted_view(cur, d, acts)
    assert after["name"] == "mlflow" and after["owner"] == "mlflow" and after["conn_limit"] == 5
    assert after["encoding"] == "UTF8" and after["lc_collate"] == "C.UTF-8"
    assert after["extensions"] == ["plpgsql", "uuid-ossp"]
    assert after["role"]["name"] == "mlflow"


def test_views_for_change():
    d = desired_from_params(params(role=role(), conn_limit=30))
    cur = current(existing_db(conn_limit=20), existing_role(password_matches=False))
    acts = plan(cur, d)
    before, after = state_view(cur, d), predicted_view(cur, d, acts)
    assert before["conn_limit"] == 20 and after["conn_limit"] == 30
    assert after["role"]["password"] == "(changed)" and "password" not in before["role"]
    assert "pw" not in repr(after)


def test_absent_view():
    d = desired_from_params(params(state="absent"))
    assert predicted_view(current(existing_db()), d, []) == {}


# --- error messages ------------------------------------------------------------

@pytest.mark.parametrize("text, expect", [
    ('connection failed: connection to server at "127.0.0.1", port 5 failed: FATAL:  password '
     'authentication failed for user "app"', ["authentication failed for user 'app'",
                                              "login_user/login_password"]),
    ('connection failed: connection to server at "127.0.0.1", port 5 failed: Connection refused\n'
     '\tIs the server running on that host and accepting TCP/IP connections?',
     ["cannot connect", "Connection refused", "login_host/login_port", "kubernetes_service"]),
    ('connection failed: FATAL:  database "nope" does not exist', ["login_db"]),
])
def test_describe_connect_error(text, expect):
    msg = describe_connect_error(Exception(text), "127.0.0.1", 5, "app", "nope")
    assert msg.startswith("postgresql://127.0.0.1:5: ")
    for e in expect:
        assert e in msg
