# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""The same request interface as :class:`~.transport.Client` over the
``kubernetes`` library, for kubeconfigs the collection's own client leaves to
it (``auth-provider``). The library is imported only here, and only then: it
costs about 1 s (docs/benchmarks.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.mlops.stack.plugins.module_utils.k8s.config import server_and_proxy_url
from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import (
    ApiError,
    BadResponse,
    K8sConfigError,
    K8sConnectionError,
    describe_response,
)
from ansible_collections.mlops.stack.plugins.module_utils.k8s.proxy import configure_library_proxy, proxy_for


class LibraryClient(object):
    """The same interface over the ``kubernetes`` library, for kubeconfigs
    this module leaves to it (auth-provider), with this module's proxy
    decision (:func:`configure_library_proxy`)."""

    def __init__(self, params, timeout=60):
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
        server, proxy_url = server_and_proxy_url(params)
        configure_library_proxy(cfg, proxy_for(server or cfg.host, proxy_url))
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
