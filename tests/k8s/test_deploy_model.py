"""playbooks/deploy_model.yml: a model registered in a real MLflow (basic
auth, artifacts proxied to a real S3) becomes an InferenceService on the
local control plane with the serving roles converged.

What is real: MLflow's registry and REST API, the S3 server holding the
model files, the API server with the KServe CRDs. What is not: the KServe
controller does not run here (tests/k8s/test_real_kserve.py runs it), so the
InferenceService never turns Ready and these runs use kserve_deploy_wait=false
except where the timeout message is the point. MLflow runs on 127.0.0.1, not
in a pod, so the playbook gets its URL (kserve_deploy_tracking_uri); the
in-cluster Deployment below carries the same args and Secret references as
the real server, which is what the playbook reads from the cluster.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from tests.k8s.serving_env import SERVING_NS, env
from tests.playbook import ROOT, run_playbook

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("k8s"), pytest.mark.slow]

PLAYBOOK = ROOT / "playbooks" / "deploy_model.yml"
# Not "mlops": the shared control plane's site tests own that namespace.
MLFLOW_NS = "deploy-model-mlflow"
MODEL = "Iris Classifier"
ISVC = "iris-classifier"

REGISTER = textwrap.dedent("""
    import sys
    import mlflow
    from mlflow import MlflowClient

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return model_input

    mlflow.set_experiment("deploy-model-test")
    for dummy in range(2):
        with mlflow.start_run():
            mlflow.pyfunc.log_model(name="model", python_model=Echo(), registered_model_name=sys.argv[1],
                                    pip_requirements=["mlflow"])
    MlflowClient().set_registered_model_alias(sys.argv[1], "champion", "1")
