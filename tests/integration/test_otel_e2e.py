"""End to end: OTel SDK -> real OpenTelemetry Collector -> real MLflow /v1/traces.

The collector (tools/testbins/otelcol, built from the collector's Go
modules with the same components as the role's contrib image) runs with
the configuration that the otel_collector role renders
(``tasks_from: manifests``), pointed at a real ``mlflow server`` (uvicorn,
PostgreSQL backend) on 127.0.0.1. Spans carrying GenAI attributes are sent
with the OpenTelemetry SDK over OTLP/gRPC and OTLP/HTTP, and read back with
``MlflowClient.search_traces``.

Failure modes, each with bounded retry settings:
- a wrong experiment id (MLflow answers 404, the collector drops the batch
  as a permanent error and says so in its log and metrics);
- MLflow down: the collector queues and retries, and delivers every span
  after MLflow is back on the same port;
- a body MLflow rejects (a span without trace id: HTTP 422), dropped
  without retries while the pipeline keeps delivering good spans.
"""
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from tests.helpers import require, wait_for
from tests.playbook import run_playbook, write_playbook
from tests.servers.bins import find_bin, free_port, wait_for_port

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("mlflow")]

OTELCOL = find_bin("otelcol")
NEED_OTELCOL = ("OpenTelemetry Collector test binary missing: "
                "scripts/build-testbins.sh otelcol")

# Short, bounded exporter settings for the tests (the role defaults are for
# production: 5s..30s backoff for 5 minutes).
FAST_RETRY = {"enabled": True, "initial_interval": "200ms", "max_interval": "1s",
              "max_elapsed_time": "240s"}
FAST_BATCH = {"timeout": "200ms", "send_batch_size": 64, "send_batch_max_size": 128}


# --------------------------------------------------------------------------
# Rendering the role's configuration


def render_collector_configs(tmp_path, variants, fast=True):
    """Render the role's collector config once per variant (one playbook run).

    variants: {name: {role variable overrides}}; each gets free 127.0.0.1
    ports, and with fast=True short retry/batch/timeout settings.
    Returns {name: {"config": Path, "ports": {...}, "manifests": list}}.
    """
    plays, out = [], {}
    for name, overrides in variants.items():
        ports = {"grpc": free_port(), "http": free_port(), "health": free_port(),
                 "metrics": free_port()}
        cfg = Path(tmp_path) / ("otelcol-%s.yaml" % name)
        man = Path(tmp_path) / ("manifests-%s.yaml" % name)
        play_vars = {
            "otel_collector_listen_host": "127.0.0.1",
            "otel_collector_grpc_port": ports["grpc"],
            "otel_collector_http_port": ports["http"],
            "otel_collector_health_port": ports["health"],
            "otel_collector_metrics_port": ports["metrics"],
        }
        if fast:
            play_vars.update({"otel_collector_retry": FAST_RETRY,
                              "otel_collector_batch": FAST_BATCH,
                              # generous: a loaded 2-core CI box can take seconds
                              "otel_collector_export_timeout": "30s"})
        play_vars.update(overrides)
        plays.append({
            "name": "Render the collector config (%s)" % name,
            "hosts": "localhost",
            "gather_facts": False,
            "vars": play_vars,
            "tasks": [
                {"name": "Build the manifests (%s)" % name,
                 "ansible.builtin.include_role": {"name": "mlops.stack.otel_collector",
                                                  "tasks_from": "manifests"}},
                {"name": "Write the ConfigMap config.yaml (%s)" % name,
                 "ansible.builtin.copy": {
                     "content": "{{ (otel_collector_manifests | selectattr('kind', 'eq', "
                                "'ConfigMap') | first).data['config.yaml'] }}",
                     "dest": str(cfg), "mode": "0600"}},
                {"name": "Write the manifests (%s)" % name,
                 "ansible.builtin.copy": {"content": "{{ otel_collector_manifests | to_nice_yaml }}",
                                          "dest": str(man), "mode": "0600"}},
            ],
        })
        out[name] = {"config": cfg, "ports": ports, "manifests": man}
    pb = write_playbook(tmp_path, plays, name="render-otel.yml")
    res = run_playbook(pb)
    assert res.rc == 0, res.explain()
    for v in out.values():
        v["manifests"] = yaml.safe_load(v["manifests"].read_text())
    return out


