# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Object identity and comparison: the error type of the Kubernetes layer,
``Kind namespace/name`` references, keys for de-duplication, what a diff
ignores, and whether our field manager changed or owns an object. Pure
(plain dicts)."""


class K8sApplyError(Exception):
    """An expected failure; the message names the object and the fix."""


def api_group(api_version):
    """'apps/v1' -> 'apps', 'v1' -> ''."""
    return api_version.rsplit("/", 1)[0] if "/" in (api_version or "") else ""


def object_ref(obj):
    """Human readable 'Kind namespace/name' (or 'Kind name')."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return "%s %s%s" % (obj.get("kind", "?"), ns + "/" if ns else "", meta.get("name", "?"))


def object_key(obj):
    meta = obj.get("metadata") or {}
    return (api_group(obj.get("apiVersion", "")), obj.get("kind"), meta.get("namespace") or "", meta.get("name"))


VOLATILE_METADATA = ("resourceVersion", "managedFields", "generation", "creationTimestamp", "uid",
                     "selfLink")


def strip_volatile(obj):
    """Copy of *obj* without status and server-maintained metadata (for diffs)."""
    if not obj:
        return {}
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = dict(out.get("metadata") or {})
    for key in VOLATILE_METADATA:
        meta.pop(key, None)
    annotations = dict(meta.get("annotations") or {})
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    return out


def manager_entry(metadata, manager):
    """Our field manager's Apply entry in ``metadata.managedFields`` (or None)."""
    for entry in (metadata or {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            return {"time": entry.get("time"), "fieldsV1": entry.get("fieldsV1"),
                    "apiVersion": entry.get("apiVersion")}
    return None


def apply_changed(before_meta, after_meta, manager):
    """Did an apply change the object?

    A no-op server-side apply does not write, so ``resourceVersion`` stays;
    when it moved, someone changed the object, but it was us only if our
    manager's managedFields entry (field set or timestamp) moved too.
    """
    if before_meta is None:
        return True
    if before_meta.get("resourceVersion") == (after_meta or {}).get("resourceVersion"):
        return False
    return manager_entry(before_meta, manager) != manager_entry(after_meta, manager)


def managed_by(obj, manager):
    """Whether ``manager`` has written to the object (its managedFields)."""
    return any(entry.get("manager") == manager for entry in (obj.get("metadata") or {}).get("managedFields") or [])
