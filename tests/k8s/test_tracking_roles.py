"""minio, seaweedfs, object_store, postgresql and mlflow roles against the local control plane.

Each test converges roles into its own namespace (labelled Pod Security
``restricted`` by the roles themselves), runs them a second time expecting
``changed=0`` and checks that generated Secrets survived unchanged. Pods never
run on kwok, so every bootstrap step is pointed at the real local servers
(S3, PostgreSQL, MLflow) through the roles' ``<role>_bootstrap_*`` variables.
"""
import base64
import hashlib
import json
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from ansible_collections.mlops.stack.plugins.module_utils import schema_check
from tests.cluster import gateway_api
from tests.helpers import require
from tests.playbook import run_playbook
from tests.servers.s3 import backend_available, serve_s3, start_seaweedfs_with

PLAYBOOKS = Path(__file__).parent / "playbooks"
CONVERGE = PLAYBOOKS / "tracking_converge.yml"
KUBERNETES_VERSION = "1.36.0"   # the control plane runs v1.36.3
ROLES = ["minio", "seaweedfs", "object_store", "postgresql", "mlflow"]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real SeaweedFS S3 server for the bucket bootstrap (tests/integration's
    fixture of the same name is not visible from tests/k8s)."""
    yield from serve_s3(tmp_path_factory, "seaweedfs")


@pytest.fixture(scope="session")
def minio_server(tmp_path_factory):
    """A real MinIO for the minio backend's bootstrap: buckets and the
    consumers' own users (admin API), which SeaweedFS has not."""
    yield from serve_s3(tmp_path_factory, "minio")


