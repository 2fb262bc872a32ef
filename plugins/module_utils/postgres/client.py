# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
""":class:`PgClient`: a thin psycopg 3 client (optional import) with the
connection options shared with community.postgresql's names; the only
part that talks to a server."""


import traceback

from ansible_collections.mlops.stack.plugins.module_utils.common import endpoint_error
from ansible_collections.mlops.stack.plugins.module_utils.postgres.errors import (
    describe_connect_error,
    pg_message,
    PgError,
    server_endpoint,
)
from ansible_collections.mlops.stack.plugins.module_utils.postgres.names import DATABASE_PRIVILEGES, SCHEMA_PRIVILEGES
from ansible_collections.mlops.stack.plugins.module_utils.postgres.plan import redact_sql
from ansible_collections.mlops.stack.plugins.module_utils.postgres.scram import verify_password


PSYCOPG_IMPORT_ERROR = None
try:
    import psycopg
    from psycopg import errors as pg_errors
    HAS_PSYCOPG = True
except ImportError:  # pragma: no cover - depends on the control node
    psycopg = None
    pg_errors = None
    HAS_PSYCOPG = False
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()

#: Connection options shared with community.postgresql's names.
POSTGRES_CONNECTION_ARGUMENT_SPEC = dict(
    login_host=dict(type="str", default="localhost", aliases=["host"]),
    login_port=dict(type="int", default=5432, aliases=["port"]),
    login_user=dict(type="str", default="postgres", aliases=["login"]),
    login_password=dict(type="str", no_log=True),
    login_db=dict(type="str", default="postgres"),
    ssl_mode=dict(type="str", default="prefer",
                  choices=["allow", "disable", "prefer", "require", "verify-ca", "verify-full"]),
    ca_cert=dict(type="path", aliases=["ssl_rootcert"]),
    connect_timeout=dict(type="int", default=10),
)


