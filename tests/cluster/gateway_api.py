"""The Gateway API on the test control plane: the standard-channel CRDs of
the pinned sigs.k8s.io/gateway-api module (tools/testbins/gateway-api) and a
GatewayClass for the stack's Gateway. There is no Gateway API implementation
here, so Gateways are never Programmed and routes never report Accepted; the
real API server still checks every route and Gateway against the CRD schemas
and their CEL rules."""
import contextlib
import json
import os
import time

from tests.servers.bins import BIN_DIR

CRD_DIR = BIN_DIR / "gateway-api-crds"
TEST_CLASS = "mlops-test"


def available():
    return (CRD_DIR / "gateway.networking.k8s.io_httproutes.yaml").exists()


def install(cluster):
    """Apply the CRDs (server-side, idempotent), wait until they are Established, add the test class."""
    # kubectl reads a symlink given to -f as a file: pass the real directory.
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", os.path.realpath(str(CRD_DIR)))
    # `kubectl wait` fails at once while a new CRD has no status yet: poll.
    for crd in ("httproutes", "gateways", "gatewayclasses"):
        deadline = time.monotonic() + 60
        while cluster.kubectl("get", "crd/%s.gateway.networking.k8s.io" % crd, "-o",
                              "jsonpath={.status.conditions[?(@.type=='Established')].status}",
                              check=False).stdout != "True":
            if time.monotonic() > deadline:
                raise RuntimeError("Gateway API CRD %s not Established after 60s" % crd)
            time.sleep(0.2)
    cluster.apply_server_side({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": TEST_CLASS},
        "spec": {"controllerName": "example.com/mlops-stack-test-no-controller"}})


def program(cluster, namespace, name):
    """Report a Gateway Accepted and Programmed, as a Gateway API implementation would."""
    gen = cluster.kubectl("-n", namespace, "get", "gateway", name, "-o", "jsonpath={.metadata.generation}").stdout
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    conditions = [{"type": kind, "status": "True", "reason": kind, "message": "set by the test (no implementation)",
                   "lastTransitionTime": now, "observedGeneration": int(gen)} for kind in ("Accepted", "Programmed")]
    cluster.kubectl("-n", namespace, "patch", "gateway", name, "--subresource=status", "--type=merge",
                    "-p", json.dumps({"status": {"conditions": conditions}}))


@contextlib.contextmanager
def cluster_with_gateway_api(workdir, name, **up_kwargs):
    """A control plane of the test's own with the Gateway API CRDs (as a
    cluster's Gateway API implementation brings them), stopped afterwards."""
    from tests.cluster.harness import Cluster  # pylint: disable=import-outside-toplevel
    from tests.helpers import require  # pylint: disable=import-outside-toplevel
    require(available(), "Gateway API CRDs missing: run scripts/build-testbins.sh gateway-api")
    cl = Cluster.up(workdir, name=name, parent_pid=os.getpid(), **up_kwargs)
    try:
        install(cl)
        yield cl
    finally:
        cl.down()
