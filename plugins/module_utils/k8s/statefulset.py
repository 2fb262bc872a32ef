# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""When a StatefulSet's rollout is done: a pure check on the object read
from the API (plain dict), used by :func:`readiness.workload_ready` for the
readiness wait of k8s_apply.

``readyReplicas`` alone is not enough: right after a template change the
old pods are still Ready and counted, so a wait would return while they
serve the old revision. The StatefulSet controller reports the rollout in
``updateRevision`` / ``currentRevision`` / ``updatedReplicas``; it sets
``currentRevision = updateRevision`` only once every pod is updated and
Ready (RollingUpdate without partition).
"""


def statefulset_ready(obj):
    """``(ready, reason)`` for a StatefulSet.

    Ready when the controller has observed the current generation and

    * ``RollingUpdate`` (the default), no partition: as many pods exist as
      wanted (a scale-down is done), all of them at ``updateRevision``
      (``updatedReplicas``) and Ready (and Available, when the server
      reports ``availableReplicas``, i.e. ``minReadySeconds`` passed), and
      ``currentRevision == updateRevision``;
    * ``RollingUpdate`` with ``partition: N``: the pods from ordinal N up are
      updated and every pod is Ready (``kubectl rollout status``'s rule: the
      pods below N stay at the old revision on purpose);
    * ``OnDelete``: every pod is Ready; the controller replaces a pod only
      when it is deleted, so waiting for the new revision could last forever
      and the reason says how many pods are not updated yet.
    """
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    generation = meta.get("generation", 0)
    observed = status.get("observedGeneration")
    if observed is None or observed < generation:
        return False, "controller has not observed generation %s yet" % generation
    replicas = spec.get("replicas", 1)
    if replicas is None:
        replicas = 1
    current = status.get("replicas", 0)
    ready = status.get("readyReplicas", 0)
    updated = status.get("updatedReplicas", 0)
    update_rev = status.get("updateRevision")
    current_rev = status.get("currentRevision")
    strategy = spec.get("updateStrategy") or {}
    kind = strategy.get("type") or "RollingUpdate"

    if current > replicas:
        return False, "scaling down: %s pods exist, %s wanted" % (current, replicas)
    if ready < replicas:
        return False, "%s/%s replicas ready" % (ready, replicas)
    if "availableReplicas" in status and status.get("availableReplicas", 0) < replicas:
        return False, "%s/%s replicas available (minReadySeconds)" % (status.get("availableReplicas", 0), replicas)
    if kind == "OnDelete":
        if updated < replicas:
            return True, ("ready; updateStrategy OnDelete: %s/%s pods at revision %s, the others change only "
                          "when deleted" % (updated, replicas, update_rev))
        return True, "ready at revision %s" % update_rev
    if not update_rev:
        return False, "controller has not reported an updateRevision yet"
    partition = ((strategy.get("rollingUpdate") or {}).get("partition")) or 0
    if partition > 0:
        want = max(0, replicas - partition)
        if updated < want:
            return False, "partitioned rollout: %s/%s pods (ordinal >= %s) at revision %s" % (
                updated, want, partition, update_rev)
        return True, "partitioned rollout done: %s pods at revision %s" % (updated, update_rev)
    if updated < replicas:
        return False, "%s/%s replicas updated to revision %s" % (updated, replicas, update_rev)
    if current_rev != update_rev:
        return False, "rolling update to revision %s not complete (current revision %s)" % (update_rev, current_rev)
    return True, "%s replicas ready at revision %s" % (replicas, update_rev)
