# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Planning: desired state from the module options, immutable settings, the
ordered SQL actions from current + desired (and their SQL with passwords
redacted), and the --diff views. Pure."""


import re

from ansible_collections.mlops.stack.plugins.module_utils.common import endpoint_error
from ansible_collections.mlops.stack.plugins.module_utils.postgres.errors import PgError

#: COMMENT ON ROLE of the roles this collection creates: only those have their
#: password changed with update_password=owned.
OWNED_ROLE_COMMENT = "created by mlops.stack"
from ansible_collections.mlops.stack.plugins.module_utils.postgres.names import (
    DATABASE_PRIVILEGES,
    ENCODING_RE,
    EXT_NAME_RE,
    LOCALE_RE,
    normalize_privileges,
    quote_ident,
    quote_literal,
    SCHEMA_PRIVILEGES,
    validate_name,
)
from ansible_collections.mlops.stack.plugins.module_utils.postgres.scram import scram_verifier


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
        validate_name(ext, "extension name", EXT_NAME_RE)
        if ext not in desired["extensions"]:
            desired["extensions"].append(ext)
    if desired["encoding"] is not None:
        if not ENCODING_RE.match(desired["encoding"]):
            raise PgError("invalid encoding %r (example: UTF8)." % desired["encoding"])
    for key in ("lc_collate", "lc_ctype"):
        if desired[key] is not None and not LOCALE_RE.match(desired[key]):
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
            # The mark that makes it ours (update_password: owned).
            add("comment_role", "COMMENT ON ROLE %s IS %s" % (qrole, quote_literal(OWNED_ROLE_COMMENT)),
                "mark role %s as created by mlops.stack" % role["name"], "CREATEROLE")
        else:
            if bool(cur_role["login"]) != role["login"]:
                add("alter_role", "ALTER ROLE %s %s" % (qrole, opts[0]),
                    "set %s on role %s" % (opts[0], role["name"]), "CREATEROLE")
            owned = cur_role.get("comment") == OWNED_ROLE_COMMENT
            if role["password"] is not None and role["update_password"] == "owned" and not owned \
                    and cur_role.get("password_matches") is False:
                # Someone else's role (a CloudNativePG app user, say): changing
                # its password would lock out its other clients.
                raise PgError("role %s exists and was not created by mlops.stack, and the password given for it is "
                              "not its password: refusing to change the password of a role this collection does "
                              "not own. Give the role's current password (for example from its CloudNativePG "
                              "Secret), or choose another role name." % role["name"])
            if role["password"] is not None and (role["update_password"] == "always" or
                                                 (role["update_password"] == "owned" and owned)) \
                    and cur_role.get("password_matches") is False:
                add("alter_role_password", "ALTER ROLE %s PASSWORD %s"
                    % (qrole, quote_literal(scram_verifier(role["password"]))),
                    "set password of role %s" % role["name"], "CREATEROLE", secret=True)
                actions[-1]["role"] = role["name"]

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


def missing_privileges(current, actions):
    """The planned actions the login user may not run, as readable strings.

    Decided from the login's attributes (superuser, CREATEDB, CREATEROLE) and
    its membership in the database owner's role, read before any change, so a
    check-mode run (the preflight) can refuse a plan before anything is written.
    Not judged: extensions (CREATE on the database may be granted to a
    non-owner) and privileges held through a grant option without ownership;
    those statements fail by themselves, naming the privilege.
    """
    if current.get("superuser"):
        return []
    db = current.get("database") or {}
    out = []
    for a in actions:
        kind = a["kind"]
        if kind == "create_database":
            lacking = not current.get("createdb")
        elif kind == "alter_role_password" and a.get("role") == current.get("session_user"):
            lacking = False  # a role may set its own password
        elif kind in ("create_role", "comment_role", "alter_role", "alter_role_password"):
            lacking = not current.get("createrole")
        elif kind in ("alter_owner", "alter_conn_limit", "grant_database", "grant_schema"):
            lacking = db.get("owned_by_login") is False
        else:
            lacking = False
        if lacking:
            out.append("%s (needs %s)" % (a["summary"], a.get("needs") or "a privilege the login lacks"))
    return out


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


def redact_sql(action):
    """The SQL of an action with password verifiers replaced."""
    if action.get("secret"):
        return re.sub(r"PASSWORD '[^']*'", "PASSWORD '********'", action["sql"])
    return action["sql"]
