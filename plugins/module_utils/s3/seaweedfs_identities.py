# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""SeaweedFS S3 identities (the ``-s3.config`` file, ``s3.json``) with
bucket-scoped actions, and the check that a user's keys work.

SeaweedFS grants an identity the actions it lists; ``Action:bucket`` limits
one to a bucket (weed/s3api/auth_credentials.go ``canDo``). Read-write is
``Read``, ``Write`` (put, delete, multipart) and ``List`` on the bucket;
read-only is ``Read`` and ``List``. The file is the source of truth: the
roles store it in a Secret and SeaweedFS reads it when it starts, so users are
added by rendering the file (:func:`s3_config`, used by the filter
``mlops.stack.seaweedfs_s3_config``) and ``mlops.stack.s3_user`` with
``backend=seaweedfs`` only verifies (:func:`verify_user`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mlops.stack.plugins.module_utils.common import endpoint_error
from ansible_collections.mlops.stack.plugins.module_utils.s3.client import (
    BotoCoreError, ClientError, S3Error, build_client, classify_error, error_code)
from ansible_collections.mlops.stack.plugins.module_utils.s3.users import bucket_access

ADMIN_ACTIONS = ["Admin", "Read", "List", "Tagging", "Write"]
RW_ACTIONS = ("Read", "Write", "List")
RO_ACTIONS = ("Read", "List")
UNKNOWN_KEY_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch")


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


def verify_user(params, endpoint_url):
    """``backend=seaweedfs``: prove with the user's own keys what the file should have granted.

    state=present: the user can list each of its buckets (no write is made).
    state=absent: the server rejects the user's access key.
    Returns the module result (never ``changed``); raises :class:`S3Error`.
    """
    access_key = params.get("user_access_key") or params["name"]
    rw, ro = bucket_access(params.get("buckets_rw"), params.get("buckets_ro"))
    if not params.get("user_secret_key"):
        raise S3Error("backend=seaweedfs verifies the user with its own keys: set user_secret_key")
    conn = dict(params, access_key=access_key, secret_key=params["user_secret_key"], session_token=None)
    try:
        client = build_client(conn, endpoint_url)
    except (BotoCoreError, ValueError) as exc:
        raise classify_error(endpoint_url, "cannot configure the S3 client", exc)
    fix = ("add the user to the SeaweedFS identity file (filter mlops.stack.seaweedfs_s3_config with users=[...]) "
           "and restart SeaweedFS so it reads the file")
    checked = []
    if params.get("state", "present") == "absent":
        try:
            client.list_buckets()
        except ClientError as exc:
            if error_code(exc) in UNKNOWN_KEY_CODES:
                return {"changed": False, "actions": [], "user": {"access_key": access_key, "exists": False},
                        "verified": ["access key %s is rejected" % access_key]}
            raise classify_error(endpoint_url, "cannot check user %s" % access_key, exc)
        except BotoCoreError as exc:
            raise classify_error(endpoint_url, "cannot check user %s" % access_key, exc)
        raise S3Error(endpoint_error(endpoint_url, "user %s still exists" % access_key,
                                     "the server accepts its access key",
                                     "remove the user from the SeaweedFS identity file and restart SeaweedFS"))
    for bucket in rw + ro:
        try:
            client.list_objects_v2(Bucket=bucket, MaxKeys=1)
        except ClientError as exc:
            code = error_code(exc)
            if code in UNKNOWN_KEY_CODES:
                raise S3Error(endpoint_error(endpoint_url, "user %s is not active" % access_key,
                                             "the server rejects its keys (%s)" % code, fix))
            if code in ("AccessDenied", "403"):
                raise S3Error(endpoint_error(endpoint_url, "user %s cannot list bucket %s" % (access_key, bucket),
                                             "AccessDenied", "grant the bucket in buckets_rw/buckets_ro of the "
                                             "identity file and restart SeaweedFS"))
            if code == "NoSuchBucket":
                raise S3Error(endpoint_error(endpoint_url, "bucket %s does not exist" % bucket, None,
                                             "create it first (mlops.stack.s3_bucket)"))
            raise classify_error(endpoint_url, "cannot check user %s on bucket %s" % (access_key, bucket), exc)
        except BotoCoreError as exc:
            raise classify_error(endpoint_url, "cannot check user %s" % access_key, exc)
        checked.append("user %s can list bucket %s" % (access_key, bucket))
    return {"changed": False, "actions": [],
            "user": {"access_key": access_key, "exists": True, "actions": user_actions(rw, ro)},
            "verified": checked}
