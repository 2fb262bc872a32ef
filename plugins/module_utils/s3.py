# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""S3 bucket management for mlops.stack.s3_bucket (boto3, any S3 endpoint).

Pure parts (unit-tested): bucket name validation, policy / lifecycle / tag
normalization, planning (current state + options -> resulting state and
actions) and error classification. :class:`S3BucketManager` does the API
calls; it never writes in check mode.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re
import traceback

from ansible_collections.mlops.stack.plugins.module_utils.common import endpoint_error

BOTO3_IMPORT_ERROR = None
try:
    import boto3
    import botocore
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
    HAS_BOTO3 = True
except ImportError:
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = traceback.format_exc()

    class BotoCoreError(Exception):  # type: ignore
        pass

    class ClientError(Exception):  # type: ignore
        pass

DEFAULT_REGION = "us-east-1"
FEATURES = ("versioning", "policy", "tags", "lifecycle_rules")
FEATURE_LABELS = {
    "versioning": "bucket versioning",
    "policy": "bucket policies",
    "tags": "bucket tagging",
    "lifecycle_rules": "bucket lifecycle configuration",
}

# Parameters that configure the connection (shared with other S3 modules).
S3_CONNECTION_ARGUMENT_SPEC = dict(
    endpoint_url=dict(type="str", aliases=["aws_endpoint_url", "s3_url", "endpoint"]),
    region=dict(type="str", aliases=["aws_region"]),
    access_key=dict(type="str", aliases=["aws_access_key_id", "aws_access_key"], no_log=True),
    secret_key=dict(type="str", aliases=["aws_secret_access_key", "aws_secret_key"], no_log=True),
    session_token=dict(type="str", aliases=["aws_session_token"], no_log=True),
    validate_certs=dict(type="bool", default=True),
    ca_bundle=dict(type="path", aliases=["aws_ca_bundle"]),
    addressing_style=dict(type="str", choices=["auto", "path", "virtual"]),
    timeout=dict(type="int", default=30),
)


class S3Error(Exception):
    """Expected failure; the message names the endpoint and the fix."""


# --------------------------------------------------------------------------
# Bucket names
# --------------------------------------------------------------------------

_NAME_CHARS = re.compile(r"^[a-z0-9.-]+$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problems(name):
    """List of reasons *name* breaks the S3 bucket naming rules (empty: valid).

    The general-purpose bucket rules of AWS S3, which MinIO and SeaweedFS
    enforce too (MinIO additionally rejects '.-' and '-.').
    """
    problems = []
    if not isinstance(name, str) or not name:
        return ["the name is empty"]
    if not 3 <= len(name) <= 63:
        problems.append("it must be 3 to 63 characters long (it has %d)" % len(name))
    if not _NAME_CHARS.match(name):
        bad = sorted(set(c for c in name if not re.match(r"[a-z0-9.-]", c)))
        problems.append("it may contain only lowercase letters, digits, '.' and '-' (found %s)"
                        % ", ".join(repr(c) for c in bad))
    if not (name[0].isalnum() and name[-1].isalnum()) or not (name[0].isascii() and name[-1].isascii()):
        problems.append("it must begin and end with a lowercase letter or digit")
    if ".." in name:
        problems.append("it must not contain two adjacent periods")
    if ".-" in name or "-." in name:
        problems.append("a period must not be next to a hyphen")
    if _IPV4.match(name):
        problems.append("it must not be formatted as an IP address")
    for prefix in _RESERVED_PREFIXES:
        if name.startswith(prefix):
            problems.append("the prefix %r is reserved" % prefix)
    for suffix in _RESERVED_SUFFIXES:
        if name.endswith(suffix):
            problems.append("the suffix %r is reserved" % suffix)
    return problems


def validate_bucket_name(name):
    problems = bucket_name_problems(name)
    if problems:
        raise S3Error("Invalid bucket name %r: %s. See the S3 bucket naming rules "
                      "(https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html)."
                      % (name, "; ".join(problems)))


# --------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Tags
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Lifecycle
# --------------------------------------------------------------------------

LIFECYCLE_RULE_SPEC = dict(
    id=dict(type="str", required=True),
    prefix=dict(type="str", default=""),
    enabled=dict(type="bool", default=True),
    expiration_days=dict(type="int"),
    noncurrent_version_expiration_days=dict(type="int"),
    abort_incomplete_multipart_upload_days=dict(type="int"),
)
_RULE_KEYS = ("id", "prefix", "enabled", "expiration_days", "noncurrent_version_expiration_days",
              "abort_incomplete_multipart_upload_days")


def normalize_rule(rule):
    """A user rule (module option) in canonical form, validated."""
    out = dict((k, rule.get(k)) for k in _RULE_KEYS)
    out["prefix"] = out["prefix"] or ""
    out["enabled"] = True if out["enabled"] is None else bool(out["enabled"])
    if not out["id"]:
        raise S3Error("every lifecycle rule needs an id")
    actions = [k for k in _RULE_KEYS[3:] if out[k] is not None]
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
        for key in _RULE_KEYS[1:]:
            if rule.get(key) != got.get(key):
                problems.append("rule %r: %s=%s was stored as %s" % (rule["id"], key, json.dumps(rule.get(key)),
                                                                     json.dumps(got.get(key))))
    return problems


def rules_from_api(api_rules):
    return sorted((rule_from_api(r) for r in api_rules or []), key=lambda r: r["id"])


# --------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

NOT_IMPLEMENTED_CODES = ("NotImplemented", "NotImplementedError", "XNotImplemented", "UnsupportedOperation",
                         "MethodNotAllowed")
CREDENTIAL_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
                    "InvalidSecurity", "AuthorizationHeaderMalformed", "InvalidClientTokenId",
                    "XMinioInvalidAccessKeyID", "XMinioSignatureDoesNotMatch")


