# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
name: exposure_objects
short_description: The objects that publish a Service outside the cluster (HTTPRoute or Ingress)
version_added: 0.2.0
author: mlops.stack contributors
description:
  - One place for how the stack exposes a component, so every role (mlflow, minio, seaweedfs) does it the
    same way.
  - With O(exposure=gateway), one Gateway API C(HTTPRoute) per host, attached to the named C(Gateway)
    (optionally one listener, O(gateway.section_name)); TLS terminates at the Gateway's listener.
  - With O(exposure=ingress), one C(Ingress) per host with the given IngressClass, and with O(tls) a TLS
    section whose certificate cert-manager issues (C(cert-manager.io/cluster-issuer) annotation).
  - With O(exposure=none), nothing (reach the component with a port-forward or your own objects).
options:
  _input:
    description:
      - The routes, each a dict with C(name) (object name), C(host), C(service) and C(port) (Service port
        name or number).
    type: list
    elements: dict
    required: true
  exposure:
    description: C(gateway), C(ingress) or C(none).
    type: string
    required: true
  namespace:
    description: Namespace of the Services (and of the routes).
    type: string
    required: true
  labels:
    description: Labels of the objects.
    type: dict
    default: {}
  gateway:
    description: C(name), C(namespace) and optional C(section_name) of the Gateway the routes attach to.
    type: dict
    default: {}
  ingress_class:
    description: IngressClass of the Ingresses (required with O(exposure=ingress)).
    type: string
    default: ""
  ingress_annotations:
    description: Annotations of the Ingresses (controller-specific settings).
    type: dict
    default: {}
  tls:
    description: With O(exposure=ingress), add a TLS section and the cert-manager annotation.
    type: bool
    default: false
  cluster_issuer:
    description: cert-manager ClusterIssuer of the Ingress certificates.
    type: string
    default: ""
"""

EXAMPLES = r"""
- name: HTTPRoute for MLflow on the platform Gateway
  ansible.builtin.debug:
    msg: >-
      {{ [{'name': 'mlflow', 'host': 'mlflow.example.com', 'service': 'mlflow', 'port': 'http'}]
         | mlops.stack.exposure_objects('gateway', 'mlops', gateway={'name': 'public', 'namespace': 'gateway'}) }}
"""

RETURN = r"""
_value:
  description: The objects (possibly none).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

GATEWAY_GROUP = "gateway.networking.k8s.io"
EXPOSURES = ("gateway", "ingress", "none")


def _backend_port(port):
    """HTTPRoute backendRefs need the Service port number; Ingress takes a name or a number."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    raise AnsibleFilterError("exposure_objects: an HTTPRoute needs the Service port number, got %r" % (port,))


def _route(item, namespace, labels, gateway):
    parent = {"group": GATEWAY_GROUP, "kind": "Gateway", "name": gateway["name"]}
    if gateway.get("namespace") and gateway["namespace"] != namespace:
        parent["namespace"] = gateway["namespace"]
    if gateway.get("section_name"):
        parent["sectionName"] = gateway["section_name"]
    return {
        "apiVersion": GATEWAY_GROUP + "/v1", "kind": "HTTPRoute",
        "metadata": {"name": item["name"], "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "parentRefs": [parent],
            "hostnames": [item["host"]],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                       "backendRefs": [{"name": item["service"], "port": _backend_port(item["port"])}]}],
        },
    }


def _ingress(item, namespace, labels, ingress_class, annotations, tls, issuer):
    meta_annotations = dict(annotations)
    if tls and issuer:
        meta_annotations.setdefault("cert-manager.io/cluster-issuer", issuer)
    port = item["port"]
    service_port = {"number": int(port)} if isinstance(port, int) or str(port).isdigit() else {"name": port}
    spec = {"ingressClassName": ingress_class,
            "rules": [{"host": item["host"], "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": item["service"], "port": service_port}}}]}}]}
    if tls:
        spec["tls"] = [{"hosts": [item["host"]], "secretName": item["name"] + "-tls"}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": item["name"], "namespace": namespace, "labels": dict(labels),
                         "annotations": meta_annotations},
            "spec": spec}


def exposure_objects(routes, exposure, namespace, labels=None, gateway=None, ingress_class="",
                     ingress_annotations=None, tls=False, cluster_issuer=""):
    if exposure not in EXPOSURES:
        raise AnsibleFilterError("exposure_objects: exposure must be one of %s, got %r" % (", ".join(EXPOSURES), exposure))
    labels = labels or {}
    out = []
    for item in routes or []:
        missing = [k for k in ("name", "host", "service", "port") if not item.get(k)]
        if missing:
            raise AnsibleFilterError("exposure_objects: route %r lacks %s" % (item, ", ".join(missing)))
        if exposure == "gateway":
            if not (gateway or {}).get("name"):
                raise AnsibleFilterError("exposure_objects: exposure gateway needs the Gateway's name "
                                         "(mlops_gateway_name)")
            out.append(_route(item, namespace, labels, gateway))
        elif exposure == "ingress":
            if not ingress_class:
                raise AnsibleFilterError("exposure_objects: exposure ingress needs an IngressClass "
                                         "(mlops_ingress_class)")
            out.append(_ingress(item, namespace, labels, ingress_class, ingress_annotations or {}, tls,
                                cluster_issuer))
    return out


class FilterModule(object):
    def filters(self):
        return {"exposure_objects": exposure_objects}
