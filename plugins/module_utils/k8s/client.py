# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""The entry point of the Kubernetes layer for modules: the connection options
(:data:`K8S_CONNECTION_ARGUMENT_SPEC`, documented by the ``mlops.stack.k8s_auth``
doc fragment) and :func:`client_from_params`, which resolves them
(``k8s/config.py``) into a REST client (``k8s/transport.py``, or
``k8s/library.py`` for an ``auth-provider`` kubeconfig).
"""


import os
import ssl

from ansible.module_utils.basic import env_fallback
from ansible_collections.mlops.stack.plugins.module_utils.k8s.config import settings_from_params
from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import K8sConfigError, UnsupportedConfig
from ansible_collections.mlops.stack.plugins.module_utils.k8s.library import LibraryClient
from ansible_collections.mlops.stack.plugins.module_utils.k8s.transport import Client

try:
    from yaml import YAMLError
except ImportError:  # pragma: no cover
    YAMLError = ValueError

#: Connection options, the same names, aliases and env vars as kubernetes.core.
K8S_CONNECTION_ARGUMENT_SPEC = dict(
    kubeconfig=dict(type="path", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
    context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
    host=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_HOST"])),
    api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_API_KEY"])),
    validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=(env_fallback, ["K8S_AUTH_VERIFY_SSL"])),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"])),
    client_cert=dict(type="path", aliases=["cert_file"], fallback=(env_fallback, ["K8S_AUTH_CERT_FILE"])),
    client_key=dict(type="path", aliases=["key_file"], no_log=False,
                    fallback=(env_fallback, ["K8S_AUTH_KEY_FILE"])),
    request_timeout=dict(type="int", default=60),
)


def client_from_params(params, timeout=None):
    """A :class:`Client` (or :class:`LibraryClient`) for the module params."""
    timeout = timeout or params.get("request_timeout") or 60
    try:
        return Client(settings_from_params(params), timeout=timeout)
    except UnsupportedConfig as exc:
        return LibraryClient(params, timeout=timeout, cluster=exc.cluster)
    except (IOError, OSError, ValueError, ssl.SSLError, YAMLError) as exc:
        raise K8sConfigError(str(exc))


def describe_config(params):
    """``kubeconfig=..., context=...`` for error messages."""
    kubeconfig = params.get("kubeconfig") or os.environ.get("KUBECONFIG") or "default"
    return "kubeconfig=%s, context=%s" % (kubeconfig, params.get("context") or "current")
