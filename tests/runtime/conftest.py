"""Fixtures of the runtime contract tests: rendered objects, a network
namespace per "node", and the tracking pods (PostgreSQL, MinIO, MLflow)
started once per session from the rendered specs.

Test modules mark themselves `runtime` and xdist group "runtime" (one
worker shares the pods).
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import require
from tests.runtime import images, render
from tests.runtime.node import Node
from tests.runtime.pod import run_container

TRACKING = ["minio", "postgresql", "mlflow", "otel_collector", "kserve"]


def _sandbox_available():
    if os.geteuid() != 0:
        return False, "runtime contract tests need root (mount namespaces, setpriv to the pods' uids)"
    for tool in ("unshare", "nsenter", "setpriv", "chroot", "ip"):
        if shutil.which(tool) is None:
            return False, "%s not found (util-linux / iproute2)" % tool
    probe = subprocess.run(
        ["unshare", "--mount", "--net", "--propagation", "private", "--", "sh", "-c",
         "d=$(mktemp -d) && mount -t tmpfs t $d && mkdir $d/u $d/w $d/r && "
         "mount -t overlay o -o lowerdir=/,upperdir=$d/u,workdir=$d/w $d/r; rc=$?; "
         "umount -R $d; rmdir $d; exit $rc"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return False, "no private mount namespace with an overlay of /: %s" % probe.stderr.strip()
    return True, ""


@pytest.fixture(scope="session")
def sandbox():
    ok, reason = _sandbox_available()
    require(ok, reason)


@pytest.fixture(scope="session")
def tracking_objs(tmp_path_factory):
    return render.render(tmp_path_factory.mktemp("render-tracking"), TRACKING)


@pytest.fixture(scope="session")
def node(sandbox, tmp_path_factory):
    n = Node(tmp_path_factory.mktemp("node"))
    yield n
    n.stop()


@pytest.fixture(scope="session")
def stack_secrets(tracking_objs):
    return render.stack_secrets(tracking_objs, "minio")


def pvc_dir(tmp_path_factory, name, uid, gid):
    d = Path(tmp_path_factory.mktemp("pvc-" + name))
    d.chmod(0o755)
    os.chown(d, uid, gid)
    # pytest's tmp dirs are 0700 root: the pods' users must reach the PVC.
    for parent in list(d.parents)[:3]:
        if str(parent).startswith(str(tmp_path_factory.getbasetemp())):
            parent.chmod(0o755)
    return d


def start_workload(node, image, obj, *, name, ip, workdir, objs, secrets_, pvcs=None,
                   extra_env=None, container=None):
    spec, first = render.pod_template(obj)
    return run_container(node, image, spec, container or first, name=name, workdir=workdir,
                         secrets=secrets_, configmaps=render.configmaps(objs), pvcs=pvcs or {},
                         pod_ip=ip, extra_env=extra_env)


@pytest.fixture(scope="session")
def pg_pod(node, tracking_objs, stack_secrets, tmp_path_factory):
    sts = render.find(tracking_objs, "StatefulSet", "postgresql")
    image = images.postgres(render.pod_template(sts)[1]["image"])
    sc = sts["spec"]["template"]["spec"]["securityContext"]
    ip = node.pod_ip("postgresql.mlops.svc", "postgresql-0.postgresql-hl.mlops.svc")
    pod = start_workload(node, image, sts, name="postgresql-0", ip=ip,
                         workdir=tmp_path_factory.mktemp("pod-postgresql"), objs=tracking_objs,
                         secrets_=stack_secrets,
                         pvcs={"data": pvc_dir(tmp_path_factory, "pg", sc["runAsUser"], sc["fsGroup"])})
    try:
        pod.wait_started(timeout=120)
        yield pod
    finally:
        pod.stop()


@pytest.fixture(scope="session")
def minio_pod(node, tracking_objs, stack_secrets, tmp_path_factory):
    sts = render.find(tracking_objs, "StatefulSet", "minio")
    sc = sts["spec"]["template"]["spec"]["securityContext"]
    image = images.go_binary(render.pod_template(sts)[1]["image"], "minio", "/usr/bin/minio",
                             sc["runAsUser"], entrypoint=["/usr/bin/minio"])
    ip = node.pod_ip("minio.mlops.svc", "minio-0.minio-hl.mlops.svc")
    pod = start_workload(node, image, sts, name="minio-0", ip=ip,
                         workdir=tmp_path_factory.mktemp("pod-minio"), objs=tracking_objs,
                         secrets_=stack_secrets,
                         pvcs={"data": pvc_dir(tmp_path_factory, "minio", sc["runAsUser"], sc["fsGroup"])})
    try:
        pod.wait_started(timeout=120)
        # The minio role's bootstrap creates the buckets (mlops.stack.s3_bucket).
        s3 = stack_secrets["mlops-s3"]
        node.call(lambda: [s3_client(ip, 9000, s3).create_bucket(Bucket=b)
                           for b in ("mlflow-artifacts", "models")])
        yield pod
    finally:
        pod.stop()


def s3_client(ip, port, s3):
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url="http://%s:%d" % (ip, port),
                        aws_access_key_id=s3["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=s3["AWS_SECRET_ACCESS_KEY"],
                        region_name=s3["AWS_DEFAULT_REGION"],
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))


def run_mlflow(node, image, objs, secrets_, tmp_path_factory, tag, migrate=True, ip=None):
    """The migration Job to completion, then the Deployment's container; returns (job pod, pod)."""
    job = None
    if migrate:
        job_obj = [o for o in objs if o["kind"] == "Job" and o["metadata"]["name"].startswith("mlflow-db-upgrade-")]
        assert len(job_obj) == 1, [o["metadata"]["name"] for o in objs if o["kind"] == "Job"]
        job = start_workload(node, image, job_obj[0], name="mlflow-db-upgrade-" + tag, ip=node.pod_ip(),
                             workdir=tmp_path_factory.mktemp("pod-mlflow-migrate-" + tag), objs=objs,
                             secrets_=secrets_)
        rc = job.wait_exit(timeout=300)
        if rc != 0:
            return job, None
    deploy = render.find(objs, "Deployment", "mlflow")
    pod = start_workload(node, image, deploy, name="mlflow-" + tag, ip=ip or node.pod_ip(),
                         workdir=tmp_path_factory.mktemp("pod-mlflow-" + tag), objs=objs, secrets_=secrets_)
    return job, pod


@pytest.fixture(scope="session")
def mlflow_pod(node, tracking_objs, stack_secrets, pg_pod, minio_pod, tmp_path_factory):
    image = images.mlflow_full()
    ip = node.pod_ip("mlflow.mlops.svc")
    job, pod = run_mlflow(node, image, tracking_objs, stack_secrets, tmp_path_factory, "full", ip=ip)
    assert pod is not None, "migration Job failed (%s); log:\n%s" % (job.proc.returncode, job.log())
    try:
        pod.wait_started()
        pod.job = job
        yield pod
    finally:
        pod.stop()