def render_for(tmp_path, name, srv, experiment_id, **overrides):
    """One variant of render_collector_configs, exporting to ``experiment_id`` on ``srv``."""
    variables = {"otel_collector_mlflow_url": srv.tracking_uri, "otel_collector_experiment_id": experiment_id}
    variables.update(overrides)
    return render_collector_configs(tmp_path, {name: variables})[name]


# --------------------------------------------------------------------------
# A real collector process


class Collector:
    def __init__(self, rendered, tmp_path, name, env=None):
        self.ports = rendered["ports"]
        self.config = rendered["config"]
        self.log_path = Path(tmp_path) / ("otelcol-%s.log" % name)
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env["NO_PROXY"] = full_env["no_proxy"] = "127.0.0.1,localhost"
        self._log = open(self.log_path, "ab")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [OTELCOL, "--config", str(self.config)], env=full_env, stdout=self._log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for_port(self.ports["health"], timeout=60, proc=self.proc)
            self._wait_healthy()
        except Exception:
            self.stop()
            raise AssertionError("collector did not start; log:\n" + self.log()[-4000:])

    def _wait_healthy(self, timeout=30):
        deadline = time.monotonic() + timeout
        url = "http://127.0.0.1:%d/" % self.ports["health"]
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (loopback)
                    if resp.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("health_check %s not 200 after %ss" % (url, timeout))
            time.sleep(0.2)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def metrics(self):
        """Collector self-metrics (Prometheus text) summed by metric name."""
        url = "http://127.0.0.1:%d/metrics" % self.ports["metrics"]
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (loopback)
            text = resp.read().decode()
        out = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
            if m:
                out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
        return out

    def metric(self, prefix):
        """Sum of the metrics whose name starts with prefix (suffixes vary by version)."""
        return sum(v for k, v in self.metrics().items() if k.startswith(prefix))

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._log.close()


@pytest.fixture
def collectors():
    started = []

    def start(rendered, tmp_path, name, env=None):
        c = Collector(rendered, tmp_path, name, env=env)
        started.append(c)
        return c

    yield start
    for c in started:
        c.stop()


# --------------------------------------------------------------------------
# OpenTelemetry SDK client


def make_tracer(protocol, port, service="llama-stack-test"):
    # pylint: disable=import-outside-toplevel
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        exporter = OTLPSpanExporter(endpoint="127.0.0.1:%d" % port, insecure=True, timeout=10)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        exporter = OTLPSpanExporter(endpoint="http://127.0.0.1:%d/v1/traces" % port, timeout=10)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=256,
                                                   schedule_delay_millis=100))
    return provider, provider.get_tracer("mlops.stack.tests")


def emit_chat_trace(tracer, marker, n_children=2):
    """One trace: a GenAI chat root span and n_children tool/retrieval spans."""
    with tracer.start_as_current_span("chat %s" % marker) as root:
        root.set_attribute("gen_ai.operation.name", "chat")
        root.set_attribute("gen_ai.system", "llama_stack")
        root.set_attribute("gen_ai.request.model", "llama-3.2-3b-instruct")
        root.set_attribute("gen_ai.response.model", "llama-3.2-3b-instruct")
        root.set_attribute("gen_ai.usage.input_tokens", 21)
        root.set_attribute("gen_ai.usage.output_tokens", 42)
        root.set_attribute("gen_ai.request.temperature", 0.2)
        root.set_attribute("test.marker", marker)
        for i in range(n_children):
            with tracer.start_as_current_span("retrieve %d" % i) as child:
                child.set_attribute("gen_ai.operation.name", "execute_tool")
                child.set_attribute("gen_ai.tool.name", "vector_search")
                child.set_attribute("test.marker", marker)
        return "%032x" % root.get_span_context().trace_id


def send_chat_traces(col, protocol, markers, n_children):
    """One chat trace per marker into the collector's ``protocol`` receiver;
    their OTel trace ids. Flushed and shut down before it returns: the SDK
    exports in batches, so a test could otherwise wait for spans still in
    the SDK's buffer."""
    provider, tracer = make_tracer(protocol, col.ports[protocol])
    ids = [emit_chat_trace(tracer, marker, n_children=n_children) for marker in markers]
    assert provider.force_flush(10_000)
    provider.shutdown()
    return ids


# --------------------------------------------------------------------------
# MLflow helpers


