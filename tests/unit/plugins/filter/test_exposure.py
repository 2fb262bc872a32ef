"""plugins/filter/exposure.py and the Gateway checks of cluster_checks.py (pure parts)."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.stack.plugins.filter.exposure import exposure_objects
from ansible_collections.mlops.stack.plugins.module_utils.cluster_checks import listener_admits, selector_matches

ROUTES = [{"name": "mlflow", "host": "mlflow.example.com", "service": "mlflow", "port": 5000}]
GATEWAY = {"name": "public", "namespace": "gateway-system", "section_name": "https"}


def test_gateway_exposure_is_one_httproute_per_host():
    objs = exposure_objects(ROUTES, "gateway", "mlops", labels={"a": "b"}, gateway=GATEWAY)
    assert objs == [{
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "mlflow", "namespace": "mlops", "labels": {"a": "b"}},
        "spec": {"parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public",
                                 "namespace": "gateway-system", "sectionName": "https"}],
                 "hostnames": ["mlflow.example.com"],
                 "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                            "backendRefs": [{"name": "mlflow", "port": 5000}]}]}}]


def test_gateway_in_the_same_namespace_needs_no_namespace_or_section():
    parent = exposure_objects(ROUTES, "gateway", "mlops", gateway={"name": "gw", "namespace": "mlops"})[0]
    assert parent["spec"]["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}]


def test_ingress_exposure_with_tls_and_issuer():
    ing = exposure_objects(ROUTES, "ingress", "mlops", ingress_class="traefik", tls=True, cluster_issuer="le",
                           ingress_annotations={"x": "y"})[0]
    assert ing["kind"] == "Ingress" and ing["spec"]["ingressClassName"] == "traefik"
    assert ing["metadata"]["annotations"] == {"x": "y", "cert-manager.io/cluster-issuer": "le"}
    assert ing["spec"]["tls"] == [{"hosts": ["mlflow.example.com"], "secretName": "mlflow-tls"}]
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "mlflow", "port": {"number": 5000}}


def test_none_exposes_nothing():
    assert exposure_objects(ROUTES, "none", "mlops") == []


@pytest.mark.parametrize("kwargs,match", [
    ({"exposure": "nginx"}, "exposure must be one of"),
    ({"exposure": "ingress"}, "needs an IngressClass"),
    ({"exposure": "gateway", "gateway": {}}, "needs the Gateway's name"),
])
def test_bad_exposure_settings_are_named(kwargs, match):
    with pytest.raises(AnsibleFilterError, match=match):
        exposure_objects(ROUTES, namespace="mlops", **kwargs)


def test_httproute_needs_a_port_number():
    with pytest.raises(AnsibleFilterError, match="port number"):
        exposure_objects([dict(ROUTES[0], port="http")], "gateway", "mlops", gateway=GATEWAY)


def test_selector_semantics():
    labels = {"kubernetes.io/metadata.name": "mlops", "team": "ml"}
    assert selector_matches({"matchLabels": {"team": "ml"}}, labels)
    assert not selector_matches({"matchLabels": {"team": "web"}}, labels)
    assert selector_matches({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                                   "values": ["mlops", "mlops-serving"]}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["ml"]}]}, labels)
    assert selector_matches({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, labels)
    assert selector_matches({}, labels)


@pytest.mark.parametrize("listener,namespace,admitted", [
    ({"protocol": "HTTPS"}, "gw", True),                      # default: Same
    ({"protocol": "HTTPS"}, "mlops", False),
    ({"protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "All"}}}, "mlops", True),
    ({"protocol": "TCP", "allowedRoutes": {"namespaces": {"from": "All"}}}, "mlops", False),
    ({"protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "All"}, "kinds": [{"kind": "GRPCRoute"}]}},
     "mlops", False),
    ({"protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "Selector",
                                                           "selector": {"matchLabels": {"team": "ml"}}}}},
     "mlops", True),
])
def test_listener_admits(listener, namespace, admitted):
    assert listener_admits(listener, "gw", namespace, {"team": "ml"}) is admitted
