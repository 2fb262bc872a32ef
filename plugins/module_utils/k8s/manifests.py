# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Manifests in: multi-document YAML (libyaml) with a JSON parse cache keyed
by sha256, pinned checksums of release files, YAML out for render mode, and
:func:`load_objects`, the pipeline from a task's ``src``/``definition`` to
the sorted objects to handle (read, filter, override, mirror, label, sort)."""


import hashlib
import json
import os
import re
import tempfile
import traceback

YAML_IMPORT_ERROR = None
try:
    import yaml
    try:
        _YamlLoader = yaml.CSafeLoader
        _YamlDumper = yaml.CSafeDumper
    except AttributeError:  # pragma: no cover - libyaml missing
        _YamlLoader = yaml.SafeLoader
        _YamlDumper = yaml.SafeDumper
    HAS_YAML = True
except ImportError:  # pragma: no cover
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()


from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import K8sApplyError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.order import sort_objects
from ansible_collections.mlops.stack.plugins.module_utils.k8s.transforms import (
    apply_overrides,
    dedupe_objects,
    deep_merge,
    filter_objects,
    mirror_object_images,
)


def load_documents(text, source="<string>"):
    """Parse multi-document YAML into a list of object dicts.

    Empty documents are dropped and ``kind: *List`` documents are flattened.
    """
    if not HAS_YAML:  # pragma: no cover
        raise K8sApplyError("PyYAML is required to read %s" % source)
    out = []
    try:
        docs = list(yaml.load_all(text, Loader=_YamlLoader))
    except yaml.YAMLError as exc:
        raise K8sApplyError("%s is not valid YAML: %s" % (source, exc))
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise K8sApplyError("%s contains a document that is not a mapping: %r" % (source, str(doc)[:80]))
        if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            out.extend(i for i in doc["items"] if i)
        else:
            out.append(doc)
    return out


def load_documents_cached(raw, source, digest, cache_dir):
    """:func:`load_documents` through a JSON cache keyed by the file's sha256.

    Upstream release files are large (KServe's CRDs: 2.3 MB) and PyYAML
    builds Python objects slowly (about 2 s for that file); the same
    content read back from JSON takes about 40 ms. The cache is written
    only when the JSON round trip gives back exactly what YAML gave (no
    timestamps or non-string keys), so a hit can never change an object.
    """
    cache_file = os.path.join(cache_dir, "%s.json" % digest)
    try:
        with open(cache_file) as fh:
            return json.load(fh)
    except (IOError, OSError, ValueError):
        pass
    docs = load_documents(raw.decode("utf-8"), source)
    try:
        text = json.dumps(docs)
        if json.loads(text) != docs:
            return docs
        if not os.path.isdir(cache_dir):
            os.makedirs(cache_dir)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".parse-")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, cache_file)  # atomic: concurrent runs never read half a file
    except (TypeError, ValueError, IOError, OSError):
        pass  # a cache that cannot be written only costs time
    return docs


def dump_documents(objects):
    """Objects as one multi-document YAML string (for render mode)."""
    return "".join("---\n" + yaml.dump(o, Dumper=_YamlDumper, default_flow_style=False, sort_keys=False)
                   for o in objects)


def sha256_text(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def normalize_checksum(checksum):
    """Accept 'sha256:<hex>' or '<hex>'; return lowercase hex or None."""
    if not checksum:
        return None
    value = str(checksum).strip()
    if ":" in value:
        algo, value = value.split(":", 1)
        if algo.lower() != "sha256":
            raise K8sApplyError("only sha256 checksums are supported, got %r" % checksum)
    value = value.lower()
    if not re.match(r"^[0-9a-f]{64}$", value):
        raise K8sApplyError("checksum %r is not a sha256 hex digest" % checksum)
    return value


def load_objects(params):
    """Read, filter, override, mirror, label and sort the objects to handle."""
    objects = []
    # Sources first, then inline definitions.
    for src in params.get("src") or []:
        if isinstance(src, str):
            src = {"path": src}
        path = src.get("path")
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except (IOError, OSError) as exc:
            raise K8sApplyError("cannot read manifest file %s: %s" % (path, exc))
        want = normalize_checksum(src.get("checksum"))
        got = sha256_text(raw) if (want or params.get("parse_cache")) else None
        if want and got != want:
            raise K8sApplyError("checksum mismatch for %s: expected sha256 %s, file has %s. The file is "
                                "corrupt or not the pinned release; re-download it or fix the checksum."
                                % (path, want, got))
        if params.get("parse_cache"):
            objects.extend(load_documents_cached(raw, path, got, params["parse_cache"]))
        else:
            objects.extend(load_documents(raw.decode("utf-8"), path))
    definition = params.get("definition")
    if isinstance(definition, dict):
        definition = [definition]
    elif isinstance(definition, str):
        definition = load_documents(definition, "definition")
    for obj in definition or []:
        if obj:
            objects.append(obj)

    for obj in objects:
        if not obj.get("apiVersion") or not obj.get("kind"):
            raise K8sApplyError("object without apiVersion/kind: %s" % json.dumps(obj)[:200])
    objects = dedupe_objects(filter_objects(objects, params.get("include_kinds"), params.get("exclude")))
    objects, unmatched = apply_overrides(objects, params.get("overrides"))
    if unmatched and not params.get("overrides_missing_ok"):
        raise K8sApplyError("overrides match no object: %s. The upstream manifests changed or the override is "
                            "wrong; fix the selector (kind/name/namespace)."
                            % ", ".join("%s %s/%s" % (o.get("kind"), o.get("namespace") or "", o.get("name"))
                                        for o in unmatched))
    if params.get("image_registry"):
        objects = [mirror_object_images(o, params["image_registry"], params.get("image_keep_domain"))
                   for o in objects]
    if params.get("labels"):
        objects = [deep_merge(o, {"metadata": {"labels": params["labels"]}}) for o in objects]
    if params.get("sort", True):
        objects = sort_objects(objects)
    return objects
