"""The inventory that points playbooks/site.yml at the local control plane.

Pods never run on kwok, so every bootstrap step (buckets, database,
experiments) is pointed at real servers started on 127.0.0.1, and upstream
manifests come from the offline mirror in ../shared/upstream-manifests.
"""
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MIRROR = (ROOT.parent / "shared" / "upstream-manifests").resolve()


def site_inventory(path, cluster, s3=None, pg=None, mlflow=None, object_store="minio", extra=None):
    """Write an inventory for site.yml and return its path."""
    stack = {
        "mlops_kubeconfig": cluster.kubeconfig,
        "mlops_kube_context": cluster.context or "",
        "mlops_manifest_dir": str(MIRROR),
        "mlops_object_store": object_store,
        "mlops_namespace": "mlops",
        "mlops_domain": "mlops.test",
        # Upstream KServe v0.20 is the mirrored release the tests use.
        "kserve_version": "v0.20.0",
        # MLflow is published with an HTTPRoute on a Gateway the stack creates
        # (tests/cluster/gateway_api.py installs the CRDs and the class).
        "mlops_exposure": "gateway",
        "mlops_gateway_create": True,
        "mlops_gateway_class": "mlops-test",
        "mlops_gateway_namespace": "mlops-gateway",
        # Published without basic auth, as a user with an authenticating
        # proxy in front would ask (the default publishes only with auth).
        "mlflow_ingress_enabled": True,
    }
    if s3 is not None:
        stack.update({
            "object_store_bootstrap_endpoint_url": s3.endpoint_url,
            "object_store_bootstrap_access_key": s3.access_key,
            "object_store_bootstrap_secret_key": s3.secret_key,
        })
    else:
        stack["object_store_bootstrap_enabled"] = False
    if pg is not None:
        stack.update({
            "postgresql_bootstrap_host": pg.host,
            "postgresql_bootstrap_port": pg.port,
            "postgresql_bootstrap_admin_user": pg.user,
            "postgresql_bootstrap_admin_password": pg.password,
            # pg_stat_statements needs shared_preload_libraries on the test server.
            "postgresql_extensions": [],
        })
    else:
        stack["postgresql_bootstrap_enabled"] = False
    if mlflow is not None:
        stack["mlflow_bootstrap_tracking_uri"] = mlflow.tracking_uri
        # The collector role asks MLflow for its experiment when run alone.
        stack["otel_collector_mlflow_lookup_uri"] = mlflow.tracking_uri
    else:
        stack["mlflow_bootstrap_enabled"] = False
    stack.update(extra or {})
    gpu_hosts = {name: {"gpu_product": "NVIDIA-L4", "gpu_count": 1} for name in cluster.gpu_nodes}
    inv = {"all": {
        "vars": stack,
        "children": {
            "k8s_control": {"hosts": {"localhost": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable}}},
            "gpu_inference_nodes": {
                "hosts": gpu_hosts,
                "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
            },
        },
    }}
    path = Path(path)
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return path
