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


def s3_config(access_key, secret_key, name="mlops", users=None):
    """The ``s3.json`` document: the admin identity, then one identity per entry of *users*.

    *users*: dicts with ``name``, ``access_key`` (default: ``name``), ``secret_key``,
    ``buckets_rw`` and ``buckets_ro``. Raises :class:`S3Error` on a bad entry
    (messages never contain a secret).
    """
    if not access_key or not secret_key:
        raise S3Error("the admin access key and secret key are required")
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
