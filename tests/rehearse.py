"""Rehearse `make site` without a cluster (`make rehearse`, issue #14).

    python -m tests.rehearse        # control plane up (kept), servers up, site.yml, validate.yml
    python -m tests.rehearse down   # stop the rehearsal's control plane

The cluster is the project's own local control plane (tests/cluster: real
etcd, kube-apiserver, controller-manager and scheduler; kwok simulates the
nodes, so no pod ever runs). Because nothing runs in the pods, the bootstrap
steps (buckets, database, experiments) go to real servers started here on
127.0.0.1 for the duration of the run, as in the site tests. The inventory is
the default one; only the extra vars of :func:`rehearsal_vars` are added.
"""
import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from tests.cluster import Cluster, ClusterError, default_dir, missing_binaries

ROOT = Path(__file__).resolve().parent.parent
INVENTORY = ROOT / "inventories" / "local"
CLUSTER_DIR = default_dir("rehearse")
VENV_BIN = Path(sys.executable).parent


def manifest_dir():
    """The offline release mirror to use, or None (the roles then download the releases)."""
    env = os.environ.get("MLOPS_MANIFEST_DIR")
    if env:
        return str(Path(env).resolve())
    mirror = ROOT.parent / "shared" / "upstream-manifests"
    return str(mirror.resolve()) if mirror.is_dir() else None


def inventory_object_store():
    """mlops_object_store of the default inventory."""
    store = "minio"
    for f in sorted((INVENTORY / "group_vars" / "all").glob("*.yml")):
        store = (yaml.safe_load(f.read_text()) or {}).get("mlops_object_store", store)
    return store


def rehearsal_vars(cluster, s3, pg, mlflow, manifests=None):
    """Extra vars that point the default inventory at the local cluster, mirror and servers."""
    ev = {
        "mlops_kubeconfig": cluster.kubeconfig,
        "mlops_kube_context": cluster.context or "",
        "object_store_bootstrap_endpoint_url": s3.endpoint_url,
        "object_store_bootstrap_access_key": s3.access_key,
        "object_store_bootstrap_secret_key": s3.secret_key,
        "postgresql_bootstrap_host": pg.host,
        "postgresql_bootstrap_port": pg.port,
        "postgresql_bootstrap_admin_user": pg.user,
        "postgresql_bootstrap_admin_password": pg.password,
        "mlflow_bootstrap_tracking_uri": mlflow.tracking_uri,
    }
    if manifests:
        ev["mlops_manifest_dir"] = manifests
    return ev


def s3_backend():
    """MinIO (what the default inventory deploys) when its test binary is built, else SeaweedFS."""
    from tests.servers.s3 import backend_available
    return "minio" if backend_available("minio")[0] else "seaweedfs"


@contextlib.contextmanager
def local_servers(workdir):
    """Real S3, PostgreSQL and MLflow servers on 127.0.0.1, stopped on exit."""
    from tests.servers.mlflow import start_mlflow
    from tests.servers.postgres import start_postgres
    from tests.servers.s3 import start_s3
    with contextlib.ExitStack() as stack:
        s3 = start_s3(Path(workdir) / "s3", backend=s3_backend())
        stack.callback(s3.stop)
        pg = start_postgres(Path(workdir) / "pg")
        stack.callback(pg.stop)
        mlflow = start_mlflow(Path(workdir) / "mlflow", pg, s3=s3)
        stack.callback(mlflow.stop)
        yield s3, pg, mlflow


def run_playbook(name, vars_file):
    """ansible-playbook with the default callback; output goes to the terminal and is returned."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               PATH="%s:%s" % (VENV_BIN, os.environ.get("PATH", "")))
    cmd = [str(VENV_BIN / "ansible-playbook"), "playbooks/%s" % name, "-i", str(INVENTORY),
           "-e", "@%s" % vars_file]
    print("\n==> ansible-playbook playbooks/%s -i inventories/local -e @<cluster, mirror and local servers>"
          % name, flush=True)
    proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=subprocess.PIPE, text=True)
    out = []
    for line in proc.stdout:
        sys.stdout.write(line)
        out.append(line)
    return proc.wait(), "".join(out)


def status_table(output):
    """The lines of validate.yml's table, read back from the default callback's YAML result."""
    lines = output.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("TASK [Show the stack status]"))
        msg = next(i for i in range(start, len(lines)) if lines[i].strip() == "msg:")
    except StopIteration:
        return []
    block = []
    for line in lines[msg + 1:]:
        if not line.strip() or line.startswith("TASK ") or line.startswith("PLAY "):
            break
        block.append(line)
    try:
        return [str(x) for x in yaml.safe_load("\n".join(block)) or []]
    except yaml.YAMLError:
        return []


def banner(cluster, table, failed):
    kc = cluster.kubeconfig
    head = ("REHEARSAL FAILED: %s failed (see above)." % failed if failed else
            "REHEARSAL PASSED: site.yml and validate.yml succeeded with inventories/local.")
    text = ["", "=" * 78, head] + ["  " + row for row in table] + [
        "",
        "Pods are SIMULATED: kwok plays the kubelets and marks scheduled pods Running.",
        "No container runs and no image is pulled; MLflow, MinIO, PostgreSQL, KServe...",
        "are not serving anything in this cluster.",
        "What was real: etcd, kube-apiserver (admission, RBAC, CRD schemas, server-side",
        "apply), controller-manager and scheduler acting on every object site.yml",
        "applied, and the bootstrap steps (buckets, database and role, MLflow",
        "experiments) against real local S3, PostgreSQL and MLflow servers on",
        "127.0.0.1 (stopped now). Admission webhooks are off (docs/testing-control-plane.md).",
        "",
        "Explore (the control plane keeps running):",
        "  export KUBECONFIG=%s" % kc,
        "  kubectl get pods -A",
        "Stop it:  make rehearse-down",
        "=" * 78,
    ]
    print("\n".join(text), flush=True)


def rehearse():
    if missing_binaries():
        print("error: control-plane binaries missing (%s): run scripts/bootstrap.sh --test-servers"
              % ", ".join(missing_binaries()), file=sys.stderr)
        return 2
    print("==> local control plane in %s (kept running afterwards)" % CLUSTER_DIR, flush=True)
    try:
        cluster = Cluster.up(CLUSTER_DIR, name="mlops-rehearse")
    except ClusterError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="mlops-rehearse-"))
    try:
        print("==> starting local S3, PostgreSQL and MLflow servers for the bootstrap steps", flush=True)
        with local_servers(work) as (s3, pg, mlflow):
            vars_file = work / "extra-vars.json"
            # Passed as a file, not on the command line: it holds the servers' passwords.
            vars_file.touch(mode=0o600)
            vars_file.write_text(json.dumps(rehearsal_vars(cluster, s3, pg, mlflow, manifest_dir())))
            table, failed = [], "site.yml"
            rc = run_playbook("site.yml", vars_file)[0]
            if rc == 0:
                rc, out = run_playbook("validate.yml", vars_file)
                table, failed = status_table(out), "validate.yml" if rc else None
        banner(cluster, table, failed)
        return rc
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tests.rehearse", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", default="up", choices=["up", "down"])
    a = ap.parse_args(argv)
    if a.command == "down":
        Cluster(CLUSTER_DIR).down()
        print("stopped the rehearsal control plane (%s)" % CLUSTER_DIR)
        return 0
    # SIGTERM/SIGHUP unwind like Ctrl-C, so the local servers are stopped.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)
    try:
        return rehearse()
    except KeyboardInterrupt:
        print("\ninterrupted; local servers stopped, control plane kept (make rehearse-down)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
