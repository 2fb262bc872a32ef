"""Unit tests for the content_named filter (Jobs named after their content)."""
import copy

from ansible_collections.mlops.stack.plugins.filter.content_named import ANNOTATION, content_named

JOB = {"apiVersion": "batch/v1", "kind": "Job",
       "metadata": {"name": "mlflow-db-upgrade", "namespace": "mlops",
                    "annotations": {ANNOTATION: "true", "mlops.stack/phase": "migrate"}},
       "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "mlflow:3.17.2"}]}}}}
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "annotations": {"a": "b"}}}


def _name(obj):
    return content_named([obj])[0]["metadata"]["name"]


def test_the_name_gets_a_hash_of_the_content_and_the_marker_goes():
    out = content_named([JOB, CM])
    assert out[1] is CM
    job = out[0]
    assert job["metadata"]["name"].startswith("mlflow-db-upgrade-") and len(job["metadata"]["name"]) == 28
    assert job["metadata"]["annotations"] == {"mlops.stack/phase": "migrate"}
    assert JOB["metadata"]["annotations"][ANNOTATION] == "true", "input not mutated"
    assert _name(JOB) == job["metadata"]["name"], "stable"


def test_any_change_of_the_job_changes_its_name():
    names = {_name(JOB)}
    for path, value in [(("spec", "template", "spec", "containers", 0, "image"), "mlflow:3.18.0"),
                        (("spec", "backoffLimit"), 4),
                        (("metadata", "labels"), {"app": "x"}),
                        (("metadata", "namespace"), "other")]:
        job = copy.deepcopy(JOB)
        target = job
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        names.add(_name(job))
    assert len(names) == 5


def test_only_annotated_objects_are_renamed_and_an_emptied_annotation_map_goes():
    job = copy.deepcopy(JOB)
    job["metadata"]["annotations"] = {ANNOTATION: "true"}
    assert "annotations" not in content_named([job])[0]["metadata"]
    assert content_named([CM]) == [CM]
