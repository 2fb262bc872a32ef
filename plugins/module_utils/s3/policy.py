# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Bucket policies: parse and normalize, so equal policies compare equal
whatever the server's formatting (lists vs scalars, ordering). Pure."""


import json

from ansible_collections.mlops.stack.plugins.module_utils.s3.errors import S3Error


_LIST_KEYS = ("Action", "NotAction", "Resource", "NotResource")
_PRINCIPAL_KEYS = ("Principal", "NotPrincipal")


def parse_policy(policy):
    """*policy* (dict, JSON string, None/''/{}) -> dict or None (no policy)."""
    if policy is None:
        return None
    if isinstance(policy, (bytes, bytearray)):
        policy = policy.decode("utf-8")
    if isinstance(policy, str):
        if not policy.strip():
            return None
        try:
            policy = json.loads(policy)
        except ValueError as exc:
            raise S3Error("policy is not valid JSON: %s" % exc)
    if not isinstance(policy, dict):
        raise S3Error("policy must be a JSON object (dict), got %s" % type(policy).__name__)
    if not policy:
        return None
    return policy


def _as_sorted_list(value):
    if isinstance(value, (list, tuple, set)):
        items = value
    else:
        items = [value]
    return sorted(set(_scalar(v) for v in items))


def _scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def _normalize_principal(value):
    if value == "*" or value == ["*"]:
        return {"AWS": ["*"]}
    if isinstance(value, dict):
        return dict((k, _as_sorted_list(v)) for k, v in value.items())
    return value


def _normalize_condition_body(body):
    if not isinstance(body, dict):
        return body
    return dict((key, _as_sorted_list(value)) for key, value in body.items())


def _normalize_statement(stmt):
    if not isinstance(stmt, dict):
        return stmt
    out = {}
    for key, value in stmt.items():
        if key in _LIST_KEYS:
            out[key] = _as_sorted_list(value)
        elif key in _PRINCIPAL_KEYS:
            out[key] = _normalize_principal(value)
        elif key == "Condition" and isinstance(value, dict):
            out[key] = dict((op, _normalize_condition_body(body)) for op, body in value.items())
        else:
            out[key] = value
    return out


def normalize_policy(policy):
    """Canonical form of a policy for semantic comparison (None: no policy).

    Statement order, the order inside Action/Resource/Principal/Condition
    value lists, a single string vs a one-element list, and ``"*"`` vs
    ``{"AWS": "*"}`` principals do not matter; key order never matters.
    """
    policy = parse_policy(policy)
    if policy is None:
        return None
    out = dict(policy)
    stmts = out.get("Statement")
    if stmts is not None:
        if isinstance(stmts, dict):
            stmts = [stmts]
        norm = [_normalize_statement(s) for s in stmts]
        out["Statement"] = sorted(norm, key=lambda s: json.dumps(s, sort_keys=True))
    return out


def policies_equal(a, b):
    return normalize_policy(a) == normalize_policy(b)
