# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""The consumers of the object store (``object_store_consumers``, and
``seaweedfs_users`` of the same shape): who reads the store, through which
Secret, with access to which buckets. Pure: checked before any write, because
a bad entry would otherwise surface inside a task whose output is hidden (the
one that renders keys)."""


import re

from ansible_collections.mlops.stack.plugins.module_utils.s3.names import bucket_name_problems

# The name becomes part of Secret names (<server>-user-<name>) and a user name.
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
_SECRET = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
KEYS = ("buckets_rw", "buckets_ro", "secret")


def consumer_problems(consumers, buckets=None, secret_required=False, variable="object_store_consumers"):
    """Reasons *consumers* is invalid, each naming the entry (empty list: valid).

    *buckets*: the buckets that will exist; every consumer bucket must be one
    of them (None: not checked). *secret_required*: each entry names the
    Secret the consumer reads (object_store's contract).
    """
    if not isinstance(consumers, dict):
        return ["%s must be a mapping of name to settings, got %s" % (variable, type(consumers).__name__)]
    problems = []
    for name in sorted(consumers, key=str):
        where = "%s.%s" % (variable, name)
        settings = consumers[name]
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append("%s: the name must be 1-40 lower-case letters, digits or '-' (it names a user and "
                            "a Secret)" % where)
        if not isinstance(settings, dict):
            problems.append("%s: expected a mapping with buckets_rw/buckets_ro, got %s"
                            % (where, type(settings).__name__))
            continue
        unknown = sorted(set(settings) - set(KEYS), key=str)
        if unknown:
            problems.append("%s: unknown keys %s (known: %s)" % (where, ", ".join(map(str, unknown)), ", ".join(KEYS)))
        secret = settings.get("secret")
        if secret_required and not secret:
            problems.append("%s: secret (the Secret the consumer reads) is required" % where)
        elif secret and not (isinstance(secret, str) and _SECRET.match(secret)):
            problems.append("%s: secret %r is not a valid Secret name" % (where, secret))
        named = []
        for field in ("buckets_rw", "buckets_ro"):
            value = settings.get(field) or []
            if not isinstance(value, list):
                problems.append("%s.%s must be a list of bucket names" % (where, field))
                continue
            for bucket in value:
                bad = bucket_name_problems(bucket)
                if bad:
                    problems.append("%s.%s: %r is not a bucket name: %s" % (where, field, bucket, "; ".join(bad)))
                else:
                    named.append(bucket)
        if not named and not any(p.startswith(where + ".bucket") for p in problems):
            problems.append("%s: grants no bucket; set buckets_rw and/or buckets_ro" % where)
        if buckets is not None:
            missing = sorted(set(named) - set(buckets))
            if missing:
                problems.append("%s: bucket %s is not in object_store_buckets (the role creates only those)"
                                % (where, ", ".join(missing)))
    return problems
