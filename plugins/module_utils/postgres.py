# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Logic of mlops.stack.postgresql_database (psycopg 3).

Pure parts (identifier checks and quoting, SCRAM verifiers, planning the
changes from the current and the desired state, diffs) are unit-tested
without a server; :class:`PgClient` is the only part that talks to one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac
import os
import re
import traceback
import unicodedata

from ansible_collections.mlops.stack.plugins.module_utils.common import endpoint_error

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

DATABASE_PRIVILEGES = ("CONNECT", "CREATE", "TEMPORARY")
SCHEMA_PRIVILEGES = ("USAGE", "CREATE")
NAME_MAX_BYTES = 63
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]*$")
_EXT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_ENCODING_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_LOCALE_RE = re.compile(r"^[A-Za-z0-9_.@-]+$")


class PgError(Exception):
    """An expected failure; the message says what is wrong and how to fix it."""


# ---------------------------------------------------------------------------
# Identifiers and SQL text
# ---------------------------------------------------------------------------

def validate_name(name, what="database name", pattern=_NAME_RE):
    """Reject names that are not plain identifiers (letters, digits, _ $ -).

    PostgreSQL accepts almost anything in a quoted identifier, but names
    with spaces, quotes or semicolons are nearly always a templating
    mistake or an injection attempt, so the module refuses them before
    connecting.
    """
    if not isinstance(name, str) or not name:
        raise PgError("invalid %s %r: it must not be empty." % (what, name))
    if len(name.encode("utf-8")) > NAME_MAX_BYTES:
        raise PgError("invalid %s %r: longer than %d bytes (PostgreSQL would truncate it)."
                      % (what, name, NAME_MAX_BYTES))
    if not pattern.match(name):
        raise PgError("invalid %s %r: use letters, digits, '_', '$' and '-' only, starting with a "
                      "letter or '_'." % (what, name))
    return name


def quote_ident(name):
    """SQL identifier, always double-quoted (so case and '-' are kept)."""
    if "\x00" in name:
        raise PgError("identifier %r contains a NUL byte" % name)
    return '"%s"' % name.replace('"', '""')


def quote_literal(value):
    """SQL string literal (standard_conforming_strings on, the default since 9.1)."""
    if "\x00" in value:
        raise PgError("string literal contains a NUL byte")
    return "'%s'" % value.replace("'", "''")


def normalize_privileges(privs, allowed, what):
    """Upper-cased, de-duplicated, sorted privileges; ALL expands to *allowed*."""
    out = set()
    for p in privs or []:
        p = str(p).strip().upper()
        if p in ("ALL", "ALL PRIVILEGES"):
            out.update(allowed)
        elif p == "TEMP":
            out.add("TEMPORARY")
        elif p in allowed:
            out.add(p)
        else:
            raise PgError("invalid %s privilege %r: choose from ALL, %s."
                          % (what, p, ", ".join(allowed)))
    return sorted(out)


# ---------------------------------------------------------------------------
# Passwords: SCRAM-SHA-256 and md5 verifiers as stored in pg_authid
# ---------------------------------------------------------------------------

def _saslprep(password):
    """Approximation of SASLprep as PostgreSQL applies it (NFKC for non-ASCII)."""
    try:
        password.encode("ascii")
        return password.encode("utf-8")
    except UnicodeEncodeError:
        return unicodedata.normalize("NFKC", password).encode("utf-8")


