"""The serving half of the stack converged once per session on the local
control plane (certmanager, knative, kserve, gpu_serving from the manifest
mirror), and helpers to run playbooks against it. Used by
tests/k8s/test_serving_roles.py and tests/k8s/test_deploy_model.py through
the ``serving_converged`` fixture (tests/k8s/conftest.py)."""
import json
import time
from pathlib import Path

import yaml

from tests.playbook import ROOT, run_playbook

MIRROR = (ROOT.parent / "shared" / "upstream-manifests").resolve()
PLAYBOOKS = Path(__file__).parent / "playbooks"
SERVING_NS = "mlops-serving"
CRDS = [
    "certificates.cert-manager.io", "clusterissuers.cert-manager.io",
    "services.serving.knative.dev", "revisions.serving.knative.dev",
    "inferenceservices.serving.kserve.io", "servingruntimes.serving.kserve.io",
    "clusterservingruntimes.serving.kserve.io",
]


def kjson(cluster, *args):
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def get(cluster, *args):
    """The object, or None while it does not exist (yet)."""
    res = cluster.kubectl(*args, "-o", "json", check=False)
    return json.loads(res.stdout) if res.returncode == 0 else None


def conditions(obj):
    """{type: condition} of an object's status (empty for None)."""
    return {c["type"]: c for c in (obj or {}).get("status", {}).get("conditions", [])}


def inventory(tmp_path, cluster, gpu_nodes, hostvars=None):
    nodes = {}
    for name in gpu_nodes:
        labels = kjson(cluster, "get", "node", name)["metadata"]["labels"] if name in cluster.gpu_nodes else {}
        hv = {"gpu_count": 1}
        if labels.get("nvidia.com/gpu.product"):
            hv["gpu_product"] = labels["nvidia.com/gpu.product"]
        hv.update((hostvars or {}).get(name, {}))
        nodes[name] = hv
    inv = {"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                           "ansible_python_interpreter": str(Path(ROOT / ".venv/bin/python"))}},
                   "children": {"gpu_inference_nodes": {"hosts": nodes}}}}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inv))
    return path


def env(cluster):
    return {
        "K8S_AUTH_KUBECONFIG": cluster.kubeconfig,
        "K8S_AUTH_CONTEXT": cluster.context,
        # Any download would go through a dead proxy and fail.
        "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
        "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost",
    }


def extra(tmp_path):
    cache = str(tmp_path / "download-cache")
    return {
        "mlops_manifest_dir": str(MIRROR),
        "certmanager_manifest_cache_dir": cache, "knative_manifest_cache_dir": cache,
        "kserve_manifest_cache_dir": cache, "gpu_serving_manifest_cache_dir": cache,
    }


def s3_secret(cluster):
    cluster.kubectl("create", "namespace", "mlops", check=False)
    data = {"AWS_ACCESS_KEY_ID": "test-access", "AWS_SECRET_ACCESS_KEY": "test-secret-key",
            "AWS_ENDPOINT_URL": "http://minio.mlops.svc.cluster.local:9000", "AWS_DEFAULT_REGION": "us-east-1",
            "S3_USE_HTTPS": "0", "S3_VERIFY_SSL": "0"}
    cluster.apply_server_side({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                               "metadata": {"name": "mlops-s3-kserve", "namespace": "mlops"}, "stringData": data})
    return data


def converge_serving(k8s_cluster, tmp_path_factory):
    """Run serving_converge.yml twice; what the tests look at."""
    tmp = tmp_path_factory.mktemp("serving")
    s3 = s3_secret(k8s_cluster)
    group = k8s_cluster.gpu_nodes[:1]
    inv = inventory(tmp, k8s_cluster, group)
    cpu_before = {n: kjson(k8s_cluster, "get", "node", n) for n in k8s_cluster.cpu_nodes}
    others = [n for n in k8s_cluster.gpu_nodes if n not in group]
    others_before = {n: kjson(k8s_cluster, "get", "node", n) for n in others}
    t0 = time.monotonic()
    first = run_playbook(PLAYBOOKS / "serving_converge.yml", inventory=inv, extra_vars=extra(tmp),
                         env=env(k8s_cluster))
    t1 = time.monotonic()
    assert first.rc == 0, first.explain()
    second = run_playbook(PLAYBOOKS / "serving_converge.yml", inventory=inv, extra_vars=extra(tmp),
                          env=env(k8s_cluster))
    t2 = time.monotonic()
    return {"first": first, "second": second, "first_s": t1 - t0, "second_s": t2 - t1, "tmp": tmp, "inv": inv,
            "group": group, "s3": s3, "cpu_before": cpu_before, "others_before": others_before}
