"""Pure logic of module_utils/s3/: names, policies, tags, lifecycle, plans, errors."""
import json

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, SSLError

from ansible_collections.mlops.stack.plugins.module_utils.s3.client import S3Error, classify_error, is_not_implemented
from ansible_collections.mlops.stack.plugins.module_utils.s3.lifecycle import (
    lifecycle_mismatch, normalize_rules, rule_from_api, rule_to_api, rules_from_api)
from ansible_collections.mlops.stack.plugins.module_utils.s3.names import bucket_name_problems, validate_bucket_name
from ansible_collections.mlops.stack.plugins.module_utils.s3.operations import run_bucket
from ansible_collections.mlops.stack.plugins.module_utils.s3.plan import describe_action, desired_tags, plan_present
from ansible_collections.mlops.stack.plugins.module_utils.s3.policy import normalize_policy, policies_equal

EP = "http://127.0.0.1:9000"


class TestBucketNames:
    @pytest.mark.parametrize("name", ["abc", "mlflow-artifacts", "a.b.c", "x" * 63, "123", "models.v2-1"])
    def test_valid(self, name):
        assert bucket_name_problems(name) == []
        validate_bucket_name(name)

    @pytest.mark.parametrize("name,fragment", [
        ("ab", "3 to 63"),
        ("x" * 64, "3 to 63"),
        ("Upper", "lowercase"),
        ("under_score", "'_'"),
        ("-abc", "begin and end"),
        ("abc-", "begin and end"),
        ("a..b", "adjacent periods"),
        ("a.-b", "period must not be next to a hyphen"),
        ("192.168.0.1", "IP address"),
        ("xn--abc", "prefix 'xn--'"),
        ("sthree-abc", "prefix 'sthree-'"),
        ("abc-s3alias", "suffix '-s3alias'"),
        ("abc--ol-s3", "suffix '--ol-s3'"),
        ("", "empty"),
        ("caf\u00e9x", "lowercase"),
    ])
    def test_invalid(self, name, fragment):
        problems = bucket_name_problems(name)
        assert any(fragment in p for p in problems), problems
        with pytest.raises(S3Error, match="Invalid bucket name"):
            validate_bucket_name(name)

    def test_message_lists_all_problems(self):
        with pytest.raises(S3Error) as err:
            validate_bucket_name("A_")
        msg = str(err.value)
        assert "3 to 63" in msg and "lowercase" in msg and "bucketnamingrules" in msg


