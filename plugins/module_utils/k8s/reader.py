# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""``mlops.stack.k8s_read``: one object by name or a filtered list, with
``apiVersion``/``kind`` set on list items (as ``k8s_info`` returns them)."""


from ansible_collections.mlops.stack.plugins.module_utils.k8s.applier import Applier, api_error
from ansible_collections.mlops.stack.plugins.module_utils.k8s.client import describe_config
from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import ApiError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import K8sApplyError


def read_objects(params):
    """One object by name, or a filtered list: dict(resources, api_found)."""
    applier = Applier(params)
    probe = {"apiVersion": params.get("api_version") or "v1", "kind": params["kind"],
             "metadata": {"name": params.get("name") or "x", "namespace": params.get("namespace")}}
    found = applier.resources(probe["apiVersion"]).get(probe["kind"])
    if not found:
        return {"resources": [], "api_found": False}
    plural, namespaced = found
    base = "/api/v1" if probe["apiVersion"] == "v1" else "/apis/%s" % probe["apiVersion"]
    ns = params.get("namespace") if namespaced else None
    if namespaced and params.get("name") and not ns:
        raise K8sApplyError("%s is namespaced: set namespace to read %s" % (params["kind"], params["name"]))
    collection = "%s/namespaces/%s/%s" % (base, ns, plural) if ns else "%s/%s" % (base, plural)
    if params.get("name"):
        obj = applier.get("%s/%s" % (collection, params["name"]))
        items = [obj] if obj else []
    else:
        query = []
        if params.get("label_selectors"):
            query.append(("labelSelector", ",".join(params["label_selectors"])))
        if params.get("field_selectors"):
            query.append(("fieldSelector", ",".join(params["field_selectors"])))
        try:
            data = applier.request("GET", collection, query=query)
        except ApiError as exc:
            raise K8sApplyError("cannot list %s %s at %s: %s" % (probe["apiVersion"], params["kind"],
                                                                 applier.endpoint, api_error(exc)))
        items = data.get("items") or []
        # List items carry no apiVersion/kind; k8s_info callers expect them.
        for item in items:
            item.setdefault("apiVersion", probe["apiVersion"])
            item.setdefault("kind", params["kind"])
    if params.get("metadata_only"):
        items = [_metadata(item) for item in items]
    return {"resources": items, "api_found": True}


def _metadata(obj):
    """apiVersion, kind and metadata without managedFields: a registered result
    stays small (Ansible deep-copies every variable for each template lookup)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": meta}


def read(params):
    """read_objects(); a failure also names what was read and the Kubernetes configuration."""
    try:
        return read_objects(params)
    except K8sApplyError as exc:
        target = "/".join(x for x in (params.get("namespace"), params.get("name")) if x) or "(all)"
        raise K8sApplyError("reading %s %s %s failed: %s [%s]"
                            % (params.get("api_version") or "v1", params["kind"], target, exc, describe_config(params)))


def secret_result(result):
    """Whether a result holds a Secret (then the action plugin hides it)."""
    return any(isinstance(r, dict) and r.get("kind") == "Secret" for r in result.get("resources") or [])
