"""An install into a namespace that already runs someone else's workloads
leaves that namespace as it is (labels, Pod Security level), unless the
user asks the stack to adopt it."""
import json
import uuid

import pytest

from tests.k8s.site_env import ROOT, site_inventory
from tests.playbook import run_playbook

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("k8s")]

FOREIGN_LABELS = {"team": "llm", "pod-security.kubernetes.io/enforce": "baseline"}


def _labels(cluster, ns):
    return json.loads(cluster.kubectl("get", "namespace", ns, "-o", "json").stdout)["metadata"].get("labels") or {}


@pytest.fixture
def foreign_namespace(k8s_cluster):
    ns = "bf-%s" % uuid.uuid4().hex[:8]
    k8s_cluster.kubectl("create", "namespace", ns)
    k8s_cluster.kubectl("label", "namespace", ns, *("%s=%s" % kv for kv in FOREIGN_LABELS.items()))
    k8s_cluster.kubectl("-n", ns, "create", "configmap", "llama-stack-config", "--from-literal=telemetry=on")
    yield ns
    k8s_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_existing_namespace_keeps_its_labels_unless_adopted(k8s_cluster, tmp_path, foreign_namespace):
    ns = foreign_namespace
    before = _labels(k8s_cluster, ns)
    neighbour = k8s_cluster.kubectl("-n", ns, "get", "configmap", "llama-stack-config", "-o", "json").stdout
    inv = site_inventory(tmp_path / "hosts.yml", k8s_cluster, extra={"mlops_namespace": ns})
    first = run_playbook(ROOT / "playbooks" / "storage.yml", inventory=inv, timeout=900)
    assert first.rc == 0, first.explain()
    warnings = first.task_result("Check the inventory and the cluster before any change").get("warnings", [])
    assert any("namespace %s exists and was not created by mlops.stack" % ns in w for w in warnings), warnings
    assert _labels(k8s_cluster, ns) == before
    assert json.loads(k8s_cluster.kubectl("-n", ns, "get", "statefulset", "minio", "-o", "json").stdout)
    assert k8s_cluster.kubectl("-n", ns, "get", "configmap", "llama-stack-config", "-o", "json").stdout == neighbour

    second = run_playbook(ROOT / "playbooks" / "storage.yml", inventory=inv, timeout=900)
    assert second.rc == 0 and second.changed() == 0, second.explain()
    assert _labels(k8s_cluster, ns) == before

    adopted = run_playbook(ROOT / "playbooks" / "storage.yml", inventory=inv,
                           extra_vars={"mlops_adopt_namespaces": True}, timeout=900)
    assert adopted.rc == 0, adopted.explain()
    labels = _labels(k8s_cluster, ns)
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["app.kubernetes.io/part-of"] == "mlops-stack" and labels["team"] == "llm"
