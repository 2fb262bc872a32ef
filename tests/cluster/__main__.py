"""CLI for the local control plane.

    python -m tests.cluster up [--dir D | --name N]     # detaches; prints `export KUBECONFIG=...`
    python -m tests.cluster kubeconfig [--dir D]        # path of the admin kubeconfig
    python -m tests.cluster status [--dir D]            # JSON: pids, RSS, nodes
    python -m tests.cluster down [--dir D]              # stops everything
    eval "$(python -m tests.cluster up)" && kubectl get nodes

``serve`` is the supervisor process that ``up`` starts in the background.
"""
import argparse
import json
import logging
import sys
import time

from .harness import Cluster, ClusterError, Supervisor, default_dir


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tests.cluster", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["up", "down", "kubeconfig", "status", "serve"])
    ap.add_argument("--dir", help="state directory (default $MLOPS_CACHE/run/cluster-<name>)")
    ap.add_argument("--name", default="default", help="cluster name used for the default --dir")
    ap.add_argument("--cpu-nodes", type=int, default=2)
    ap.add_argument("--gpu-nodes", type=int, default=2)
    ap.add_argument("--gpus-per-node", type=int, default=1)
    ap.add_argument("--parent-pid", type=int, help="serve: stop when this process exits")
    ap.add_argument("--timeout", type=float, default=240.0)
    ap.add_argument("--webhooks", action="store_true",
                    help="admission webhooks on, control plane in its own network namespace")
    ap.add_argument("--local-pod", action="append", default=[], metavar="LABEL=VALUE",
                    help="pods kwok leaves alone (a local process plays them)")
    a = ap.parse_args(argv)
    workdir = a.dir or default_dir(a.name)

    if a.command == "serve":
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        return Supervisor(workdir, name="mlops-local" if a.name == "default" else a.name,
                          cpu_nodes=a.cpu_nodes, gpu_nodes=a.gpu_nodes,
                          gpus_per_node=a.gpus_per_node, parent_pid=a.parent_pid,
                          webhooks=a.webhooks, local_pods=a.local_pod).serve()
    if a.command == "up":
        t0 = time.monotonic()
        try:
            cl = Cluster.up(workdir, name="mlops-local" if a.name == "default" else a.name,
                            cpu_nodes=a.cpu_nodes, gpu_nodes=a.gpu_nodes,
                            gpus_per_node=a.gpus_per_node, timeout=a.timeout,
                            webhooks=a.webhooks, local_pods=a.local_pod)
        except ClusterError as exc:
            print("error: %s" % exc, file=sys.stderr)
            return 1
        print("control plane ready in %.1fs: %s (nodes: %s)" % (
            time.monotonic() - t0, cl.server, " ".join(cl.cpu_nodes + cl.gpu_nodes)), file=sys.stderr)
        print("export KUBECONFIG=%s" % cl.kubeconfig)
        return 0
    cl = Cluster(workdir)
    if a.command == "down":
        cl.down()
        print("stopped %s" % cl.dir, file=sys.stderr)
        return 0
    if a.command == "kubeconfig":
        if not cl.is_ready():
            print("error: no running control plane in %s" % cl.dir, file=sys.stderr)
            return 1
        print(cl.kubeconfig)
        return 0
    st = cl.status()
    print(json.dumps(st, indent=2))
    return 0 if st["ready"] else 1


if __name__ == "__main__":
    sys.exit(main())
