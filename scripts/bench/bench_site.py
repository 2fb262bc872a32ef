#!/usr/bin/env python
"""Benchmark: playbooks/site.yml vs `kubectl apply --server-side` of the same
objects, on the local control plane (issue: site playbooks).

Measures, on two fresh control planes started one after the other:
  A. kubectl apply --server-side of the render.yml output: first apply, re-apply
  B. ansible-playbook playbooks/site.yml: first converge, no-op re-run
and prints wall times, the ratios B/A and the per-role split of B
(ansible.posix.profile_roles). Bootstrap steps go to real local servers.

The no-op runs are repeated (--repeat, default 3) for both sides and the
median is reported, with every sample: one run right after a converge
catches the control plane still reconciling, which swings either side by
a factor of two on a 2-CPU machine.

The preflight's share of the no-op run is measured by interleaving no-op
runs with the preflight skipped (-e mlops_preflight_done=true).

Usage: .venv/bin/python scripts/bench/bench_site.py [--keep-dir DIR] [--repeat N]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.bench.noop_breakdown import breakdown, table  # noqa: E402
from tests.cluster import Cluster  # noqa: E402
from tests.cluster import gateway_api  # noqa: E402
from tests.k8s.site_env import site_inventory  # noqa: E402
from tests.servers.mlflow import start_mlflow  # noqa: E402
from tests.servers.postgres import start_postgres  # noqa: E402
from tests.servers.s3 import start_s3  # noqa: E402

BIN = Path(sys.executable).parent
ROLE_LINE = re.compile(r"^(\S+)\s+-+\s+([0-9.]+)s$")


def timed(cmd, env=None):
    full_env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), **(env or {}))
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=str(ROOT), env=full_env, capture_output=True, text=True, check=False)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit("command failed (%s): %s\n%s\n%s" % (proc.returncode, " ".join(map(str, cmd)),
                                                      proc.stdout[-3000:], proc.stderr[-3000:]))
    return took, proc.stdout


def role_times(stdout):
    out = {}
    for line in stdout.splitlines():
        m = ROLE_LINE.match(line.strip())
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def playbook(name, inv, *extra, profile=False, as_json=False):
    env = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_roles"} if profile else {}
    if as_json:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    return timed([str(BIN / "ansible-playbook"), str(ROOT / "playbooks" / name), "-i", str(inv)] + list(extra),
                 env=env)


def kubectl_apply(cluster, render_dir):
    # The tree's layout (docs/gitops.md): every Namespace in namespaces/, then
    # per component its releases and its own objects; no Applications, no examples.
    files = sorted((render_dir / "namespaces").glob("namespaces.yaml"))
    for comp in sorted(p for p in render_dir.iterdir()
                       if p.is_dir() and p.name not in ("apps", "examples", "namespaces")):
        # upstream*.yaml hold the CRDs and namespaces the rest needs.
        files += sorted(comp.glob("upstream*.yaml")) + sorted(comp.glob("resources.yaml"))
    cmd = [str(BIN / "kubectl"), "--kubeconfig", cluster.kubeconfig, "apply", "--server-side",
           "--force-conflicts", "--field-manager", "bench"]
    for f in files:
        cmd += ["-f", str(f)]
    # Custom resources need their CRDs Established first: apply until clean.
    t0 = time.monotonic()
    for attempt in range(10):
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            break
        time.sleep(2)
    else:
        sys.exit("kubectl apply failed:\n" + proc.stderr[-3000:])
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep-dir")
    ap.add_argument("--repeat", type=int, default=3, help="no-op runs per side (median reported)")
    args = ap.parse_args()
    work = Path(args.keep_dir or tempfile.mkdtemp(prefix="mlops-bench-site-"))
    work.mkdir(parents=True, exist_ok=True)
    # MinIO, the inventory's backend: the object_store role creates the consumers' users through its admin API.
    s3 = start_s3(work / "s3", backend="minio")
    pg = start_postgres(work / "pg")
    mlflow = start_mlflow(work / "mlflow", pg, s3=s3, workers=1)
    results = {}
    samples = {}
    try:
        # A: kubectl on a fresh control plane.
        cl = Cluster.up(work / "cluster-a", name="bench-a")
        try:
            # The default exposure is the Gateway API: a cluster brings its CRDs with its implementation.
            gateway_api.install(cl)
            inv = site_inventory(work / "inv-a.yml", cl, s3=s3, pg=pg, mlflow=mlflow)
            render = work / "render"
            shutil.rmtree(render, ignore_errors=True)
            results["render"] = playbook("render.yml", inv, "-e", "mlops_render_dir=%s" % render,
                                         "-e", "mlops_gitops_repo_url=https://git.example.org/mlops.git")[0]
            results["kubectl_first"] = kubectl_apply(cl, render)
            samples["kubectl_noop"] = [kubectl_apply(cl, render) for dummy in range(args.repeat)]
        finally:
            cl.down()
        # B: site.yml on another fresh control plane.
        cl = Cluster.up(work / "cluster-b", name="bench-b")
        try:
            gateway_api.install(cl)
            inv = site_inventory(work / "inv-b.yml", cl, s3=s3, pg=pg, mlflow=mlflow)
            results["site_first"], out1 = playbook("site.yml", inv, profile=True)
            samples["site_noop"], samples["site_noop_no_preflight"] = [], []
            for dummy in range(args.repeat):
                took, out2 = playbook("site.yml", inv, profile=True)
                samples["site_noop"].append(took)
                # The preflight's share: the same run with the preflight skipped.
                samples["site_noop_no_preflight"].append(
                    playbook("site.yml", inv, "-e", "mlops_preflight_done=true")[0])
            # Where the no-op time goes, by kind of work (scripts/bench/noop_breakdown.py).
            took, out_json = playbook("site.yml", inv, as_json=True)
            results["breakdown"] = (took, breakdown(json.loads(out_json)))
            results["preflight_alone"] = statistics.median(
                playbook("preflight.yml", inv)[0] for dummy in range(args.repeat))
        finally:
            cl.down()
    finally:
        mlflow.stop()
        pg.stop()
        s3.stop()
    for key, values in samples.items():
        results[key] = statistics.median(values)
    print("no-op samples: site.yml %s, kubectl %s" % (
        ", ".join("%.1f" % v for v in samples["site_noop"]), ", ".join("%.1f" % v for v in samples["kubectl_noop"])))
    print("\n| run | wall time (s) | kubectl (s) | ratio |")
    print("|---|---|---|---|")
    for label, ours, peer in (("first converge", "site_first", "kubectl_first"),
                              ("no-op re-run", "site_noop", "kubectl_noop")):
        print("| %s | %.1f | %.1f | %.2f |" % (label, results[ours], results[peer], results[ours] / results[peer]))
    print("| render.yml (no cluster) | %.1f | - | - |" % results["render"])
    print("\npreflight: no-op site.yml %.1f s with it, %.1f s without (samples %s); preflight.yml alone %.1f s"
          % (results["site_noop"], results["site_noop_no_preflight"],
             ", ".join("%.1f" % v for v in samples["site_noop_no_preflight"]), results["preflight_alone"]))
    took, parts = results["breakdown"]
    print("\nno-op by kind of work (one more run, %.1f s):\n%s" % (took, table(parts, took)))
    first, noop = role_times(out1), role_times(out2)
    print("\n| role | first converge (s) | no-op re-run (s) |")
    print("|---|---|---|")
    for role in sorted(set(first) | set(noop), key=lambda r: -noop.get(r, 0)):
        print("| %s | %.1f | %.1f |" % (role, first.get(role, 0), noop.get(role, 0)))
    if not args.keep_dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