def error_code(exc):
    if isinstance(exc, ClientError):
        err = getattr(exc, "response", {}).get("Error", {}) or {}
        return str(err.get("Code") or "")
    return ""


def http_status(exc):
    if isinstance(exc, ClientError):
        return getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


def error_text(exc):
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {}) or {}
        code, msg = err.get("Code"), err.get("Message")
        status = http_status(exc)
        parts = [p for p in (code, msg) if p]
        text = ": ".join(parts) if parts else str(exc)
        return "%s (HTTP %s)" % (text, status) if status else text
    return str(exc)


def is_not_implemented(exc):
    return error_code(exc) in NOT_IMPLEMENTED_CODES or http_status(exc) == 501


def is_credential_error(exc):
    return error_code(exc) in CREDENTIAL_CODES


def classify_error(endpoint, what, exc):
    """An S3Error with a message for a botocore exception raised while doing *what*."""
    if not HAS_BOTO3:  # pragma: no cover
        return S3Error(endpoint_error(endpoint, what, exc))
    exc_mod = botocore.exceptions
    if isinstance(exc, exc_mod.SSLError):
        return S3Error(endpoint_error(endpoint, what, "TLS error: %s" % exc,
                                      "set ca_bundle to the CA that signed the server certificate, "
                                      "or validate_certs=false for a test server"))
    if isinstance(exc, (exc_mod.EndpointConnectionError, exc_mod.ConnectTimeoutError,
                        exc_mod.ConnectionClosedError, exc_mod.ReadTimeoutError,
                        exc_mod.ProxyConnectionError)):
        return S3Error(endpoint_error(endpoint, what, "cannot connect: %s" % exc,
                                      "check endpoint_url (scheme, host, port) and that the S3 server "
                                      "is running and reachable from the host running the module; "
                                      "for a server inside Kubernetes use kubernetes_service or an "
                                      "Ingress URL"))
    if isinstance(exc, (exc_mod.NoCredentialsError, exc_mod.PartialCredentialsError)):
        return S3Error(endpoint_error(endpoint, what, "no credentials",
                                      "set access_key and secret_key (or AWS_ACCESS_KEY_ID and "
                                      "AWS_SECRET_ACCESS_KEY)"))
    if is_credential_error(exc):
        return S3Error(endpoint_error(endpoint, what, "the server rejected the credentials: %s" % error_text(exc),
                                      "check access_key and secret_key (and region) for this endpoint"))
    code = error_code(exc)
    if code in ("AccessDenied", "403", "Forbidden"):
        return S3Error(endpoint_error(endpoint, what, "access denied: %s" % error_text(exc),
                                      "check access_key/secret_key and that this user's policy allows the "
                                      "operation on the bucket"))
    if isinstance(exc, ClientError):
        return S3Error(endpoint_error(endpoint, what, "server error: %s" % error_text(exc)))
    if isinstance(exc, ValueError) and "Invalid endpoint" in str(exc):
        return S3Error(endpoint_error(endpoint, what, str(exc),
                                      "endpoint_url must look like https://host:port"))
    return S3Error(endpoint_error(endpoint, what, "%s: %s" % (type(exc).__name__, exc)))


