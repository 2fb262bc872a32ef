# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Readiness: CRD Established, Deployment available, DaemonSet rolled out,
StatefulSet rolled out (every pod Ready at the update revision, see
:mod:`statefulset`), Job complete (or failed for good), and the loop that
waits for them. The checks are pure (plain dicts); :func:`wait_ready`
reads through a ``get(path)`` callable."""


import time

from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import K8sApplyError, object_ref
from ansible_collections.mlops.stack.plugins.module_utils.k8s.statefulset import statefulset_ready


def crd_established(crd):
    for cond in (crd.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Established":
            return cond.get("status") == "True"
    return False


def workload_ready(obj):
    """(ready, reason) for Deployment / DaemonSet / StatefulSet rollouts."""
    kind = obj.get("kind")
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    # Jobs have no status.observedGeneration.
    if kind != "Job" and status.get("observedGeneration", 0) < meta.get("generation", 0):
        return False, "controller has not observed generation %s yet" % meta.get("generation")
    if kind == "Deployment":
        replicas = spec.get("replicas", 1)
        for cond in status.get("conditions") or []:
            # E.g. a namespace's Pod Security level refuses the new pods while
            # the old ones keep running: say so rather than "0/1 updated".
            if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
                return False, "new pods cannot be created (%s): %s" % (cond.get("reason"), cond.get("message"))
            if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
                return False, "rollout exceeded its progress deadline: %s" % cond.get("message")
        if status.get("updatedReplicas", 0) < replicas:
            return False, "%s/%s replicas updated" % (status.get("updatedReplicas", 0), replicas)
        if status.get("availableReplicas", 0) < replicas:
            return False, "%s/%s replicas available" % (status.get("availableReplicas", 0), replicas)
        return True, "available"
    if kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled", 0)
        if status.get("updatedNumberScheduled", 0) < desired:
            return False, "%s/%s pods updated" % (status.get("updatedNumberScheduled", 0), desired)
        if status.get("numberAvailable", 0) < desired:
            return False, "%s/%s pods available" % (status.get("numberAvailable", 0), desired)
        return True, "rolled out"
    if kind == "StatefulSet":
        return statefulset_ready(obj)
    if kind == "Job":
        for cond in status.get("conditions") or []:
            if cond.get("status") == "True" and cond.get("type") == "Complete":
                return True, "complete"
        return False, "%s succeeded, %s failed" % (status.get("succeeded", 0), status.get("failed", 0))
    return True, "no readiness check for %s" % kind


WAIT_KINDS = frozenset(["CustomResourceDefinition", "Deployment", "DaemonSet", "StatefulSet", "Job"])


def job_failed(obj):
    """The message of a Job's Failed condition (waiting longer cannot help), else None."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            return "%s: %s" % (cond.get("reason") or "Failed", cond.get("message") or "")
    return None


def wait_ready(get, items, timeout):
    """Wait until every (obj, path) in *items* is ready; return list of refs.

    *get* reads an object by API path (None when absent), e.g. ``Applier.get``.
    """
    deadline = time.time() + timeout
    pending = list(items)
    waited = []
    while pending:
        still = []
        last_reason = {}
        for obj, path in pending:
            current = get(path) or {}
            if obj["kind"] == "CustomResourceDefinition":
                ok, reason = crd_established(current), "not Established"
            else:
                ok, reason = workload_ready(current)
                failed = job_failed(current) if obj["kind"] == "Job" else None
                if failed:
                    raise K8sApplyError("%s failed (%s). Read its pod logs (kubectl logs job/%s -n %s), fix "
                                        "the cause, delete the Job and run again."
                                        % (object_ref(obj), failed, obj["metadata"]["name"],
                                           (current.get("metadata") or {}).get("namespace", "")))
            if ok:
                waited.append(object_ref(obj))
            else:
                still.append((obj, path))
                last_reason[object_ref(obj)] = reason
        pending = still
        if pending:
            if time.time() >= deadline:
                raise K8sApplyError(
                    "timed out after %ss waiting for: %s. Check the pods/events of these objects "
                    "(kubectl describe); raise wait_timeout for slow image pulls."
                    % (timeout, "; ".join("%s (%s)" % kv for kv in sorted(last_reason.items()))))
            time.sleep(1)
    return waited
