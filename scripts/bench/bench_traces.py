#!/usr/bin/env python
"""Spans per second accepted end to end into MLflow: through the collector
(otel_collector role defaults) vs. the app exporting straight to a stock,
single-process MLflow.

Real servers on 127.0.0.1: PostgreSQL, a stock `mlflow server` with
--workers 1 (MLflow's single-process default) and, for the role's own
default, one with --workers 2 (mlflow_workers). The client is the
OpenTelemetry SDK with identical settings in every mode (BatchSpanProcessor,
512-span batches, OTLP/HTTP protobuf) and a queue big enough that it drops
nothing.

- direct_w1:    SDK --OTLP/HTTP--> MLflow (1 worker) /v1/traces   (baseline)
- collector_w1: SDK --OTLP/HTTP--> otelcol (config rendered by the role with
                its defaults; only listen host/ports differ) --> MLflow (1 worker)
- collector_w2: the same into MLflow with 2 workers (the mlflow role default)

A run emits TRACES traces of SPANS_PER_TRACE spans with GenAI attributes and
ends when PostgreSQL holds every span of the run's experiment; the rate is
spans / (last span stored - first span emitted). Also reported: how fast
the first hop accepted the spans (SDK flush returned). Ratios are medians
over --repeat runs relative to direct_w1.

Usage: .venv/bin/python scripts/bench/bench_traces.py [--traces 200]
       [--spans-per-trace 5] [--repeat 3] [--role-workers 2] [--json out.json]
Needs: scripts/build-testbins.sh otelcol, Debian's postgresql, mlflow.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# pylint: disable=wrong-import-position
from tests.integration.test_otel_e2e import (  # noqa: E402
    OTELCOL, Collector, render_collector_configs)
from tests.servers.mlflow import start_mlflow  # noqa: E402
from tests.servers.postgres import start_postgres  # noqa: E402


def make_provider(endpoint, queue):
    # pylint: disable=import-outside-toplevel
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-llm-app"}))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=endpoint, timeout=60), max_queue_size=queue,
        max_export_batch_size=512, schedule_delay_millis=200))
    return provider


def emit(tracer, traces, spans_per_trace):
    for i in range(traces):
        with tracer.start_as_current_span("chat %d" % i) as root:
            root.set_attribute("gen_ai.operation.name", "chat")
            root.set_attribute("gen_ai.request.model", "llama-3.2-3b-instruct")
            root.set_attribute("gen_ai.usage.input_tokens", 100 + i % 50)
            root.set_attribute("gen_ai.usage.output_tokens", 200 + i % 70)
            root.set_attribute("gen_ai.prompt", "What is MLOps? " * 8)
            for j in range(spans_per_trace - 1):
                with tracer.start_as_current_span("tool %d" % j) as child:
                    child.set_attribute("gen_ai.operation.name", "execute_tool")
                    child.set_attribute("gen_ai.tool.name", "vector_search")


def stored_spans(pg, dbname, exp_id):
    with pg.connect(dbname) as conn:
        return conn.execute("SELECT count(*) FROM spans WHERE experiment_id = %s",
                            (int(exp_id),)).fetchone()[0]


def run_once(mode, endpoint, exp_id, pg, srv, args, header=True):
    """Emit the workload to `endpoint`; wait until PostgreSQL holds every span."""
    if header:  # direct mode: the SDK sends the experiment header itself
        os.environ["OTEL_EXPORTER_OTLP_TRACES_HEADERS"] = "x-mlflow-experiment-id=%s" % exp_id
    else:
        os.environ.pop("OTEL_EXPORTER_OTLP_TRACES_HEADERS", None)
    total = args.traces * args.spans_per_trace
    provider = make_provider(endpoint, queue=total + 1024)
    tracer = provider.get_tracer("bench")
    t0 = time.monotonic()
    emit(tracer, args.traces, args.spans_per_trace)
    provider.force_flush(timeout_millis=int(args.timeout * 1000))
    t_accepted = time.monotonic()
    provider.shutdown()
    deadline = t0 + args.timeout
    n = 0
    while time.monotonic() < deadline:
        n = stored_spans(pg, srv.dbname, exp_id)
        if n >= total:
            break
        time.sleep(0.1)
    t_stored = time.monotonic()
    return {"mode": mode, "experiment_id": exp_id, "spans": total, "stored": n,
            "accepted_s": round(t_accepted - t0, 3), "stored_s": round(t_stored - t0, 3),
            "accepted_per_s": round(total / (t_accepted - t0), 1),
            "stored_per_s": round(n / (t_stored - t0), 1), "complete": n >= total}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--traces", type=int, default=200)
    ap.add_argument("--spans-per-trace", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--role-workers", type=int, default=2,
                    help="uvicorn workers of the mlflow role's default (mlflow_workers); 0 skips that mode")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if OTELCOL is None:
        sys.exit("otelcol test binary missing: scripts/build-testbins.sh otelcol")

    from mlflow import MlflowClient  # pylint: disable=import-outside-toplevel
    tmp = Path(tempfile.mkdtemp(prefix="bench-traces-"))
    pg = start_postgres(tmp / "pg")
    servers, col = {}, None
    try:
        servers[1] = start_mlflow(tmp / "mlflow-1", pg, workers=1, timeout=900)
        if args.role_workers and args.role_workers != 1:
            servers[args.role_workers] = start_mlflow(tmp / ("mlflow-%d" % args.role_workers), pg,
                                                      workers=args.role_workers, timeout=900)
        # Warm up every server (first requests import and compile code paths
        # in each worker) so that the first measured run is not penalised.
        warm = argparse.Namespace(traces=40, spans_per_trace=args.spans_per_trace,
                                  timeout=args.timeout)
        for workers, srv in servers.items():
            for dummy in range(max(2, workers * 2)):
                exp_id = MlflowClient(srv.tracking_uri).create_experiment(
                    "bench-warmup-%s" % uuid.uuid4().hex[:8])
                run_once("warmup", srv.tracking_uri + "/v1/traces", exp_id, pg, srv, warm)
        results = []
        for rep in range(args.repeat):
            for mode, workers in [("direct", 1)] + [("collector", w) for w in sorted(servers)]:
                srv = servers[workers]
                client = MlflowClient(srv.tracking_uri)
                exp_id = client.create_experiment("bench-%s-%d-%s" % (mode, rep, uuid.uuid4().hex[:6]))
                if mode == "direct":
                    res = run_once(mode, srv.tracking_uri + "/v1/traces", exp_id, pg, srv, args)
                else:
                    name = "bench-w%d-%d" % (workers, rep)
                    # Role defaults (batch, queue, retry, gzip, memory_limiter); only the
                    # listen address/ports, the MLflow URL and the experiment differ.
                    rendered = render_collector_configs(tmp, {name: {
                        "otel_collector_mlflow_url": srv.tracking_uri,
                        "otel_collector_experiment_id": exp_id}}, fast=False)[name]
                    col = Collector(rendered, tmp, name)
                    res = run_once(mode, "http://127.0.0.1:%d/v1/traces" % col.ports["http"],
                                   exp_id, pg, srv, args, header=False)
                    res["collector_send_failed_spans"] = col.metric(
                        "otelcol_exporter_send_failed_spans")
                    col.stop()
                    col = None
                res["mlflow_workers"] = workers
                results.append(res)
                print(json.dumps(res), flush=True)
        summary = summarize(results, args)
        print(json.dumps(summary, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps({"runs": results, "summary": summary}, indent=2))
    finally:
        if col is not None:
            col.stop()
        for srv in servers.values():
            srv.stop()
        pg.stop()


def summarize(results, args):
    out = {"traces": args.traces, "spans_per_trace": args.spans_per_trace, "repeat": args.repeat,
           "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 1)}
    keys = sorted({(r["mode"], r["mlflow_workers"]) for r in results})
    for mode, workers in keys:
        rs = [r for r in results if r["mode"] == mode and r["mlflow_workers"] == workers]
        out["%s_w%d" % (mode, workers)] = {
            "stored_per_s_median": statistics.median(r["stored_per_s"] for r in rs),
            "accepted_per_s_median": statistics.median(r["accepted_per_s"] for r in rs),
            "all_complete": all(r["complete"] for r in rs)}
    base = out["direct_w1"]
    for key in [k for k in out if k.startswith("collector_")]:
        out["ratio_stored_%s_vs_direct_w1" % key] = round(
            out[key]["stored_per_s_median"] / base["stored_per_s_median"], 2)
        out["ratio_accepted_%s_vs_direct_w1" % key] = round(
            out[key]["accepted_per_s_median"] / base["accepted_per_s_median"], 2)
    return out


if __name__ == "__main__":
    main()
