"""A tiny dynamic PV provisioner: a real controller loop against the real API.

With no kubelet and no CSI driver, nothing would ever provision a PVC. The
harness runs this loop (in its supervisor process) for the StorageClasses
whose provisioner is ``mlops.stack/kwok-hostpath``: it follows the external
provisioner protocol -- for every pending claim it creates a hostPath PV
pre-bound to the claim (claimRef with uid) and lets kube-controller-manager's
PV controller complete the binding; a Released PV with reclaim policy Delete
is deleted. WaitForFirstConsumer classes are honoured through the
scheduler's ``volume.kubernetes.io/selected-node`` annotation.
"""
import logging
import threading

from . import objects

log = logging.getLogger("mlops.cluster.provisioner")


def reconcile_once(core, storage):
    """One pass; returns the names of the PVs created or deleted."""
    from kubernetes.client.exceptions import ApiException

    ser = core.api_client.sanitize_for_serialization
    classes = {}
    for sc in storage.list_storage_class().items:
        if sc.provisioner == objects.PROVISIONER:
            classes[sc.metadata.name] = sc.volume_binding_mode or "Immediate"
    done = []
    if classes:
        for pvc in core.list_persistent_volume_claim_for_all_namespaces().items:
            if pvc.spec.volume_name or (pvc.status and pvc.status.phase not in (None, "Pending")):
                continue
            mode = classes.get(pvc.spec.storage_class_name or "")
            if mode is None:
                continue
            ann = pvc.metadata.annotations or {}
            if mode == "WaitForFirstConsumer" and "volume.kubernetes.io/selected-node" not in ann:
                continue
            pv = objects.persistent_volume_for(ser(pvc), pvc.spec.storage_class_name)
            try:
                core.create_persistent_volume(pv)
                done.append(pv["metadata"]["name"])
                log.info("provisioned %s for %s/%s", pv["metadata"]["name"],
                         pvc.metadata.namespace, pvc.metadata.name)
            except ApiException as exc:
                if exc.status != 409:
                    raise
    for pv in core.list_persistent_volume().items:
        ann = pv.metadata.annotations or {}
        if (ann.get("pv.kubernetes.io/provisioned-by") == objects.PROVISIONER
                and pv.spec.persistent_volume_reclaim_policy == "Delete"
                and pv.status and pv.status.phase in ("Released", "Failed")):
            try:
                core.delete_persistent_volume(pv.metadata.name)
                done.append(pv.metadata.name)
                log.info("deleted released %s", pv.metadata.name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
    return done


class Provisioner(threading.Thread):
    """Runs reconcile_once every ``interval`` seconds until stop()."""

    def __init__(self, api_client, interval=0.5):
        super().__init__(name="pv-provisioner", daemon=True)
        from kubernetes import client
        self.core = client.CoreV1Api(api_client)
        self.storage = client.StorageV1Api(api_client)
        self.interval = interval
        self._stop_evt = threading.Event()

    def run(self):
        while not self._stop_evt.is_set():
            try:
                reconcile_once(self.core, self.storage)
            except Exception as exc:  # keep the loop alive across API hiccups
                log.warning("provisioner pass failed: %s", exc)
            self._stop_evt.wait(self.interval)

    def stop(self):
        self._stop_evt.set()
