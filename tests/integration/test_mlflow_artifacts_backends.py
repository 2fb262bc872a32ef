"""MLflow's proxied artifact path on both S3 backends the stack can deploy
(issue: object storage after MinIO's distribution ended): a real
`mlflow server` with `--serve-artifacts --artifacts-destination s3://...`
in front of SeaweedFS and of MinIO built from its Go module."""
import json
import urllib.request

import pytest

from tests.servers.mlflow import start_mlflow

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("s3")]


def _call(url, method="GET", data=None, content_type="application/json"):
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=30) as resp:  # nosec - 127.0.0.1 test server
        return resp.status, resp.read()


def test_artifacts_round_trip_through_mlflow(tmp_path, pg_server, s3_backend_server):
    s3 = s3_backend_server
    srv = start_mlflow(tmp_path, pg_server, s3=s3, bucket="mlflow-artifacts")
    try:
        api = srv.tracking_uri.rstrip("/") + "/api/2.0/mlflow/"
        status, body = _call(api + "experiments/create", "POST",
                             json.dumps({"name": "artifacts-%s" % s3.backend}).encode())
        assert status == 200
        exp_id = json.loads(body)["experiment_id"]
        status, body = _call(api + "runs/create", "POST", json.dumps({"experiment_id": exp_id}).encode())
        run_id = json.loads(body)["run"]["info"]["run_id"]
        path = "%s/%s/artifacts/model/MLmodel" % (exp_id, run_id)
        url = srv.tracking_uri.rstrip("/") + "/api/2.0/mlflow-artifacts/artifacts/" + path
        payload = b"flavors:\n  python_function: {}\n"
        status, dummy = _call(url, "PUT", payload, "application/octet-stream")
        assert status == 200
        # Read back through MLflow (the client needs no S3 credentials) ...
        assert _call(url)[1] == payload
        # ... and the object really lives in the backend's bucket.
        keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket="mlflow-artifacts").get("Contents", [])]
        assert any(k.endswith(path) for k in keys), keys
    finally:
        srv.stop()
