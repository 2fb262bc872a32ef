# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""``mlops.stack.s3_bucket`` for one bucket: validate, read, plan, apply
(or delete, optionally emptying first), and the return/diff views."""


from ansible_collections.mlops.stack.plugins.module_utils.common import endpoint_error
from ansible_collections.mlops.stack.plugins.module_utils.s3.client import (
    BotoCoreError,
    build_client,
    classify_error,
    S3Error,
)
from ansible_collections.mlops.stack.plugins.module_utils.s3.manager import S3BucketManager
from ansible_collections.mlops.stack.plugins.module_utils.s3.names import validate_bucket_name
from ansible_collections.mlops.stack.plugins.module_utils.s3.plan import describe_action, FEATURES, plan_present


def public_state(state, exists=True):
    """The ``bucket`` return value."""
    state = dict(state or {})
    state["exists"] = exists
    return state


def _diff_view(state):
    """The part of a state shown in --diff (no volatile fields)."""
    if not state:
        return {}
    return dict((k, state.get(k)) for k in ("name", "versioning", "policy", "tags", "lifecycle_rules"))


def plan_on_new_server(params, endpoint_url):
    """What :func:`run_bucket` would do in check mode on a new server that holds no bucket.

    Used in check mode when the server is not running yet
    (``check_mode.server_pending``): the run would deploy it first.
    """
    name = params["name"]
    validate_bucket_name(name)
    bucket = {"name": name, "exists": False, "endpoint_url": endpoint_url or "AWS S3"}
    if params.get("state", "present") == "absent":
        return {"changed": False, "actions": [], "before": {}, "after": {}, "bucket": bucket}
    after, actions = plan_present(None, params)
    after["empty"] = True
    bucket.update(after, exists=True)
    return {"changed": True, "actions": [describe_action(name, a, v) for a, v in actions],
            "before": {}, "after": _diff_view(after), "bucket": bucket}


def run_bucket(params, endpoint_url, check_mode=False, client=None):
    """Do what the s3_bucket module asks; return the module result.

    Returns a dict with ``changed``, ``bucket``, ``actions`` and the diff
    views ``before``/``after``. Raises :class:`S3Error` on expected failures.
    """
    name = params["name"]
    validate_bucket_name(name)
    if client is None:
        try:
            client = build_client(params, endpoint_url)
        except (BotoCoreError, ValueError) as exc:
            raise classify_error(endpoint_url, "cannot configure the S3 client", exc)
    region = params.get("region") or getattr(getattr(client, "meta", None), "region_name", None)
    mgr = S3BucketManager(client, name, endpoint=endpoint_url, region=region, check_mode=check_mode)
    wanted = tuple(f for f in FEATURES if params.get(f) is not None)
    endpoint_label = endpoint_url or "AWS S3"
    exists = mgr.exists()

    if params.get("state", "present") == "absent":
        if not exists:
            return {"changed": False, "actions": [], "before": {}, "after": {},
                    "bucket": {"name": name, "exists": False, "endpoint_url": endpoint_label}}
        current = mgr.read()
        actions = []
        if not current["empty"]:
            if not params.get("force"):
                raise S3Error(endpoint_error(
                    endpoint_url, "refusing to delete bucket %s" % name, "it is not empty; nothing was deleted",
                    "set force=true to delete the bucket with all its objects and versions"))
            actions.append(("empty", None))
        actions.append(("delete", None))
        for action, value in actions:
            mgr.apply(action, value)
        return {"changed": True, "actions": [describe_action(name, a, v) for a, v in actions],
                "before": _diff_view(current), "after": {},
                "bucket": {"name": name, "exists": False, "endpoint_url": endpoint_label}}

    current = mgr.read(wanted) if exists else None
    # Features the server did not report (None) and the user manages can
    # not be planned; read() already failed for those, so None here means
    # "unmanaged and unknown".
    after, actions = plan_present(current, params)
    for action, value in actions:
        mgr.apply(action, value)
    if current is None:
        after["empty"] = True
    bucket = dict(after)
    bucket["exists"] = True
    bucket["endpoint_url"] = endpoint_label
    return {"changed": bool(actions), "actions": [describe_action(name, a, v) for a, v in actions],
            "before": _diff_view(current), "after": _diff_view(after), "bucket": bucket}
