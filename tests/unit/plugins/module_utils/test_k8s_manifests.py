"""Unit tests for plugins/module_utils/k8s/manifests.py: YAML loading, parse cache, checksums."""
import json

import pytest

from ansible_collections.mlops.stack.plugins.module_utils.k8s.manifests import (
    load_documents,
    load_objects,
    normalize_checksum,
    sha256_text,
)
from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import K8sApplyError


def test_load_documents_flattens_lists_and_skips_empty():
    text = "---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
    assert [o["metadata"]["name"] for o in load_documents(text)] == ["a"]
    with pytest.raises(K8sApplyError, match="not a mapping"):
        load_documents("- a\n")


def test_checksums():
    assert normalize_checksum("sha256:" + "A" * 64) == "a" * 64
    assert normalize_checksum("") is None
    with pytest.raises(K8sApplyError, match="only sha256"):
        normalize_checksum("md5:abc")
    with pytest.raises(K8sApplyError, match="not a sha256"):
        normalize_checksum("abc")


def test_parse_cache_round_trip(tmp_path):
    src = tmp_path / "release.yaml"
    src.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: '1'}\n---\n"
                   "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: n}}\n")
    cache = tmp_path / "cache"
    params = {"src": [str(src)], "parse_cache": str(cache)}
    first = load_objects(params)
    files = list(cache.iterdir())
    assert [f.name for f in files] == [sha256_text(src.read_bytes()) + ".json"]
    assert load_objects(params) == first == load_objects({"src": [str(src)]})
    # A hit is read from the cache, not the YAML (proved by editing the cache).
    data = json.loads(files[0].read_text())
    data[0]["data"]["k"] = "from-cache"
    files[0].write_text(json.dumps(data))
    assert load_objects(params)[1]["data"]["k"] == "from-cache"
    # A corrupt cache entry is ignored and rewritten.
    files[0].write_text("{not json")
    assert load_objects(params) == first
    assert json.loads(files[0].read_text())[0]["data"]["k"] == "1"


def test_parse_cache_skips_content_json_cannot_hold(tmp_path):
    src = tmp_path / "ts.yaml"
    # An unquoted timestamp becomes a datetime in YAML and a string in JSON.
    src.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {when: 2026-11-23}\n")
    cache = tmp_path / "cache"
    objs = load_objects({"src": [str(src)], "parse_cache": str(cache)})
    assert objs[0]["data"]["when"].year == 2026
    assert not cache.exists() or not list(cache.iterdir())
