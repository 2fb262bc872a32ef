"""Objects the harness creates in a fresh control plane (pure data).

Nodes are managed by kwok (annotation ``kwok.x-k8s.io/node: fake``); GPU
inference nodes look like GPU Operator / GKE nodes: ``nvidia.com/gpu``
capacity and allocatable, ``nvidia.com/gpu.present=true``, a product label
and the taint ``nvidia.com/gpu:NoSchedule`` (key only, no value; tolerate
it with ``operator: Exists``).
"""

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
PROVISIONER = "mlops.stack/kwok-hostpath"
DEFAULT_STORAGE_CLASS = "standard"
GPU_TAINT = {"key": "nvidia.com/gpu", "effect": "NoSchedule"}
GPU_PRODUCT = "NVIDIA-L4"


def node(name, cpu="16", memory="64Gi", pods="110", gpus=0, product=GPU_PRODUCT, labels=None):
    lbl = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        "topology.kubernetes.io/region": "local",
        "topology.kubernetes.io/zone": "local-a",
        "mlops.stack/node-pool": "gpu-inference" if gpus else "cpu",
    }
    capacity = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "500Gi"}
    spec = {}
    if gpus:
        lbl.update({
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": product,
            "nvidia.com/gpu.count": str(gpus),
            "node-role.kubernetes.io/gpu-inference": "",
        })
        capacity["nvidia.com/gpu"] = str(gpus)
        spec["taints"] = [dict(GPU_TAINT)]
    lbl.update(labels or {})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": lbl, "annotations": {
            KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"}},
        "spec": spec,
        "status": {"allocatable": dict(capacity), "capacity": dict(capacity),
                   "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux"}},
    }


def default_nodes(cpu_nodes=2, gpu_nodes=2, gpus_per_node=1):
    cpu = ["kwok-cpu-%d" % i for i in range(cpu_nodes)]
    gpu = ["kwok-gpu-%d" % i for i in range(gpu_nodes)]
    return cpu, gpu, [node(n) for n in cpu] + [node(n, gpus=gpus_per_node) for n in gpu]


def storage_class(name=DEFAULT_STORAGE_CLASS):
    """Default StorageClass served by the harness's hostPath provisioner."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": {
            "storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": True,
    }


def persistent_volume_for(pvc, storage_class_name, base_dir="/var/lib/kwok-volumes"):
    """The PV the provisioner creates for a PVC (dict from the API), pre-bound to it."""
    meta = pvc["metadata"]
    spec = pvc.get("spec") or {}
    size = (((spec.get("resources") or {}).get("requests") or {}).get("storage")) or "1Gi"
    name = "pvc-" + meta["uid"]
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {
            "pv.kubernetes.io/provisioned-by": PROVISIONER}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": storage_class_name,
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "hostPath": {"path": "%s/%s" % (base_dir, name), "type": "DirectoryOrCreate"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "namespace": meta["namespace"], "name": meta["name"],
                         "uid": meta["uid"]},
        },
    }
    selected = (meta.get("annotations") or {}).get("volume.kubernetes.io/selected-node")
    if selected:
        pv["spec"]["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [selected]}]}]}}
    return pv
