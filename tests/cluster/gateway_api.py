"""The Gateway API on the test control plane: the standard-channel CRDs of
the pinned sigs.k8s.io/gateway-api module (tools/testbins/gateway-api) and a
GatewayClass for the stack's Gateway. There is no Gateway API implementation
here, so Gateways are never Programmed and routes never report Accepted; the
real API server still checks every route and Gateway against the CRD schemas
and their CEL rules."""
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
