from ansible_collections.mlops.stack.plugins.module_utils.status import status_table, workload_status


def deployment(replicas=2, ready=2, image="ghcr.io/mlflow/mlflow:v3.17.2", conditions=None, labels=None,
               generation=1, observed=1):
    return {
        "kind": "Deployment",
        "metadata": {"name": "mlflow", "labels": labels or {}, "generation": generation},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"image": image}]}}},
        "status": {"readyReplicas": ready, "observedGeneration": observed,
                   "conditions": conditions or [{"type": "Available", "status": "True"}]},
    }


def test_healthy_deployment():
    row = workload_status(deployment(), component="mlflow", endpoint="http://mlflow:5000")
    assert row == {"component": "mlflow", "version": "v3.17.2", "ready": "2/2",
                   "endpoint": "http://mlflow:5000", "problem": "", "ok": True}


def test_version_label_wins_over_image_tag():
    row = workload_status(deployment(labels={"app.kubernetes.io/version": "3.17.2"}))
    assert row["version"] == "3.17.2"


def test_digest_image_version():
    row = workload_status(deployment(image="q.io/a/b:1.2@sha256:" + "a" * 64))
    assert row["version"] == "1.2"


def test_missing_object_is_a_problem():
    row = workload_status(None, component="minio")
    assert row["ok"] is False and row["problem"] == "not found" and row["component"] == "minio"


def test_missing_object_reports_what_creates_it():
    row = workload_status({}, component="s3-secret-kserve", missing="Secret mlops/mlops-s3-kserve not found: ...")
    assert row["ok"] is False and row["problem"].startswith("Secret mlops/mlops-s3-kserve not found")
    secret = {"kind": "Secret", "metadata": {"name": "mlops-s3-kserve"}}
    assert workload_status(secret, component="s3-secret-kserve", missing="unused")["ok"] is True


def test_unavailable_condition_reported():
    row = workload_status(deployment(ready=0, conditions=[
        {"type": "Available", "status": "False", "message": "Deployment does not have minimum availability."}]))
    assert not row["ok"]
    assert row["problem"].startswith("Available=False: Deployment does not have")


def test_partial_readiness_reported():
    row = workload_status(deployment(ready=1))
    assert row["problem"] == "1 of 2 replicas ready"


def test_unobserved_generation_reported():
    row = workload_status(deployment(generation=3, observed=2))
    assert "generation 3" in row["problem"]


def test_daemonset_counts():
    ds = {"kind": "DaemonSet", "metadata": {"name": "nvidia"},
          "status": {"desiredNumberScheduled": 2, "numberReady": 2}}
    assert workload_status(ds)["ready"] == "2/2"


def test_status_table_alignment():
    rows = [
        {"component": "mlflow", "version": "v3.17.2", "ready": "2/2", "endpoint": "http://m:5000", "problem": ""},
        {"component": "postgresql", "version": "17.6", "ready": "0/1", "endpoint": "", "problem": "not found"},
    ]
    lines = status_table(rows).splitlines()
    assert lines[0].split() == ["COMPONENT", "VERSION", "READY", "ENDPOINT", "PROBLEM"]
    assert lines[1].split() == ["mlflow", "v3.17.2", "2/2", "http://m:5000", "-"]
    assert lines[2].split() == ["postgresql", "17.6", "0/1", "-", "not", "found"]
    # columns line up
    assert lines[1].index("v3.17.2") == lines[0].index("VERSION") == lines[2].index("17.6")


def test_status_table_empty():
    assert status_table([]).split() == ["COMPONENT", "VERSION", "READY", "ENDPOINT", "PROBLEM"]