def _scram_keys(password, salt, iterations):
    salted = hashlib.pbkdf2_hmac("sha256", _saslprep(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def scram_verifier(password, salt=None, iterations=4096):
    """A SCRAM-SHA-256 verifier PostgreSQL accepts in ``ALTER ROLE .. PASSWORD``.

    Sending the verifier instead of the password keeps the clear text out
    of the server's logs and of pg_stat_statements.
    """
    salt = salt if salt is not None else os.urandom(16)
    stored_key, server_key = _scram_keys(password, salt, iterations)
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (
        iterations, base64.b64encode(salt).decode("ascii"),
        base64.b64encode(stored_key).decode("ascii"), base64.b64encode(server_key).decode("ascii"))


def verify_password(password, verifier, username=None):
    """True/False when *verifier* (pg_authid.rolpassword) matches *password*.

    None when the verifier cannot be checked (unknown format).
    """
    if verifier is None:
        return False
    if verifier.startswith("SCRAM-SHA-256$"):
        try:
            head, keys = verifier[len("SCRAM-SHA-256$"):].split("$", 1)
            iterations, salt = head.split(":", 1)
            stored_b64, server_b64 = keys.split(":", 1)
            salt = base64.b64decode(salt)
            stored_key, server_key = _scram_keys(password, salt, int(iterations))
        except (ValueError, TypeError):
            return None
        return (hmac.compare_digest(base64.b64encode(stored_key).decode("ascii"), stored_b64)
                and hmac.compare_digest(base64.b64encode(server_key).decode("ascii"), server_b64))
    if verifier.startswith("md5") and len(verifier) == 35 and username is not None:
        digest = "md5" + hashlib.md5((password + username).encode("utf-8")).hexdigest()  # nosec
        return hmac.compare_digest(digest, verifier)
    return None


# ---------------------------------------------------------------------------
# Desired state and planning (pure)
# ---------------------------------------------------------------------------

def desired_from_params(params):
    """Validate module params and return the normalized desired state dict."""
    name = validate_name(params["name"], "database name")
    role = params.get("role")
    desired = dict(
        name=name,
        state=params.get("state") or "present",
        owner=params.get("owner"),
        encoding=params.get("encoding"),
        lc_collate=params.get("lc_collate"),
        lc_ctype=params.get("lc_ctype"),
        template=params.get("template") or "template0",
        conn_limit=params.get("conn_limit"),
        extensions=[],
        role=None,
        force=bool(params.get("force")),
    )
    for ext in params.get("extensions") or []:
        validate_name(ext, "extension name", _EXT_NAME_RE)
        if ext not in desired["extensions"]:
            desired["extensions"].append(ext)
    if desired["encoding"] is not None:
        if not _ENCODING_RE.match(desired["encoding"]):
            raise PgError("invalid encoding %r (example: UTF8)." % desired["encoding"])
    for key in ("lc_collate", "lc_ctype"):
        if desired[key] is not None and not _LOCALE_RE.match(desired[key]):
            raise PgError("invalid %s %r (example: C.UTF-8 or en_US.UTF-8)." % (key, desired[key]))
    validate_name(desired["template"], "template database name")
    if desired["conn_limit"] is not None and desired["conn_limit"] < -1:
        raise PgError("invalid conn_limit %d: use -1 (no limit) or a number >= 0."
                      % desired["conn_limit"])
    if role:
        r = dict(
            name=validate_name(role["name"], "role name"),
            password=role.get("password"),
            login=True if role.get("login") is None else bool(role["login"]),
            update_password=role.get("update_password") or "always",
            database_privileges=normalize_privileges(
                ["ALL"] if role.get("database_privileges") is None else role["database_privileges"],
                DATABASE_PRIVILEGES, "database"),
            schema=validate_name(role.get("schema") or "public", "schema name"),
            schema_privileges=normalize_privileges(
                ["USAGE", "CREATE"] if role.get("schema_privileges") is None
                else role["schema_privileges"], SCHEMA_PRIVILEGES, "schema"),
        )
        desired["role"] = r
        if desired["owner"] is None:
            desired["owner"] = r["name"]
    if desired["owner"] is not None:
        validate_name(desired["owner"], "owner role name")
    return desired


def _encoding_equal(a, b):
    def norm(s):
        return re.sub(r"[-_]", "", s or "").upper()
    return norm(a) == norm(b)


def _locale_equal(a, b):
    def norm(s):
        s = (s or "").lower()
        return s.replace("utf-8", "utf8")
    return norm(a) == norm(b)


def check_immutable(current, desired, endpoint):
    """Fail for changes PostgreSQL cannot make to an existing database."""
    if current is None:
        return
    problems = []
    if desired["encoding"] is not None and not _encoding_equal(current["encoding"], desired["encoding"]):
        problems.append("encoding %s -> %s" % (current["encoding"], desired["encoding"]))
    for key in ("lc_collate", "lc_ctype"):
        if desired[key] is not None and not _locale_equal(current[key], desired[key]):
            problems.append("%s %s -> %s" % (key, current[key], desired[key]))
    if problems:
        raise PgError(endpoint_error(
            endpoint, "database %r exists with different settings that PostgreSQL cannot change in "
            "place" % desired["name"], "; ".join(problems),
            "remove encoding/lc_collate/lc_ctype from the task to keep the current values, or "
            "dump the data, drop the database and let the module create it again (pg_dump | "
            "pg_restore)"))


def plan(current, desired):
    """List of actions (dicts: kind, sql, summary) that bring *current* to *desired*.

    *current* is the dict from :meth:`PgClient.read_state`. Privilege
    checks on objects that do not exist yet assume nothing is granted.
    """
    actions = []
    role = desired["role"]
    cur_role = current.get("role")
    db = current.get("database")
    qdb = quote_ident(desired["name"])

    def add(kind, sql, summary, needs=None, secret=False):
        actions.append(dict(kind=kind, sql=sql, summary=summary, needs=needs, secret=secret))

    if desired["state"] == "absent":
        if db is not None:
            sql = "DROP DATABASE %s" % qdb
            if desired["force"]:
                sql += " WITH (FORCE)"
            add("drop_database", sql, "drop database %s" % desired["name"], "ownership of the database")
        return actions

    # role
    if role:
        qrole = quote_ident(role["name"])
        opts = ["LOGIN" if role["login"] else "NOLOGIN"]
        if cur_role is None:
            sql = "CREATE ROLE %s %s" % (qrole, " ".join(opts))
            secret = False
            if role["password"] is not None:
                sql += " PASSWORD %s" % quote_literal(scram_verifier(role["password"]))
                secret = True
            add("create_role", sql, "create role %s" % role["name"], "CREATEROLE", secret)
        else:
            if bool(cur_role["login"]) != role["login"]:
                add("alter_role", "ALTER ROLE %s %s" % (qrole, opts[0]),
                    "set %s on role %s" % (opts[0], role["name"]), "CREATEROLE")
            if role["password"] is not None and role["update_password"] == "always" \
                    and cur_role.get("password_matches") is False:
                add("alter_role_password", "ALTER ROLE %s PASSWORD %s"
                    % (qrole, quote_literal(scram_verifier(role["password"]))),
                    "set password of role %s" % role["name"], "CREATEROLE", secret=True)

    # database
    if db is None:
        parts = ["CREATE DATABASE %s" % qdb]
        if desired["owner"]:
            parts.append("OWNER %s" % quote_ident(desired["owner"]))
        parts.append("TEMPLATE %s" % quote_ident(desired["template"]))
        if desired["encoding"]:
            parts.append("ENCODING %s" % quote_literal(desired["encoding"]))
        if desired["lc_collate"]:
            parts.append("LC_COLLATE %s" % quote_literal(desired["lc_collate"]))
        if desired["lc_ctype"]:
            parts.append("LC_CTYPE %s" % quote_literal(desired["lc_ctype"]))
        if desired["conn_limit"] is not None:
            parts.append("CONNECTION LIMIT %d" % desired["conn_limit"])
        add("create_database", " ".join(parts), "create database %s" % desired["name"], "CREATEDB")
    else:
        if desired["owner"] and db["owner"] != desired["owner"]:
            add("alter_owner", "ALTER DATABASE %s OWNER TO %s" % (qdb, quote_ident(desired["owner"])),
                "change owner of database %s from %s to %s" % (desired["name"], db["owner"], desired["owner"]),
                "ownership of the database and membership in the new owner role")
        if desired["conn_limit"] is not None and db["conn_limit"] != desired["conn_limit"]:
            add("alter_conn_limit", "ALTER DATABASE %s CONNECTION LIMIT %d" % (qdb, desired["conn_limit"]),
                "change connection limit of database %s from %s to %s"
                % (desired["name"], db["conn_limit"], desired["conn_limit"]),
                "ownership of the database")

    # grants: a role that owns a database it is created with has every
    # privilege on it and (through pg_database_owner on PostgreSQL >= 15,
    # PUBLIC before) on its public schema already.
    new_and_owned = bool(role) and db is None and desired["owner"] == role["name"]
    if role and not new_and_owned:
        qrole = quote_ident(role["name"])
        have = set((cur_role or {}).get("database_privileges") or []) if db is not None else set()
        missing = [p for p in role["database_privileges"] if p not in have]
        if missing:
            add("grant_database", "GRANT %s ON DATABASE %s TO %s" % (", ".join(missing), qdb, qrole),
                "grant %s on database %s to %s" % (", ".join(missing), desired["name"], role["name"]),
                "the grant option on the database (its owner has it)")

    # inside the database: extensions, schema privileges
    have_ext = (db or {}).get("extensions") or {}
    for ext in desired["extensions"]:
        if ext not in have_ext:
            add("create_extension", "CREATE EXTENSION IF NOT EXISTS %s" % quote_ident(ext),
                "create extension %s in database %s" % (ext, desired["name"]),
                "superuser, or CREATE on the database for a trusted extension")
    if role and role["schema_privileges"] and not (new_and_owned and role["schema"] == "public"):
        have = set((cur_role or {}).get("schema_privileges") or []) if db is not None else set()
        missing = [p for p in role["schema_privileges"] if p not in have]
        if missing:
            add("grant_schema", "GRANT %s ON SCHEMA %s TO %s"
                % (", ".join(missing), quote_ident(role["schema"]), quote_ident(role["name"])),
                "grant %s on schema %s to %s" % (", ".join(missing), role["schema"], role["name"]),
                "ownership of the schema")
    return actions


def state_view(current, desired):
    """The before (current) dict shown in --diff and returned as ``database``."""
    db = current.get("database")
    if db is None:
        return {}
    view = dict(name=db["name"], owner=db["owner"], encoding=db["encoding"],
                lc_collate=db["lc_collate"], lc_ctype=db["lc_ctype"], conn_limit=db["conn_limit"],
                extensions=sorted(db.get("extensions") or {}))
    role = desired.get("role")
    cur_role = current.get("role")
    if role:
        view["role"] = {} if cur_role is None else dict(
            name=cur_role["name"], login=bool(cur_role["login"]),
            database_privileges=sorted(cur_role.get("database_privileges") or []),
            schema_privileges=sorted(cur_role.get("schema_privileges") or []))
    return view


def predicted_view(current, desired, actions):
    """The after dict: what the database looks like once *actions* ran."""
    if desired["state"] == "absent":
        return {}
    before = state_view(current, desired)
    db = current.get("database")
    after = dict(before) if before else dict(
        name=desired["name"], owner=desired["owner"] or current.get("session_user"),
        encoding=desired["encoding"] or current.get("template_encoding") or "UTF8",
        lc_collate=desired["lc_collate"] or current.get("template_collate"),
        lc_ctype=desired["lc_ctype"] or current.get("template_ctype"),
        conn_limit=-1 if desired["conn_limit"] is None else desired["conn_limit"],
        extensions=["plpgsql"])
    if db is not None:
        if desired["owner"]:
            after["owner"] = desired["owner"]
        if desired["conn_limit"] is not None:
            after["conn_limit"] = desired["conn_limit"]
    after["extensions"] = sorted(set(after.get("extensions") or []) | set(desired["extensions"]))
    role = desired.get("role")
    if role:
        r = dict((before or {}).get("role") or {})
        r["name"] = role["name"]
        r["login"] = role["login"]
        r["database_privileges"] = sorted(set(r.get("database_privileges") or [])
                                          | set(role["database_privileges"]))
        r["schema_privileges"] = sorted(set(r.get("schema_privileges") or [])
                                        | set(role["schema_privileges"]))
        if any(a["kind"] == "alter_role_password" for a in actions):
            r["password"] = "(changed)"
        after["role"] = r
    return after


# ---------------------------------------------------------------------------
# Talking to the server
# ---------------------------------------------------------------------------

def _endpoint(host, port):
    if host and host.startswith("/"):
        return "postgresql://[socket %s]:%s" % (host, port)
    return "postgresql://%s:%s" % (host, port)


def describe_connect_error(exc, host, port, user, dbname):
    """Turn a psycopg connection error into one actionable line."""
    text = " ".join(line.strip() for line in str(exc).strip().splitlines())
    if text.startswith("connection failed: "):
        text = text[len("connection failed: "):]
    low = text.lower()
    ep = _endpoint(host, port)
    if "password authentication failed" in low or "no password supplied" in low \
            or "authentication failed" in low:
        return endpoint_error(ep, "authentication failed for user %r" % user, text,
                              "check login_user/login_password (and that pg_hba.conf allows this "
                              "user from this host)")
    if "does not exist" in low and "database" in low:
        return endpoint_error(ep, "cannot connect to database %r" % dbname, text,
                              "set login_db to a database that exists and user %r may connect to "
                              "(for example postgres, or the app database)" % user)
    if "role" in low and "does not exist" in low:
        return endpoint_error(ep, "login role %r does not exist" % user, None,
                              "check login_user")
    if "pg_hba.conf" in low or "no pg_hba" in low:
        return endpoint_error(ep, "the server rejects connections from this host for user %r" % user,
                              text, "add a matching pg_hba.conf entry or use ssl_mode=require")
    if "refused" in low or "timeout" in low or "timed out" in low or "could not translate" in low \
            or "no route" in low or "name or service not known" in low or "unreachable" in low:
        return endpoint_error(ep, "cannot connect to PostgreSQL", text,
                              "check login_host/login_port and that the server runs and is reachable "
                              "from the host running the module (inside a cluster use "
                              "kubernetes_service to port-forward to the Service)")
    if "ssl" in low or "certificate" in low:
        return endpoint_error(ep, "TLS connection failed", text,
                              "check ssl_mode and ca_cert")
    return endpoint_error(ep, "cannot connect to PostgreSQL as %r" % user, text if text else
                          type(exc).__name__, "check the login_* options")


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
        self.endpoint = _endpoint(host, self.port)
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
                                         _pg_message(exc)))

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
                                     extensions=None)
        if role:
            rows = self.query("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = %s",
                              (role["name"],))
            if rows:
                state["role"] = dict(name=rows[0][0], login=rows[0][1], password_matches=None)
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
        if not role or cur is None or role["password"] is None or role["update_password"] != "always":
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
        msg = _pg_message(exc)
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


