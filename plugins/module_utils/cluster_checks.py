# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Read-only cluster checks of the preflight (GET requests only).

Each check returns ``(problems, warnings)``: lists of strings that say what
was found and what to do. Nothing here writes to the cluster.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.mlops.stack.plugins.module_utils.k8s_client import (
    ApiError,
    K8sConfigError,
    K8sConnectionError,
    client_from_params,
    kubeconfig_paths,
)

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
