# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
""":class:`S3BucketManager`: reads and changes one bucket through a boto3
client (features a server does not implement are reported, not fatal).
Nothing is written in check mode."""


import json

from ansible_collections.mlops.stack.plugins.module_utils.common import endpoint_error
from ansible_collections.mlops.stack.plugins.module_utils.s3.client import (
    BotoCoreError,
    classify_error,
    ClientError,
    DEFAULT_REGION,
    error_code,
    error_text,
    http_status,
    is_credential_error,
    is_not_implemented,
    S3Error,
)
from ansible_collections.mlops.stack.plugins.module_utils.s3.lifecycle import (
    lifecycle_mismatch,
    RULE_KEYS,
    rule_to_api,
    rules_from_api,
)
from ansible_collections.mlops.stack.plugins.module_utils.s3.plan import (
    describe_action,
    FEATURE_LABELS,
    FEATURES,
    tags_from_api,
    tags_to_api,
)
from ansible_collections.mlops.stack.plugins.module_utils.s3.policy import parse_policy


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
                used = sorted(set(k for r in rules for k in RULE_KEYS[3:] if r.get(k) is not None))
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
