"""Offline schema validation (plugins/module_utils/schema_check.py), with the
real schemas: kubernetes-validate's for built-in kinds, KServe's CRDs from the
release mirror for custom resources."""
from pathlib import Path

import pytest

from ansible_collections.mlops.stack.plugins.module_utils import schema_check

MIRROR = Path(__file__).resolve().parents[4].parent / "shared" / "upstream-manifests"


@pytest.fixture(scope="module")
def kserve_schemas(tmp_path_factory):
    files = sorted((MIRROR / "kserve" / "v0.20.0").glob("*.yaml"))
    if not files:
        pytest.skip("upstream manifest mirror not found at %s" % MIRROR)
    return schema_check.load_crd_schemas(files, str(tmp_path_factory.mktemp("parsed")))


def _isvc(predictor):
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "m", "namespace": "s"}, "spec": {"predictor": predictor}}


def test_custom_resources_use_their_crd(kserve_schemas):
    assert ("serving.kserve.io/v1beta1", "InferenceService") in kserve_schemas
    good = _isvc({"minReplicas": 1, "model": {"modelFormat": {"name": "mlflow"}}})
    assert schema_check.validate_objects([good], kserve_schemas, "1.36") == []
    bad = _isvc({"minReplicas": "two"})
    assert schema_check.validate_objects([bad], kserve_schemas, "1.36") == [
        "InferenceService s/m: 'two' is not of type 'integer' at spec/predictor/minReplicas"]


def test_int_or_string_fields_take_both(kserve_schemas):
    limits = {"model": {"modelFormat": {"name": "mlflow"}, "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}}}
    assert schema_check.validate_objects([_isvc(limits)], kserve_schemas, "1.36") == []


def test_built_in_kinds_are_strict():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}, "extra": 1}
    problems = schema_check.validate_objects([cm], {}, "1.36")
    assert len(problems) == 1 and problems[0].startswith("ConfigMap c: ") and "extra" in problems[0], problems


def test_unknown_kinds_are_problems():
    unknown = [{"apiVersion": "v1", "kind": "Nonsense", "metadata": {"name": "n"}},
               {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}]
    problems = schema_check.validate_objects(unknown, {}, "1.36")
    assert "not a Kubernetes" in problems[0] and "CRD is not in the pinned release" in problems[1], problems


def test_schema_version_picks_the_newest_not_newer():
    assert schema_check.schema_version("1.36") == "1.36.0"
    assert schema_check.schema_version("1.99") == schema_check.schema_version("1.37")
