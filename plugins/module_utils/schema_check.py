# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Offline schema validation of Kubernetes objects.

Built-in kinds are checked with the JSON schemas that the
``kubernetes-validate`` package ships for each Kubernetes version (strict:
unknown fields are errors, as with ``kubectl apply --validate=strict``);
custom resources with the ``openAPIV3Schema`` of their CRD, taken from the
pinned release manifests. No cluster is involved.
"""


import os
import re

from ansible_collections.mlops.stack.plugins.module_utils.k8s.manifests import (
    load_documents,
    load_documents_cached,
    sha256_text,
)

try:
    import jsonschema
    import kubernetes_validate
    from kubernetes_validate.utils import all_versions
    HAS_VALIDATORS = True
except ImportError:  # pragma: no cover - reported by the caller
    HAS_VALIDATORS = False


def crd_schemas(objects):
    """(apiVersion, kind) -> openAPIV3Schema for every version of every CRD."""
    out = {}
    for obj in objects:
        if obj.get("kind") != "CustomResourceDefinition":
            continue
        spec = obj.get("spec") or {}
        for ver in spec.get("versions") or []:
            schema = (ver.get("schema") or {}).get("openAPIV3Schema")
            if schema:
                out[("%s/%s" % (spec["group"], ver["name"]), spec["names"]["kind"])] = schema
    return out


def int_or_string(schema):
    """Turn x-kubernetes-int-or-string into a JSON-schema type union."""
    if isinstance(schema, dict):
        schema = dict((k, int_or_string(v)) for k, v in schema.items())
        if schema.pop("x-kubernetes-int-or-string", False):
            schema.pop("type", None)
            schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return schema
    if isinstance(schema, list):
        return [int_or_string(s) for s in schema]
    return schema


#: API groups the API server itself serves; every other dotted group comes from a CRD,
#: including SIG projects under k8s.io such as gateway.networking.k8s.io.
BUILTIN_GROUPS = frozenset((
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io", "authentication.k8s.io",
    "authorization.k8s.io", "certificates.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io",
    "flowcontrol.apiserver.k8s.io", "internal.apiserver.k8s.io", "networking.k8s.io", "node.k8s.io",
    "rbac.authorization.k8s.io", "resource.k8s.io", "scheduling.k8s.io", "storage.k8s.io",
    "storagemigration.k8s.io"))


def api_group_of(api_version):
    return api_version.split("/")[0] if "/" in api_version else ""


def is_custom(api_version):
    group = api_group_of(api_version)
    return "." in group and group not in BUILTIN_GROUPS


def load_crd_schemas(paths, parse_cache=None):
    """CRD schemas of release manifest files (parsed through the JSON cache)."""
    objects = []
    for path in paths:
        with open(path, "rb") as fh:
            raw = fh.read()
        if parse_cache:
            objects.extend(load_documents_cached(raw, path, sha256_text(raw), parse_cache))
        else:
            objects.extend(load_documents(raw.decode("utf-8"), path))
    return crd_schemas(objects)


def schema_version(wanted):
    """The newest schema set kubernetes-validate has that is not newer than ``wanted`` (``1.36``)."""
    have = []
    for version in all_versions():
        m = re.match(r"^v?(\d+)\.(\d+)\.(\d+)$", version)
        if m:
            have.append((int(m.group(1)), int(m.group(2)), int(m.group(3))))
    want = tuple(int(x) for x in re.findall(r"\d+", str(wanted))[:2])
    fitting = [v for v in have if v[:2] <= want] or have
    return "%d.%d.%d" % max(fitting)


def describe(obj):
    meta = obj.get("metadata") or {}
    where = "%s/%s" % (meta["namespace"], meta.get("name")) if meta.get("namespace") else meta.get("name")
    return "%s %s" % (obj.get("kind"), where)


def validate_objects(objects, schemas, kubernetes_version, unpinned_groups=(), skipped=None):
    """Problems (strings naming the object and the field) of ``objects``.

    Custom resources of ``unpinned_groups`` (APIs the cluster provides, not a
    pinned release) without a schema are listed in ``skipped`` instead."""
    problems = []
    version = schema_version(kubernetes_version)
    converted = {}
    for obj in objects:
        api, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        if (api, kind) in schemas:
            # Only the kinds in use: converting every CRD of a release is slow.
            # Draft4Validator directly: jsonschema.validate() would first
            # meta-validate the (large) CRD schema, which takes seconds.
            if (api, kind) not in converted:
                converted[(api, kind)] = jsonschema.Draft4Validator(int_or_string(schemas[(api, kind)]))
            try:
                converted[(api, kind)].validate(obj)
            except jsonschema.ValidationError as exc:
                problems.append("%s: %s at %s" % (describe(obj), exc.message,
                                                  "/".join(map(str, exc.absolute_path)) or "(top)"))
            continue
        if is_custom(api) and api_group_of(api) in unpinned_groups:
            if skipped is not None:
                skipped.append(describe(obj))
            continue
        if is_custom(api):
            problems.append("%s: no schema for %s %s (its CRD is not in the pinned release manifests)"
                            % (describe(obj), api, kind))
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append("%s: %s %s is not a Kubernetes %s kind" % (describe(obj), api, kind, version))
        except kubernetes_validate.ValidationError as exc:
            problems.append("%s: %s at %s" % (describe(obj), exc.message,
                                              "/".join(map(str, getattr(exc, "path", []) or [])) or "(top)"))
    return problems


def marker_path(cache_dir, key):
    return os.path.join(os.path.expanduser(cache_dir), "valid-%s" % key)
