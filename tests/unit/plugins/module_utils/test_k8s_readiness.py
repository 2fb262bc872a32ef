"""Unit tests for plugins/module_utils/k8s/readiness.py (readiness checks and the wait loop)."""
import pytest

from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import K8sApplyError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.readiness import (
    WAIT_KINDS,
    crd_established,
    job_failed,
    wait_ready,
    workload_ready,
)


def test_readiness():
    assert crd_established({"status": {"conditions": [{"type": "Established", "status": "True"}]}})
    assert not crd_established({})
    dep = {"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2},
           "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 1}}
    assert workload_ready(dep) == (False, "1/2 replicas available")
    dep["status"]["availableReplicas"] = 2
    assert workload_ready(dep)[0]
    ds = {"kind": "DaemonSet", "metadata": {"generation": 1}, "status": {
        "observedGeneration": 1, "desiredNumberScheduled": 1, "updatedNumberScheduled": 1, "numberAvailable": 1}}
    assert workload_ready(ds)[0]


def test_job_readiness():
    # A Job has metadata.generation but never status.observedGeneration.
    job = {"kind": "Job", "metadata": {"name": "migrate", "generation": 1}, "status": {"active": 1}}
    assert workload_ready(job) == (False, "0 succeeded, 0 failed")
    assert job_failed(job) is None
    job["status"] = {"succeeded": 1, "conditions": [
        {"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}
    assert workload_ready(job) == (True, "complete")
    failed = {"kind": "Job", "status": {"failed": 6, "conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the limit"}]}}
    assert not workload_ready(failed)[0]
    assert job_failed(failed) == "BackoffLimitExceeded: Job has reached the limit"
    assert "Job" in WAIT_KINDS


def test_wait_ready_reads_through_get():
    crd = {"kind": "CustomResourceDefinition", "metadata": {"name": "x"}}
    job = {"kind": "Job", "metadata": {"name": "migrate", "namespace": "n"}}
    current = {
        "/crd": {"status": {"conditions": [{"type": "Established", "status": "True"}]}},
        "/job": {"status": {"conditions": [{"type": "Complete", "status": "True"}]}},
    }
    assert wait_ready(current.get, [(crd, "/crd"), (job, "/job")], 5) == [
        "CustomResourceDefinition x", "Job n/migrate"]
    current["/job"] = {"metadata": {"namespace": "n"}, "status": {"conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "limit"}]}}
    with pytest.raises(K8sApplyError, match="Job n/migrate failed .BackoffLimitExceeded: limit.*delete the Job"):
        wait_ready(current.get, [(job, "/job")], 5)
    with pytest.raises(K8sApplyError, match=r"timed out after 0s waiting for: CustomResourceDefinition y \(not Established\)"):
        wait_ready({}.get, [(dict(crd, metadata={"name": "y"}), "/y")], 0)


def test_statefulset_waits_for_the_update_revision():
    """Old pods still Ready during a rollout do not make the StatefulSet ready."""
    sts = {"kind": "StatefulSet", "metadata": {"generation": 2}, "spec": {"replicas": 2},
           "status": {"observedGeneration": 2, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 1,
                      "currentRevision": "web-1", "updateRevision": "web-2"}}
    assert workload_ready(sts) == (False, "1/2 replicas updated to revision web-2")
    sts["status"].update(updatedReplicas=2, currentRevision="web-2")
    assert workload_ready(sts) == (True, "2 replicas ready at revision web-2")


def test_a_deployment_whose_new_pods_are_refused_says_why():
    dep = {"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 1},
           "status": {"observedGeneration": 2, "updatedReplicas": 0, "availableReplicas": 1, "conditions": [
               {"type": "Available", "status": "True"},
               {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                "message": 'pods "llama-1" is forbidden: violates PodSecurity "restricted:latest"'}]}}
    ok, reason = workload_ready(dep)
    assert not ok and reason.startswith("new pods cannot be created (FailedCreate): ") and "PodSecurity" in reason
