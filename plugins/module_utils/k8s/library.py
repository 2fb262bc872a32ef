# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""The ``kubernetes`` library, for what the collection's own client
(``k8s/transport.py``) does not do, connected the same way:

* :class:`LibraryClient`: the same request interface over the library, for
  kubeconfigs the own client leaves to it (``auth-provider``);
* :class:`LibraryApi`: the library's ``ApiClient`` for the port-forward
  websocket (``k8s/port_forward.py``), built from the REST client's
  :class:`~.config.Settings` (the kubeconfig is not read a second time) and
  its proxy decision.

The callers import the library only when they need it: it costs about 1 s
(docs/benchmarks.md).
"""


import json
import os
import shutil
import tempfile

from ansible_collections.mlops.stack.plugins.module_utils.k8s.config import authorization
from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import (
    ApiError,
    BadResponse,
    K8sConfigError,
    K8sConnectionError,
    describe_response,
)
from ansible_collections.mlops.stack.plugins.module_utils.k8s.proxy import configure_library_proxy, proxy_for


class LibraryClient(object):
    """The request interface of :class:`~.transport.Client` over the
    ``kubernetes`` library, for kubeconfigs the collection's own client leaves
    to it (auth-provider), with the same proxy decision
    (:func:`configure_library_proxy`; *cluster* is the kubeconfig's cluster
    entry that :class:`~.errors.UnsupportedConfig` carries)."""

    def __init__(self, params, timeout=60, cluster=None):
        try:
            from kubernetes import client as k8s_client
            from kubernetes import config as k8s_config
            from kubernetes.client.rest import ApiException
        except ImportError:
            raise K8sConfigError("this kubeconfig needs the Python 'kubernetes' library (pip install 'kubernetes<37')")
        self._api_exception = ApiException
        cfg = k8s_client.Configuration()
        k8s_config.load_kube_config(config_file=params.get("kubeconfig"), context=params.get("context"),
                                    client_configuration=cfg)
        if params.get("host"):
            cfg.host = params["host"]
        if params.get("api_key"):
            cfg.api_key = {"authorization": "Bearer " + params["api_key"]}
        if params.get("validate_certs") is not None:
            cfg.verify_ssl = params["validate_certs"]
        for opt, attr in (("ca_cert", "ssl_ca_cert"), ("client_cert", "cert_file"), ("client_key", "key_file")):
            if params.get(opt):
                setattr(cfg, attr, params[opt])
        # *cluster*: the kubeconfig entry UnsupportedConfig carries.
        cluster = cluster or {}
        configure_library_proxy(cfg, proxy_for(params.get("host") or cluster.get("server") or cfg.host,
                                               cluster.get("proxy-url") or None))
        self.api = k8s_client.ApiClient(cfg)
        self.host = cfg.host
        self._timeout = timeout

    def clone(self):
        return self  # urllib3's pool is thread-safe

    def close(self):
        self.api.close()

    def request(self, method, path, query=None, body=None, content_type=None, accept="application/json"):
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            resp = self.api.call_api(path, method, query_params=query or [], header_params=headers, body=body,
                                     auth_settings=["BearerToken"], _preload_content=False,
                                     _return_http_data_only=True, _request_timeout=self._timeout)
        except self._api_exception as exc:
            raise ApiError(exc.status, exc.reason, exc.body, method=method, url=self.host + path,
                           content_type=(exc.headers or {}).get("Content-Type"))
        except Exception as exc:  # pylint: disable=broad-except
            raise K8sConnectionError(str(exc))
        if not resp.data:
            return {}
        try:
            return json.loads(resp.data)
        except ValueError:
            raise BadResponse(describe_response(method, self.host + path, resp.status,
                                                resp.getheader("Content-Type"), resp.data))


def _pem_file(workdir, name, data):
    """*data* in a private (0600) file of *workdir*; None without data."""
    if not data:
        return None
    path = os.path.join(workdir, name)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
        fh.write(data)
    return path


def library_configuration(configuration_class, settings, proxy, workdir):
    """A library ``Configuration`` for :class:`~.config.Settings` that follows
    *proxy* (:func:`configure_library_proxy`).

    The library reads certificates from files only: PEM data (``*-data`` in
    the kubeconfig, a client certificate from an exec plugin) is written to
    *workdir*, a private directory the caller removes.
    """
    # type.__call__: a plain Configuration, not a copy of the library's default.
    cfg = type.__call__(configuration_class)
    cfg.host = settings.server.rstrip("/")
    cfg.verify_ssl = not settings.insecure
    cfg.tls_server_name = settings.tls_server_name
    cfg.ssl_ca_cert = settings.ca_file or _pem_file(workdir, "ca.crt", settings.ca_data)
    cfg.cert_file = settings.cert_file or _pem_file(workdir, "client.crt", settings.cert_data)
    cfg.key_file = settings.key_file or _pem_file(workdir, "client.key", settings.key_data)
    if authorization(settings):
        cfg.api_key = {"authorization": authorization(settings)}
    return configure_library_proxy(cfg, proxy)


class LibraryApi(object):
    """The library's ``ApiClient``, connected as *client* (a
    :class:`~.transport.Client` or a :class:`LibraryClient`) is: same server,
    credentials, TLS settings and proxy. *kubernetes_client* is the library's
    ``kubernetes.client`` module (imported by the caller). :meth:`close`
    removes the certificate files written for it.
    """

    def __init__(self, client, kubernetes_client):
        self._workdir = None
        if isinstance(client, LibraryClient):
            self.api = client.api
            return
        self._workdir = tempfile.mkdtemp(prefix="mlops-k8s-")
        try:
            cfg = library_configuration(kubernetes_client.Configuration, client.settings, client.proxy,
                                        self._workdir)
            self.api = kubernetes_client.ApiClient(configuration=cfg)
        except Exception:
            self.close()
            raise

    def close(self):
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
