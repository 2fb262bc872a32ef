# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""``mlops.stack.s3_user`` with ``backend=seaweedfs``: the check, with a
user's own keys, that the identity file (seaweedfs_identities.py) granted what
it should."""


from ansible_collections.mlops.stack.plugins.module_utils.common import endpoint_error
from ansible_collections.mlops.stack.plugins.module_utils.s3.client import (
    BotoCoreError, ClientError, S3Error, build_client, classify_error, error_code)
from ansible_collections.mlops.stack.plugins.module_utils.s3.seaweedfs_identities import user_actions
from ansible_collections.mlops.stack.plugins.module_utils.s3.users import bucket_access

UNKNOWN_KEY_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch")


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
