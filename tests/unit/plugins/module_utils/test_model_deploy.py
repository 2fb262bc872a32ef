"""Pure parts of module_utils/model_deploy.py: names, storage URIs, the
InferenceService body and readiness. The registry calls run against a real MLflow in
tests/integration/test_model_registry.py, the playbook in tests/k8s/test_deploy_model.py."""
import pytest

from ansible_collections.mlops.stack.plugins.module_utils import model_deploy as md


def params(**kw):
    base = {k: v.get("default") for k, v in md.argument_spec().items()}
    base.update(model="iris", namespace="mlops-serving", alias="champion", tracking_uri="http://127.0.0.1:1")
    base.update(kw)
    return base


RESOLVED = {"version": "3", "run_id": "r1", "artifact_uri": "mlflow-artifacts:/1/models/m-1/artifacts",
            "storage_uri": "s3://mlflow-artifacts/1/models/m-1/artifacts"}


@pytest.mark.parametrize("model,expected", [
    ("iris", "iris"),
    ("Iris_Classifier v2", "iris-classifier-v2"),
    ("3d-model", "m-3d-model"),
    ("a" * 80, "a" * 45),
    ("sales--forecast__", "sales-forecast"),
])
def test_service_name_from_model(model, expected):
    assert md.service_name(model) == expected


@pytest.mark.parametrize("name", ["Iris", "1iris", "iris-", "a" * 46, "iris.v2"])
def test_explicit_bad_name_is_refused(name):
    with pytest.raises(md.ModelDeployError, match="invalid InferenceService name"):
        md.service_name("iris", name)


def test_model_name_without_any_usable_character_is_refused():
    with pytest.raises(md.ModelDeployError, match="derived from model"):
        md.service_name("___")


@pytest.mark.parametrize("kw,match", [
    ({"alias": None}, "set version"),
    ({"alias": None, "version": "0"}, "positive number"),
    ({"alias": None, "version": "v3"}, "positive number"),
    ({"alias": "champ ion"}, "invalid alias"),
    ({"min_replicas": 3, "max_replicas": 2}, "greater than max_replicas"),
    ({"min_replicas": -1}, "min_replicas"),
    ({"max_replicas": 0}, "max_replicas"),
    ({"scale_target": 50}, "needs scale_metric"),
    ({"scale_metric": "cpu", "scale_target": 0}, "scale_target"),
])
def test_bad_parameters_are_refused_before_any_request(kw, match):
    with pytest.raises(md.ModelDeployError, match=match):
        md.check_params(params(**kw))


def test_absent_needs_no_version():
    assert md.check_params(params(alias=None, state="absent")) == "iris"


@pytest.mark.parametrize("uri,dest,expected", [
    ("mlflow-artifacts:/1/models/m-1/artifacts", "s3://mlflow-artifacts", "s3://mlflow-artifacts/1/models/m-1/artifacts"),
    ("mlflow-artifacts:/1/x", "s3://bucket/prefix/", "s3://bucket/prefix/1/x"),
    ("mlflow-artifacts://mlflow.mlops.svc:5000/1/x", "s3://b", "s3://b/1/x"),
    ("s3://other/1/x", None, "s3://other/1/x"),
    ("gs://g/1", None, "gs://g/1"),
])
def test_storage_uri(uri, dest, expected):
    assert md.storage_uri(uri, dest) == expected


@pytest.mark.parametrize("uri,dest,match", [
    ("mlflow-artifacts:/1/x", None, "set artifacts_destination"),
    ("mlflow-artifacts:/1/x", "/mlartifacts", "cannot read from the serving namespace"),
    ("models:/m-123", None, "instead of a storage location"),
    ("file:///home/me/mlruns/1/x", None, "local to the machine"),
    ("", None, "no artifact location"),
])
def test_storage_uri_refuses_what_kserve_cannot_fetch(uri, dest, match):
    with pytest.raises(md.ModelDeployError, match=match):
        md.storage_uri(uri, dest)


