# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Read-only cluster checks of the preflight (GET requests only).

Each check returns ``(problems, warnings)``: lists of strings that say what
was found and what to do. Nothing here writes to the cluster.
"""


import os
import re

from ansible_collections.mlops.stack.plugins.module_utils.k8s.client import client_from_params
from ansible_collections.mlops.stack.plugins.module_utils.k8s.config import kubeconfig_paths
from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import ApiError, K8sConfigError, K8sConnectionError

MIN_VERSION = (1, 29)
OWNER_LABEL = ("app.kubernetes.io/part-of", "mlops-stack")
NO_CLUSTER_HINT = ("Point KUBECONFIG at your cluster (or set mlops_kubeconfig / mlops_kube_context in the inventory), "
                   "rehearse on a local simulated control plane with `make rehearse`, or write GitOps manifests "
                   "without a cluster: ansible-playbook playbooks/render.yml -e mlops_render_dir=./gitops")

# CRDs a role needs from another role: when the provider is not part of the
# run, they must already be in the cluster (KServe's release manifests hold
# cert-manager Issuers and Certificates for its webhooks).
NEEDED_CRDS = {
    "kserve": {"certmanager": ["certificates.cert-manager.io", "issuers.cert-manager.io"]},
}


def where(params):
    paths = kubeconfig_paths(params.get("kubeconfig"))
    source = "mlops_kubeconfig" if params.get("kubeconfig") else ("$KUBECONFIG" if os.environ.get("KUBECONFIG")
                                                                  else "the default path")
    return "kubeconfig %s (from %s), context %s" % (
        os.pathsep.join(paths), source, params.get("context") or "current-context")


def connect(params, timeout=5):
    """(client, server version dict) or raise ClusterUnavailable with advice."""
    try:
        client = client_from_params(params, timeout=timeout)
    except K8sConfigError as exc:
        raise ClusterUnavailable("No usable Kubernetes cluster configuration: %s. Looked for %s. %s"
                                 % (exc, where(params), NO_CLUSTER_HINT))
    try:
        version = client.request("GET", "/version")
    except K8sConnectionError as exc:
        raise ClusterUnavailable("The Kubernetes API server %s is not reachable (%s). Looked for %s. %s"
                                 % (client.host, exc, where(params),
                                    NO_CLUSTER_HINT))
    except ApiError as exc:
        raise ClusterUnavailable("The Kubernetes API server answered %s to GET /version: %s (%s)"
                                 % (exc.status, exc.status_message() if hasattr(exc, "status_message") else exc,
                                    where(params)))
    return client, version


class ClusterUnavailable(Exception):
    pass


def version_problems(version):
    major = re.sub(r"[^0-9]", "", str(version.get("major", "")))
    minor = re.sub(r"[^0-9]", "", str(version.get("minor", "")))
    if not major or not minor:
        return []
    if (int(major), int(minor)) < MIN_VERSION:
        return ["Kubernetes %s.%s is older than the oldest supported version %d.%d (KServe and Knative need it)"
                % (major, minor, MIN_VERSION[0], MIN_VERSION[1])]
    return []


def _names(client, path):
    items = client.request("GET", path).get("items") or []
    return {i["metadata"]["name"]: i for i in items}


def gpu_node_problems(client, group, hosts):
    if not hosts:
        return []
    nodes = _names(client, "/api/v1/nodes")
    unknown = sorted(h for h in hosts if h not in nodes)
    if unknown:
        return ["inventory group %s names nodes that are not in the cluster: %s (cluster nodes: %s). Host names in "
                "that group must be Kubernetes node names (kubectl get nodes)."
                % (group, ", ".join(unknown), ", ".join(sorted(nodes)) or "none")]
    return []


def foreign_namespaces(client, managed, adopt=False):
    """(names, warnings) of the namespaces in ``managed`` ({namespace: role})
    that exist and that the stack did not create. Their labels (Pod Security
    level) are left alone unless ``adopt``."""
    if not managed:
        return [], []
    existing = _names(client, "/api/v1/namespaces")
    names, warnings = [], []
    for ns, role in sorted(managed.items()):
        obj = existing.get(ns)
        labels = (obj or {}).get("metadata", {}).get("labels") or {}
        if obj is None or labels.get(OWNER_LABEL[0]) == OWNER_LABEL[1]:
            continue
        level = labels.get("pod-security.kubernetes.io/enforce", "not set")
        if adopt:
            warnings.append("namespace %s was not created by mlops.stack; mlops_adopt_namespaces=true: the %s role "
                            "sets its labels (Pod Security enforce=%s becomes the stack's level)" % (ns, role, level))
            continue
        names.append(ns)
        warnings.append("namespace %s exists and was not created by mlops.stack: its labels are left as they are "
                        "(Pod Security enforce=%s); the stack's pods meet the restricted level. Set "
                        "mlops_adopt_namespaces=true to let the %s role label it" % (ns, level, role))
    return names, warnings


def _exists(client, path):
    try:
        client.request("GET", path)
    except ApiError as exc:
        if exc.status != 404:
            raise
        return False
    return True


def issuer_problems(client, roles, issuer, tls_enabled):
    """The ClusterIssuer the stack's certificates use, when cert-manager is the cluster's own."""
    if "certmanager" in roles or not tls_enabled or not issuer:
        return []
    if not _exists(client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/clusterissuers.cert-manager.io"):
        return []  # reported by crd_problems
    if _exists(client, "/apis/cert-manager.io/v1/clusterissuers/" + issuer):
        return []
    return ["mlops_cluster_issuer=%r: the ClusterIssuer does not exist in the cluster, and cert-manager is not "
            "installed by this run (mlops_certmanager_enabled=false). Create it, name an existing one, or set "
            "mlops_tls_enabled=false" % issuer]


def crd_problems(client, roles):
    wanted = {}
    for role in roles:
        for provider, crds in NEEDED_CRDS.get(role, {}).items():
            if provider not in roles:
                for crd in crds:
                    wanted[crd] = (role, provider)
    if not wanted:
        return []
    return ["role %s needs the CRD %s, which the %s role installs, but %s is not part of this run (see "
            "mlops_%s_enabled) and the CRD is not in the cluster" % (role, crd, provider, provider, provider)
            for crd, (role, provider) in sorted(wanted.items())
            if not _exists(client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + crd)]


GATEWAY_CRDS = ("gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io")
GATEWAY_API = "/apis/gateway.networking.k8s.io/v1"
GATEWAY_INSTALL_HINT = ("install your Gateway API implementation (it brings the CRDs), or the standard CRDs "
                        "(kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/"
                        "download/v1.6.3/standard-install.yaml), or set mlops_exposure: ingress (with "
                        "mlops_ingress_class) or none")


def selector_matches(selector, labels):
    """Kubernetes label selector semantics (matchLabels and matchExpressions)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def listener_admits(listener, gateway_namespace, namespace, labels):
    """Whether a Gateway listener accepts HTTPRoutes from *namespace* (with *labels*)."""
    if listener.get("protocol") not in ("HTTP", "HTTPS"):
        return False
    allowed = listener.get("allowedRoutes") or {}
    kinds = allowed.get("kinds")
    if kinds and not any(k.get("kind") == "HTTPRoute" for k in kinds):
        return False
    source = (allowed.get("namespaces") or {}).get("from") or "Same"
    if source == "All":
        return True
    if source == "Same":
        return namespace == gateway_namespace
    if source == "Selector":
        return selector_matches((allowed.get("namespaces") or {}).get("selector"), labels)
    return False


