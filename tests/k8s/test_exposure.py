"""Gateway API exposure (mlops_exposure: gateway) on the local control plane
with the Gateway API CRDs of sigs.k8s.io/gateway-api v1.6.3: the preflight's
read-only checks of the named Gateway, and the gateway role that creates one.
No Gateway API implementation runs here, so Gateways are never Programmed;
the API server still checks every object against the CRD schemas and CEL."""
import json

import pytest

from tests.cluster.gateway_api import TEST_CLASS
from tests.k8s.serving_env import SERVING_NS, kjson
from tests.k8s.site_env import ROOT, site_inventory
from tests.playbook import run_playbook, write_playbook

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("k8s")]

GATEWAY_NS = "gateway-system"
PLATFORM = {"mlops_gateway_create": False, "mlops_gateway_name": "public", "mlops_gateway_namespace": GATEWAY_NS,
            "mlops_gateway_section_name": ""}


def _gateway(cluster, listeners):
    cluster.kubectl("create", "namespace", GATEWAY_NS, check=False)
    cluster.apply_server_side({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "public", "namespace": GATEWAY_NS},
        "spec": {"gatewayClassName": TEST_CLASS, "listeners": listeners}})


def _preflight(cluster, tmp_path, values):
    inv = site_inventory(tmp_path / "hosts.yml", cluster, extra=values)
    res = run_playbook(ROOT / "playbooks" / "preflight.yml", inventory=inv, timeout=180)
    msg = res.task_result("Check the inventory and the cluster before any change").get("msg", "")
    return res, msg


def test_missing_gateway_is_named_before_any_write(k8s_cluster, tmp_path):
    k8s_cluster.kubectl("-n", GATEWAY_NS, "delete", "gateway", "public", "--ignore-not-found", check=False)
    res, msg = _preflight(k8s_cluster, tmp_path, PLATFORM)
    assert res.rc != 0
    assert "the Gateway gateway-system/public does not exist" in msg, msg
    assert "mlops_gateway_create: true" in msg


def test_listener_that_refuses_our_namespace_is_named(k8s_cluster, tmp_path):
    _gateway(k8s_cluster, [{"name": "https", "protocol": "HTTPS", "port": 443,
                            "tls": {"certificateRefs": [{"name": "wildcard"}]}}])   # allowedRoutes: Same
    res, msg = _preflight(k8s_cluster, tmp_path, PLATFORM)
    assert res.rc != 0
    assert "Gateway gateway-system/public does not accept HTTPRoutes from namespace mlops" in msg, msg
    assert "https allows Same" in msg
    res, msg = _preflight(k8s_cluster, tmp_path, dict(PLATFORM, mlops_gateway_section_name="web"))
    assert "mlops_gateway_section_name='web': Gateway gateway-system/public has no such listener (it has: https)" \
        in msg, msg


def test_listener_that_admits_our_namespaces_passes(k8s_cluster, tmp_path):
    selector = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                      "values": ["mlops", SERVING_NS]}]}
    _gateway(k8s_cluster, [{"name": "https", "protocol": "HTTPS", "port": 443,
                            "tls": {"certificateRefs": [{"name": "wildcard"}]},
                            "allowedRoutes": {"namespaces": {"from": "Selector", "selector": selector}}}])
    res, msg = _preflight(k8s_cluster, tmp_path, dict(PLATFORM, mlops_gateway_section_name="https"))
    assert res.rc == 0, res.explain()


def test_unknown_gateway_class_is_named(k8s_cluster, tmp_path):
    res, msg = _preflight(k8s_cluster, tmp_path, {"mlops_gateway_class": "no-such-class"})
    assert res.rc != 0
    assert "mlops_gateway_class='no-such-class': the GatewayClass does not exist" in msg, msg


def test_gateway_role_creates_a_gateway_for_our_routes(k8s_cluster, serving_converged, tmp_path):
    """serving_converged installed cert-manager (the listener Certificate's CRD)."""
    play = write_playbook(tmp_path, [{
        "name": "gateway", "hosts": "localhost", "gather_facts": False,
        "vars": {"mlops_gateway_class": TEST_CLASS, "mlops_gateway_namespace": "mlops-edge",
                 "mlops_domain": "ml.test"},
        "roles": [{"role": "mlops.stack.gateway"}]}])
    env = {"K8S_AUTH_KUBECONFIG": k8s_cluster.kubeconfig, "K8S_AUTH_CONTEXT": k8s_cluster.context or ""}
    first = run_playbook(play, env=env)
    assert first.rc == 0, first.explain()
    second = run_playbook(play, env=env)
    assert second.rc == 0 and second.changed() == 0, second.explain()
    gw = kjson(k8s_cluster, "-n", "mlops-edge", "get", "gateway", "mlops")
    listeners = {item["name"]: item for item in gw["spec"]["listeners"]}
    assert gw["spec"]["gatewayClassName"] == TEST_CLASS
    assert (listeners["http"]["port"], listeners["https"]["port"]) == (80, 443)
    assert listeners["https"]["hostname"] == "*.ml.test"
    assert listeners["https"]["tls"]["certificateRefs"][0]["name"] == "mlops-tls"
    allowed = listeners["https"]["allowedRoutes"]["namespaces"]
    assert allowed["from"] == "Selector"
    assert allowed["selector"]["matchExpressions"][0]["values"] == ["mlops", "mlops-serving"]
    cert = kjson(k8s_cluster, "-n", "mlops-edge", "get", "certificate", "mlops-tls")
    assert cert["spec"]["dnsNames"] == ["*.ml.test", "ml.test"]
    ns = kjson(k8s_cluster, "get", "namespace", "mlops-edge")
    assert ns["metadata"]["labels"]["app.kubernetes.io/part-of"] == "mlops-stack"


def test_kserve_publishes_standard_mode_services_on_the_gateway(serving_converged, k8s_cluster):
    cfg = json.loads(kjson(k8s_cluster, "-n", "kserve", "get", "cm", "inferenceservice-config")["data"]["ingress"])
    assert cfg["enableGatewayApi"] is True
    assert cfg["kserveIngressGateway"] == "mlops/mlops"
    assert cfg["disableIngressCreation"] is False
