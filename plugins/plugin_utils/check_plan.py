# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Check mode across tasks: what earlier tasks of this run would create.

A role applies its objects in several ``mlops.stack.k8s_apply`` tasks
(the MLflow migration Job before the Deployment, a release's CRDs before
the custom resources of the next task, one role's namespace used by the
next role). In check mode nothing is created, so a later task's server-side
dry run would fail with ``namespaces "mlops" not found`` or ``no matches for
kind ClusterIssuer``, although the real run would succeed.

One ``k8s_apply`` call already handles this inside itself: objects whose
Namespace or CRD the same call creates are reported as ``created`` without
asking the server. This module carries that knowledge from task to task in
a host fact (:data:`PLAN_FACT`, set only in check mode): the Namespaces and
CRDs that earlier check-mode tasks of the run reported as created, and the
Secrets ``k8s_generated_secret`` would write (names and key names, never
values). Objects that need one of them are reported as ``created`` (with the
reason), the others go to the server's dry run as usual; a ``k8s_read`` of
such a Secret returns a stand-in with its keys and empty values, so the next
role plans on (a copy of the S3 Secret, the collector's MLflow credentials)
as the real run would.
"""


PLAN_FACT = "mlops_check_mode_plan"


def _api_group(api_version):
    return api_version.split("/", 1)[0] if "/" in (api_version or "") else ""


def _ref(obj):
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return "%s %s%s" % (obj.get("kind", "?"), ns + "/" if ns else "", meta.get("name", "?"))


def plan_of(task_vars):
    """The plan recorded by earlier check-mode tasks.

    ``{"namespaces": set, "crds": set of (group, kind), "secrets": {"namespace/name": [key, ...]}}``.
    """
    task_vars = task_vars or {}
    raw = (task_vars.get("ansible_facts") or {}).get(PLAN_FACT) or task_vars.get(PLAN_FACT) or {}
    return {"namespaces": set(raw.get("namespaces") or []),
            "crds": set(tuple(c) for c in raw.get("crds") or []),
            "secrets": dict((k, list(v)) for k, v in (raw.get("secrets") or {}).items())}


def plan_fact(plan):
    """The plan as a fact value (sorted lists)."""
    return {"namespaces": sorted(plan["namespaces"]), "crds": sorted(list(c) for c in plan["crds"]),
            "secrets": dict((k, sorted(v)) for k, v in sorted(plan["secrets"].items()))}


def pending_reason(obj, plan, default_namespace=None):
    """Why *obj* cannot be dry-run on the server yet (an earlier task creates what it needs), or None."""
    kind = obj.get("kind")
    if (_api_group(obj.get("apiVersion")), kind) in plan["crds"]:
        return "CRD created by an earlier task"
    ns = (obj.get("metadata") or {}).get("namespace") or default_namespace
    if kind != "Namespace" and ns and ns in plan["namespaces"]:
        return "namespace %s created by an earlier task" % ns
    return None


def record(plan, objects, entries):
    """*plan* plus the Namespaces and CRDs among *objects* that *entries* report as created."""
    created = set(e["ref"] for e in entries if str(e.get("result", "")).startswith("created"))
    out = dict(plan, namespaces=set(plan["namespaces"]), crds=set(plan["crds"]))
    for obj in objects:
        if _ref(obj) not in created:
            continue
        if obj.get("kind") == "Namespace":
            out["namespaces"].add((obj.get("metadata") or {}).get("name"))
        elif obj.get("kind") == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            out["crds"].add((spec.get("group"), (spec.get("names") or {}).get("kind")))
    return out


def run_planned(run, load_objects, params, plan, want_diff, **run_kwargs):
    """A check-mode ``k8s_apply`` (``state=present``) that knows *plan*.

    *run* and *load_objects* are the module's own functions. Objects that
    need a Namespace or CRD of the plan are reported as created; the others
    are dry-run by *run* (already loaded, filtered and transformed, so they
    are passed as plain definitions). The result carries the grown plan as
    ``ansible_facts``.
    """
    objects = load_objects(params)
    default_ns = params.get("namespace")
    pending = [(obj, pending_reason(obj, plan, default_ns)) for obj in objects]
    rest = [obj for obj, reason in pending if reason is None]
    if len(rest) == len(objects):
        result = run(params, check_mode=True, want_diff=want_diff, **run_kwargs)
    elif rest:
        plain = dict(params, src=[], definition=rest, include_kinds=[], exclude=[], overrides=[],
                     overrides_missing_ok=True, labels={}, image_registry="", parse_cache=None)
        result = run(plain, check_mode=True, want_diff=want_diff, **run_kwargs)
    else:
        result = {"changed": False, "objects": [], "count": 0, "waited": []}
    if len(rest) != len(objects):
        by_ref = dict((e["ref"], e) for e in result.get("objects") or [])
        entries, diffs = [], list(result.get("diff") or [])
        for obj, reason in pending:
            ref = _ref(obj)
            if reason is None:
                entries.append(by_ref.get(ref, {"ref": ref, "result": "unchanged"}))
                continue
            entries.append({"ref": ref, "result": "created (%s)" % reason})
            if want_diff:
                diffs.append({"before_header": ref, "after_header": ref, "before": {}, "after": obj})
        counts = {}
        for entry in entries:
            key = entry["result"].split(" ")[0]
            counts[key] = counts.get(key, 0) + 1
        result.update(changed=True, objects=entries, count=len(objects), counts=counts)
        if want_diff and diffs:
            result["diff"] = diffs
    grown = record(plan, objects, result.get("objects") or [])
    if grown != plan:
        result["ansible_facts"] = {PLAN_FACT: plan_fact(grown)}
    return result


def record_secret(plan, result, params):
    """*plan* plus the Secret (name and key names) a check-mode ``k8s_generated_secret`` would write."""
    if not result.get("changed") or result.get("failed"):
        return plan
    ref = "%s/%s" % (params["namespace"], params["name"])
    keys = sorted(set(plan["secrets"].get(ref, [])) | set((result.get("secret") or {}).get("keys") or []))
    secrets = dict(plan["secrets"])
    secrets[ref] = keys
    return dict(plan, secrets=secrets)


def planned_read(plan, params, result):
    """A check-mode ``k8s_read`` *result*, with the stand-in of a Secret an earlier task would write.

    Only for a read of one Secret by name that the server does not have; the
    stand-in has the planned keys with empty values.
    """
    if result.get("resources") or params.get("kind") != "Secret" or not params.get("name"):
        return result
    namespace = params.get("namespace") or "default"
    ref = "%s/%s" % (namespace, params["name"])
    if ref not in plan["secrets"]:
        return result
    stand_in = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": params["name"], "namespace": namespace,
                             "annotations": {"mlops.stack/check-mode": "planned by an earlier task; values unknown"}},
                "data": dict((key, "") for key in plan["secrets"][ref])}
    out = dict(result, resources=[stand_in], planned=True)
    out["warnings"] = list(result.get("warnings") or []) + [
        "Check mode: Secret %s does not exist yet; an earlier task of this run would write it (keys %s), so its "
        "values are shown empty." % (ref, ", ".join(plan["secrets"][ref]) or "none")]
    return out
