"""PostgreSQL, MinIO, the MLflow migration Job and server, and the OTel
collector, each run from its rendered spec with the image's software
(tests/runtime/images.py lists the differences; each test prints them)."""
import json
import time

import pytest

from tests.runtime import images, render
from tests.runtime.conftest import s3_client, start_workload

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("runtime")]

PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def assert_probes(pod):
    for kind in PROBES:
        if kind in pod.container:
            ok, detail = pod.probe(kind)
            assert ok, "%s %s failed: %s\nlog:\n%s" % (pod.name, kind, detail, pod.log())


def assert_liveness_distinct(pod):
    """Liveness only restarts a wedged process, readiness gates traffic: a
    different check, or the same one acting much later (a longer budget)."""
    live, ready = pod.container["livenessProbe"], pod.container["readinessProbe"]

    def budget(p):
        return p.get("periodSeconds", 10) * p.get("failureThreshold", 3)

    def check(p):
        return {k: v for k, v in p.items() if k in ("httpGet", "tcpSocket", "exec", "grpc")}
    assert check(live) != check(ready) or budget(live) >= 2 * budget(ready), (live, ready)
    assert budget(live) > budget(ready) and live.get("timeoutSeconds", 1) >= ready.get("timeoutSeconds", 1)


def say_differences(image):
    print("image %s stand-in differences:\n  %s" % (image.ref, "\n  ".join(image.differences)))


def pg_query(node, ip, secret, sql, dbname=None):
    import psycopg

    def q():
        with psycopg.connect(host=ip, port=5432, user=secret["username"], password=secret["password"],
                             dbname=dbname or secret["dbname"], connect_timeout=10) as conn:
            return conn.execute(sql).fetchall()
    return node.call(q)


def test_postgresql_initialises_with_the_init_script_and_config(pg_pod, stack_secrets, tracking_objs):
    say_differences(images.postgres(pg_pod.container["image"]))
    assert_probes(pg_pod)
    assert_liveness_distinct(pg_pod)
    app = stack_secrets["mlops-postgresql-mlflow"]
    ip = pg_pod.node.resolve(app["host"])
    # initdb.sh created the role, its database and the extension; the
    # ConfigMap's postgresql.conf is the one in force.
    assert pg_query(pg_pod.node, ip, app, "SELECT current_user, current_database()") == [("mlflow", "mlflow")]
    assert ("pg_stat_statements",) in pg_query(pg_pod.node, ip, app, "SELECT extname FROM pg_extension")
    conf = render.configmaps(tracking_objs)["postgresql-config"]["postgresql.conf"]
    assert "max_connections = 200" in conf
    assert pg_query(pg_pod.node, ip, app, "SHOW max_connections") == [("200",)]
    res = pg_pod.exec(["sh", "-c", "touch /var/lib/postgresql/x && touch /etc/x"])
    assert res.returncode != 0 and "Read-only file system" in res.stderr, res


def test_minio_serves_s3_with_the_root_secret(minio_pod, stack_secrets):
    sts_image = minio_pod.container["image"]
    print("image %s stand-in: the Go build of tools/testbins/minio at /usr/bin/minio" % sts_image)
    assert_probes(minio_pod)
    s3 = stack_secrets["mlops-s3"]
    names = minio_pod.node.call(lambda: [b["Name"] for b in s3_client(minio_pod.ip, 9000, s3).list_buckets()["Buckets"]])
    assert {"mlflow-artifacts", "models"} <= set(names)


def mlflow_api(pod, method, path, body=None):
    # The in-cluster Host header: the server checks it (--allowed-hosts).
    status, raw = pod.node.http(method, pod.ip, 5000, path, body=json.dumps(body) if body is not None else None,
                                headers={"Host": "mlflow.mlops.svc:5000", "Content-Type": "application/json"})
    return status, raw