def _env(cluster):
    return {"K8S_AUTH_KUBECONFIG": cluster.kubeconfig, "K8S_AUTH_CONTEXT": cluster.context,
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def _kjson(cluster, *args):
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def _secret(cluster, ns, name):
    data = _kjson(cluster, "-n", ns, "get", "secret", name)["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def _converge(cluster, extra):
    return run_playbook(CONVERGE, extra_vars=extra, env=_env(cluster), diff=True)


def _converge_twice(cluster, extra, secrets_to_check):
    """Converge, remember the Secrets, converge again: changed=0, Secrets identical."""
    first = _converge(cluster, extra)
    assert first.rc == 0, first.explain()
    ns = extra["mlops_namespace"]
    before = {name: _secret(cluster, ns, name) for name in secrets_to_check}
    second = _converge(cluster, extra)
    assert second.rc == 0, second.explain()
    assert second.changed() == 0, "second converge changed: %s\n%s" % (_changed_tasks(second), second.explain())
    after = {name: _secret(cluster, ns, name) for name in secrets_to_check}
    assert before == after, "Secrets changed between runs"
    return first, second


def _changed_tasks(result):
    out = []
    for play in result.data.get("plays", []):
        for task in play.get("tasks", []):
            res = task["hosts"].get("localhost", {})
            if res.get("changed") or any(r.get("changed") for r in res.get("results", []) if isinstance(r, dict)):
                out.append((task["task"]["name"], res.get("diff") or [r.get("diff") for r in res.get("results", [])]))
    return out


def _namespace():
    return "trk-%s" % uuid.uuid4().hex[:8]


def _facts(result):
    return result.task_result("Show the facts the roles publish")["msg"]


def _assert_restricted_and_admitted(cluster, ns, selector):
    """The namespace enforces 'restricted', the workload's pods exist, and
    re-labelling it reports no violating pod (server-side dry run)."""
    labels = _kjson(cluster, "get", "namespace", ns)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = _kjson(cluster, "-n", ns, "get", "pods", "-l", selector)["items"]
    assert pods, "no pod admitted for %s in %s" % (selector, ns)
    proc = cluster.kubectl("label", "namespace", ns, "--overwrite", "--dry-run=server",
                           "pod-security.kubernetes.io/enforce=restricted", check=False)
    assert "violate" not in (proc.stderr + proc.stdout), proc.stderr


def _s3_client(server, secret):
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=server.endpoint_url, region_name=secret["AWS_DEFAULT_REGION"],
                        aws_access_key_id=secret["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=secret["AWS_SECRET_ACCESS_KEY"],
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def _denied(call, **kwargs):
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    assert err.value.response["Error"]["Code"] == "AccessDenied", err.value.response


def _assert_least_privilege(server, mlflow_secret, kserve_secret, suffix=""):
    """With each consumer's own keys on the real server: MLflow reads and writes its artifact bucket and
    nothing else; KServe only reads (get, list) the artifact bucket (bucket names end in *suffix*)."""
    artifacts, datasets = "mlflow-artifacts" + suffix, "datasets" + suffix
    mlflow, kserve = _s3_client(server, mlflow_secret), _s3_client(server, kserve_secret)
    mlflow.put_object(Bucket=artifacts, Key="1/run/model/MLmodel", Body=b"flavors: {}")
    assert mlflow.get_object(Bucket=artifacts, Key="1/run/model/MLmodel")["Body"].read() == b"flavors: {}"
    mlflow.put_object(Bucket=artifacts, Key="scratch", Body=b"x")
    mlflow.delete_object(Bucket=artifacts, Key="scratch")
    _denied(mlflow.put_object, Bucket=datasets, Key="x", Body=b"x")
    _denied(mlflow.list_objects_v2, Bucket=datasets)
    _denied(mlflow.get_object, Bucket=datasets, Key="x")
    assert kserve.get_object(Bucket=artifacts, Key="1/run/model/MLmodel")["Body"].read() == b"flavors: {}"
    keys = [o["Key"] for o in kserve.list_objects_v2(Bucket=artifacts).get("Contents", [])]
    assert keys == ["1/run/model/MLmodel"]
    _denied(kserve.put_object, Bucket=artifacts, Key="1/run/model/evil", Body=b"x")
    _denied(kserve.delete_object, Bucket=artifacts, Key="1/run/model/MLmodel")
    _denied(kserve.put_object, Bucket=datasets, Key="x", Body=b"x")
    assert mlflow.get_object(Bucket=artifacts, Key="1/run/model/MLmodel")["ContentLength"] == 11


def _seaweedfs_from_secret(tmp_path, secret):
    """A real SeaweedFS started with the identity file of the role's Secret, as its pod is."""
    ok, reason = backend_available("seaweedfs")
    require(ok, reason)
    config = tmp_path / "s3.json"
    config.write_text(secret["s3.json"])
    config.chmod(0o600)
    return start_seaweedfs_with(tmp_path, config, secret["access_key"], secret["secret_key"])


def _cleanup(cluster, ns):
    cluster.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


# ------------------------------------------------------------ offline ----

def test_rendered_manifests_validate_strict(tmp_path):
    """tasks/manifests.yml works without a cluster and passes kubernetes-validate --strict."""
    variants = {
        "default": {},
        "ingress": {"mlops_exposure": "ingress", "mlops_ingress_class": "nginx", "minio_ingress_enabled": True},
        "everything-on": {"minio_ingress_enabled": True, "seaweedfs_ingress_enabled": True,
                          "mlflow_auth_enabled": True, "mlflow_auth_config_checksum": "x" * 64,
                          "mlflow_artifacts_backend": "pvc", "mlops_storage_class": "fast"},
        "external": {"mlops_object_store": "external",
                     "object_store_external_endpoint_url": "https://s3.example.com",
                     # The CNPG cluster in MLflow's namespace: MLflow reads its -app Secret there.
                     "postgresql_mode": "external", "postgresql_external_cnpg_cluster": "pgvector-cluster",
                     "mlflow_replicas": 1},
    }
    require(gateway_api.available(), "Gateway API CRDs missing: run scripts/build-testbins.sh gateway-api")
    gateway_schemas = schema_check.load_crd_schemas(sorted(str(p) for p in gateway_api.CRD_DIR.glob("*.yaml")))
    for name, extra in variants.items():
        out = tmp_path / name
        out.mkdir()
        res = run_playbook(PLAYBOOKS / "tracking_render.yml",
                           extra_vars=dict(extra, tracking_roles=ROLES, render_out=str(out)))
        assert res.rc == 0, res.explain()
        for role in ROLES:
            path = out / ("%s.yaml" % role)
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
            # object_store declares only the namespace of an external store's Secrets.
            assert docs or (role == "object_store" and name != "external"), "%s rendered nothing (%s)" % (role, name)
            assert not any(d["kind"] == "Secret" for d in docs), "Secrets must not be rendered"
            # Built-in kinds strictly (kubernetes-validate), HTTPRoutes against the Gateway API CRDs.
            problems = schema_check.validate_objects(docs, gateway_schemas, KUBERNETES_VERSION)
            assert not problems, "%s/%s: %s" % (name, role, problems)
            for d in docs:
                if d["kind"] in ("StatefulSet", "Deployment", "Job"):
                    spec = d["spec"]["template"]["spec"]
                    assert spec["securityContext"]["runAsNonRoot"] is True
                    for c in spec["containers"]:
                        sc = c["securityContext"]
                        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
                        assert c["resources"]["limits"] and c["resources"]["requests"]
                        assert ":" in c["image"] or "@" in c["image"]
                        assert not c["image"].startswith(("minio/minio", "docker.io/minio/"))


def test_bad_inventory_fails_before_anything_is_applied(tmp_path):
    """argument_specs reject a wrong choice and name the variable; no cluster needed."""
    for role, var, value in [("postgresql", "postgresql_mode", "cluster"),
                             ("object_store", "object_store_backend", "s3"),
                             ("mlflow", "mlflow_artifacts_backend", "gcs"),
                             ("seaweedfs", "seaweedfs_replicas_bogus_type", None)]:
        extra = {"tracking_roles": [role], "mlops_namespace": "never-created"}
        if value is None:
            extra["seaweedfs_volume_size_limit_mb"] = "lots"
            var = "seaweedfs_volume_size_limit_mb"
        else:
            extra[var] = value
        res = run_playbook(CONVERGE, extra_vars=extra,
                           env={"K8S_AUTH_KUBECONFIG": str(tmp_path / "missing-kubeconfig")})
        assert res.rc != 0
        msgs = " ".join(res.failure_messages())
        assert var in msgs, msgs
        assert "Validating arguments" in res.stdout or "argument" in msgs.lower()


# ------------------------------------------------------- control plane ----

@pytest.mark.k8s
@pytest.mark.xdist_group("k8s")
def test_k8s_generated_secret_generates_once_and_hides_values(k8s_cluster, k8s_namespace, tmp_path):
    from tests.playbook import write_playbook

    def run(args, check=False, name="secret.yml"):
        play = write_playbook(tmp_path, [{"name": "secret", "hosts": "localhost", "gather_facts": False,
                                          "tasks": [{"name": "Ensure secret", "mlops.stack.k8s_generated_secret":
                                                     dict(args, name="gen", namespace=k8s_namespace)}]}], name=name)
        res = run_playbook(play, env=_env(k8s_cluster), check=check, diff=True)
        assert res.rc == 0, res.explain()
        return res, res.task_result("Ensure secret")

    args = {"generate": ["password", {"name": "user", "length": 12, "charset": "lower_alphanumeric"}],
            "values": {"host": "db.example", "given": "s3cr3t-from-user"}, "labels": {"a": "b"}}
    res, task = run(args, check=True)
    assert task["changed"] and "Error from server (NotFound)" in k8s_cluster.kubectl(
        "-n", k8s_namespace, "get", "secret", "gen", check=False).stderr
    res, task = run(args)
    assert task["changed"] and task["generated_keys"] == ["password", "user"]
    assert "s3cr3t-from-user" not in res.stdout and "secret_data" not in task
    assert task["diff"]["after"]["keys"]["password"] == "<hidden> (generated)"
    first = _secret(k8s_cluster, k8s_namespace, "gen")
    assert len(first["password"]) == 32 and len(first["user"]) == 12 and first["given"] == "s3cr3t-from-user"
    res, task = run(args)
    assert not task["changed"] and _secret(k8s_cluster, k8s_namespace, "gen") == first
    # user-supplied value wins (rotation on purpose); other keys untouched; a result
    # with the values (return_values) is hidden from the output by the module itself
    res, task = run({"generate": ["password"], "values": {"password": "chosen-password"}, "return_values": True})
    assert task["changed"] and "censored" in task and "chosen-password" not in res.stdout
    after = _secret(k8s_cluster, k8s_namespace, "gen")
    assert after["password"] == "chosen-password" and after["user"] == first["user"]
    labels = _kjson(k8s_cluster, "-n", k8s_namespace, "get", "secret", "gen")["metadata"]["labels"]
    assert labels == {"a": "b"}


@pytest.mark.k8s
@pytest.mark.xdist_group("k8s")
@pytest.mark.slow
def test_minio_converges_and_is_idempotent(k8s_cluster, minio_server):
    """Backend minio on a real MinIO: MLflow and KServe get their own users (never the root key), MLflow's
    read-write on its artifact bucket only, KServe's read-only on the artifact and model buckets."""
    ns = _namespace()
    extra = {"tracking_roles": ["minio", "object_store"], "mlops_namespace": ns,
             "minio_ingress_enabled": True, "mlops_exposure": "ingress", "mlops_ingress_class": "traefik",
             "object_store_buckets": ["%s-%s" % (b, ns) for b in ("mlflow-artifacts", "models", "datasets",
                                                                  "experiments")],
             "object_store_versioned_buckets": ["models-%s" % ns],
             "object_store_consumers": {
                 "mlflow": {"secret": "mlops-s3", "buckets_rw": ["mlflow-artifacts-%s" % ns], "buckets_ro": []},
                 "kserve": {"secret": "mlops-s3-kserve", "buckets_rw": [],
                            "buckets_ro": ["mlflow-artifacts-%s" % ns, "models-%s" % ns]}},
             "object_store_bootstrap_endpoint_url": minio_server.endpoint_url,
             "object_store_bootstrap_access_key": minio_server.access_key,
             "object_store_bootstrap_secret_key": minio_server.secret_key}
    try:
        first, second = _converge_twice(k8s_cluster, extra, ["minio-root", "mlops-s3", "mlops-s3-kserve",
                                                             "minio-user-mlflow", "minio-user-kserve"])
        root = _secret(k8s_cluster, ns, "minio-root")
        s3 = _secret(k8s_cluster, ns, "mlops-s3")
        kserve = _secret(k8s_cluster, ns, "mlops-s3-kserve")
        assert len(root["MINIO_ROOT_PASSWORD"]) == 40 and len(root["MINIO_ROOT_USER"]) == 20
        for sec, consumer in ((s3, "mlflow"), (kserve, "kserve")):
            # The consumer's own keys, generated once; no root key (the server's nor the bootstrap's).
            user = _secret(k8s_cluster, ns, "minio-user-%s" % consumer)
            assert (sec["AWS_ACCESS_KEY_ID"], sec["AWS_SECRET_ACCESS_KEY"]) == (user["access_key"], user["secret_key"])
            for root_key in (root["MINIO_ROOT_USER"], root["MINIO_ROOT_PASSWORD"],
                             minio_server.access_key, minio_server.secret_key):
                assert root_key not in sec.values()
            assert sec["AWS_ENDPOINT_URL"] == "http://minio.%s.svc:9000" % ns
            assert (sec["S3_USE_HTTPS"], sec["S3_VERIFY_SSL"]) == ("0", "0")
        assert s3["AWS_ACCESS_KEY_ID"] != kserve["AWS_ACCESS_KEY_ID"]
        for res in (first, second):
            for value in (s3["AWS_SECRET_ACCESS_KEY"], kserve["AWS_SECRET_ACCESS_KEY"], root["MINIO_ROOT_PASSWORD"]):
                assert value not in res.stdout
        _assert_least_privilege(minio_server, s3, kserve, "-" + ns)
        sts = _kjson(k8s_cluster, "-n", ns, "get", "statefulset", "minio")
        assert sts["status"].get("readyReplicas") == 1
        assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "cgr.dev/chainguard/minio:latest"
        pvc = _kjson(k8s_cluster, "-n", ns, "get", "pvc", "data-minio-0")
        assert pvc["status"]["phase"] == "Bound"
        names = {i["metadata"]["name"] for i in _kjson(k8s_cluster, "-n", ns, "get", "svc,ingress,networkpolicy")["items"]}
        assert {"minio", "minio-console", "minio-hl"} <= names
        ingresses = _kjson(k8s_cluster, "-n", ns, "get", "ingress")["items"]
        assert {i["spec"]["ingressClassName"] for i in ingresses} == {"traefik"}
        assert not any(k.startswith("nginx.") for i in ingresses for k in i["metadata"].get("annotations", {}))
        assert {i["spec"]["rules"][0]["host"] for i in ingresses} == {"s3.mlops.local", "minio.mlops.local"}
        _assert_restricted_and_admitted(k8s_cluster, ns, "app.kubernetes.io/name=minio")
        facts = _facts(second)
        assert facts["mlops_s3_endpoint_url"] == s3["AWS_ENDPOINT_URL"]
        assert set(facts["mlops_s3_buckets"]) == set(extra["object_store_buckets"])
        client = minio_server.client()
        assert client.get_bucket_versioning(Bucket="models-%s" % ns).get("Status") == "Enabled"
    finally:
        _cleanup(k8s_cluster, ns)


@pytest.mark.k8s
@pytest.mark.xdist_group("k8s")
@pytest.mark.slow
@pytest.mark.parametrize("keys_from", ["secret", "variables"])
def test_object_store_external_writes_secret_and_buckets_only(k8s_cluster, s3_server, keys_from):
    """mlops_object_store=external: no server role runs; the object_store role writes mlops-s3 from the
    given keys (an existing Secret, or the variables) and creates the buckets on a real S3 server."""
    ns = _namespace()
    extra = {"tracking_roles": ["object_store"], "mlops_namespace": ns, "mlops_object_store": "external",
             "object_store_external_endpoint_url": s3_server.endpoint_url,
             "object_store_region": "eu-central-1",
             "object_store_buckets": ["ext-%s" % ns, "ext-models-%s" % ns],
             "object_store_versioned_buckets": ["ext-models-%s" % ns],
             "object_store_consumers": {
                 "mlflow": {"secret": "mlops-s3", "buckets_rw": ["ext-%s" % ns]},
                 "kserve": {"secret": "mlops-s3-kserve", "buckets_ro": ["ext-%s" % ns, "ext-models-%s" % ns]}}}
    if keys_from == "secret":
        extra.update(object_store_external_credentials_secret="my-s3-keys",
                     object_store_external_access_key_key="user", object_store_external_secret_key_key="key")
        k8s_cluster.kubectl("create", "namespace", ns)
        k8s_cluster.kubectl("-n", ns, "create", "secret", "generic", "my-s3-keys",
                            "--from-literal=user=%s" % s3_server.access_key,
                            "--from-literal=key=%s" % s3_server.secret_key)
    else:
        extra.update(object_store_external_access_key=s3_server.access_key,
                     object_store_external_secret_key=s3_server.secret_key)
    try:
        first, second = _converge_twice(k8s_cluster, extra, ["mlops-s3"])
        assert s3_server.secret_key not in first.stdout + second.stdout
        s3 = _secret(k8s_cluster, ns, "mlops-s3")
        assert s3 == {"AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
                      "AWS_ENDPOINT_URL": s3_server.endpoint_url, "AWS_DEFAULT_REGION": "eu-central-1",
                      "S3_USE_HTTPS": "0", "S3_VERIFY_SSL": "0"}
        labels = _kjson(k8s_cluster, "-n", ns, "get", "secret", "mlops-s3")["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "mlops-stack"
        # No server: no StatefulSet, no Service; the namespace is the role's own.
        assert not _kjson(k8s_cluster, "-n", ns, "get", "statefulset,service")["items"]
        ns_labels = _kjson(k8s_cluster, "get", "namespace", ns)["metadata"]["labels"]
        if keys_from == "variables":
            assert ns_labels["pod-security.kubernetes.io/enforce"] == "restricted"
        client = s3_server.client()
        assert {"ext-%s" % ns, "ext-models-%s" % ns} <= {b["Name"] for b in client.list_buckets()["Buckets"]}
        assert client.get_bucket_versioning(Bucket="ext-models-%s" % ns).get("Status") == "Enabled"
        facts = _facts(second)
        assert facts["mlops_s3_endpoint_url"] == s3_server.endpoint_url
    finally:
        _cleanup(k8s_cluster, ns)


@pytest.mark.k8s
@pytest.mark.xdist_group("k8s")
def test_seaweedfs_check_mode_on_a_fresh_cluster(k8s_cluster):
    """--check before anything exists: the identity file is only planned, so the users are not verified
    (there is no server yet) and nothing is written."""
    ns = _namespace()
    extra = {"tracking_roles": ["seaweedfs", "object_store"], "mlops_namespace": ns,
             "mlops_object_store": "seaweedfs"}
    res = run_playbook(CONVERGE, extra_vars=extra, env=_env(k8s_cluster), diff=True, check=True)
    assert res.rc == 0, res.explain()
    assert res.task_result("Ensure the S3 user of each consumer").get("skipped"), res.explain()
    assert k8s_cluster.kubectl("get", "namespace", ns, check=False).returncode != 0


@pytest.mark.k8s
@pytest.mark.xdist_group("k8s")
@pytest.mark.slow
def test_seaweedfs_postgresql_mlflow_converge(k8s_cluster, tmp_path, pg_server, mlflow_server):
    """The whole tracking half with SeaweedFS as object store (mlops_object_store=seaweedfs). SeaweedFS is
    started, as the pod would be, with the identity file the seaweedfs role rendered; MLflow and KServe get
    their own users there, limited to their buckets, and never the admin key."""
    ns = _namespace()
    exp = "llm-traces-%s" % ns
    extra = {
        "tracking_roles": ["seaweedfs"], "mlops_namespace": ns,
        "mlops_object_store": "seaweedfs",
        "object_store_buckets": ["mlflow-artifacts", "models", "datasets"],
        "object_store_versioned_buckets": ["models"],
        "postgresql_database": "mlflow_%s" % ns.replace("-", "_"),
        "postgresql_username": "mlflow_%s" % ns.replace("-", "_"),
        "postgresql_extensions": [],
        "postgresql_bootstrap_host": pg_server.host, "postgresql_bootstrap_port": pg_server.port,
        "postgresql_bootstrap_admin_user": pg_server.user,
        "postgresql_bootstrap_admin_password": pg_server.password,
        "mlflow_auth_enabled": True,
        "mlflow_experiments": [{"name": exp}],
        "mlflow_bootstrap_tracking_uri": mlflow_server.tracking_uri,
        # The platform's Gateway lives elsewhere; the route names it.
        "mlops_gateway_name": "public", "mlops_gateway_namespace": "gateway-system",
        "mlops_gateway_section_name": "https",
        "mlflow_migration_wait": MIGRATION_WAIT,
    }
    server = None
    try:
        # The storage role alone first: its Secret holds the file the pod starts with.
        res = _converge(k8s_cluster, extra)
        assert res.rc == 0, res.explain()
        sw = _secret(k8s_cluster, ns, "seaweedfs-s3")
        server = _seaweedfs_from_secret(tmp_path, sw)
        # The object store's bootstrap talks to it with the keys of the Secret (no bootstrap keys given).
        extra.update(tracking_roles=["seaweedfs", "object_store", "postgresql", "mlflow"],
                     object_store_bootstrap_endpoint_url=server.endpoint_url)
        first, second = _converge_twice(
            k8s_cluster, extra,
            ["seaweedfs-s3", "seaweedfs-user-mlflow", "seaweedfs-user-kserve", "mlops-s3", "mlops-s3-kserve",
             "postgresql-superuser", "mlops-postgresql-mlflow", "mlflow-auth", "mlflow-auth-config"])
        assert _secret(k8s_cluster, ns, "seaweedfs-s3") == sw, "the identity file changed on the full run"
        s3 = _secret(k8s_cluster, ns, "mlops-s3")
        kserve = _secret(k8s_cluster, ns, "mlops-s3-kserve")
        assert s3["AWS_ENDPOINT_URL"] == "http://seaweedfs.%s.svc:8333" % ns
        identities = {i["name"]: i for i in json.loads(sw["s3.json"])["identities"]}
        assert sorted(identities) == ["kserve", "mlflow", "mlops"]
        assert identities["mlops"]["credentials"][0]["secretKey"] == sw["secret_key"]
        assert sorted(identities["mlflow"]["actions"]) == ["List:mlflow-artifacts", "Read:mlflow-artifacts",
                                                           "Write:mlflow-artifacts"]
        assert sorted(identities["kserve"]["actions"]) == ["List:mlflow-artifacts", "List:models",
                                                           "Read:mlflow-artifacts", "Read:models"]
        for sec, consumer in ((s3, "mlflow"), (kserve, "kserve")):
            user = _secret(k8s_cluster, ns, "seaweedfs-user-%s" % consumer)
            assert (sec["AWS_ACCESS_KEY_ID"], sec["AWS_SECRET_ACCESS_KEY"]) == (user["access_key"], user["secret_key"])
            assert sw["access_key"] not in sec.values() and sw["secret_key"] not in sec.values()
        # The module verified each user with its own keys against the running server.
        verified = second.task_result("Ensure the S3 user of each consumer")["results"]
        assert [r["item"] for r in verified] == ["kserve", "mlflow"] and all(r["verified"] for r in verified)
        for res in (first, second):
            for value in (s3["AWS_SECRET_ACCESS_KEY"], kserve["AWS_SECRET_ACCESS_KEY"], sw["secret_key"]):
                assert value not in res.stdout
        _assert_least_privilege(server, s3, kserve)
        pg = _secret(k8s_cluster, ns, "mlops-postgresql-mlflow")
        assert pg["host"] == "postgresql.%s.svc" % ns and pg["port"] == "5432"
        assert pg["uri"] == "postgresql://%s:%s@postgresql.%s.svc:5432/%s" % (
            pg["username"], pg["password"], ns, pg["dbname"])
        auth = _secret(k8s_cluster, ns, "mlflow-auth")
        assert auth["username"] == "admin" and len(auth["password"]) >= 32
        assert pg["uri"] in _secret(k8s_cluster, ns, "mlflow-auth-config")["basic_auth.ini"]
        # The role's bootstrap created the database and role on the real server.
        assert pg_server.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                                 (pg["dbname"],)) == [(pg["username"],)]
        # Workloads: admitted under 'restricted', rolled out.
        for sel in ("app.kubernetes.io/name=seaweedfs", "app.kubernetes.io/name=postgresql",
                    "app.kubernetes.io/name=mlflow,app.kubernetes.io/component=tracking-server"):
            _assert_restricted_and_admitted(k8s_cluster, ns, sel)
        dep = _kjson(k8s_cluster, "-n", ns, "get", "deployment", "mlflow")
        assert dep["status"].get("availableReplicas") == 2
        args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        assert "--workers=2" in args and "--app-name=basic-auth" in args
        assert "--artifacts-destination=s3://mlflow-artifacts" in args
        assert not any("gunicorn" in a for a in args)
        jobs = _kjson(k8s_cluster, "-n", ns, "get", "jobs", "-l", "app.kubernetes.io/instance=mlflow-migration")["items"]
        command = jobs[0]["spec"]["template"]["spec"]["containers"][0]["command"]
        # MLflow's upgrade in process (roles/mlflow/files/db_upgrade.py), the URL from the environment.
        assert len(jobs) == 1 and command[:2] == ["python", "-c"] and "from mlflow.db import upgrade" in command[2]
        assert jobs[0]["metadata"]["name"].startswith("mlflow-db-upgrade-")
        if MIGRATION_WAIT:
            assert any(c["type"] == "Complete" and c["status"] == "True" for c in jobs[0]["status"]["conditions"])
        assert _kjson(k8s_cluster, "-n", ns, "get", "pdb", "mlflow")["spec"]["minAvailable"] == 1
        netpol = _kjson(k8s_cluster, "-n", ns, "get", "networkpolicy", "postgresql")
        allowed = netpol["spec"]["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0]["values"]
        assert allowed == ["mlflow"]
        # mlops_exposure defaults to gateway: an HTTPRoute the real API server checked against the Gateway
        # API CRD schema, no Ingress.
        route = _kjson(k8s_cluster, "-n", ns, "get", "httproute", "mlflow")
        assert route["spec"]["hostnames"] == ["mlflow.mlops.local"]
        assert route["spec"]["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                                "name": "public", "namespace": "gateway-system",
                                                "sectionName": "https"}]
        assert route["spec"]["rules"][0]["backendRefs"][0]["name"] == "mlflow"
        assert route["spec"]["rules"][0]["backendRefs"][0]["port"] == 5000
        assert not _kjson(k8s_cluster, "-n", ns, "get", "ingress")["items"]
        args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        allowed = [a for a in args if a.startswith("--allowed-hosts=")][0]
        assert "mlflow.mlops.local" in allowed.split("=", 1)[1].split(",")
        facts = _facts(second)
        assert facts["mlflow_tracking_url"] == "http://mlflow.%s.svc:5000" % ns
        assert set(facts["mlflow_experiment_ids"]) == {exp}
        assert facts["mlops_s3_endpoint_url"] == s3["AWS_ENDPOINT_URL"]
        # A change of the file (users, keys) restarts the pod: its template carries the file's checksum.
        sts = _kjson(k8s_cluster, "-n", ns, "get", "statefulset", "seaweedfs")
        annotations = sts["spec"]["template"]["metadata"]["annotations"]
        assert annotations["checksum/s3-config"] == hashlib.sha256(sw["s3.json"].encode()).hexdigest()
        # MLflow's pods carry the checksum of the Secrets their environment reads (database URI, S3 keys):
        # moving MLflow to its own S3 user or a rotation rolls them, since such variables are read at start.
        env_data = [_kjson(k8s_cluster, "-n", ns, "get", "secret", name)["data"]
                    for name in ("mlops-postgresql-mlflow", "mlops-s3")]
        template = _kjson(k8s_cluster, "-n", ns, "get", "deployment", "mlflow")["spec"]["template"]["metadata"]
        assert template["annotations"]["checksum/env-secrets"] == hashlib.sha256(
            json.dumps(env_data, sort_keys=True).encode()).hexdigest()
    finally:
        if server is not None:
            server.stop()
        _cleanup(k8s_cluster, ns)


# Whether Jobs complete on the kwok control plane (pod-complete stage).
MIGRATION_WAIT = True

if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-n", "0"]))
