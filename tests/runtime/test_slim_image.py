"""The slim MLflow image (roles/mlflow/files/Dockerfile) in the mlflow role's
pods: its software is what the Dockerfile pip-installs (parsed from the
file, tools/images/build.py), so the test follows the file.

The pod spec is the one rendered for the default image; only the image
reference differs when mlflow_image points at the slim build, and the
stand-in is chosen by the test, not by that reference.
"""
import json

import pytest

from tests.runtime import images
from tests.runtime.conftest import run_mlflow
from tests.runtime.test_tracking import assert_probes, say_differences

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("runtime")]


def test_slim_image_migrates_and_serves_the_postgresql_uri_of_the_role(
        node, tracking_objs, stack_secrets, pg_pod, minio_pod, tmp_path_factory):
    from ansible_collections.mlops.stack.plugins.filter.postgresql_uri import postgresql_uri
    image = images.mlflow_slim()
    say_differences(image)
    # A database of its own, created like the postgresql role's bootstrap
    # does (owner = the app user), so the full image's tables do not help.
    app = stack_secrets["mlops-postgresql-mlflow"]
    su = stack_secrets["postgresql-superuser"]
    pg_ip = node.resolve(app["host"])

    def create_db():
        import psycopg
        with psycopg.connect(host=pg_ip, port=5432, user=su["username"], password=su["password"],
                             dbname="postgres", autocommit=True) as conn:
            conn.execute('CREATE DATABASE "mlflow_slim" OWNER "mlflow"')
    node.call(create_db)
    secrets_ = dict(stack_secrets)
    secrets_["mlops-postgresql-mlflow"] = dict(
        app, dbname="mlflow_slim", uri=postgresql_uri("mlflow", app["password"], app["host"], 5432, "mlflow_slim"))
    assert secrets_["mlops-postgresql-mlflow"]["uri"].startswith("postgresql://")

    job, pod = run_mlflow(node, image, tracking_objs, secrets_, tmp_path_factory, "slim")
    try:
        assert job.proc.returncode == 0, (
            "mlflow db upgrade in the slim image failed with the role's URI (%s); log:\n%s"
            % (job.proc.returncode, job.log(3000)))
        pod.wait_started()
        assert_probes(pod)
        status, raw = node.http("POST", pod.ip, 5000, "/api/2.0/mlflow/experiments/create",
                                body=json.dumps({"name": "slim-contract"}),
                                headers={"Host": "mlflow.mlops.svc:5000", "Content-Type": "application/json"})
        assert status == 200, raw
    finally:
        if pod is not None:
            pod.stop()