def test_mlflow_migrates_then_serves_with_postgresql_and_s3(mlflow_pod, stack_secrets, minio_pod):
    say_differences(images.mlflow_full())
    assert mlflow_pod.job.proc.returncode == 0
    assert_probes(mlflow_pod)
    assert_liveness_distinct(mlflow_pod)
    # Readiness goes through the Flask app (/version answers the version),
    # liveness through the ASGI loop (/health): both as the kubelet sends
    # them (Host: the pod IP), both past --allowed-hosts.
    assert mlflow_pod.container["readinessProbe"]["httpGet"]["path"] == "/version"
    ok, detail = mlflow_pod.probe("readinessProbe")
    assert ok and "-> 200 b'3." in detail, detail
    app = stack_secrets["mlops-postgresql-mlflow"]
    tables = pg_query(mlflow_pod.node, mlflow_pod.node.resolve(app["host"]), app,
                      "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert ("alembic_version",) in tables and ("experiments",) in tables
    # The migration ran with the database URL from its environment: what the
    # node executed (the command, variable references expanded as the
    # kubelet does) holds neither the password nor the URI.
    executed = (mlflow_pod.job.log_path.parent / "sandbox.sh").read_text()
    assert app["password"] not in executed and app["uri"] not in executed
    # Backend store: an experiment round-trips through PostgreSQL.
    status, raw = mlflow_api(mlflow_pod, "POST", "/api/2.0/mlflow/experiments/create",
                             {"name": "runtime-contract-%d" % time.time_ns()})
    assert status == 200, raw
    # Artifacts: proxied by the server to the mlflow-artifacts bucket.
    status, raw = mlflow_pod.node.http("PUT", mlflow_pod.ip, 5000, "/api/2.0/mlflow-artifacts/artifacts/contract/hello.txt",
                                       body=b"hello", headers={"Host": "mlflow.mlops.svc:5000"})
    assert status == 200, raw
    s3 = stack_secrets["mlops-s3"]

    def fetch():
        obj = s3_client(minio_pod.ip, 9000, s3).get_object(Bucket="mlflow-artifacts", Key="contract/hello.txt")
        return obj["Body"].read()
    assert minio_pod.node.call(fetch) == b"hello"
    res = mlflow_pod.exec(["sh", "-c", "touch /x"])
    assert res.returncode != 0 and "Read-only file system" in res.stderr, res


def send_trace(node, ip, marker):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    def send():
        provider = TracerProvider(resource=Resource.create({"service.name": "runtime-contract"}))
        # Simple (synchronous) processor: the export happens in this thread,
        # which is inside the node's network namespace.
        provider.add_span_processor(SimpleSpanProcessor(
            OTLPSpanExporter(endpoint="http://%s:4318/v1/traces" % ip, timeout=10)))
        with provider.get_tracer("contract").start_as_current_span("chat") as span:
            span.set_attribute("contract.marker", marker)
        provider.shutdown()
    node.call(send)


def test_collector_receives_otlp_and_exports_to_mlflow(node, tracking_objs, stack_secrets, mlflow_pod,
                                                       tmp_path_factory):
    deploy = render.find(tracking_objs, "Deployment", "otel-collector")
    spec, container = render.pod_template(deploy)
    image = images.go_binary(container["image"], "otelcol", "/otelcol-contrib",
                             spec["securityContext"]["runAsUser"], entrypoint=["/otelcol-contrib"])
    say_differences(image)
    ip = node.pod_ip("otel-collector.mlops.svc")
    pod = start_workload(node, image, deploy, name="otel-collector", ip=ip,
                         workdir=tmp_path_factory.mktemp("pod-otel"), objs=tracking_objs, secrets_=stack_secrets)
    try:
        pod.wait_started()
        assert_probes(pod)
        assert_liveness_distinct(pod)
        app = stack_secrets["mlops-postgresql-mlflow"]
        pg_ip = node.resolve(app["host"])
        before = pg_query(node, pg_ip, app, "SELECT count(*) FROM trace_info WHERE experiment_id = 0")[0][0]
        send_trace(node, ip, "m-%d" % time.time_ns())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            n = pg_query(node, pg_ip, app, "SELECT count(*) FROM trace_info WHERE experiment_id = 0")[0][0]
            if n > before:
                break
            time.sleep(1)
        else:
            raise AssertionError("no trace reached MLflow's experiment 0 in 60s; collector log:\n%s\nmlflow log:\n%s"
                                 % (pod.log(), mlflow_pod.log(3000)))
    finally:
        pod.stop()
