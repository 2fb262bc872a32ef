"""module_utils/k8s/statefulset.py on StatefulSet objects as the API
server returns them (status shapes of kube-controller-manager's StatefulSet
controller). On the real controller: tests/k8s/test_statefulset_rollout.py."""
import pytest

from ansible_collections.mlops.stack.plugins.module_utils.k8s.statefulset import statefulset_ready


def sts(replicas=3, generation=2, strategy=None, **status):
    obj = {"kind": "StatefulSet", "metadata": {"name": "pg", "generation": generation},
           "spec": {"replicas": replicas, "updateStrategy": strategy or {"type": "RollingUpdate",
                                                                         "rollingUpdate": {"partition": 0}}},
           "status": dict({"observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas,
                           "availableReplicas": replicas, "updatedReplicas": replicas, "currentReplicas": replicas,
                           "currentRevision": "pg-new", "updateRevision": "pg-new"}, **status)}
    return obj


def test_rolled_out():
    ok, reason = statefulset_ready(sts())
    assert ok and reason == "3 replicas ready at revision pg-new"


@pytest.mark.parametrize("status,why", [
    # Template changed, controller saw it, no pod replaced yet: all old pods Ready.
    (dict(updatedReplicas=0, currentRevision="pg-old"), "0/3 replicas updated to revision pg-new"),
    # Omitted when 0 (omitempty).
    (dict(updatedReplicas=None, currentRevision="pg-old"), "replicas updated"),
    # Two of three replaced and Ready again; pg-0 still old.
    (dict(updatedReplicas=2, currentRevision="pg-old"), "2/3 replicas updated"),
    # All updated but the controller has not completed the rollout yet.
    (dict(currentRevision="pg-old"), "not complete (current revision pg-old)"),
    # The replaced pod is not Ready yet.
    (dict(readyReplicas=2, updatedReplicas=1, currentRevision="pg-old"), "2/3 replicas ready"),
    (dict(availableReplicas=2), "2/3 replicas available"),
    (dict(observedGeneration=1), "has not observed generation 2"),
    (dict(observedGeneration=None), "has not observed generation 2"),
    (dict(replicas=4), "scaling down: 4 pods exist, 3 wanted"),
    (dict(updateRevision=None, currentRevision=None), "has not reported an updateRevision"),
])
def test_not_ready_while_old_pods_serve(status, why):
    obj = sts()
    for key, value in status.items():
        if value is None:
            obj["status"].pop(key)
        else:
            obj["status"][key] = value
    ok, reason = statefulset_ready(obj)
    assert not ok and why in reason, reason


def test_partition_waits_only_for_the_partitioned_pods():
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    ok, reason = statefulset_ready(sts(strategy=strategy, updatedReplicas=0, currentRevision="pg-old"))
    assert not ok and "0/1 pods (ordinal >= 2)" in reason
    ok, reason = statefulset_ready(sts(strategy=strategy, updatedReplicas=1, currentRevision="pg-old"))
    assert ok and "partitioned rollout done" in reason


def test_on_delete_waits_for_ready_only_and_says_so():
    ok, reason = statefulset_ready(sts(strategy={"type": "OnDelete"}, updatedReplicas=1, currentRevision="pg-old"))
    assert ok and "OnDelete: 1/3 pods" in reason
    assert not statefulset_ready(sts(strategy={"type": "OnDelete"}, readyReplicas=1))[0]


def test_defaults_and_zero_replicas():
    obj = sts(replicas=1)
    del obj["spec"]["replicas"], obj["spec"]["updateStrategy"], obj["status"]["availableReplicas"]
    assert statefulset_ready(obj)[0]
    zero = sts(replicas=0, readyReplicas=0, availableReplicas=0, updatedReplicas=0)
    assert statefulset_ready(zero)[0]
