"""KServe's storage initializer and the MLServer runtime (ServingRuntime
mlflow-mlserver) serving an MLflow model, as the predictor pod of an
InferenceService with storageUri s3://models/... and the kserve-s3
ServiceAccount would run them (tests/runtime/serving.py)."""
import pytest

from tests.runtime import images, serving
from tests.runtime.conftest import s3_client
from tests.runtime.node import Node
from tests.runtime.test_tracking import say_differences

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("runtime")]

ISVC = "runtime-contract"


def save_model(path):
    """A tiny scikit-learn model saved in MLflow's format; (rows, local predictions)."""
    import mlflow.sklearn
    import numpy as np
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    # MLServer's MLflow runtime decodes the v2 request through the signature.
    mlflow.sklearn.save_model(model, str(path), signature=infer_signature(x, model.predict(x)))
    rows = x[:5].tolist()
    return rows, model.predict(np.array(rows)).tolist()


def upload_dir(node, ip, s3, src, bucket, prefix):
    def up():
        cli = s3_client(ip, 9000, s3)
        for f in sorted(src.rglob("*")):
            if f.is_file():
                cli.upload_file(str(f), bucket, "%s/%s" % (prefix, f.relative_to(src)))
    node.call(up)


def test_storage_initializer_fetches_and_mlserver_serves_the_model(
        node, tracking_objs, stack_secrets, minio_pod, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("model") / "model"
    rows, expected = save_model(model_dir)
    upload_dir(node, minio_pod.ip, stack_secrets["mlops-s3"], model_dir, "models", ISVC + "/1")

    # kserve-provision-location: an emptyDir (0777) both containers share.
    provision = tmp_path_factory.mktemp("provision")
    provision.chmod(0o777)
    for parent in list(provision.parents)[:2]:
        parent.chmod(0o755)
    init = serving.start_storage_initializer(
        node, tracking_objs, "s3://models/%s/1" % ISVC, stack_secrets["mlops-s3-kserve"], provision,
        tmp_path_factory.mktemp("pod-storage-init"))
    say_differences(images.storage_initializer(init.container["image"]))
    assert init.wait_exit(300) == 0, "storage initializer failed; log:\n%s" % init.log()
    assert (provision / "MLmodel").is_file(), sorted(p.name for p in provision.iterdir())

    # Its own node: MLServer's gRPC port (9000) is MinIO's in the tracking node.
    srv_node = Node(tmp_path_factory.mktemp("node-serving"))
    try:
        srv = serving.start_mlserver(srv_node, tracking_objs, ISVC, provision,
                                     tmp_path_factory.mktemp("pod-mlserver"))
        say_differences(images.mlserver(srv.container["image"]))
        print("KServe-injected env (mirrors KServe 0.20's MLServer defaulting): %s"
              % serving.injected_model_env(serving.mlserver_runtime(tracking_objs), ISVC))
        try:
            srv.wait_probe("readinessProbe", 180)
            assert serving.infer(srv, ISVC, rows) == expected
        finally:
            srv.stop()
    finally:
        srv_node.stop()