def _pg_message(exc):
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary
    if not text:
        lines = str(exc).strip().splitlines()
        text = lines[0] if lines else type(exc).__name__
    hint = getattr(diag, "message_hint", None) if diag is not None else None
    if hint:
        text += " (hint: %s)" % hint
    return text


def redact_sql(action):
    """The SQL of an action with password verifiers replaced."""
    if action.get("secret"):
        return re.sub(r"PASSWORD '[^']*'", "PASSWORD '********'", action["sql"])
    return action["sql"]


# ---------------------------------------------------------------------------
# The module's run, independent of AnsibleModule for testability
# ---------------------------------------------------------------------------

def ensure_database(client, desired, check_mode=False):
    """Read, plan and (unless check_mode) apply. Returns the module result dict."""
    state = client.read_state(desired)
    endpoint = client.endpoint
    db = state["database"]
    if desired["state"] == "absent":
        actions = plan(state, desired)
        if actions and not desired["force"]:
            n = client.active_connections(desired["name"])
            if n:
                raise PgError(endpoint_error(
                    endpoint, "database %r has %d active connection(s); not dropping it"
                    % (desired["name"], n), None,
                    "stop the clients first, or set force=true to terminate them (PostgreSQL >= 13)"))
            tables = client.user_tables(desired["name"])
            if tables:
                raise PgError(endpoint_error(
                    endpoint, "database %r holds %d table(s); not dropping it and its data" % (desired["name"], tables),
                    None, "set force=true to drop it with its data (back it up first)"))
        before = state_view(state, desired)
        if not check_mode:
            for a in actions:
                client.run(a, desired["name"])
        return dict(changed=bool(actions), database={}, queries=[redact_sql(a) for a in actions],
                    actions=[a["summary"] for a in actions],
                    diff=dict(before=before, after={}, before_header="database %s" % desired["name"],
                              after_header="database %s" % desired["name"]))

    check_immutable(db, desired, endpoint)
    if db is not None and not db.get("allow_connections", True):
        raise PgError(endpoint_error(endpoint, "database %r does not allow connections "
                                     "(datallowconn=false)" % desired["name"], None,
                                     "ALTER DATABASE ... ALLOW_CONNECTIONS true"))
    missing = client.unavailable_extensions(desired["extensions"])
    if missing:
        raise PgError(endpoint_error(
            endpoint, "extension(s) %s not available on the server" % ", ".join(missing),
            "not listed in pg_available_extensions",
            "install the extension's package on the PostgreSQL server (for vector: pgvector, "
            "e.g. a CloudNativePG image that ships it) or remove it from extensions"))
    client.read_inside(state, desired)
    client.check_role_password(state, desired)
    actions = plan(state, desired)
    before = state_view(state, desired)
    after = predicted_view(state, desired, actions)
    if not check_mode:
        for a in actions:
            client.run(a, desired["name"])
    result = dict(changed=bool(actions), queries=[redact_sql(a) for a in actions],
                  actions=[a["summary"] for a in actions],
                  diff=dict(before=before, after=after, before_header="database %s" % desired["name"],
                            after_header="database %s" % desired["name"]))
    if actions and not check_mode:
        fresh = client.read_state(desired)
        client.read_inside(fresh, desired)
        result["database"] = state_view(fresh, desired)
    else:
        result["database"] = dict(after)
    result["database"].pop("role", None)
    if desired.get("role"):
        result["role"] = dict(name=desired["role"]["name"], login=desired["role"]["login"],
                              created=any(a["kind"] == "create_role" for a in actions),
                              password_changed=any(a["kind"] == "alter_role_password" for a in actions))
    return result
