#!/usr/bin/env python
"""Benchmark: wall time of a no-op ansible-playbook run of each bootstrap module
next to its peer module, against the same real servers on 127.0.0.1.

    .venv/bin/python scripts/bench/bench_modules.py [-n 7] [--json out.json] [--only s3,pg,mlflow]

Starts PostgreSQL (Debian's server), SeaweedFS and an MLflow server (PostgreSQL
backend, S3 artifacts), creates the objects once, then runs each playbook N
times, interleaving ours and the peer in every round so load drifts hit both
alike, and prints the medians and ratios (ours / peer; <= 1.0 meets the target
"no slower than the peer"). Every measured run must report changed=0.

Pairs:
  mlops.stack.s3_bucket            vs amazon.aws.s3_bucket
  mlops.stack.postgresql_database  vs community.postgresql.postgresql_db
  mlops.stack.mlflow_experiment    (no peer module; ansible.builtin.ping as floor)
  ansible.builtin.ping             (the floor: a playbook that does nothing)
"""
import argparse
import importlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

importlib.import_module("tests.conftest")  # creates the collection symlink under build/
from tests.playbook import run_playbook, write_playbook  # noqa: E402
from tests.servers.postgres import start_postgres  # noqa: E402


def play(tmp, name, module, args):
    return write_playbook(tmp, [{
        "name": name, "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "bench " + name, module: args}],
    }], name=name.replace(" ", "_").replace("/", "_") + ".yml")


def timed(pb):
    t0 = time.perf_counter()
    res = run_playbook(pb)
    return time.perf_counter() - t0, res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=7, help="measured runs per playbook (default 7)")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--only", default="s3,pg,mlflow", help="comma list of s3, pg, mlflow")
    opts = ap.parse_args()
    only = set(opts.only.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    servers = []
    rows = []
    try:
        cases = [("floor", "ansible.builtin.ping", play(tmp, "ping", "ansible.builtin.ping", {}), None, None)]
        pg = s3 = None
        if "pg" in only or "mlflow" in only:
            print("starting PostgreSQL ...", flush=True)
            pg = start_postgres(tmp / "pg")
            servers.append(pg)
        if "s3" in only or "mlflow" in only:
            from tests.servers.s3 import backend_available, start_s3
            ok, reason = backend_available("seaweedfs")
            if ok:
                print("starting SeaweedFS ...", flush=True)
                s3 = start_s3(tmp / "s3", backend="seaweedfs")
                servers.append(s3)
            else:
                print("skipping S3: %s" % reason)
        if "s3" in only and s3 is not None:
            if not (ROOT / "plugins" / "modules" / "s3_bucket.py").exists():
                print("skipping S3: mlops.stack.s3_bucket not in this tree")
            else:
                bucket = "bench-bucket"
                ours = dict(name=bucket, endpoint_url=s3.endpoint_url, access_key=s3.access_key,
                            secret_key=s3.secret_key, region=s3.region)
                peer = dict(name=bucket, endpoint_url=s3.endpoint_url, access_key=s3.access_key,
                            secret_key=s3.secret_key, region=s3.region, validate_certs=False)
                cases.append(("s3", "mlops.stack.s3_bucket", play(tmp, "ours s3", "mlops.stack.s3_bucket", ours),
                              "amazon.aws.s3_bucket", play(tmp, "peer s3", "amazon.aws.s3_bucket", peer)))
        if "pg" in only and pg is not None:
            common = dict(login_host=pg.host, login_port=pg.port, login_user=pg.user,
                          login_password=pg.password)
            ours = dict(common, name="benchdb", owner=pg.user, encoding="UTF8", conn_limit=50)
            peer = dict(common, name="benchdb", owner=pg.user, encoding="UTF8", conn_limit="50")
            cases.append(("pg", "mlops.stack.postgresql_database",
                          play(tmp, "ours pg", "mlops.stack.postgresql_database", ours),
                          "community.postgresql.postgresql_db",
                          play(tmp, "peer pg", "community.postgresql.postgresql_db", peer)))
        if "mlflow" in only and pg is not None:
            from tests.servers.mlflow import start_mlflow
            print("starting MLflow (takes a minute) ...", flush=True)
            ml = start_mlflow(tmp / "mlflow", pg, s3=s3)
            servers.append(ml)
            cases.append(("mlflow", "mlops.stack.mlflow_experiment",
                          play(tmp, "ours mlflow", "mlops.stack.mlflow_experiment",
                               dict(tracking_uri=ml.tracking_uri, name="bench", tags={"a": "b"})),
                          None, None))

        # create everything once (first runs are not measured), then one warm-up
        for key, ours_name, ours_pb, peer_name, peer_pb in cases:
            for pb, label in ((ours_pb, ours_name), (peer_pb, peer_name)):
                if pb is None:
                    continue
                for dummy in range(2):
                    res = run_playbook(pb)
                    if res.rc != 0:
                        raise SystemExit("%s failed on setup:\n%s" % (label, res.explain()))

        times = {}
        problems = []
        for i in range(opts.n):
            for key, ours_name, ours_pb, peer_name, peer_pb in cases:
                order = [(ours_name, ours_pb), (peer_name, peer_pb)]
                if i % 2:
                    order.reverse()
                for label, pb in order:
                    if pb is None:
                        continue
                    dt, res = timed(pb)
                    if res.rc != 0 or res.changed() != 0:
                        problems.append("%s run %d: rc=%s changed=%s" % (label, i, res.rc, res.changed()))
                    times.setdefault(label, []).append(dt)
            print("round %d/%d done" % (i + 1, opts.n), flush=True)

        floor = statistics.median(times["ansible.builtin.ping"])
        print()
        print("No-op ansible-playbook wall time, median of %d runs (s); floor = ansible.builtin.ping %.2fs"
              % (opts.n, floor))
        hdr = "| %-34s | %7s | %-36s | %7s | %11s | %14s |" % (
            "module", "median", "peer", "median", "ratio o/p", "ratio over floor")
        print(hdr)
        print("|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|")
        for key, ours_name, ours_pb, peer_name, peer_pb in cases:
            if key == "floor":
                continue
            mo = statistics.median(times[ours_name])
            row = dict(case=key, module=ours_name, median=round(mo, 3),
                       runs=[round(t, 3) for t in times[ours_name]])
            if peer_name:
                mp = statistics.median(times[peer_name])
                over = (mo - floor) / (mp - floor) if mp > floor else float("nan")
                row.update(peer=peer_name, peer_median=round(mp, 3), ratio=round(mo / mp, 3),
                           ratio_over_floor=round(over, 3),
                           peer_runs=[round(t, 3) for t in times[peer_name]])
                print("| %-34s | %7.2f | %-36s | %7.2f | %11.2f | %14.2f |"
                      % (ours_name, mo, peer_name, mp, mo / mp, over))
            else:
                print("| %-34s | %7.2f | %-36s | %7s | %11s | %14s |" % (ours_name, mo, "(none)", "-", "-", "-"))
            rows.append(row)
        rows.append(dict(case="floor", module="ansible.builtin.ping", median=round(floor, 3)))
        if problems:
            print("\nNOT no-op runs:\n  " + "\n  ".join(problems))
        print("\nmachine: %d CPUs, load average %s" % (os.cpu_count(), " ".join("%.1f" % x for x in os.getloadavg())))
        if opts.json:
            Path(opts.json).write_text(json.dumps(dict(n=opts.n, results=rows, problems=problems), indent=2))
        return 1 if problems else 0
    finally:
        for srv in reversed(servers):
            try:
                srv.stop()
            except Exception:  # pylint: disable=broad-except
                pass
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
