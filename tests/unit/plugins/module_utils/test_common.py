"""Shared module helpers."""
from ansible_collections.mlops.stack.plugins.module_utils.common import (
    changed_keys, endpoint_error, make_diff, merge_desired, redact_url)


def test_redact_url():
    assert redact_url("postgresql://u:secret@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redact_url("http://h:9000") == "http://h:9000"
    assert redact_url(None) is None


def test_endpoint_error():
    msg = endpoint_error("http://u:pw@h:1", "cannot list buckets", "Access Denied.", "check access_key")
    assert msg == "http://u:***@h:1: cannot list buckets: Access Denied. Fix: check access_key"
    assert endpoint_error(None, "x", None) == "(default endpoint): x."


def test_changed_keys_and_merge():
    assert changed_keys({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": None}) == ["b"]
    assert merge_desired({"a": 1, "b": 2}, {"a": None, "b": 5, "c": [1]}) == {"a": 1, "b": 5, "c": [1]}


def test_make_diff():
    assert make_diff(None, {"x": 1}, after_header="b") == {"before": {}, "after": {"x": 1}, "after_header": "b"}
