# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Identifiers and privileges: name checks, SQL quoting, privilege lists. Pure."""


import re

from ansible_collections.mlops.stack.plugins.module_utils.postgres.errors import PgError


DATABASE_PRIVILEGES = ("CONNECT", "CREATE", "TEMPORARY")
SCHEMA_PRIVILEGES = ("USAGE", "CREATE")
NAME_MAX_BYTES = 63
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]*$")
EXT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
ENCODING_RE = re.compile(r"^[A-Za-z0-9_-]+$")
LOCALE_RE = re.compile(r"^[A-Za-z0-9_.@-]+$")


def validate_name(name, what="database name", pattern=NAME_RE):
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