def test_inference_service_body():
    p = params(min_replicas=1, max_replicas=3, scale_metric="cpu", scale_target=70, deployment_mode="Standard",
               resources={"limits": {"nvidia.com/gpu": "1"}}, node_selector={"workload-type": "inference"},
               tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
               labels={"team": "ds"}, annotations={"owner": "ds", "flag": True})
    isvc = md.inference_service(p, "iris", RESOLVED)
    meta, predictor = isvc["metadata"], isvc["spec"]["predictor"]
    assert (isvc["apiVersion"], isvc["kind"], meta["name"], meta["namespace"]) == \
        ("serving.kserve.io/v1beta1", "InferenceService", "iris", "mlops-serving")
    assert meta["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    assert meta["annotations"][md.ANNOTATION_VERSION] == "3"
    assert meta["annotations"][md.ANNOTATION_ALIAS] == "champion"
    assert meta["annotations"]["flag"] == "true"
    assert meta["labels"]["team"] == "ds" and meta["labels"]["app.kubernetes.io/part-of"] == "mlops-stack"
    assert predictor["model"] == {"modelFormat": {"name": "mlflow"}, "protocolVersion": "v2",
                                  "runtime": "mlflow-mlserver", "storageUri": RESOLVED["storage_uri"],
                                  "resources": {"limits": {"nvidia.com/gpu": "1"}}}
    assert predictor["serviceAccountName"] == "kserve-s3"
    assert (predictor["minReplicas"], predictor["maxReplicas"], predictor["scaleMetric"], predictor["scaleTarget"]) \
        == (1, 3, "cpu", 70)
    assert predictor["nodeSelector"] == {"workload-type": "inference"}
    assert predictor["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert "affinity" not in predictor and "runtimeClassName" not in predictor


def test_inference_service_leaves_unset_options_to_kserve():
    isvc = md.inference_service(params(runtime="", service_account=""), "iris", RESOLVED)
    predictor = isvc["spec"]["predictor"]
    assert set(predictor) == {"model"}
    assert "runtime" not in predictor["model"] and "resources" not in predictor["model"]
    assert "serving.kserve.io/deploymentMode" not in isvc["metadata"]["annotations"]


def test_nested_annotation_values_are_refused():
    with pytest.raises(md.ModelDeployError, match="annotations.x must be a string"):
        md.inference_service(params(annotations={"x": {"a": 1}}), "iris", RESOLVED)


def _isvc(conditions, generation=1, observed=1, **status):
    return {"metadata": {"generation": generation},
            "status": dict(observedGeneration=observed, conditions=conditions, **status)}


def test_service_ready():
    assert md.service_ready(_isvc([{"type": "Ready", "status": "True"}])) == (True, "Ready")
    ok, reason = md.service_ready(_isvc([{"type": "Ready", "status": "True"}], generation=2))
    assert not ok and "generation 2" in reason
    ok, reason = md.service_ready(_isvc(
        [{"type": "PredictorReady", "status": "False", "reason": "MinimumReplicasUnavailable",
          "message": "Deployment does not have minimum availability."},
         {"type": "Ready", "status": "False"}],
        modelStatus={"lastFailureInfo": {"reason": "ModelLoadFailed", "message": "InvalidModelURI"}}))
    assert not ok
    assert "PredictorReady: MinimumReplicasUnavailable (Deployment does not have minimum availability.)" in reason
    assert "ModelLoadFailed InvalidModelURI" in reason
    assert md.service_ready({"metadata": {}, "status": {}}) == (False, "no status yet")


def test_pod_problems_name_scheduling_and_crashes():
    pods = [{"metadata": {"name": "iris-predictor-1"},
             "status": {"conditions": [{"type": "PodScheduled", "status": "False",
                                        "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]}},
            {"metadata": {"name": "iris-predictor-2"},
             "status": {"containerStatuses": [{"name": "kserve-container",
                                               "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                               "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}],
                        "initContainerStatuses": [{"name": "storage-initializer",
                                                   "state": {"waiting": {"reason": "PodInitializing"}}}]}}]
    assert md.pod_problems(pods) == [
        "pod iris-predictor-1 not scheduled: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
        "pod iris-predictor-2 container kserve-container: CrashLoopBackOff",
        "pod iris-predictor-2 container kserve-container exited 1 (Error)",
    ]