def mlflow_client(srv, monkeypatch=None):
    """MlflowClient for srv; credentials (auth servers) via env, undone after the test."""
    from mlflow import MlflowClient  # pylint: disable=import-outside-toplevel
    if srv.auth:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", srv.username)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", srv.password)
    return MlflowClient(tracking_uri=srv.tracking_uri)


def new_experiment(client):
    return client.create_experiment("otel-e2e-%s" % uuid.uuid4().hex[:10])


def all_traces(client, experiment_id):
    out, token = [], None
    while True:
        page = client.search_traces(locations=[experiment_id], max_results=500, page_token=token)
        out.extend(page)
        token = page.token
        if not token:
            return out


def wait_for_traces(client, experiment_id, count, timeout=90.0, spans=None):
    """Poll until at least `count` traces (and `spans` spans, if given) are stored."""
    deadline = time.monotonic() + timeout
    traces = []
    while time.monotonic() < deadline:
        traces = all_traces(client, experiment_id)
        n_spans = sum(len(t.data.spans) for t in traces)
        if len(traces) >= count and (spans is None or n_spans >= spans):
            return traces
        time.sleep(0.5)
    raise AssertionError("experiment %s has %d traces / %d spans after %ss, expected %d / %s"
                         % (experiment_id, len(traces), sum(len(t.data.spans) for t in traces),
                            timeout, count, spans))


def retried_status(log, status):
    """Collector log lines that scheduled a retry after this HTTP status."""
    return [line for line in log.splitlines()
            if "Will retry" in line and "Status Code %d" % status in line]


def dropped_without_retry(col, status, failed_spans):
    """Once the collector counts ``failed_spans``: it logged MLflow's HTTP
    ``status`` as a permanent error and dropped the batch at once, since
    retrying a request MLflow refuses for good would only hold the queue
    for minutes."""
    wait_for("the collector to report %d failed spans" % failed_spans,
             lambda: col.metric("otelcol_exporter_send_failed_spans") >= failed_spans, timeout=60, interval=0.2)
    log = col.log()
    assert "Dropping data" in log and "Permanent error" in log, log[-3000:]
    assert "responded with HTTP Status Code %d" % status in log, log[-3000:]
    assert not retried_status(log, status)


def span_attr(span, key):
    return span.attributes.get(key)


# --------------------------------------------------------------------------
# Tests


@pytest.fixture(scope="module")
def otelcol():
    require(OTELCOL is not None, NEED_OTELCOL)
    return OTELCOL


def test_role_renders_a_config_the_real_collector_validates(otelcol, tmp_path):
    """`otelcol validate` accepts the config rendered with the role defaults."""
    rendered = render_collector_configs(tmp_path, {"defaults": {"otel_collector_experiment_id": "1"}})
    cfg = rendered["defaults"]["config"]
    res = subprocess.run([otelcol, "validate", "--config", str(cfg)], capture_output=True,
                         text=True, timeout=60, check=False, env=dict(os.environ, MY_POD_IP="127.0.0.1"))
    assert res.returncode == 0, res.stderr
    data = yaml.safe_load(cfg.read_text())
    exp = data["exporters"]["otlp_http/mlflow"]
    assert exp["headers"]["x-mlflow-experiment-id"] == "1"
    assert exp["compression"] == "gzip"  # MLflow 3.17 >= 3.7
    assert data["service"]["pipelines"]["traces"]["processors"] == ["memory_limiter", "batch"]


