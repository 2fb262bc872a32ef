# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Planning for state=present: current state + options -> resulting state and
the ordered actions (create, versioning, policy, tags, lifecycle), with
human-readable descriptions. Pure."""


import copy
import json

from ansible_collections.mlops.stack.plugins.module_utils.s3.lifecycle import normalize_rules
from ansible_collections.mlops.stack.plugins.module_utils.s3.policy import parse_policy, policies_equal


FEATURES = ("versioning", "policy", "tags", "lifecycle_rules")
FEATURE_LABELS = {
    "versioning": "bucket versioning",
    "policy": "bucket policies",
    "tags": "bucket tagging",
    "lifecycle_rules": "bucket lifecycle configuration",
}


def tags_from_api(tag_set):
    return dict((t["Key"], t["Value"]) for t in tag_set or [])


def tags_to_api(tags):
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def desired_tags(current, tags, purge):
    """Resulting tags: *tags* alone (purge) or merged over *current*."""
    tags = dict((str(k), "" if v is None else str(v)) for k, v in (tags or {}).items())
    if purge:
        return tags
    result = dict(current or {})
    result.update(tags)
    return result


def _versioning_target(current, wanted):
    """Status after applying versioning=*wanted* (bool) to *current*."""
    if wanted:
        return "Enabled"
    # A bucket that never had versioning cannot be 'Suspended' meaningfully.
    return "Disabled" if current in (None, "Disabled") else "Suspended"


def plan_present(current, params):
    """Compute the resulting bucket state and the actions for state=present.

    *current*: state dict from :meth:`S3BucketManager.read` or None when the
    bucket does not exist. *params*: module params (versioning, policy,
    tags, purge_tags, lifecycle_rules). Options left at None are not
    managed. Returns ``(after, actions)``; ``actions`` is a list of
    ``(feature, value)`` in the order they must be applied.
    """
    actions = []
    if current is None:
        before = {"name": params["name"], "versioning": "Disabled", "policy": None, "tags": {},
                  "lifecycle_rules": []}
        actions.append(("create", None))
    else:
        before = current
    after = copy.deepcopy(before)

    if params.get("versioning") is not None:
        target = _versioning_target(before.get("versioning"), params["versioning"])
        if target != (before.get("versioning") or "Disabled"):
            after["versioning"] = target
            actions.append(("versioning", target))

    if params.get("policy") is not None:
        wanted = parse_policy(params["policy"])
        if not policies_equal(before.get("policy"), wanted):
            after["policy"] = wanted
            actions.append(("policy", wanted))

    if params.get("tags") is not None:
        wanted = desired_tags(before.get("tags") or {}, params["tags"], params.get("purge_tags", True))
        if wanted != (before.get("tags") or {}):
            after["tags"] = wanted
            actions.append(("tags", wanted))

    if params.get("lifecycle_rules") is not None:
        wanted = normalize_rules(params["lifecycle_rules"])
        if wanted != (before.get("lifecycle_rules") or []):
            after["lifecycle_rules"] = wanted
            actions.append(("lifecycle_rules", wanted))
    return after, actions


def describe_action(name, action, value):
    if action == "create":
        return "create bucket %s" % name
    if action == "delete":
        return "delete bucket %s" % name
    if action == "empty":
        return "delete all objects and versions in bucket %s (force)" % name
    if action == "versioning":
        return "set versioning of %s to %s" % (name, value)
    if action == "policy":
        return "%s policy of %s" % ("delete" if value is None else "put", name)
    if action == "tags":
        return ("delete tags of %s" % name) if not value else ("set tags of %s to %s" % (name, json.dumps(value, sort_keys=True)))
    if action == "lifecycle_rules":
        return ("delete lifecycle configuration of %s" % name) if not value else (
            "set lifecycle rules of %s: %s" % (name, ", ".join(r["id"] for r in value)))
    return "%s %s" % (action, name)
