# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Lifecycle rules: the module's rule options, normalization, conversion
from/to the S3 API and the check that a server stored what was sent. Pure."""


import json

from ansible_collections.mlops.stack.plugins.module_utils.s3.client import S3Error


LIFECYCLE_RULE_SPEC = dict(
    id=dict(type="str", required=True),
    prefix=dict(type="str", default=""),
    enabled=dict(type="bool", default=True),
    expiration_days=dict(type="int"),
    noncurrent_version_expiration_days=dict(type="int"),
    abort_incomplete_multipart_upload_days=dict(type="int"),
)
RULE_KEYS = ("id", "prefix", "enabled", "expiration_days", "noncurrent_version_expiration_days",
             "abort_incomplete_multipart_upload_days")


def normalize_rule(rule):
    """A user rule (module option) in canonical form, validated."""
    out = dict((k, rule.get(k)) for k in RULE_KEYS)
    out["prefix"] = out["prefix"] or ""
    out["enabled"] = True if out["enabled"] is None else bool(out["enabled"])
    if not out["id"]:
        raise S3Error("every lifecycle rule needs an id")
    actions = [k for k in RULE_KEYS[3:] if out[k] is not None]
    if not actions:
        raise S3Error("lifecycle rule %r sets no action: give expiration_days, "
                      "noncurrent_version_expiration_days or abort_incomplete_multipart_upload_days"
                      % out["id"])
    for key in actions:
        if out[key] < 1:
            raise S3Error("lifecycle rule %r: %s must be >= 1 (got %s)" % (out["id"], key, out[key]))
    return out


def normalize_rules(rules):
    norm = [normalize_rule(r) for r in rules or []]
    ids = [r["id"] for r in norm]
    dups = sorted(set(i for i in ids if ids.count(i) > 1))
    if dups:
        raise S3Error("lifecycle rule ids must be unique; duplicated: %s" % ", ".join(dups))
    return sorted(norm, key=lambda r: r["id"])


def rule_from_api(api_rule):
    """An API lifecycle rule in the module's form.

    Parts the module does not model (transitions, tag filters, ...) are
    listed under ``unmanaged`` so such a rule never compares equal to a
    user rule and gets replaced.
    """
    api_rule = dict(api_rule)
    out = {"id": api_rule.pop("ID", ""), "prefix": "", "enabled": api_rule.pop("Status", "") == "Enabled",
           "expiration_days": None, "noncurrent_version_expiration_days": None,
           "abort_incomplete_multipart_upload_days": None}
    unmanaged = []
    if "Prefix" in api_rule:
        out["prefix"] = api_rule.pop("Prefix") or ""
    filt = api_rule.pop("Filter", None)
    if filt:
        filt = dict(filt)
        if "Prefix" in filt:
            out["prefix"] = filt.pop("Prefix") or ""
        if filt:
            unmanaged.append("Filter." + ",".join(sorted(filt)))
    exp = api_rule.pop("Expiration", None)
    if exp:
        exp = dict(exp)
        if "Days" in exp:
            out["expiration_days"] = exp.pop("Days")
        if exp.get("ExpiredObjectDeleteMarker") is False:
            exp.pop("ExpiredObjectDeleteMarker")
        if exp:
            unmanaged.append("Expiration." + ",".join(sorted(exp)))
    nce = api_rule.pop("NoncurrentVersionExpiration", None)
    if nce:
        nce = dict(nce)
        if "NoncurrentDays" in nce:
            out["noncurrent_version_expiration_days"] = nce.pop("NoncurrentDays")
        if nce:
            unmanaged.append("NoncurrentVersionExpiration." + ",".join(sorted(nce)))
    abort = api_rule.pop("AbortIncompleteMultipartUpload", None)
    if abort and "DaysAfterInitiation" in abort:
        out["abort_incomplete_multipart_upload_days"] = abort["DaysAfterInitiation"]
    unmanaged.extend(k for k in sorted(api_rule) if api_rule[k] not in (None, [], {}))
    if unmanaged:
        out["unmanaged"] = unmanaged
    return out


def rule_to_api(rule):
    api = {"ID": rule["id"], "Filter": {"Prefix": rule["prefix"] or ""},
           "Status": "Enabled" if rule["enabled"] else "Disabled"}
    if rule.get("expiration_days") is not None:
        api["Expiration"] = {"Days": rule["expiration_days"]}
    if rule.get("noncurrent_version_expiration_days") is not None:
        api["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule["noncurrent_version_expiration_days"]}
    if rule.get("abort_incomplete_multipart_upload_days") is not None:
        api["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": rule["abort_incomplete_multipart_upload_days"]}
    return api


def lifecycle_mismatch(wanted, stored):
    """Differences between the rules sent and the rules read back."""
    stored_by_id = dict((r["id"], r) for r in stored or [])
    problems = []
    for rule in wanted:
        got = stored_by_id.get(rule["id"])
        if got is None:
            problems.append("rule %r is missing" % rule["id"])
            continue
        for key in RULE_KEYS[1:]:
            if rule.get(key) != got.get(key):
                problems.append("rule %r: %s=%s was stored as %s" % (rule["id"], key, json.dumps(rule.get(key)),
                                                                     json.dumps(got.get(key))))
    return problems


def rules_from_api(api_rules):
    return sorted((rule_from_api(r) for r in api_rules or []), key=lambda r: r["id"])