def test_spans_reach_the_mlflow_experiment(otelcol, mlflow_server, tmp_path, collectors):
    client = mlflow_client(mlflow_server)
    exp_id = new_experiment(client)
    col = collectors(render_for(tmp_path, "ok", mlflow_server, exp_id), tmp_path, "ok")

    markers = {}
    for protocol in ("grpc", "http"):
        marker = "%s-%s" % (protocol, uuid.uuid4().hex[:8])
        markers[marker] = send_chat_traces(col, protocol, [marker], n_children=2)[0]

    traces = wait_for_traces(client, exp_id, count=2, spans=6)
    assert len(traces) == 2
    by_marker = {}
    for t in traces:
        assert t.info.experiment_id == exp_id
        root = [s for s in t.data.spans if s.parent_id is None]
        assert len(root) == 1, t.data.spans
        by_marker[span_attr(root[0], "test.marker")] = t
    assert set(by_marker) == set(markers)
    for marker, otel_tid in markers.items():
        t = by_marker[marker]
        assert len(t.data.spans) == 3
        assert {s.name for s in t.data.spans} == {"chat %s" % marker, "retrieve 0", "retrieve 1"}
        assert otel_tid in t.info.trace_id or t.info.trace_id.endswith(otel_tid), (otel_tid, t.info)
        root = next(s for s in t.data.spans if s.parent_id is None)
        assert span_attr(root, "gen_ai.request.model") == "llama-3.2-3b-instruct"
        assert span_attr(root, "gen_ai.operation.name") == "chat"
        assert span_attr(root, "gen_ai.usage.input_tokens") == 21
        assert span_attr(root, "gen_ai.usage.output_tokens") == 42
        children = [s for s in t.data.spans if s.parent_id == root.span_id]
        assert len(children) == 2
        assert all(span_attr(c, "gen_ai.tool.name") == "vector_search" for c in children)
    # Nothing went to another experiment.
    assert not [t for t in all_traces(client, "0")
                if any(span_attr(s, "test.marker") in markers for s in t.data.spans)]
    wait_for("the exporter metrics to count 6 sent spans",
             lambda: col.metric("otelcol_exporter_sent_spans") >= 6, timeout=15, interval=0.2)
    assert col.metric("otelcol_exporter_send_failed_spans") == 0


def test_wrong_experiment_id_is_reported(otelcol, mlflow_server, tmp_path, collectors):
    client = mlflow_client(mlflow_server)
    missing = str(900000 + int(uuid.uuid4().int % 99999))
    col = collectors(render_for(tmp_path, "wrong", mlflow_server, missing), tmp_path, "wrong")
    send_chat_traces(col, "http", ["wrong-exp"], n_children=1)

    dropped_without_retry(col, 404, failed_spans=2)
    assert col.metric("otelcol_exporter_sent_spans") == 0
    assert not all_traces(client, "0") or all(
        span_attr(s, "test.marker") != "wrong-exp" for t in all_traces(client, "0")
        for s in t.data.spans)


def test_mlflow_down_spans_are_queued_and_delivered(otelcol, pg_server, tmp_path, collectors):
    # pylint: disable=import-outside-toplevel
    from tests.servers.mlflow import start_mlflow
    srv = start_mlflow(tmp_path / "mlflow-down", pg_server)
    try:
        client = mlflow_client(srv)
        exp_id = new_experiment(client)
        rendered = render_for(tmp_path, "down", srv, exp_id,
                              otel_collector_queue={"enabled": True, "num_consumers": 2, "queue_size": 200})
        col = collectors(rendered, tmp_path, "down")
        cmd = restart_cmd(srv)
        srv.stop()

        n_traces, n_children = 40, 4
        send_chat_traces(col, "grpc", ["down-%d" % i for i in range(n_traces)], n_children=n_children)
        total = n_traces * (n_children + 1)
        wait_for("the collector to retry",
                 lambda: "Will retry" in col.log(), timeout=30, interval=0.2)
        assert col.metric("otelcol_exporter_sent_spans") == 0
        assert col.metric("otelcol_exporter_queue_size") > 0

        srv.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            cmd["args"], cwd=cmd["cwd"], env=cmd["env"], stdout=open(cmd["log"], "ab"),
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(srv.port, timeout=240, proc=srv.proc)
        traces = wait_for_traces(client, exp_id, count=n_traces, spans=total, timeout=240)
        assert len(traces) == n_traces
        assert sum(len(t.data.spans) for t in traces) == total
        # Every span stored once (retries after timeouts are idempotent in
        # MLflow: same trace/span ids), and the collector agrees.
        wait_for("the exporter to count %d sent spans" % total,
                 lambda: col.metric("otelcol_exporter_sent_spans") >= total, timeout=90, interval=0.2)
        assert col.metric("otelcol_exporter_send_failed_spans") == 0
    finally:
        srv.stop()


def restart_cmd(srv):
    """The command line that starts `srv` again on the same port and database."""
    with open("/proc/%d/cmdline" % srv.proc.pid, "rb") as f:
        args = [a.decode() for a in f.read().split(b"\0") if a]
    assert "server" in args and str(srv.port) in args, args
    env = dict(os.environ)
    with open("/proc/%d/environ" % srv.proc.pid, "rb") as f:
        for item in f.read().split(b"\0"):
            if b"=" in item:
                k, v = item.decode(errors="replace").split("=", 1)
                env[k] = v
    return {"args": args, "env": env, "cwd": os.readlink("/proc/%d/cwd" % srv.proc.pid),
            "log": srv.log_path}