def _route_source(listener):
    return ((listener.get("allowedRoutes") or {}).get("namespaces") or {}).get("from", "Same")


def _namespace_labels(client, namespace):
    """The namespace's labels, or those it will get when the stack creates it."""
    try:
        obj = client.request("GET", "/api/v1/namespaces/" + namespace)
    except ApiError as exc:
        if exc.status != 404:
            raise
        return {"kubernetes.io/metadata.name": namespace, OWNER_LABEL[0]: OWNER_LABEL[1]}
    return (obj.get("metadata") or {}).get("labels") or {}


def gateway_problems(client, gateway, route_namespaces, create=False, gateway_class=""):
    """Read-only checks of mlops_exposure gateway: CRDs, the Gateway (or the
    GatewayClass of the one the stack creates) and that its listeners admit
    our routes. ``gateway``: dict(name, namespace, section_name)."""
    if not route_namespaces:
        return []
    missing = [crd for crd in GATEWAY_CRDS
               if not _exists(client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + crd)]
    if missing:
        return ["mlops_exposure=gateway, but the Gateway API CRDs are not in the cluster (%s): %s"
                % (", ".join(missing), GATEWAY_INSTALL_HINT)]
    ref = "%s/%s" % (gateway["namespace"], gateway["name"])
    if create:
        if gateway_class and not _exists(client, GATEWAY_API + "/gatewayclasses/" + gateway_class):
            return ["mlops_gateway_class=%r: the GatewayClass does not exist (kubectl get gatewayclass lists those of "
                    "your Gateway API implementation); the Gateway %s would never be programmed" % (gateway_class, ref)]
        return []
    try:
        obj = client.request("GET", "%s/namespaces/%s/gateways/%s" % (GATEWAY_API, gateway["namespace"], gateway["name"]))
    except ApiError as exc:
        if exc.status != 404:
            raise
        return ["mlops_gateway_name=%r / mlops_gateway_namespace=%r: the Gateway %s does not exist. Name your "
                "platform's Gateway (kubectl get gateways -A), let the stack create one (mlops_gateway_create: true "
                "with mlops_gateway_class), or set mlops_exposure: ingress | none"
                % (gateway["name"], gateway["namespace"], ref)]
    listeners = (obj.get("spec") or {}).get("listeners") or []
    section = gateway.get("section_name")
    if section:
        chosen = [item for item in listeners if item.get("name") == section]
        if not chosen:
            return ["mlops_gateway_section_name=%r: Gateway %s has no such listener (it has: %s)"
                    % (section, ref, ", ".join(item.get("name", "?") for item in listeners) or "none")]
    else:
        chosen = listeners
    problems = []
    for namespace in sorted(set(route_namespaces)):
        labels = _namespace_labels(client, namespace)
        if not any(listener_admits(item, gateway["namespace"], namespace, labels) for item in chosen):
            described = ", ".join("%s allows %s" % (item.get("name"), _route_source(item)) for item in chosen)
            problems.append(
                "Gateway %s does not accept HTTPRoutes from namespace %s (listeners %s). Let a listener admit it "
                "(allowedRoutes.namespaces.from: All, or a Selector matching the namespace's labels), or set "
                "mlops_gateway_section_name to a listener that does" % (ref, namespace, described or "none"))
    return problems
