"""statefulset_ready (module_utils/k8s/statefulset.py) on the real
StatefulSet controller (kube-controller-manager; kwok runs the pods): after
a template change it says not-ready until every pod runs the new revision,
where ``readyReplicas`` alone (the old pods are still Ready) says ready."""
import json
import time

import pytest

from ansible_collections.mlops.stack.plugins.module_utils.k8s.statefulset import statefulset_ready
from tests.k8s.test_control_plane import RESTRICTED_CONTAINER

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("k8s")]


def snapshot(cluster, ns):
    sts = json.loads(cluster.kubectl("get", "statefulset", "web", "-n", ns, "-o", "json").stdout)
    pods = json.loads(cluster.kubectl("get", "pods", "-n", ns, "-l", "app=web", "-o", "json").stdout)["items"]
    return sts, pods


def pods_at(pods, revision):
    """All pods exist, are Ready and carry *revision*."""
    def ready(p):
        return any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])
    return len(pods) == 3 and all(p["metadata"]["labels"].get("controller-revision-hash") == revision and ready(p)
                                  and not p["metadata"].get("deletionTimestamp") for p in pods)


def test_not_ready_until_the_rollout_completes(k8s_cluster, k8s_namespace):
    container = {"name": "web", "image": "registry.k8s.io/pause:3.10", **RESTRICTED_CONTAINER}
    sts = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": k8s_namespace},
        # minReadySeconds: each replaced pod counts as available 2 s after
        # Ready, so the rollout of three pods takes several seconds.
        "spec": {"serviceName": "web", "replicas": 3, "minReadySeconds": 2,
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}, "annotations": {"rev": "1"}},
                              "spec": {"containers": [container], "terminationGracePeriodSeconds": 0}}},
    }
    k8s_cluster.apply_server_side([sts])
    deadline = time.monotonic() + 120
    while not statefulset_ready(snapshot(k8s_cluster, k8s_namespace)[0])[0]:
        assert time.monotonic() < deadline, "first rollout never ready"
        time.sleep(0.5)
    old_revision = snapshot(k8s_cluster, k8s_namespace)[0]["status"]["currentRevision"]

    k8s_cluster.kubectl("-n", k8s_namespace, "patch", "statefulset", "web", "--type=merge",
                        "-p", json.dumps({"spec": {"template": {"metadata": {"annotations": {"rev": "2"}}}}}))
    seen_old_logic_ready_while_not_done = False
    reasons = []
    deadline = time.monotonic() + 180
    while True:
        assert time.monotonic() < deadline, "rollout did not finish: %s" % reasons[-5:]
        obj, pods = snapshot(k8s_cluster, k8s_namespace)
        ok, reason = statefulset_ready(obj)
        reasons.append(reason)
        status = obj["status"]
        new_revision = status.get("updateRevision")
        if ok:
            # Pods are read after the StatefulSet: by then they can only be further along.
            assert new_revision != old_revision and pods_at(pods, new_revision), (reason, status)
            break
        old_logic = (status.get("observedGeneration", 0) >= obj["metadata"]["generation"]
                     and status.get("readyReplicas", 0) >= 3)
        if old_logic and any(p["metadata"]["labels"].get("controller-revision-hash") == old_revision
                             for p in pods):
            seen_old_logic_ready_while_not_done = True
        time.sleep(0.2)
    # The case the check exists for happened: the controller saw the new
    # template, three pods were Ready, some still at the old revision.
    assert seen_old_logic_ready_while_not_done, reasons
    print("reasons seen during the rollout: %s" % sorted(set(reasons)))
