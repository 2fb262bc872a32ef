"""Unit tests for plugins/module_utils/k8s/secret.py (pure planning logic)."""
import base64

import pytest

from ansible_collections.mlops.stack.plugins.module_utils.k8s.secret import (
    HIDDEN,
    SecretError,
    decode_data,
    generate_value,
    masked_state,
    normalize_generate,
    plan_secret,
)


def fixed(length, charset):
    return "G" * length


def test_generate_value_length_and_charset():
    v = generate_value(20, "hex")
    assert len(v) == 20 and set(v) <= set("0123456789abcdef")
    a = generate_value(12, "lower_alphanumeric")
    assert a[0].isalpha() and a == a.lower()
    assert generate_value(32) != generate_value(32)


@pytest.mark.parametrize("length", [0, 7, 257])
def test_generate_value_rejects_bad_length(length):
    with pytest.raises(SecretError):
        generate_value(length)


def test_normalize_generate_accepts_strings_and_dicts():
    specs = normalize_generate(["a", {"name": "b", "length": 12, "charset": "hex"}], 40, "alphanumeric")
    assert specs == [{"name": "a", "length": 40, "charset": "alphanumeric"},
                     {"name": "b", "length": 12, "charset": "hex"}]


@pytest.mark.parametrize("bad", [[{"length": 3}], ["a", "a"], [{"name": "x", "bogus": 1}], ["bad/key"], [3]])
def test_normalize_generate_rejects(bad):
    with pytest.raises(SecretError):
        normalize_generate(bad)


def test_plan_creates_missing_secret():
    plan = plan_secret(None, normalize_generate(["password"]), {"username": "mlflow"}, generator=fixed)
    assert plan["create"] and plan["changed"]
    assert plan["data"] == {"password": "G" * 32, "username": "mlflow"}
    assert plan["changes"] == {"password": "generated", "username": "added"}


def test_plan_never_rotates_existing_keys():
    existing = {"data": {"password": "old"}, "labels": {"a": "1"}, "annotations": {}}
    plan = plan_secret(existing, normalize_generate(["password"]), {}, {"a": "1"}, generator=fixed)
    assert not plan["changed"]
    assert plan["data"] == {"password": "old"}
    assert plan["patch_data"] == {}


def test_plan_fills_empty_and_missing_keys_only():
    existing = {"data": {"a": "keep", "b": ""}, "labels": {}, "annotations": {}}
    plan = plan_secret(existing, normalize_generate(["a", "b", "c"]), {}, generator=fixed)
    assert plan["patch_data"] == {"b": "G" * 32, "c": "G" * 32}
    assert plan["data"]["a"] == "keep"


def test_plan_user_values_win_and_update():
    existing = {"data": {"password": "old", "other": "x"}, "labels": {}, "annotations": {}}
    plan = plan_secret(existing, normalize_generate(["password"]), {"password": "new", "port": 5432}, generator=fixed)
    assert plan["patch_data"] == {"password": "new", "port": "5432"}
    assert plan["changes"]["password"] == "updated"
    assert plan["data"]["other"] == "x"


def test_plan_merges_labels():
    existing = {"data": {"k": "v"}, "labels": {"keep": "1"}, "annotations": {}}
    plan = plan_secret(existing, [], {}, {"new": "2"})
    assert plan["changed"] and plan["labels"] == {"new": "2"}
    assert plan["all_labels"] == {"keep": "1", "new": "2"}


def test_masked_state_never_shows_values():
    state = masked_state("s", "ns", {"password": "hunter2", "user": "u"}, changes={"password": "generated"})
    assert "hunter2" not in repr(state)
    assert state["keys"] == {"password": "%s (generated)" % HIDDEN, "user": HIDDEN}


def test_decode_data():
    assert decode_data({"k": base64.b64encode(b"v").decode()}) == {"k": "v"}
    with pytest.raises(SecretError):
        decode_data({"k": base64.b64encode(b"\xff\xfe").decode()})
