# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""SeaweedFS S3 identities (the ``-s3.config`` file, ``s3.json``) with
bucket-scoped actions (pure: the filter plugin imports it, so no boto3 here).

SeaweedFS grants an identity the actions it lists; ``Action:bucket`` limits
one to a bucket (weed/s3api/auth_credentials.go ``canDo``). Read-write is
``Read``, ``Write`` (put, delete, multipart) and ``List`` on the bucket;
read-only is ``Read`` and ``List``. The file is the source of truth: the
roles store it in a Secret and SeaweedFS reads it when it starts, so users are
added by rendering the file (:func:`s3_config`, used by the filter
``mlops.stack.seaweedfs_s3_config``) and ``mlops.stack.s3_user`` with
``backend=seaweedfs`` only verifies (``seaweedfs_verify.verify_user``).
"""


from ansible_collections.mlops.stack.plugins.module_utils.s3.errors import S3Error
from ansible_collections.mlops.stack.plugins.module_utils.s3.users import bucket_access

ADMIN_ACTIONS = ["Admin", "Read", "List", "Tagging", "Write"]
RW_ACTIONS = ("Read", "Write", "List")
RO_ACTIONS = ("Read", "List")


def user_actions(buckets_rw, buckets_ro):
    """SeaweedFS actions for read-write on *buckets_rw* and read-only on *buckets_ro*."""
    rw, ro = bucket_access(buckets_rw, buckets_ro)
    actions = ["%s:%s" % (a, b) for b in rw for a in RW_ACTIONS]
    actions += ["%s:%s" % (a, b) for b in ro for a in RO_ACTIONS]
    return actions


def identity(name, access_key, secret_key, actions):
    return {"name": str(name), "credentials": [{"accessKey": str(access_key), "secretKey": str(secret_key)}],
            "actions": list(actions)}


def users_from_mapping(users, user_keys=None):
    """*users* in the mapping form of the roles (``seaweedfs_users``, the same
    shape as object_store's ``object_store_consumers``: name -> ``buckets_rw``,
    ``buckets_ro`` and the ``secret`` the consumer reads, which the file does
    not need) as the list :func:`s3_config` takes, the keys of each from
    *user_keys* (name -> ``access_key``, ``secret_key``)."""
    user_keys = user_keys or {}
    result = []
    for name in sorted(users):
        settings = users[name] or {}
        if not isinstance(settings, dict):
            raise S3Error("user %s: expected a dict with buckets_rw/buckets_ro, got %s"
                          % (name, type(settings).__name__))
        unknown = sorted(set(settings) - {"buckets_rw", "buckets_ro", "secret"})
        if unknown:
            raise S3Error("user %s: unknown keys %s (expected buckets_rw, buckets_ro)" % (name, ", ".join(unknown)))
        keys = user_keys.get(name) or {}
        if not keys.get("secret_key"):
            raise S3Error("user %s: no keys given for it" % name)
        result.append({"name": name, "access_key": keys.get("access_key") or name, "secret_key": keys["secret_key"],
                       "buckets_rw": settings.get("buckets_rw") or [], "buckets_ro": settings.get("buckets_ro") or []})
    return result


def identity_keys(doc, names):
    """The keys of the identities *names* in the ``s3.json`` document *doc*:
    name -> ``access_key``, ``secret_key``. Raises :class:`S3Error` naming the
    missing identities (never a key)."""
    found = {}
    for ident in (doc or {}).get("identities") or []:
        creds = (ident.get("credentials") or [{}])[0]
        if ident.get("name") in names and creds.get("accessKey") and creds.get("secretKey"):
            found[ident["name"]] = {"access_key": creds["accessKey"], "secret_key": creds["secretKey"]}
    missing = sorted(set(names) - set(found))
    if missing:
        raise S3Error("the SeaweedFS identity file has no user %s" % ", ".join(missing))
    return found


def s3_config(access_key, secret_key, name="mlops", users=None, user_keys=None):
    """The ``s3.json`` document: the admin identity, then one identity per entry of *users*.

    *users*: dicts with ``name``, ``access_key`` (default: ``name``), ``secret_key``,
    ``buckets_rw`` and ``buckets_ro``; or the mapping of :func:`users_from_mapping`
    with the keys in *user_keys*. Raises :class:`S3Error` on a bad entry
    (messages never contain a secret).
    """
    if not access_key or not secret_key:
        raise S3Error("the admin access key and secret key are required")
    if isinstance(users, dict):
        users = users_from_mapping(users, user_keys)
    identities = [identity(name, access_key, secret_key, ADMIN_ACTIONS)]
    names, keys = {str(name)}, {str(access_key)}
    for index, user in enumerate(users or []):
        where = "users[%d]" % index
        if not isinstance(user, dict) or not user.get("name"):
            raise S3Error("%s: each user needs a name" % where)
        unknown = sorted(set(user) - {"name", "access_key", "secret_key", "buckets_rw", "buckets_ro"})
        if unknown:
            raise S3Error("%s (%s): unknown keys %s" % (where, user["name"], ", ".join(unknown)))
        user_key = str(user.get("access_key") or user["name"])
        if not user.get("secret_key"):
            raise S3Error("%s (%s): secret_key is required" % (where, user["name"]))
        if str(user["name"]) in names:
            raise S3Error("%s: the identity name %s is used twice" % (where, user["name"]))
        if user_key in keys:
            raise S3Error("%s (%s): access key %s is used twice" % (where, user["name"], user_key))
        for field in ("buckets_rw", "buckets_ro"):
            if not isinstance(user.get(field) or [], list):
                raise S3Error("%s (%s): %s must be a list of bucket names" % (where, user["name"], field))
        if not (user.get("buckets_rw") or user.get("buckets_ro")):
            raise S3Error("%s (%s): set buckets_rw and/or buckets_ro" % (where, user["name"]))
        names.add(str(user["name"]))
        keys.add(user_key)
        identities.append(identity(user["name"], user_key, user["secret_key"],
                                   user_actions(user.get("buckets_rw"), user.get("buckets_ro"))))
    return {"identities": identities}