class PgClient(object):
    """A thin psycopg 3 client: one autocommit connection per database."""

    def __init__(self, host, port, user, password, dbname="postgres", ssl_mode="prefer",
                 ca_cert=None, connect_timeout=10):
        self.host = host
        self.port = int(port)
        self.user = user
        self.password = password
        self.dbname = dbname
        self.ssl_mode = ssl_mode
        self.ca_cert = ca_cert
        self.connect_timeout = connect_timeout
        self.endpoint = server_endpoint(host, self.port)
        self._conns = {}
        self.executed = []

    def _connect(self, dbname, user=None, password=None):
        if not HAS_PSYCOPG:  # pragma: no cover
            raise PgError("psycopg (3) is required: pip install 'psycopg[binary]'")
        kwargs = dict(host=self.host, port=self.port, user=user or self.user, dbname=dbname,
                      connect_timeout=self.connect_timeout, autocommit=True,
                      application_name="mlops.stack.postgresql_database",
                      sslmode=self.ssl_mode)
        pw = self.password if user is None else password
        if pw is not None:
            kwargs["password"] = pw
        if self.ca_cert:
            kwargs["sslrootcert"] = self.ca_cert
        return psycopg.connect(**kwargs)

    def conn(self, dbname=None):
        dbname = dbname or self.dbname
        if dbname not in self._conns:
            try:
                self._conns[dbname] = self._connect(dbname)
            except psycopg.Error as exc:
                raise PgError(describe_connect_error(exc, self.host, self.port, self.user, dbname))
        return self._conns[dbname]

    def close(self):
        for c in self._conns.values():
            try:
                c.close()
            except Exception:  # pylint: disable=broad-except
                pass
        self._conns = {}

    def query(self, sql, params=None, dbname=None):
        try:
            cur = self.conn(dbname).execute(sql, params)
            return cur.fetchall() if cur.description else []
        except PgError:
            raise
        except psycopg.Error as exc:
            raise PgError(endpoint_error(self.endpoint, "query failed (%s)" % sql.split("\n")[0][:80],
                                         pg_message(exc)))

    def password_works(self, role, password, dbname):
        """Log in as *role* with *password*: True, False (bad password) or None (cannot tell)."""
        try:
            c = self._connect(dbname, user=role, password=password)
        except psycopg.OperationalError as exc:
            low = str(exc).lower()
            if "password authentication failed" in low:
                return False
            return None
        c.close()
        return True

    def read_state(self, desired):
        """Everything :func:`plan` needs, in read-only queries."""
        name = desired["name"]
        role = desired.get("role")
        me = self.query(
            "SELECT current_user, r.rolsuper, r.rolcreatedb, r.rolcreaterole, "
            "pg_encoding_to_char(t.encoding), t.datcollate, t.datctype, "
            "current_setting('server_version_num')::int "
            "FROM pg_roles r, pg_database t WHERE r.rolname = current_user AND t.datname = %s",
            (desired["template"],))
        if me:
            me = me[0]
        else:
            me = self.query("SELECT current_user, r.rolsuper, r.rolcreatedb, r.rolcreaterole, "
                            "NULL, NULL, NULL, current_setting('server_version_num')::int "
                            "FROM pg_roles r WHERE r.rolname = current_user")[0]
        state = dict(session_user=me[0], superuser=me[1], createdb=me[2], createrole=me[3],
                     template_encoding=me[4], template_collate=me[5], template_ctype=me[6],
                     server_version=me[7], database=None, role=None)
        rows = self.query(
            "SELECT d.datname, pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), "
            "d.datcollate, d.datctype, d.datconnlimit, d.datallowconn "
            "FROM pg_database d WHERE d.datname = %s", (name,))
        if rows:
            r = rows[0]
            state["database"] = dict(name=r[0], owner=r[1], encoding=r[2], lc_collate=r[3],
                                     lc_ctype=r[4], conn_limit=r[5], allow_connections=r[6],
                                     extensions=None,
                                     owned_by_login=bool(self.query(
                                         "SELECT pg_has_role(current_user, d.datdba, 'MEMBER') "
                                         "FROM pg_database d WHERE d.datname = %s", (name,))[0][0]))
        if role:
            rows = self.query("SELECT rolname, rolcanlogin, shobj_description(oid, 'pg_authid') "
                              "FROM pg_roles WHERE rolname = %s", (role["name"],))
            if rows:
                state["role"] = dict(name=rows[0][0], login=rows[0][1], password_matches=None,
                                     comment=rows[0][2])
                if state["database"] is not None:
                    state["role"]["database_privileges"] = [
                        p for p in DATABASE_PRIVILEGES if self.query(
                            "SELECT has_database_privilege(%s, %s, %s)", (role["name"], name, p))[0][0]]
        return state

    def read_inside(self, state, desired):
        """Extensions and schema privileges (needs a connection to the database itself)."""
        db = state["database"]
        if db is None:
            return
        name = desired["name"]
        db["extensions"] = dict(self.query("SELECT extname, extversion FROM pg_extension",
                                           dbname=name))
        role = desired.get("role")
        if role and state.get("role") is not None:
            rows = self.query("SELECT 1 FROM pg_namespace WHERE nspname = %s", (role["schema"],),
                              dbname=name)
            if not rows:
                raise PgError(endpoint_error(self.endpoint, "schema %r does not exist in database %r"
                                             % (role["schema"], name), None,
                                             "create it first or set role.schema"))
            state["role"]["schema_privileges"] = [
                p for p in SCHEMA_PRIVILEGES if self.query(
                    "SELECT has_schema_privilege(%s, %s, %s)", (role["name"], role["schema"], p),
                    dbname=name)[0][0]]

    def check_role_password(self, state, desired):
        """Fill state['role']['password_matches'] without changing anything."""
        role = desired.get("role")
        cur = state.get("role")
        if not role or cur is None or role["password"] is None or role["update_password"] == "on_create":
            return
        if role["name"] == state["session_user"] and self.password is not None:
            cur["password_matches"] = role["password"] == self.password or None
            if cur["password_matches"]:
                return
        if state["superuser"]:
            rows = self.query("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role["name"],))
            verdict = verify_password(role["password"], rows[0][0] if rows else None, role["name"])
            if verdict is not None:
                cur["password_matches"] = verdict
                return
        if cur["login"] and state["database"] is not None:
            verdict = self.password_works(role["name"], role["password"], desired["name"])
            if verdict is not None:
                cur["password_matches"] = verdict
                return
        # Cannot tell: treat as different (the role's password gets set) only
        # when we are allowed to; otherwise leave it.
        cur["password_matches"] = False if (state["superuser"] or state["createrole"]) else None

    def unavailable_extensions(self, names):
        if not names:
            return []
        rows = self.query("SELECT name FROM pg_available_extensions WHERE name = ANY(%s)",
                          (list(names),))
        have = set(r[0] for r in rows)
        return [n for n in names if n not in have]

    def active_connections(self, name):
        rows = self.query("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                          "AND pid <> pg_backend_pid()", (name,))
        return rows[0][0]

    def user_tables(self, name):
        """Tables outside the system schemas (what a drop would lose)."""
        rows = self.query("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                          "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                          "AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'", dbname=name)
        return rows[0][0]

    def run(self, action, dbname):
        """Execute one planned action."""
        target = dbname if action["kind"] in ("create_extension", "grant_schema") else None
        if action["kind"] == "drop_database":
            # our own pooled connection to it must go first
            c = self._conns.pop(dbname, None)
            if c is not None:
                c.close()
        try:
            self.conn(target).execute(action["sql"])
        except PgError:
            raise
        except psycopg.Error as exc:
            raise PgError(self._action_error(action, exc))
        self.executed.append(redact_sql(action))

    def _action_error(self, action, exc):
        msg = pg_message(exc)
        if isinstance(exc, (pg_errors.InsufficientPrivilege,)) or "permission denied" in msg.lower() \
                or "must be owner" in msg.lower() or "must be superuser" in msg.lower():
            return endpoint_error(
                self.endpoint, "login user %r may not %s" % (self.user, action["summary"]), msg,
                "run this task with a login user that has %s, or make that change by hand"
                % (action.get("needs") or "the needed privilege"))
        if isinstance(exc, pg_errors.ObjectInUse):
            return endpoint_error(self.endpoint, "cannot %s" % action["summary"], msg,
                                  "disconnect its sessions first or set force=true")
        return endpoint_error(self.endpoint, "cannot %s" % action["summary"], msg)