# --------------------------------------------------------------------------
# Client and manager
# --------------------------------------------------------------------------

def build_client(params, endpoint_url=None):
    """A boto3 S3 client for the module's connection params."""
    endpoint_url = endpoint_url if endpoint_url is not None else params.get("endpoint_url")
    style = params.get("addressing_style") or ("path" if endpoint_url else "auto")
    timeout = params.get("timeout") or 30
    cfg = Config(s3={"addressing_style": style}, connect_timeout=min(timeout, 10), read_timeout=timeout,
                 retries={"max_attempts": 2, "mode": "standard"},
                 signature_version="s3v4", user_agent_extra="mlops.stack.s3_bucket")
    verify = params.get("validate_certs", True)
    if verify and params.get("ca_bundle"):
        verify = params["ca_bundle"]
    session = boto3.session.Session(
        aws_access_key_id=params.get("access_key"), aws_secret_access_key=params.get("secret_key"),
        aws_session_token=params.get("session_token"),
        region_name=params.get("region") or None)
    return session.client("s3", endpoint_url=endpoint_url or None, verify=verify, config=cfg,
                          region_name=params.get("region") or session.region_name or DEFAULT_REGION)


class S3BucketManager(object):
    """Reads and changes one bucket. Nothing is written when check_mode."""

    def __init__(self, client, name, endpoint=None, region=None, check_mode=False):
        self.client = client
        self.name = name
        self.endpoint = endpoint or "AWS S3 (default endpoint)"
        self.region = region
        self.check_mode = check_mode

    # ---- helpers
    def _fail(self, what, exc):
        return classify_error(self.endpoint, what, exc)

    def _unsupported(self, feature, exc):
        return S3Error(endpoint_error(
            self.endpoint, "the server does not support %s (needed for option '%s' on bucket %s)"
            % (FEATURE_LABELS.get(feature, feature), feature, self.name), error_text(exc),
            "remove the '%s' option for this endpoint or use an S3 server that implements it"
            % feature))

    def _call(self, what, fn, **kw):
        try:
            return fn(**kw)
        except (BotoCoreError, ClientError, ValueError) as exc:
            raise self._fail(what, exc)

    # ---- reads
    def exists(self):
        try:
            self.client.head_bucket(Bucket=self.name)
            return True
        except ClientError as exc:
            status = http_status(exc)
            code = error_code(exc)
            if status == 404 or code in ("404", "NoSuchBucket", "NotFound"):
                return False
            if status in (400, 403) or code in ("403", "400"):
                # HEAD responses carry no error code: ask ListBuckets which
                # tells bad credentials apart from a bucket we may not access.
                self._probe_credentials()
                if status == 403:
                    raise S3Error(endpoint_error(
                        self.endpoint, "access to bucket %s is denied (HTTP 403)" % self.name, None,
                        "the bucket may belong to another account (bucket names are global on AWS), "
                        "or this user's policy does not allow s3:ListBucket on it"))
            raise self._fail("cannot check whether bucket %s exists" % self.name, exc)
        except (BotoCoreError, ValueError) as exc:
            raise self._fail("cannot check whether bucket %s exists" % self.name, exc)

    def _probe_credentials(self):
        try:
            self.client.list_buckets()
        except (BotoCoreError, ClientError) as exc:
            if is_credential_error(exc):
                raise self._fail("cannot authenticate", exc)

    def _read_feature(self, feature, fn, missing_codes, wanted):
        """(value_or_raw_response, supported). Raises only for *wanted* features."""
        try:
            return fn(Bucket=self.name), True
        except ClientError as exc:
            if error_code(exc) in missing_codes:
                return None, True
            if is_not_implemented(exc):
                if wanted:
                    raise self._unsupported(feature, exc)
                return None, False
            if wanted:
                raise self._fail("cannot read %s of bucket %s" % (FEATURE_LABELS[feature], self.name), exc)
            return None, False
        except BotoCoreError as exc:
            raise self._fail("cannot read %s of bucket %s" % (FEATURE_LABELS[feature], self.name), exc)

    def read(self, wanted=()):
        """Current state dict; features the server cannot report are None."""
        state = {"name": self.name}
        resp, ok = self._read_feature("versioning", self.client.get_bucket_versioning, (), "versioning" in wanted)
        state["versioning"] = (resp.get("Status") or "Disabled") if ok and resp is not None else None
        resp, ok = self._read_feature("policy", self.client.get_bucket_policy,
                                      ("NoSuchBucketPolicy", "NoSuchPolicy"), "policy" in wanted)
        if ok:
            try:
                state["policy"] = parse_policy(resp.get("Policy")) if resp else None
            except S3Error:
                state["policy"] = resp.get("Policy")
        else:
            state["policy"] = None
        resp, ok = self._read_feature("tags", self.client.get_bucket_tagging,
                                      ("NoSuchTagSet", "NoSuchTagSetError", "NoSuchTagging"), "tags" in wanted)
        state["tags"] = (tags_from_api(resp.get("TagSet")) if resp else {}) if ok else None
        resp, ok = self._read_feature("lifecycle_rules", self.client.get_bucket_lifecycle_configuration,
                                      ("NoSuchLifecycleConfiguration",), "lifecycle_rules" in wanted)
        state["lifecycle_rules"] = (rules_from_api(resp.get("Rules")) if resp else []) if ok else None
        state["empty"] = self.is_empty()
        return state

    def is_empty(self):
        what = "cannot list objects of bucket %s" % self.name
        resp = self._call(what, self.client.list_objects_v2, Bucket=self.name, MaxKeys=1)
        if resp.get("KeyCount") or resp.get("Contents"):
            return False
        try:
            resp = self.client.list_object_versions(Bucket=self.name, MaxKeys=1)
        except ClientError:
            return True  # servers without versioning support
        except BotoCoreError as exc:
            raise self._fail(what, exc)
        return not (resp.get("Versions") or resp.get("DeleteMarkers"))

    # ---- writes
    def apply(self, action, value):
        if self.check_mode:
            return
        name = self.name
        c = self.client
        try:
            if action == "create":
                kw = {"Bucket": name}
                if self.region and self.region != DEFAULT_REGION:
                    kw["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
                try:
                    c.create_bucket(**kw)
                except ClientError as exc:
                    code = error_code(exc)
                    if code == "BucketAlreadyOwnedByYou":
                        return
                    if code == "BucketAlreadyExists":
                        raise S3Error(endpoint_error(self.endpoint, "cannot create bucket %s" % name,
                                                     "the name is taken by another account",
                                                     "choose another bucket name"))
                    if code == "InvalidBucketName":
                        raise S3Error(endpoint_error(self.endpoint, "the server rejected the bucket name %r"
                                                     % name, error_text(exc), "choose another bucket name"))
                    if code in ("InvalidLocationConstraint", "IllegalLocationConstraintException"):
                        raise S3Error(endpoint_error(self.endpoint, "cannot create bucket %s in region %s"
                                                     % (name, self.region), error_text(exc),
                                                     "set region to the server's region"))
                    raise
            elif action == "versioning":
                c.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": value})
            elif action == "policy":
                if value is None:
                    c.delete_bucket_policy(Bucket=name)
                else:
                    try:
                        c.put_bucket_policy(Bucket=name, Policy=json.dumps(value))
                    except ClientError as exc:
                        if error_code(exc) in ("MalformedPolicy", "InvalidPolicyDocument", "InvalidArgument"):
                            raise S3Error(endpoint_error(self.endpoint, "the server rejected the policy for "
                                                         "bucket %s" % name, error_text(exc),
                                                         "fix the policy document (Resource ARNs must name "
                                                         "this bucket: arn:aws:s3:::%s/*)" % name))
                        raise
            elif action == "tags":
                if value:
                    c.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags_to_api(value)})
                else:
                    c.delete_bucket_tagging(Bucket=name)
            elif action == "lifecycle_rules":
                if value:
                    self._put_lifecycle(value)
                else:
                    c.delete_bucket_lifecycle(Bucket=name)
            elif action == "empty":
                self._empty()
            elif action == "delete":
                try:
                    c.delete_bucket(Bucket=name)
                except ClientError as exc:
                    if error_code(exc) == "BucketNotEmpty":
                        raise S3Error(endpoint_error(self.endpoint, "cannot delete bucket %s" % name,
                                                     "it is not empty", "set force=true to delete its "
                                                     "objects too"))
                    if error_code(exc) == "NoSuchBucket":
                        return
                    raise
            else:  # pragma: no cover
                raise ValueError("unknown action %s" % action)
        except ClientError as exc:
            if action in FEATURES and is_not_implemented(exc):
                raise self._unsupported(action, exc)
            raise self._fail("cannot %s" % describe_action(name, action, value), exc)
        except (BotoCoreError, ValueError) as exc:
            raise self._fail("cannot %s" % describe_action(name, action, value), exc)

    def _put_lifecycle(self, rules):
        try:
            self.client.put_bucket_lifecycle_configuration(
                Bucket=self.name, LifecycleConfiguration={"Rules": [rule_to_api(r) for r in rules]})
        except ClientError as exc:
            if error_code(exc) in ("InvalidArgument", "MalformedXML", "InvalidRequest"):
                used = sorted(set(k for r in rules for k in _RULE_KEYS[3:] if r.get(k) is not None))
                raise S3Error(endpoint_error(
                    self.endpoint, "the server rejected the lifecycle rules of bucket %s" % self.name,
                    error_text(exc), "the server may not support every rule action used (%s); for example "
                    "MinIO ignores abort_incomplete_multipart_upload_days and needs another action in "
                    "the same rule" % ", ".join(used)))
            raise
        # Some servers accept rule parts they do not implement and drop
        # them silently; that would make every later run report a change.
        try:
            stored = rules_from_api(self.client.get_bucket_lifecycle_configuration(
                Bucket=self.name).get("Rules"))
        except (ClientError, BotoCoreError):
            return
        problems = lifecycle_mismatch(rules, stored)
        if problems:
            raise S3Error(endpoint_error(
                self.endpoint, "the server did not store the lifecycle rules of bucket %s as given"
                % self.name, "; ".join(problems),
                "remove the rule settings this server does not support"))

    def _empty(self):
        c = self.client
        name = self.name
        # Every version and delete marker (covers unversioned objects too).
        batch = []
        try:
            pages = c.get_paginator("list_object_versions").paginate(Bucket=name)
            for page in pages:
                for item in (page.get("Versions") or []) + (page.get("DeleteMarkers") or []):
                    entry = {"Key": item["Key"]}
                    if item.get("VersionId") and item["VersionId"] != "null":
                        entry["VersionId"] = item["VersionId"]
                    batch.append(entry)
        except ClientError as exc:
            if not is_not_implemented(exc):
                raise
        if not batch:
            for page in c.get_paginator("list_objects_v2").paginate(Bucket=name):
                batch.extend({"Key": o["Key"]} for o in page.get("Contents") or [])
        for i in range(0, len(batch), 1000):
            resp = c.delete_objects(Bucket=name, Delete={"Objects": batch[i:i + 1000], "Quiet": True})
            errors = resp.get("Errors") or []
            if errors:
                raise S3Error(endpoint_error(self.endpoint, "cannot delete %d object(s) of bucket %s"
                                             % (len(errors), name), "%s: %s" % (errors[0].get("Key"),
                                                                                errors[0].get("Message")),
                                             "check object locks / permissions"))
        try:
            for page in c.get_paginator("list_multipart_uploads").paginate(Bucket=name):
                for up in page.get("Uploads") or []:
                    c.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
        except ClientError as exc:
            if not is_not_implemented(exc):
                raise


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
