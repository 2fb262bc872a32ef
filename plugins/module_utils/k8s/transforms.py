# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Manifest transforms: include/exclude filters, de-duplication, deep-merge
overrides and image-registry mirroring. Pure (plain dicts); every function
returns new objects."""


import copy
import re

from ansible_collections.mlops.stack.plugins.module_utils.image import ImageRefError, mirror_image
from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import api_group, object_key


def deep_merge(base, patch):
    """Return *base* with *patch* merged in: dicts recursively, everything
    else (lists, scalars) replaced; a ``None`` value in *patch* deletes the key."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _override_matches(override, obj):
    meta = obj.get("metadata") or {}
    if override.get("kind") and override["kind"] != obj.get("kind"):
        return False
    if override.get("name") and override["name"] != meta.get("name"):
        return False
    if override.get("namespace") and override["namespace"] != meta.get("namespace"):
        return False
    if override.get("api_version") and override["api_version"] != obj.get("apiVersion"):
        return False
    return True


def apply_overrides(objects, overrides):
    """Deep-merge each override's ``merge`` dict into every object it selects
    (by kind / name / namespace / api_version). Returns (objects, unmatched)."""
    unmatched = []
    result = list(objects)
    for ov in overrides or []:
        hit = False
        for idx, obj in enumerate(result):
            if _override_matches(ov, obj):
                result[idx] = deep_merge(obj, ov.get("merge") or {})
                hit = True
        if not hit:
            unmatched.append(ov)
    return result, unmatched


def dedupe_objects(objects):
    """Drop repeated objects (same group/kind/namespace/name); the last
    definition wins but keeps the position of the first (Knative ships its
    CRDs both in serving-crds.yaml and serving-core.yaml)."""
    index = {}
    out = []
    for obj in objects:
        key = object_key(obj)
        if key in index:
            out[index[key]] = obj
        else:
            index[key] = len(out)
            out.append(obj)
    return out


def filter_objects(objects, include_kinds=None, exclude=None):
    """Keep objects whose kind is in *include_kinds* (all when empty) and
    that match no entry of *exclude* (dicts with kind/name/namespace)."""
    out = []
    for obj in objects:
        if include_kinds and obj.get("kind") not in include_kinds:
            continue
        if any(_override_matches(ex, obj) for ex in exclude or []):
            continue
        out.append(obj)
    return out


_JSON_IMAGE = re.compile(r'("image"\s*:\s*")([^"]+)(")')
_ARG_IMAGE = re.compile(r"^(--[A-Za-z0-9-]*image=)(\S+)$")


def _looks_like_image(value):
    return isinstance(value, str) and value and " " not in value and "\n" not in value and (
        "/" in value or ":" in value or "@" in value)


def mirror_object_images(obj, registry, keep_domain=False):
    """Rewrite every image reference in *obj* to pull from *registry*.

    Covers ``image:`` fields anywhere (pod templates, Knative ``Image``,
    KServe runtimes and storage containers), ``--*-image=`` container
    arguments (cert-manager's ACME solver) and, in ConfigMaps, data keys
    ending in ``image`` (Knative ``queue-sidecar-image``) and JSON values
    with ``"image": "..."`` entries (KServe ``inferenceservice-config``).
    Returns a new object; *obj* is not modified.
    """
    if not registry:
        return obj

    def mirror(ref):
        try:
            return mirror_image(ref, registry, keep_domain=keep_domain)
        except ImageRefError:
            return ref

    def walk(node, in_args=False):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "image" and isinstance(value, str) and value:
                    out[key] = mirror(value)
                elif key in ("args", "command") and isinstance(value, list):
                    out[key] = [walk(v, in_args=True) for v in value]
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        if in_args and isinstance(node, str):
            m = _ARG_IMAGE.match(node)
            if m and _looks_like_image(m.group(2)):
                return m.group(1) + mirror(m.group(2))
        return node

    result = walk(obj)
    if result.get("kind") == "ConfigMap" and api_group(result.get("apiVersion", "")) == "" and isinstance(result.get("data"), dict):
        data = {}
        for key, value in result["data"].items():
            if not isinstance(value, str):
                data[key] = value
            elif key.lower().endswith("image") and _looks_like_image(value.strip()):
                data[key] = mirror(value.strip())
            elif '"image"' in value:
                data[key] = _JSON_IMAGE.sub(lambda m: m.group(1) + mirror(m.group(2)) + m.group(3), value)
            else:
                data[key] = value
        result["data"] = data
    return result
