# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Errors of ``mlops.stack.postgresql_database``: :class:`PgError`, the endpoint
label used in messages, and psycopg errors turned into one actionable line."""


from ansible_collections.mlops.stack.plugins.module_utils.common import endpoint_error


class PgError(Exception):
    """An expected failure; the message says what is wrong and how to fix it."""


def server_endpoint(host, port):
    if host and host.startswith("/"):
        return "postgresql://[socket %s]:%s" % (host, port)
    return "postgresql://%s:%s" % (host, port)


def describe_connect_error(exc, host, port, user, dbname):
    """Turn a psycopg connection error into one actionable line."""
    text = " ".join(line.strip() for line in str(exc).strip().splitlines())
    if text.startswith("connection failed: "):
        text = text[len("connection failed: "):]
    low = text.lower()
    ep = server_endpoint(host, port)
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


def pg_message(exc):
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