P1 = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::b/*"},
        {"Sid": "B", "Effect": "Deny", "Principal": {"AWS": ["arn:aws:iam::1:root", "arn:aws:iam::2:root"]},
         "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": ["arn:aws:s3:::b/*"],
         "Condition": {"Bool": {"aws:SecureTransport": False}, "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}},
    ],
}
P2 = {
    "Statement": [
        {"Condition": {"IpAddress": {"aws:SourceIp": ["192.168.0.0/16", "10.0.0.0/8"]}, "Bool": {"aws:SecureTransport": "false"}},
         "Resource": "arn:aws:s3:::b/*", "Action": ["s3:DeleteObject", "s3:PutObject"],
         "Principal": {"AWS": ["arn:aws:iam::2:root", "arn:aws:iam::1:root"]}, "Effect": "Deny", "Sid": "B"},
        {"Resource": ["arn:aws:s3:::b/*"], "Action": ["s3:GetObject"], "Principal": {"AWS": "*"},
         "Effect": "Allow", "Sid": "A"},
    ],
    "Version": "2012-10-17",
}


class TestPolicy:
    def test_semantically_equal(self):
        assert policies_equal(P1, P2)
        assert policies_equal(json.dumps(P1), P2)
        assert normalize_policy(P1) == normalize_policy(json.dumps(P2, indent=2))

    def test_single_statement_dict(self):
        p = dict(P1, Statement=P1["Statement"][0])
        assert policies_equal(p, dict(P1, Statement=[P1["Statement"][0]]))

    @pytest.mark.parametrize("change", [
        lambda p: p["Statement"][0].update(Effect="Deny"),
        lambda p: p["Statement"][1]["Action"].append("s3:GetObject"),
        lambda p: p["Statement"][0].update(Resource="arn:aws:s3:::other/*"),
        lambda p: p.update(Version="2008-10-17"),
        lambda p: p["Statement"].pop(),
    ])
    def test_real_changes_detected(self, change):
        other = json.loads(json.dumps(P1))
        change(other)
        assert not policies_equal(P1, other)

    def test_empty_means_no_policy(self):
        for empty in (None, "", "  ", {}, "{}"):
            assert normalize_policy(empty) is None
        assert policies_equal(None, {})
        assert not policies_equal(None, P1)

    def test_invalid(self):
        with pytest.raises(S3Error, match="not valid JSON"):
            normalize_policy("{nope")
        with pytest.raises(S3Error, match="JSON object"):
            normalize_policy("[1, 2]")


class TestTags:
    def test_purge(self):
        assert desired_tags({"a": "1", "b": "2"}, {"a": 3}, purge=True) == {"a": "3"}

    def test_merge(self):
        assert desired_tags({"a": "1", "b": "2"}, {"a": 3, "c": None}, purge=False) == {"a": "3", "b": "2", "c": ""}


class TestLifecycle:
    def test_round_trip(self):
        rules = normalize_rules([{"id": "x", "prefix": "tmp/", "expiration_days": 3},
                                 {"id": "a", "noncurrent_version_expiration_days": 5,
                                  "abort_incomplete_multipart_upload_days": 1, "enabled": False}])
        assert [r["id"] for r in rules] == ["a", "x"]
        api = [rule_to_api(r) for r in rules]
        assert api[0]["Status"] == "Disabled" and api[0]["Filter"] == {"Prefix": ""}
        assert rules_from_api(api) == rules

    def test_api_variants(self):
        # legacy top-level Prefix, ExpiredObjectDeleteMarker false, server-added fields
        r = rule_from_api({"ID": "x", "Prefix": "p/", "Status": "Enabled",
                           "Expiration": {"Days": 3, "ExpiredObjectDeleteMarker": False}})
        assert r == normalize_rules([{"id": "x", "prefix": "p/", "expiration_days": 3}])[0]

    def test_unmanaged_parts_force_replace(self):
        r = rule_from_api({"ID": "x", "Filter": {"Prefix": "", "Tag": {"Key": "a", "Value": "b"}},
                           "Status": "Enabled", "Expiration": {"Days": 3},
                           "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]})
        assert r["unmanaged"] == ["Filter.Tag", "Transitions"]
        current = {"name": "b", "versioning": "Disabled", "policy": None, "tags": {},
                   "lifecycle_rules": [r]}
        after, actions = plan_present(current, {"name": "b", "lifecycle_rules": [{"id": "x", "expiration_days": 3}]})
        assert [act[0] for act in actions] == ["lifecycle_rules"]
        assert "unmanaged" not in after["lifecycle_rules"][0]

    @pytest.mark.parametrize("rules,match", [
        ([{"id": "x"}], "sets no action"),
        ([{"id": "x", "expiration_days": 0}], ">= 1"),
        ([{"id": "x", "expiration_days": 1}, {"id": "x", "expiration_days": 2}], "unique"),
        ([{"id": "", "expiration_days": 1}], "needs an id"),
    ])
    def test_invalid(self, rules, match):
        with pytest.raises(S3Error, match=match):
            normalize_rules(rules)


CURRENT = {"name": "b", "versioning": "Enabled", "policy": P1, "tags": {"a": "1"},
           "lifecycle_rules": normalize_rules([{"id": "x", "expiration_days": 3}]), "empty": True}


class TestPlan:
    def test_create_new(self):
        after, actions = plan_present(None, {"name": "b", "versioning": True, "tags": {"k": "v"}})
        assert [act[0] for act in actions] == ["create", "versioning", "tags"]
        assert after["versioning"] == "Enabled" and after["tags"] == {"k": "v"}

    def test_new_bucket_versioning_false_is_noop(self):
        after, actions = plan_present(None, {"name": "b", "versioning": False})
        assert [act[0] for act in actions] == ["create"]
        assert after["versioning"] == "Disabled"

    def test_unmanaged_options_no_change(self):
        after, actions = plan_present(CURRENT, {"name": "b"})
        assert actions == [] and after == CURRENT

    def test_equal_settings_no_change(self):
        params = {"name": "b", "versioning": True, "policy": json.dumps(P2), "tags": {"a": 1},
                  "purge_tags": True, "lifecycle_rules": [{"id": "x", "expiration_days": 3, "prefix": None}]}
        assert plan_present(CURRENT, params) == (CURRENT, [])

    def test_changes(self):
        params = {"name": "b", "versioning": False, "policy": "", "tags": {}, "purge_tags": True,
                  "lifecycle_rules": []}
        after, actions = plan_present(CURRENT, params)
        assert actions == [("versioning", "Suspended"), ("policy", None), ("tags", {}), ("lifecycle_rules", [])]
        assert after["versioning"] == "Suspended" and after["policy"] is None
        assert CURRENT["versioning"] == "Enabled"  # not mutated

    def test_describe(self):
        assert describe_action("b", "tags", {}) == "delete tags of b"
        assert describe_action("b", "policy", {"x": 1}) == "put policy of b"
        assert describe_action("b", "lifecycle_rules", [{"id": "x"}]) == "set lifecycle rules of b: x"


def client_error(code, status, op="HeadBucket", message=""):
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, op)


class TestErrors:
    def test_connection(self):
        err = classify_error(EP, "cannot check", EndpointConnectionError(endpoint_url=EP))
        assert str(err).startswith(EP + ": cannot check: cannot connect") and "endpoint_url" in str(err)

    def test_credentials(self):
        err = classify_error(EP, "cannot authenticate", client_error("SignatureDoesNotMatch", 403, "ListBuckets"))
        assert "rejected the credentials" in str(err) and "secret_key" in str(err) and EP in str(err)

    def test_no_credentials(self):
        assert "access_key" in str(classify_error(EP, "x", NoCredentialsError()))

    def test_tls(self):
        err = classify_error("https://h", "x", SSLError(endpoint_url="https://h", error="bad cert"))
        assert "ca_bundle" in str(err) and "validate_certs" in str(err)

    def test_access_denied(self):
        assert "access denied" in str(classify_error(EP, "x", client_error("AccessDenied", 403)))

    def test_server_error(self):
        err = classify_error(EP, "cannot put policy", client_error("InternalError", 500, message="boom"))
        assert "InternalError: boom (HTTP 500)" in str(err)

    @pytest.mark.parametrize("code,status", [("NotImplemented", 501), ("XNotImplemented", 400), ("", 501)])
    def test_not_implemented(self, code, status):
        assert is_not_implemented(client_error(code, status))
        assert not is_not_implemented(client_error("NoSuchBucket", 404))


class FakeClient:
    """Records calls; raises configured errors. Only for manager-flow tests."""

    def __init__(self, errors=None, exists=True):
        self.calls = []
        self.errors = errors or {}
        self._exists = exists

    def __getattr__(self, op):
        def call(**kw):
            self.calls.append(op)
            if op in self.errors:
                raise self.errors[op]
            if op == "head_bucket" and not self._exists:
                raise client_error("404", 404)
            if op == "get_bucket_versioning":
                return {}
            if op in ("get_bucket_policy",):
                raise client_error("NoSuchBucketPolicy", 404, op)
            if op == "get_bucket_tagging":
                raise client_error("NoSuchTagSet", 404, op)
            if op == "get_bucket_lifecycle_configuration":
                raise client_error("NoSuchLifecycleConfiguration", 404, op)
            if op == "list_objects_v2":
                return {"KeyCount": 0}
            return {}
        return call


class TestRunBucket:
    def test_check_mode_writes_nothing(self):
        cli = FakeClient(exists=False)
        res = run_bucket({"name": "bkt", "versioning": True, "tags": {"a": "b"}}, EP, check_mode=True, client=cli)
        assert res["changed"] and len(res["actions"]) == 3
        assert not [c for c in cli.calls if not c.startswith(("head_", "get_", "list_"))]

    def test_unsupported_feature_only_when_asked(self):
        ni = client_error("NotImplemented", 501, "GetBucketLifecycleConfiguration", "not implemented")
        cli = FakeClient(errors={"get_bucket_lifecycle_configuration": ni})
        res = run_bucket({"name": "bkt"}, EP, client=cli)
        assert res["changed"] is False and res["bucket"]["lifecycle_rules"] is None
        with pytest.raises(S3Error) as err:
            run_bucket({"name": "bkt", "lifecycle_rules": [{"id": "x", "expiration_days": 1}]}, EP, client=cli)
        msg = str(err.value)
        assert EP in msg and "does not support bucket lifecycle configuration" in msg and "lifecycle_rules" in msg

    def test_bad_credentials_on_head(self):
        cli = FakeClient(errors={"head_bucket": client_error("403", 403),
                                 "list_buckets": client_error("InvalidAccessKeyId", 403, "ListBuckets")})
        with pytest.raises(S3Error, match="rejected the credentials"):
            run_bucket({"name": "bkt"}, EP, client=cli)

    def test_foreign_bucket_403(self):
        cli = FakeClient(errors={"head_bucket": client_error("403", 403)})
        with pytest.raises(S3Error, match="access to bucket bkt is denied"):
            run_bucket({"name": "bkt"}, EP, client=cli)

    def test_absent_not_empty_without_force(self):
        cli = FakeClient()
        cli.list_objects_v2 = lambda **kw: {"KeyCount": 1}
        with pytest.raises(S3Error, match="not empty; nothing was deleted.*force=true"):
            run_bucket({"name": "bkt", "state": "absent"}, EP, client=cli)
        assert "delete_bucket" not in cli.calls


def test_lifecycle_mismatch():
    wanted = normalize_rules([{"id": "a", "expiration_days": 3, "abort_incomplete_multipart_upload_days": 2},
                              {"id": "b", "expiration_days": 1}])
    stored = normalize_rules([{"id": "a", "expiration_days": 3}])
    problems = lifecycle_mismatch(wanted, stored)
    assert problems == ["rule 'a': abort_incomplete_multipart_upload_days=2 was stored as null", "rule 'b' is missing"]
    assert lifecycle_mismatch(wanted, wanted) == []
