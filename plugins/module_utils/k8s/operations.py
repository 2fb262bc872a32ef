# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Operations of ``mlops.stack.k8s_apply``: :func:`run` (render, or apply
phase by phase with the objects of a phase in parallel, then wait) and
:func:`delete_objects` (reverse install order, owned objects only when
asked, wait until gone)."""


import time

from ansible_collections.mlops.stack.plugins.module_utils.k8s.applier import Applier, api_error
from ansible_collections.mlops.stack.plugins.module_utils.k8s.manifests import dump_documents, load_objects
from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import (
    K8sApplyError,
    api_group,
    apply_changed,
    managed_by,
    object_ref,
    strip_volatile,
)
from ansible_collections.mlops.stack.plugins.module_utils.k8s.order import PHASE_CUSTOM, install_phase, sort_objects
from ansible_collections.mlops.stack.plugins.module_utils.k8s.readiness import WAIT_KINDS, crd_established, workload_ready
from ansible_collections.mlops.stack.plugins.module_utils.k8s.transforms import deep_merge
from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import ApiError


def _apply_one(applier, obj, phase, ctx):
    """Apply one object; what happened, for :func:`run` to collect."""
    check_mode, want_diff = ctx["check_mode"], ctx["want_diff"]
    ref = object_ref(obj)
    out = {"obj": obj, "path": None, "after": None, "changed": False, "diff": None, "created_namespace": False}
    if check_mode and phase >= PHASE_CUSTOM and (api_group(obj["apiVersion"]), obj["kind"]) in ctx["crds_in_batch"]:
        try:
            path, ns = applier.path(obj, applier.params.get("namespace"))
        except K8sApplyError:
            out.update(entry={"ref": ref, "result": "created (CRD not installed yet)"}, changed=True)
            return out
    else:
        path, ns = applier.path(obj, applier.params.get("namespace"),
                                wait_seconds=ctx["wait_timeout"] if phase >= PHASE_CUSTOM and ctx["crd_pending"] else 0)
    out["path"] = path
    body = obj
    if ns and not (obj.get("metadata") or {}).get("namespace"):
        body = deep_merge(obj, {"metadata": {"namespace": ns}})
    full_before = check_mode or want_diff
    if check_mode and ns in ctx["namespaces_created"]:
        before, after = None, body
    else:
        before = applier.get(path, metadata_only=not full_before)
        after = applier.apply(path, body, dry_run=check_mode)
    if check_mode or want_diff:
        changed = before is None or strip_volatile(before) != strip_volatile(after)
    else:
        changed = apply_changed((before or {}).get("metadata") if before is not None else None,
                                after.get("metadata"), applier.manager)
    state = "created" if before is None else ("configured" if changed else "unchanged")
    out.update(entry={"ref": ref, "result": state}, after=after, changed=changed,
               created_namespace=obj["kind"] == "Namespace" and before is None)
    if changed and want_diff:
        out["diff"] = {"before_header": ref, "after_header": ref,
                       "before": strip_volatile(before) if before else {}, "after": strip_volatile(after)}
    return out


def run(params, check_mode=False, want_diff=False, read_file=None):
    """Module body without AnsibleModule; returns the result dict."""
    objects = load_objects(params)
    if params.get("state") == "absent":
        return delete_objects(Applier(params), objects, params, check_mode)

    result = {"changed": False, "objects": [], "count": len(objects), "waited": []}
    if params.get("render_path"):
        text = dump_documents(objects)
        old = read_file(params["render_path"]) if read_file else None
        result["changed"] = old != text
        result["render_path"] = params["render_path"]
        if result["changed"] and not check_mode:
            with open(params["render_path"], "w") as fh:
                fh.write(text)
        return result

    applier = Applier(params)
    diffs = []
    crd_wait, workload_wait = [], []
    crds_in_batch = set()
    namespaces_created = set()
    wait_timeout = params.get("wait_timeout") or 300
    entries = []
    # Objects of one install phase do not depend on each other, so they go
    # to the API server concurrently (a no-op server-side apply of a large
    # release is mostly waiting for the server); phases stay in order.
    phases = []
    for obj in objects:
        phase = install_phase(obj)
        if not phases or phases[-1][0] != phase:
            phases.append((phase, []))
        phases[-1][1].append(obj)
    crds_waited = False
    for phase, batch in phases:
        if phase >= PHASE_CUSTOM and crd_wait and not crds_waited and not check_mode:
            result["waited"].extend(applier.wait_ready(crd_wait, wait_timeout))
            crds_waited = True
        context = {"check_mode": check_mode, "want_diff": want_diff, "wait_timeout": wait_timeout,
                   "crds_in_batch": frozenset(crds_in_batch), "namespaces_created": frozenset(namespaces_created),
                   "crd_pending": bool(crd_wait)}
        for outcome in applier.map(lambda ap, obj: _apply_one(ap, obj, phase, context), batch):
            entries.append(outcome)
            obj, path = outcome["obj"], outcome["path"]
            if outcome["created_namespace"]:
                namespaces_created.add(obj["metadata"]["name"])
            if obj["kind"] == "CustomResourceDefinition":
                spec = obj.get("spec") or {}
                crds_in_batch.add((spec.get("group"), (spec.get("names") or {}).get("kind")))
            if outcome["diff"]:
                diffs.append(outcome["diff"])
            if outcome["changed"]:
                result["changed"] = True
            after = outcome["after"]
            if after is None:
                continue
            if obj["kind"] == "CustomResourceDefinition" and not crd_established(after):
                # Always waited for: custom resources (in this call or the next
                # task) need the CRD Established.
                crd_wait.append((obj, path))
            elif params.get("wait") and obj["kind"] in WAIT_KINDS and not workload_ready(after)[0]:
                workload_wait.append((obj, path))
    result["objects"] = [e["entry"] for e in entries]
    if not check_mode:
        if crd_wait and not crds_waited:
            result["waited"].extend(applier.wait_ready(crd_wait, wait_timeout))
        if workload_wait:
            result["waited"].extend(applier.wait_ready(workload_wait, wait_timeout))
    counts = {}
    for entry in result["objects"]:
        key = entry["result"].split(" ")[0]
        counts[key] = counts.get(key, 0) + 1
    result["counts"] = counts
    if want_diff and diffs:
        result["diff"] = diffs
    return result


def delete_objects(applier, objects, params, check_mode=False):
    """Delete objects in reverse install order and wait until they are gone.

    Webhook configurations go first (their backends are being removed),
    then custom resources, built-in kinds, CRDs and Namespaces last. Kinds in
    ``keep_kinds`` are left alone; objects whose type is no longer served
    (their CRD is gone) count as deleted.
    """
    keep = set(params.get("keep_kinds") or [])
    result = {"changed": False, "objects": [], "count": 0, "waited": []}
    gone_wait = []
    for obj in reversed(sort_objects(objects)) if params.get("sort", True) else objects:
        if obj["kind"] in keep:
            continue
        result["count"] += 1
        ref = object_ref(obj)
        try:
            path, dummy = applier.path(obj, params.get("namespace"))
        except K8sApplyError:
            result["objects"].append({"ref": ref, "result": "absent"})
            continue
        current = applier.get(path, metadata_only=True)
        if current is None:
            result["objects"].append({"ref": ref, "result": "absent"})
            continue
        if params.get("owned_only") and not managed_by(current, applier.manager):
            result["objects"].append({"ref": ref, "result": "foreign"})
            continue
        result["changed"] = True
        result["objects"].append({"ref": ref, "result": "deleted"})
        if check_mode:
            continue
        try:
            applier.request("DELETE", path, body={"propagationPolicy": "Background"})
        except ApiError as exc:
            if exc.status != 404:
                raise K8sApplyError("cannot delete %s at %s: %s" % (ref, applier.endpoint, api_error(exc)))
        gone_wait.append((ref, path))
    if params.get("wait") and gone_wait and not check_mode:
        deadline = time.time() + (params.get("wait_timeout") or 300)
        pending = gone_wait
        while pending:
            pending = [(ref, path) for ref, path in pending if applier.get(path, metadata_only=True) is not None]
            if pending and time.time() >= deadline:
                raise K8sApplyError("timed out waiting for the deletion of: %s. Look for finalizers "
                                    "(kubectl get -o yaml) whose controller is already gone."
                                    % ", ".join(ref for ref, dummy in pending))
            if pending:
                time.sleep(1)
        result["waited"] = [ref for ref, dummy in gone_wait]
    counts = {}
    for entry in result["objects"]:
        counts[entry["result"]] = counts.get(entry["result"], 0) + 1
    result["counts"] = counts
    return result