def test_body_mlflow_rejects_is_dropped_and_reported(otelcol, mlflow_server, tmp_path, collectors):
    """A span without trace id passes the collector but MLflow answers 422."""
    # pylint: disable=import-outside-toplevel
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
    client = mlflow_client(mlflow_server)
    exp_id = new_experiment(client)
    col = collectors(render_for(tmp_path, "reject", mlflow_server, exp_id), tmp_path, "reject")

    now = time.time_ns()
    bad = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[
        Span(trace_id=b"", span_id=os.urandom(8), name="no trace id",
             start_time_unix_nano=now, end_time_unix_nano=now + 1000)])])])
    req = urllib.request.Request("http://127.0.0.1:%d/v1/traces" % col.ports["http"],
                                 data=bad.SerializeToString(), method="POST",
                                 headers={"Content-Type": "application/x-protobuf"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (loopback)
        assert resp.status == 200  # the collector accepts it; MLflow will not

    dropped_without_retry(col, 422, failed_spans=1)
    mlflow_log = Path(mlflow_server.log_path).read_text(errors="replace")
    assert re.search(r'"POST /v1/traces HTTP/1.1" 422', mlflow_log), mlflow_log[-2000:]

    # The pipeline keeps working: a good trace still arrives.
    send_chat_traces(col, "http", ["after-reject"], n_children=0)
    traces = wait_for_traces(client, exp_id, count=1)
    assert [t for t in traces if t.data.spans[0].name == "chat after-reject"]


def test_basic_auth_header_from_secret_env(otelcol, mlflow_auth_server, tmp_path, collectors,
                                           monkeypatch):
    """With MLflow auth on, the Authorization header comes from the pod env."""
    import base64  # pylint: disable=import-outside-toplevel
    srv = mlflow_auth_server
    client = mlflow_client(srv, monkeypatch)
    exp_id = new_experiment(client)
    rendered = render_for(tmp_path, "auth", srv, exp_id, otel_collector_mlflow_auth_enabled=True)
    dep = next(o for o in rendered["manifests"] if o["kind"] == "Deployment")
    env = dep["spec"]["template"]["spec"]["containers"][0]["env"]
    ref = next(e for e in env if e["name"] == "MLFLOW_AUTHORIZATION")
    assert ref["valueFrom"]["secretKeyRef"] == {"name": "otel-collector-mlflow-auth",
                                                "key": "authorization"}
    assert srv.password not in rendered["config"].read_text()
    header = "Basic " + base64.b64encode(("%s:%s" % (srv.username, srv.password)).encode()).decode()
    col = collectors(rendered, tmp_path, "auth", env={"MLFLOW_AUTHORIZATION": header})
    send_chat_traces(col, "grpc", ["auth"], n_children=1)
    traces = wait_for_traces(client, exp_id, count=1, spans=2)
    assert traces[0].info.experiment_id == exp_id

    # Wrong credentials: 401, reported as a permanent failure.
    bad = collectors(rendered_copy(rendered, tmp_path, "auth-bad"), tmp_path, "auth-bad",
                     env={"MLFLOW_AUTHORIZATION": "Basic " + base64.b64encode(b"admin:nope").decode()})
    send_chat_traces(bad, "grpc", ["auth-bad"], n_children=0)
    wait_for("the collector to report the 401",
             lambda: bad.metric("otelcol_exporter_send_failed_spans") >= 1, timeout=60, interval=0.2)
    assert "401" in bad.log(), bad.log()[-3000:]


def rendered_copy(rendered, tmp_path, name):
    """The same rendered config on fresh ports (a second collector beside the first)."""
    ports = {k: free_port() for k in rendered["ports"]}
    text = rendered["config"].read_text()
    for k, old in rendered["ports"].items():
        text = text.replace("127.0.0.1:%d" % old, "127.0.0.1:%d" % ports[k])
    text = re.sub(r"port: %d\b" % rendered["ports"]["metrics"], "port: %d" % ports["metrics"], text)
    cfg = Path(tmp_path) / ("otelcol-%s.yaml" % name)
    cfg.write_text(text)
    return {"config": cfg, "ports": ports, "manifests": rendered["manifests"]}
