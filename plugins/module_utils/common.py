# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Small helpers shared by the bootstrap modules (s3_bucket,
postgresql_database, mlflow_experiment): endpoint-naming error messages and
before/after diff helpers."""


import copy

try:
    from urllib.parse import urlsplit, urlunsplit
except ImportError:  # pragma: no cover
    from urlparse import urlsplit, urlunsplit  # type: ignore


def redact_url(url):
    """*url* without a password (``postgresql://u:***@host/db``), safe to print."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit((parts.scheme, "%s:***@%s" % (user, host), parts.path, parts.query, parts.fragment))


def endpoint_error(endpoint, what, detail, fix=None):
    """One-line failure message that names the endpoint and the fix.

    >>> endpoint_error("http://s3:9000", "cannot create bucket 'x'", "AccessDenied", "check the keys")
    "http://s3:9000: cannot create bucket 'x': AccessDenied. Fix: check the keys"
    """
    msg = "%s: %s" % (redact_url(endpoint) or "(default endpoint)", what)
    detail = str(detail).strip() if detail is not None else ""
    if detail:
        msg += ": " + detail
    msg = msg.rstrip(".") + "."
    if fix:
        msg += " Fix: " + fix
    return msg


def changed_keys(before, after):
    """Sorted keys whose values differ between two dicts (missing == None)."""
    before = before or {}
    after = after or {}
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def merge_desired(current, desired):
    """*current* updated with every key of *desired* that is not None.

    Options the user did not set (None) keep the current value, which is
    how modules stay idempotent for options they do not manage.
    """
    result = copy.deepcopy(current or {})
    for key, value in (desired or {}).items():
        if value is not None:
            result[key] = copy.deepcopy(value)
    return result


def make_diff(before, after, before_header=None, after_header=None):
    """The ``diff`` return value Ansible renders for ``--diff``."""
    diff = {"before": before if before is not None else {}, "after": after if after is not None else {}}
    if before_header:
        diff["before_header"] = before_header
    if after_header:
        diff["after_header"] = after_header
    return diff
