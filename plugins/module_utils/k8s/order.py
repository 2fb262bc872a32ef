# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Install order: Namespaces, CRDs, built-in kinds, custom resources,
webhook configurations. Pure (plain dicts)."""


from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import api_group

BUILTIN_GROUPS = frozenset([
    "", "apps", "batch", "policy", "autoscaling", "rbac.authorization.k8s.io",
    "networking.k8s.io", "storage.k8s.io", "scheduling.k8s.io", "node.k8s.io",
    "coordination.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io",
    "apiregistration.k8s.io", "certificates.k8s.io", "discovery.k8s.io",
    "events.k8s.io", "flowcontrol.apiserver.k8s.io", "resource.k8s.io",
])
WEBHOOK_KINDS = frozenset(["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
                           "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
                           "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"])

# Install phases (stable sort keeps the source order inside a phase).
PHASE_NAMESPACE = 0
PHASE_CRD = 1
PHASE_BUILTIN = 2
PHASE_CUSTOM = 3
PHASE_WEBHOOK = 4


def install_phase(obj):
    kind = obj.get("kind")
    if kind == "Namespace":
        return PHASE_NAMESPACE
    if kind == "CustomResourceDefinition":
        return PHASE_CRD
    if kind in WEBHOOK_KINDS:
        return PHASE_WEBHOOK
    if api_group(obj.get("apiVersion", "")) in BUILTIN_GROUPS:
        return PHASE_BUILTIN
    return PHASE_CUSTOM


def sort_objects(objects):
    """Install order: Namespaces, CRDs, built-in kinds, custom resources,
    webhook configurations (last, so a webhook whose pods are not ready yet
    cannot reject the objects of its own install)."""
    return sorted(objects, key=install_phase)
