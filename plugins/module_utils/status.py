# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Summarise Kubernetes workload objects into a short status row."""


VERSION_LABEL = "app.kubernetes.io/version"


def _container_version(obj):
    containers = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    if containers:
        image = containers[0].get("image", "")
        tail = image.rsplit("/", 1)[-1]
        if "@" in tail:
            tail = tail.split("@", 1)[0]
        if ":" in tail:
            return tail.split(":", 1)[1]
    return ""


def _failed_condition(obj):
    for cond in obj.get("status", {}).get("conditions") or []:
        ctype, status = cond.get("type"), cond.get("status")
        bad = (ctype in ("Available", "Ready", "Established") and status != "True") or \
              (ctype in ("ReplicaFailure", "Failed") and status == "True") or \
              (ctype == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded")
        if bad:
            return "%s=%s: %s" % (ctype, status, cond.get("message") or cond.get("reason") or "")
    return ""


def workload_status(obj, component=None, endpoint="", missing=""):
    """Return a status row for a Deployment, StatefulSet, DaemonSet, Gateway or Secret.

    A missing object (None or {}) is reported as a problem (``missing``, or
    "not found"), not an error, so a validate run lists everything that is
    wrong at once.
    """
    if not obj:
        return {"component": component or "?", "version": "", "ready": "0/0",
                "endpoint": endpoint, "problem": missing or "not found", "ok": False}
    meta = obj.get("metadata", {})
    kind = obj.get("kind", "")
    status = obj.get("status", {}) or {}
    if kind == "Secret":
        # A contract Secret (mlops-s3, mlops-s3-kserve): present is all validate can tell.
        return {"component": component or meta.get("name", "?"), "version": "", "ready": "1/1",
                "endpoint": endpoint, "problem": "", "ok": True}
    if kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled", 0)
        ready = status.get("numberReady", 0)
    elif kind == "Gateway":
        # Programmed: the implementation configured its data plane for it.
        conds = dict((c.get("type"), c) for c in status.get("conditions") or [])
        programmed = conds.get("Programmed") or {}
        desired, ready = 1, 1 if programmed.get("status") == "True" else 0
        if not ready:
            return {"component": component or meta.get("name", "?"), "version": "", "ready": "0/1",
                    "endpoint": endpoint, "ok": False,
                    "problem": "Gateway not Programmed: %s (is the GatewayClass %s served by a Gateway API "
                               "implementation?)" % (programmed.get("message") or programmed.get("reason") or "no status",
                                                     obj.get("spec", {}).get("gatewayClassName"))}
    else:
        desired = obj.get("spec", {}).get("replicas", 1)
        ready = status.get("readyReplicas", 0) or 0
    version = (meta.get("labels") or {}).get(VERSION_LABEL) or _container_version(obj)
    problem = _failed_condition(obj)
    if not problem and ready < desired:
        problem = "%d of %d replicas ready" % (ready, desired)
    observed = status.get("observedGeneration")
    if not problem and observed is not None and observed < meta.get("generation", 0):
        problem = "rollout of generation %s not observed yet" % meta.get("generation")
    return {
        "component": component or meta.get("name", "?"),
        "version": version,
        "ready": "%d/%d" % (ready, desired),
        "endpoint": endpoint,
        "problem": problem,
        "ok": not problem,
    }


COLUMNS = ("component", "version", "ready", "endpoint", "problem")


def status_table(rows, columns=COLUMNS):
    """Format rows (dicts) as a fixed-width text table."""
    header = [c.upper() for c in columns]
    body = [[str(r.get(c, "") if r.get(c) not in (None, "") else "-") for c in columns] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *body)] if body else [len(h) for h in header]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in [header] + body]
    return "\n".join(lines)
