"""Unit tests for plugins/module_utils/k8s/order.py: install order."""
from ansible_collections.mlops.stack.plugins.module_utils.k8s.order import sort_objects

CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}, "data": {"a": "1"}}


def test_sort_install_order():
    objs = [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "w"}},
        {"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "i"}},
        CM,
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}},
    ]
    assert [o["kind"] for o in sort_objects(objs)] == [
        "Namespace", "CustomResourceDefinition", "ConfigMap", "Issuer", "ValidatingWebhookConfiguration"]
