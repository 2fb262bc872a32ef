"""playbooks/tasks/purge_data.yml, the last step of teardown.yml with
mlops_purge=true, on the local control plane: in a namespace the stack did not
create (so it survives the teardown), the stack's labelled Secrets and
volumes are deleted by name, everything else stays, and no value is printed."""
import json
from pathlib import Path

import pytest

from tests.playbook import run_playbook

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("k8s")]

ROOT = Path(__file__).resolve().parents[2]
STACK = {"app.kubernetes.io/part-of": "mlops-stack"}
PASSWORD = "purge-me-Qk2v9LmX7"


def _objects(ns):
    pvc_spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ours", "namespace": ns, "labels": STACK},
         "stringData": {"password": PASSWORD}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "theirs", "namespace": ns},
         "stringData": {"password": PASSWORD}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": "data", "namespace": ns, "labels": STACK}, "spec": pvc_spec},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept", "namespace": ns, "labels": STACK}},
    ]


def test_purge_deletes_the_stacks_secrets_and_volumes_only(k8s_cluster, k8s_namespace, tmp_path):
    for obj in _objects(k8s_namespace):
        k8s_cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))
    playbook = tmp_path / "purge.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "Purge", "ansible.builtin.include_tasks": str(ROOT / "playbooks" / "tasks" / "purge_data.yml")}],
    }]))
    env = {"K8S_AUTH_KUBECONFIG": k8s_cluster.kubeconfig, "K8S_AUTH_CONTEXT": k8s_cluster.context}
    res = run_playbook(playbook, extra_vars={"mlops_namespace": k8s_namespace}, env=env, timeout=300)
    assert res.rc == 0, res.explain()
    deleted = res.task_result("Delete the stack's generated Secrets and volumes")
    assert sorted(o["ref"] for o in deleted["objects"] if o["result"] == "deleted") == [
        "PersistentVolumeClaim %s/data" % k8s_namespace, "Secret %s/ours" % k8s_namespace], deleted
    assert PASSWORD not in res.stdout
    left = k8s_cluster.kubectl("-n", k8s_namespace, "get", "secrets,configmaps", "-o", "name").stdout.split()
    assert "secret/theirs" in left and "configmap/kept" in left and "secret/ours" not in left, left
    again = run_playbook(playbook, extra_vars={"mlops_namespace": k8s_namespace}, env=env, timeout=300)
    assert again.rc == 0, again.explain()
    assert [o for o in again.task_result("Delete the stack's generated Secrets and volumes")["objects"]
            if o["ref"].startswith("Secret")] == []