""")


@pytest.fixture(scope="module")
def registry(mlflow_auth_server, serving_converged, k8s_cluster, tmp_path_factory):
    srv = mlflow_auth_server
    assert srv.artifacts_destination.startswith("s3://"), "MLflow without S3: %s" % srv.artifacts_destination
    run_env = dict(os.environ, MLFLOW_TRACKING_URI=srv.tracking_uri, MLFLOW_TRACKING_USERNAME=srv.username,
                   MLFLOW_TRACKING_PASSWORD=srv.password, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL"):
        run_env.pop(key, None)  # the client uploads through MLflow's artifact proxy, not to S3
    proc = subprocess.run([sys.executable, "-c", REGISTER, MODEL], env=run_env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The MLflow Deployment as the mlflow role renders it (args, auth Secret references).
    k8s_cluster.kubectl("create", "namespace", MLFLOW_NS, check=False)
    k8s_cluster.apply_server_side({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mlflow-auth", "namespace": MLFLOW_NS},
        "stringData": {"username": srv.username, "password": srv.password}})
    auth_env = [{"name": var, "valueFrom": {"secretKeyRef": {"name": "mlflow-auth", "key": key}}}
                for var, key in (("MLFLOW_AUTH_ADMIN_USERNAME", "username"), ("MLFLOW_AUTH_ADMIN_PASSWORD", "password"))]
    k8s_cluster.apply_server_side({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "mlflow", "namespace": MLFLOW_NS},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "mlflow-under-test"}},
                 "template": {"metadata": {"labels": {"app": "mlflow-under-test"}},
                              "spec": {"containers": [{
                                  "name": "mlflow", "image": "ghcr.io/mlflow/mlflow:v3.17.2-full",
                                  "command": ["mlflow", "server"],
                                  "args": ["--host=0.0.0.0", "--port=5000", "--serve-artifacts",
                                           "--artifacts-destination=" + srv.artifacts_destination,
                                           "--app-name=basic-auth"],
                                  "env": auth_env}]}}}})
    inv = tmp_path_factory.mktemp("deploy") / "hosts.yml"
    hosts = {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}
    gpu = {name: {"gpu_count": 1} for name in serving_converged["group"]}
    inv.write_text(yaml.safe_dump({"all": {"children": {"k8s_control": {"hosts": hosts},
                                                        "gpu_inference_nodes": {"hosts": gpu}}}}))
    yield {"srv": srv, "inv": inv, "group": serving_converged["group"]}
    k8s_cluster.kubectl("delete", "namespace", MLFLOW_NS, "--wait=false", "--ignore-not-found", check=False)


def _set_alias(srv, version):
    body = {"name": MODEL, "alias": "champion", "version": str(version)}
    status, body = srv.api("POST", "registered-models/alias", body)
    assert status == 200, body


def _deploy(registry, k8s_cluster, check=False, **extra):
    extra_vars = {"model": MODEL, "kserve_deploy_tracking_uri": registry["srv"].tracking_uri,
                  "kserve_mlflow_namespace": MLFLOW_NS,
                  "kserve_deploy_wait": False, "kserve_deploy_scale_metric": "cpu", "kserve_deploy_scale_target": 70}
    extra_vars.update(extra)
    return run_playbook(PLAYBOOK, inventory=registry["inv"], extra_vars=extra_vars, env=env(k8s_cluster),
                        check=check, diff=check)


def _isvc(k8s_cluster):
    res = k8s_cluster.kubectl("-n", SERVING_NS, "get", "inferenceservice", ISVC, "-o", "json", check=False)
    return json.loads(res.stdout) if res.returncode == 0 else None


def test_alias_becomes_an_inference_service_on_the_gpu_group(registry, k8s_cluster):
    _set_alias(registry["srv"], 1)
    first = _deploy(registry, k8s_cluster, alias="champion")
    assert first.rc == 0, first.explain()
    assert first.changed() == 1, first.explain()
    assert registry["srv"].password not in first.stdout
    isvc = _isvc(k8s_cluster)
    meta, pred = isvc["metadata"], isvc["spec"]["predictor"]
    assert meta["annotations"]["mlops.stack/model-version"] == "1"
    assert meta["annotations"]["mlops.stack/model-alias"] == "champion"
    assert meta["annotations"]["mlops.stack/registered-model"] == MODEL
    model = pred["model"]
    assert (model["modelFormat"]["name"], model["runtime"], model["protocolVersion"]) == \
        ("mlflow", "mlflow-mlserver", "v2")
    dest = registry["srv"].artifacts_destination.rstrip("/")
    assert model["storageUri"].startswith(dest + "/") and model["storageUri"].endswith("/artifacts")
    assert pred["serviceAccountName"] == "kserve-s3"
    assert (pred["minReplicas"], pred["maxReplicas"], pred["scaleMetric"], pred["scaleTarget"]) == (1, 3, "cpu", 70)
    assert pred["nodeSelector"] == {"workload-type": "inference"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pred["tolerations"]
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "1"
    hosts = pred["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert set(registry["group"]) <= set(json.dumps(hosts).replace('"', " ").split()), hosts


def test_storage_uri_points_at_the_model_files_in_s3(registry, k8s_cluster, mlflow_s3):
    isvc = _isvc(k8s_cluster)
    assert isvc is not None, "runs after test_alias_becomes_an_inference_service_on_the_gpu_group"
    uri = isvc["spec"]["predictor"]["model"]["storageUri"]
    bucket, dummy, prefix = uri[len("s3://"):].partition("/")
    keys = [o["Key"] for o in mlflow_s3.client().list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
            .get("Contents", [])]
    # What KServe's storage initializer will copy to /mnt/models: an MLflow model directory.
    assert prefix + "/MLmodel" in keys, keys
    assert any(k.endswith("/python_model.pkl") for k in keys), keys


def test_second_run_changes_nothing(registry, k8s_cluster):
    again = _deploy(registry, k8s_cluster, alias="champion")
    assert again.rc == 0, again.explain()
    assert again.changed() == 0, again.explain()


def test_moving_the_alias_rolls_the_service_and_check_mode_predicts_it(registry, k8s_cluster):
    before = _isvc(k8s_cluster)["spec"]["predictor"]["model"]["storageUri"]
    _set_alias(registry["srv"], 2)
    predicted = _deploy(registry, k8s_cluster, check=True, alias="champion")
    assert predicted.rc == 0, predicted.explain()
    assert predicted.changed() == 1
    assert _isvc(k8s_cluster)["spec"]["predictor"]["model"]["storageUri"] == before  # check mode wrote nothing
    moved = _deploy(registry, k8s_cluster, alias="champion")
    assert moved.rc == 0, moved.explain()
    assert moved.changed() == 1
    isvc = _isvc(k8s_cluster)
    assert isvc["metadata"]["annotations"]["mlops.stack/model-version"] == "2"
    assert isvc["spec"]["predictor"]["model"]["storageUri"] != before


def test_wait_names_why_it_is_not_ready(registry, k8s_cluster):
    res = _deploy(registry, k8s_cluster, version=2, kserve_deploy_wait=True, kserve_deploy_wait_timeout=3)
    assert res.rc != 0
    msg = " ".join(res.failure_messages())
    assert "InferenceService %s/%s is not Ready after 3s" % (SERVING_NS, ISVC) in msg, res.explain()
    assert "is the KServe controller running?" in msg


def test_unknown_alias_fails_before_any_write(registry, k8s_cluster):
    before = _isvc(k8s_cluster)["metadata"]["resourceVersion"]
    res = _deploy(registry, k8s_cluster, alias="nope")
    assert res.rc != 0
    assert "has no alias 'nope'" in " ".join(res.failure_messages()), res.explain()
    assert _isvc(k8s_cluster)["metadata"]["resourceVersion"] == before


def test_absent_removes_it_and_is_idempotent(registry, k8s_cluster):
    gone = _deploy(registry, k8s_cluster, state="absent", kserve_deploy_wait=True)
    assert gone.rc == 0, gone.explain()
    assert gone.changed() == 1
    assert _isvc(k8s_cluster) is None
    again = _deploy(registry, k8s_cluster, state="absent")
    assert again.rc == 0, again.explain()
    assert again.changed() == 0
