import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.stack.plugins.filter.gpu_scheduling import FilterModule

F = FilterModule().filters()

HOSTVARS = {
    "gpu-a": {"gpu_product": "NVIDIA-A100-SXM4-80GB", "gpu_count": 8},
    "gpu-b": {"gpu_product": "NVIDIA-L4", "gpu_count": "2", "gpu_node_labels": {"zone": "b"}},
    "gpu-c": {},
}


def inv(hosts=("gpu-a", "gpu-b"), hv=None):
    return F["gpu_inventory"](list(hosts), hv or HOSTVARS)


def test_all_filters_registered():
    assert {"gpu_inventory", "gpu_node_selector", "gpu_tolerations", "gpu_node_affinity", "gpu_resources",
            "gpu_pod_scheduling", "gpu_merge_taints", "gpu_node_labels", "gpu_node_taints"} <= set(F)


def test_inventory_records():
    nodes = inv()
    assert nodes[0] == {
        "name": "gpu-a", "gpu_product": "NVIDIA-A100-SXM4-80GB", "gpu_count": 8,
        "labels": {"workload-type": "inference", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
        "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
    }
    assert nodes[1]["gpu_count"] == 2
    assert nodes[1]["labels"]["zone"] == "b"


def test_inventory_defaults_and_dedup():
    nodes = F["gpu_inventory"](["gpu-c", "gpu-c"], HOSTVARS, default_count=4)
    assert len(nodes) == 1
    assert nodes[0]["gpu_count"] == 4 and nodes[0]["gpu_product"] is None
    assert "nvidia.com/gpu.product" not in nodes[0]["labels"]


def test_inventory_empty_group():
    assert F["gpu_inventory"]([], {}) == []
    assert F["gpu_inventory"](None, {}) == []


@pytest.mark.parametrize("bad", [0, -1, "x", "1.5", True, 2.5, None])
def test_inventory_rejects_bad_gpu_count(bad):
    with pytest.raises(AnsibleFilterError, match="gpu_count of GPU node n1 must be a positive integer"):
        F["gpu_inventory"](["n1"], {"n1": {"gpu_count": bad}})


def test_inventory_rejects_bad_product_and_labels():
    with pytest.raises(AnsibleFilterError, match="gpu_product of GPU node n1"):
        F["gpu_inventory"](["n1"], {"n1": {"gpu_product": "bad value!"}})
    with pytest.raises(AnsibleFilterError, match="must be a dict"):
        F["gpu_inventory"](["n1"], {"n1": {"gpu_node_labels": ["a"]}})
    with pytest.raises(AnsibleFilterError, match="taint effect"):
        F["gpu_inventory"](["n1"], {"n1": {"gpu_node_taints": [{"key": "k", "effect": "Never"}]}})


def test_inventory_rejects_non_list():
    with pytest.raises(AnsibleFilterError, match="list of host names"):
        F["gpu_inventory"]("gpu-a", HOSTVARS)


def test_custom_role_labels_and_taint():
    nodes = F["gpu_inventory"](["gpu-a"], HOSTVARS, role_labels={"pool": "gpu"},
                               taint={"key": "dedicated", "value": "gpu", "effect": "NoExecute"})
    assert nodes[0]["labels"]["pool"] == "gpu"
    assert nodes[0]["taints"] == [{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]
    assert F["gpu_tolerations"](nodes) == [
        {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoExecute"}]


def test_node_selector_common_labels_only():
    assert F["gpu_node_selector"](inv()) == {"workload-type": "inference"}
    assert F["gpu_node_selector"](inv(), product="NVIDIA-L4") == {
        "workload-type": "inference", "nvidia.com/gpu.product": "NVIDIA-L4"}
    with pytest.raises(AnsibleFilterError, match="no GPU inference node has gpu_product 'H100'"):
        F["gpu_node_selector"](inv(), product="H100")
    assert F["gpu_node_selector"]([]) == {}


def test_tolerations():
    assert F["gpu_tolerations"](inv()) == [{"key": "nvidia.com/gpu", "effect": "NoSchedule", "operator": "Exists"}]
    assert F["gpu_tolerations"]([{"key": "a", "effect": "NoSchedule"}]) == [
        {"key": "a", "effect": "NoSchedule", "operator": "Exists"}]
    assert F["gpu_tolerations"]([]) == []


def test_affinity_by_product_when_exact():
    aff = F["gpu_node_affinity"](inv(), 4)
    term = aff["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term == {"matchExpressions": [
        {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-A100-SXM4-80GB"]}]}


def test_affinity_by_name_without_products():
    nodes = F["gpu_inventory"](["gpu-a", "gpu-c"], HOSTVARS)
    aff = F["gpu_node_affinity"](nodes, 1)
    term = aff["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term == {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["gpu-a", "gpu-c"]}]}
    aff = F["gpu_node_affinity"](inv(), 1, pin_hostnames=True)
    assert "matchFields" in aff["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"][0]


def test_affinity_too_many_gpus():
    with pytest.raises(AnsibleFilterError, match="no GPU inference node has 16 or more GPUs"):
        F["gpu_node_affinity"](inv(), 16)
    with pytest.raises(AnsibleFilterError, match="positive integer"):
        F["gpu_node_affinity"](inv(), 0)


def test_resources():
    assert F["gpu_resources"](2, {"cpu": "1"}, {"memory": "8Gi"}) == {
        "requests": {"cpu": "1", "nvidia.com/gpu": "2"},
        "limits": {"memory": "8Gi", "nvidia.com/gpu": "2"}}
    with pytest.raises(AnsibleFilterError, match="GPU count must be a positive integer"):
        F["gpu_resources"]("two")


def test_pod_scheduling():
    out = F["gpu_pod_scheduling"](inv(), gpu_count=1, runtime_class="nvidia")
    assert out["nodeSelector"] == {"workload-type": "inference"}
    assert out["runtimeClassName"] == "nvidia"
    assert out["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "affinity" in out
    assert "affinity" not in F["gpu_pod_scheduling"](inv(), affinity=False)
    with pytest.raises(AnsibleFilterError, match="no GPU inference nodes"):
        F["gpu_pod_scheduling"]([])


def test_merge_taints_keeps_others_and_is_stable():
    existing = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    merged = F["gpu_merge_taints"](existing, [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}])
    assert merged == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                      {"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    assert F["gpu_merge_taints"](merged, [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]) == merged
    assert F["gpu_merge_taints"](None, [{"key": "a"}]) == [{"key": "a", "effect": "NoSchedule"}]
