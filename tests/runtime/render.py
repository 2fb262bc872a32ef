"""The objects the roles render (playbooks/render.yml, no cluster), and the
Secrets the roles create at run time, built the way their tasks build them
(values the roles generate are generated here)."""
import secrets as pysecrets
import sys
from pathlib import Path

import yaml

from tests.playbook import run_playbook

ROOT = Path(__file__).resolve().parents[2]
MIRROR = (ROOT.parent / "shared" / "upstream-manifests").resolve()


def render(tmp_dir, components, extra_vars=None):
    """Run render.yml for `components`; return the list of rendered objects."""
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    inv = {"all": {
        "vars": dict({"mlops_manifest_dir": str(MIRROR), "mlops_namespace": "mlops",
                      "kserve_version": "v0.20.0", "mlops_render_components": components},
                     **(extra_vars or {})),
        "children": {"k8s_control": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}},
    }}
    inv_path = tmp_dir / "inventory.yml"
    inv_path.write_text(yaml.safe_dump(inv))
    out = tmp_dir / "render"
    res = run_playbook(ROOT / "playbooks" / "render.yml", inventory=inv_path,
                       extra_vars={"mlops_render_dir": str(out),
                                   "mlops_gitops_repo_url": "https://git.example.org/mlops.git"}, timeout=900)
    assert res.rc == 0, res.explain()
    objs = []
    # Namespaces live in one directory of their own (docs/gitops.md).
    for comp in list(components) + ["namespaces"]:
        for f in sorted((out / comp).glob("*.yaml")):
            if f.name == "kustomization.yaml":
                continue
            objs += [d for d in yaml.safe_load_all(f.read_text()) if isinstance(d, dict) and d.get("kind")]
    return objs


def find(objs, kind, name=None, namespace=None):
    hits = [o for o in objs if o["kind"] == kind
            and (name is None or o["metadata"]["name"] == name)
            and (namespace is None or o["metadata"].get("namespace") == namespace)]
    assert len(hits) == 1, "expected one %s %s, rendered: %s" % (
        kind, name, [(o["kind"], o["metadata"]["name"]) for o in objs])
    return hits[0]


def pod_template(obj):
    """(pod spec, first container) of a Deployment/StatefulSet/Job."""
    spec = obj["spec"]["template"]["spec"]
    return spec, spec["containers"][0]


def configmaps(objs):
    return {o["metadata"]["name"]: o.get("data", {}) for o in objs if o["kind"] == "ConfigMap"}


def service_host(objs, name):
    svc = find(objs, "Service", name)
    return "%s.%s.svc" % (name, svc["metadata"]["namespace"])


def token(n=24):
    return pysecrets.token_urlsafe(n)


# seaweedfs_users' default (object_store_consumers without the Secret names).
SEAWEEDFS_USERS = {"mlflow": {"buckets_rw": ["mlflow-artifacts"]},
                   "kserve": {"buckets_ro": ["mlflow-artifacts", "models"]}}


def stack_secrets(objs, object_store="minio"):
    """The Secrets the postgresql, object-store and mlflow roles create
    (roles/*/tasks/secrets.yml), with freshly generated passwords."""
    from ansible_collections.mlops.stack.plugins.filter.postgresql_uri import postgresql_uri
    out = {}
    if any(o["kind"] == "StatefulSet" and o["metadata"]["name"] == "postgresql" for o in objs):
        pg_host = service_host(objs, "postgresql")
        app_pw = token()
        out["postgresql-superuser"] = {"username": "postgres", "password": token()}
        out["mlops-postgresql-mlflow"] = {
            "host": pg_host, "port": "5432", "dbname": "mlflow", "username": "mlflow",
            "password": app_pw, "uri": postgresql_uri("mlflow", app_pw, pg_host, 5432, "mlflow")}
    user, pw = pysecrets.token_hex(10), token(30)
    admin = {"access_key": user, "secret_key": pw}
    if object_store == "minio":
        out["minio-root"] = {"MINIO_ROOT_USER": user, "MINIO_ROOT_PASSWORD": pw}
        endpoint = "http://%s:9000" % service_host(objs, "minio")
        # The runtime tests start MinIO with its root keys only; its least-privileged users (admin API) are
        # proven in tests/k8s/test_tracking_roles.py and tests/integration/test_s3_user.py.
        consumer_keys = {"mlflow": admin, "kserve": admin}
    else:
        # As the seaweedfs role renders it: the admin identity and one user per consumer, whose keys the
        # object_store role hands to the consumer Secrets.
        from ansible_collections.mlops.stack.plugins.filter.seaweedfs_s3_config import seaweedfs_s3_config
        consumer_keys = {name: {"access_key": pysecrets.token_hex(10), "secret_key": token(40)}
                         for name in SEAWEEDFS_USERS}
        out["seaweedfs-s3"] = dict(admin, **{"s3.json": seaweedfs_s3_config(
            user, pw, users=SEAWEEDFS_USERS, user_keys=consumer_keys)})
        for name, keys in consumer_keys.items():
            out["seaweedfs-user-%s" % name] = dict(keys)
        endpoint = "http://%s:8333" % service_host(objs, "seaweedfs")
    for secret, consumer in (("mlops-s3", "mlflow"), ("mlops-s3-kserve", "kserve")):
        out[secret] = {"AWS_ACCESS_KEY_ID": consumer_keys[consumer]["access_key"],
                       "AWS_SECRET_ACCESS_KEY": consumer_keys[consumer]["secret_key"],
                       "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1",
                       "S3_USE_HTTPS": "0", "S3_VERIFY_SSL": "0"}
    return out
