"""Local Kubernetes control plane for tests (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok on 127.0.0.1).

See docs/testing-control-plane.md. CLI: ``python -m tests.cluster up|down|kubeconfig|status``.
"""
from .harness import BINARIES, Cluster, ClusterError, default_dir, missing_binaries  # noqa: F401
