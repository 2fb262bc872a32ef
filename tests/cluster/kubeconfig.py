"""Kubeconfig documents for the local control plane (pure)."""
import base64

import yaml


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def make_kubeconfig(server, ca_pem, cert_pem, key_pem, cluster="mlops-local", user="admin",
                    context=None):
    """A self-contained kubeconfig (certificates embedded) as a dict."""
    context = context or cluster
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": cluster, "cluster": {
            "server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": _b64(cert_pem), "client-key-data": _b64(key_pem)}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
    }


def dump(doc):
    return yaml.safe_dump(doc, default_flow_style=False, sort_keys=False)
