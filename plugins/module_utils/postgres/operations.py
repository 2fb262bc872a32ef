# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""``mlops.stack.postgresql_database``'s run, independent of AnsibleModule:
read, plan and (unless check mode) apply, and the module result."""


from ansible_collections.mlops.stack.plugins.module_utils.common import endpoint_error
from ansible_collections.mlops.stack.plugins.module_utils.postgres.errors import PgError
from ansible_collections.mlops.stack.plugins.module_utils.postgres.plan import (
    check_immutable,
    missing_privileges,
    plan,
    predicted_view,
    redact_sql,
    state_view,
)


def plan_on_new_server(desired, login_user):
    """What :func:`ensure_database` would do in check mode on a new, empty server.

    Used in check mode when the server is not running yet
    (``check_mode.server_pending``): the run would deploy it first, with
    *login_user* as its superuser, so neither the database nor the role exist.
    """
    state = dict(session_user=login_user, superuser=True, createdb=True, createrole=True,
                 template_encoding=None, template_collate=None, template_ctype=None,
                 server_version=None, database=None, role=None)
    actions = plan(state, desired)
    after = predicted_view(state, desired, actions)
    header = "database %s" % desired["name"]
    result = dict(changed=bool(actions), queries=[redact_sql(a) for a in actions],
                  actions=[a["summary"] for a in actions], database=dict(after), missing_privileges=[],
                  diff=dict(before={}, after=after, before_header=header, after_header=header))
    result["database"].pop("role", None)
    if desired["state"] != "absent" and desired.get("role"):
        result["role"] = dict(name=desired["role"]["name"], login=desired["role"]["login"],
                              created=True, password_changed=False)
    return result


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
                  missing_privileges=missing_privileges(state, actions),
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
