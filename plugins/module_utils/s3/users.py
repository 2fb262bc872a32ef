# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""S3 users with bucket-scoped access: what a user may do (the IAM policy
document of read-write and read-only buckets), the plan for MinIO (pure:
current state + options -> actions), and running it with :mod:`.minio_admin`.

A user's secret key cannot be read back from MinIO, so idempotence compares
what can be read (the user's existence and status, the attached policies and
the policy document) and sets the secret only when the user is created or
``update_secret=always`` asks.
"""


import copy
import re

from ansible_collections.mlops.stack.plugins.module_utils.s3.errors import S3Error
from ansible_collections.mlops.stack.plugins.module_utils.s3.names import validate_bucket_name
from ansible_collections.mlops.stack.plugins.module_utils.s3.policy import normalize_policy

# MLflow's artifact store (boto3): objects read/write/delete, listing, multipart.
RW_BUCKET_ACTIONS = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
RW_OBJECT_ACTIONS = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListMultipartUploadParts",
                     "s3:PutObject"]
# KServe's storage initializer: list the model prefix and download it.
RO_BUCKET_ACTIONS = ["s3:ListBucket"]
RO_OBJECT_ACTIONS = ["s3:GetObject"]

# MinIO: access key 3+ characters, secret key 8-40 (auth.IsAccessKeyValid / IsSecretKeyValid).
ACCESS_KEY_MIN = 3
SECRET_KEY_MIN, SECRET_KEY_MAX = 8, 40
_RESERVED = re.compile(r"[=,]")


def _arn(bucket, objects=False):
    return "arn:aws:s3:::%s%s" % (bucket, "/*" if objects else "")


def bucket_access(buckets_rw, buckets_ro):
    """``(rw, ro)``: sorted, de-duplicated, validated bucket names; read-write wins over read-only."""
    rw = sorted(set(buckets_rw or []))
    ro = sorted(set(buckets_ro or []) - set(rw))
    for name in rw + ro:
        validate_bucket_name(name)
    return rw, ro


def policy_document(buckets_rw, buckets_ro):
    """The IAM policy that gives read-write on *buckets_rw* and read-only on *buckets_ro*, nothing else."""
    rw, ro = bucket_access(buckets_rw, buckets_ro)
    statements = []
    if rw:
        statements.append({"Sid": "ReadWriteBuckets", "Effect": "Allow", "Action": list(RW_BUCKET_ACTIONS),
                           "Resource": [_arn(b) for b in rw]})
        statements.append({"Sid": "ReadWriteObjects", "Effect": "Allow", "Action": list(RW_OBJECT_ACTIONS),
                           "Resource": [_arn(b, True) for b in rw]})
    if ro:
        statements.append({"Sid": "ReadOnlyBuckets", "Effect": "Allow", "Action": list(RO_BUCKET_ACTIONS),
                           "Resource": [_arn(b) for b in ro]})
        statements.append({"Sid": "ReadOnlyObjects", "Effect": "Allow", "Action": list(RO_OBJECT_ACTIONS),
                           "Resource": [_arn(b, True) for b in ro]})
    return {"Version": "2012-10-17", "Statement": statements}


def same_policy(a, b):
    """Semantic equality of two policy documents; statement ids do not matter."""
    def norm(doc):
        doc = normalize_policy(doc)
        if doc is None:
            return None
        doc = dict(doc)
        doc["Statement"] = sorted((dict((k, v) for k, v in s.items() if k != "Sid") for s in doc.get("Statement") or []),
                                  key=repr)
        return doc
    return norm(a) == norm(b)


def validate_user(params):
    """Local checks before any request: names, keys, buckets. Raises :class:`S3Error`."""
    access_key = params.get("user_access_key") or params["name"]
    if len(access_key) < ACCESS_KEY_MIN:
        raise S3Error("user access key %r is too short: MinIO needs at least %d characters" % (access_key, ACCESS_KEY_MIN))
    if _RESERVED.search(access_key) or access_key != access_key.strip():
        raise S3Error("user access key %r may not contain '=', ',' or leading/trailing spaces" % access_key)
    if params.get("state", "present") != "present":
        return
    if not (params.get("buckets_rw") or params.get("buckets_ro")):
        raise S3Error("user %s: set buckets_rw and/or buckets_ro (a user without buckets needs no S3 user)"
                      % params["name"])
    bucket_access(params.get("buckets_rw"), params.get("buckets_ro"))
    secret = params.get("user_secret_key")
    if secret is not None and not SECRET_KEY_MIN <= len(secret) <= SECRET_KEY_MAX:
        # Never echo the secret; its length is harmless.
        raise S3Error("user %s: user_secret_key must be %d to %d characters long (it has %d)"
                      % (params["name"], SECRET_KEY_MIN, SECRET_KEY_MAX, len(secret)))


def policy_name_of(params):
    return params.get("policy_name") or "mlops-%s" % params["name"]


def _attached(info):
    if not info:
        return []
    return sorted(p for p in (info.get("policyName") or "").split(",") if p)


def view(access_key, info, policy_name, document):
    """The ``user`` return value and diff view (never a secret)."""
    if info is None:
        return {"access_key": access_key, "exists": False}
    return {"access_key": access_key, "exists": True, "status": info.get("status") or "enabled",
            "policies": _attached(info), "policy_name": policy_name, "policy": document}


def plan_minio(params, info, current_policy):
    """Actions for MinIO: *info* is the user (``user-info``) or None, *current_policy* the document or None.

    Returns ``(after_view, actions)``; actions are ``(verb, argument)`` in order.
    """
    access_key = params.get("user_access_key") or params["name"]
    policy_name = policy_name_of(params)
    actions = []
    if params.get("state", "present") == "absent":
        if info is not None:
            actions.append(("remove_user", access_key))
        if current_policy is not None:
            actions.append(("remove_policy", policy_name))
        return {"access_key": access_key, "exists": False}, actions

    wanted = policy_document(params.get("buckets_rw"), params.get("buckets_ro"))
    if current_policy is None or not same_policy(current_policy, wanted):
        actions.append(("put_policy", policy_name))
    if info is None:
        if not params.get("user_secret_key"):
            raise S3Error("user %s does not exist yet: set user_secret_key (its secret key) to create it"
                          % access_key)
        actions.append(("add_user", access_key))
    elif params.get("update_secret") == "always":
        if not params.get("user_secret_key"):
            raise S3Error("update_secret=always needs user_secret_key")
        actions.append(("set_secret", access_key))
    if info is not None and (info.get("status") or "enabled") != "enabled":
        actions.append(("enable", access_key))
    if _attached(info) != [policy_name]:
        actions.append(("attach", policy_name))
    after = {"access_key": access_key, "exists": True, "status": "enabled", "policies": [policy_name],
             "policy_name": policy_name, "policy": wanted}
    return after, actions


def describe(verb, arg, params):
    return {
        "put_policy": "write policy %s" % arg,
        "add_user": "create user %s" % arg,
        "set_secret": "set the secret key of user %s (update_secret=always)" % arg,
        "enable": "enable user %s" % arg,
        "attach": "attach policy %s (only) to user %s" % (arg, params.get("user_access_key") or params["name"]),
        "remove_user": "remove user %s" % arg,
        "remove_policy": "remove policy %s" % arg,
    }.get(verb, "%s %s" % (verb, arg))


def run_minio(admin, params, check_mode=False):
    """Read, plan and (unless *check_mode*) apply; the module result with diff views."""
    validate_user(params)
    access_key = params.get("user_access_key") or params["name"]
    policy_name = policy_name_of(params)
    info = admin.user_info(access_key)
    current_policy = admin.policy(policy_name)
    before = view(access_key, info, policy_name, current_policy)
    after, actions = plan_minio(params, info, current_policy)
    if not check_mode:
        for verb, arg in actions:
            _apply(admin, verb, arg, params, access_key)
    user = copy.deepcopy(after)
    return {"changed": bool(actions), "actions": [describe(v, a, params) for v, a in actions],
            "user": user, "before": before, "after": after}


def _apply(admin, verb, arg, params, access_key):
    if verb == "put_policy":
        admin.put_policy(arg, policy_document(params.get("buckets_rw"), params.get("buckets_ro")))
    elif verb in ("add_user", "set_secret"):
        admin.add_user(access_key, params["user_secret_key"])
    elif verb == "enable":
        admin.set_user_status(access_key, "enabled")
    elif verb == "attach":
        admin.set_user_policies(access_key, [arg], current=_attached(admin.user_info(access_key)))
    elif verb == "remove_user":
        admin.remove_user(access_key)
    elif verb == "remove_policy":
        admin.remove_policy(arg)
