"""Fixtures for tests against the local Kubernetes control plane.

``k8s_cluster`` (session) starts etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok on loopback (see
tests/cluster and docs/testing-control-plane.md) and stops them at the end,
even when tests fail. Set ``MLOPS_TEST_CLUSTER_DIR`` to a directory where
``python -m tests.cluster up --dir ...`` already runs a control plane to
reuse it (it is then left running).

Tests mark themselves ``@pytest.mark.k8s`` and
``@pytest.mark.xdist_group("k8s")`` and create their own namespaces
(``k8s_namespace`` does it for you).
"""
import atexit
import os
import uuid

import pytest

from tests.cluster import Cluster, missing_binaries
from tests.helpers import require


@pytest.fixture(scope="session")
def k8s_cluster(tmp_path_factory):
    reuse = os.environ.get("MLOPS_TEST_CLUSTER_DIR")
    if reuse:
        cl = Cluster(reuse)
        require(cl.is_ready(), "no running control plane in MLOPS_TEST_CLUSTER_DIR=%s" % reuse)
        _gateway_api(cl)
        yield cl
        return
    missing = missing_binaries()
    require(not missing, "control-plane binaries missing (%s): run scripts/build-testbins.sh"
            % ", ".join(missing))
    workdir = tmp_path_factory.mktemp("k8s-cluster")
    # The supervisor also stops when this process dies (parent pid watch +
    # PR_SET_PDEATHSIG); atexit covers interpreter exits that skip finalizers.
    cl = Cluster.up(workdir, parent_pid=os.getpid())
    atexit.register(cl.down)
    try:
        _gateway_api(cl)
        yield cl
    finally:
        cl.down()


def _gateway_api(cluster):
    """The Gateway API CRDs every test cluster has (tests/cluster/gateway_api.py)."""
    from tests.cluster import gateway_api  # pylint: disable=import-outside-toplevel
    require(gateway_api.available(), "Gateway API CRDs missing: run scripts/build-testbins.sh gateway-api")
    gateway_api.install(cluster)


@pytest.fixture
def k8s_namespace(k8s_cluster, request):
    """A fresh namespace (labelled with the test name), deleted afterwards."""
    name = "t-%s" % uuid.uuid4().hex[:10]
    k8s_cluster.kubectl("create", "namespace", name)
    k8s_cluster.kubectl("label", "namespace", name, "mlops.stack/test=%s" % request.node.name[:60]
                        .replace("[", "-").replace("]", "").replace("/", "-").strip("-_."), check=False)
    yield name
    k8s_cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="session")
def serving_converged(k8s_cluster, tmp_path_factory):
    """certmanager, knative, kserve and gpu_serving converged twice (tests/k8s/serving_env.py)."""
    from tests.k8s.serving_env import converge_serving  # pylint: disable=import-outside-toplevel
    return converge_serving(k8s_cluster, tmp_path_factory)
