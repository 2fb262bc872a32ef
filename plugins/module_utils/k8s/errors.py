# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""The exceptions of the collection's Kubernetes layer, and the readable
description of an answer that is not what a Kubernetes API server sends.

* :class:`K8sConfigError` (and :class:`UnsupportedConfig`): the kubeconfig or
  the connection options cannot be used (``k8s/config.py``);
* :class:`K8sConnectionError` (and :class:`BadResponse`): the API server could
  not be reached, or did not answer like one (``k8s/transport.py``);
* :class:`ApiError`: the API server answered with an HTTP error status;
* :class:`K8sAccessError`: the ``kubernetes_service`` port-forward cannot be
  opened (``k8s/service_target.py``, ``k8s/port_forward.py``).
"""


import json


class K8sConfigError(Exception):
    """The kubeconfig (or the connection options) cannot be used."""


class UnsupportedConfig(K8sConfigError):
    """A kubeconfig feature this client leaves to the kubernetes library.

    ``cluster`` is the kubeconfig's cluster entry of the context (server,
    proxy-url), so the library path makes the same proxy decision without
    reading the kubeconfig again.
    """

    def __init__(self, message, cluster=None):
        super(UnsupportedConfig, self).__init__(message)
        self.cluster = cluster or {}


class K8sConnectionError(Exception):
    """The API server could not be reached."""


class BadResponse(K8sConnectionError):
    """A 2xx answer whose body is not JSON: not a Kubernetes API server
    (a proxy's or a login page, a wrong URL)."""


def _first_bytes(data, limit=200):
    if isinstance(data, bytes):
        data = data[:limit].decode("utf-8", "replace")
    return repr((data or "")[:limit])


def describe_response(method, url, status, content_type, data):
    """``GET https://h/api answered 200 (content type text/html), not JSON; first bytes: '<html>'``."""
    return "%s %s answered %s (content type %s), not JSON; first bytes: %s" % (
        method, url, status, content_type or "none", _first_bytes(data))


class ApiError(Exception):
    """The API server answered with an HTTP error status."""

    def __init__(self, status, reason="", body="", method=None, url=None, content_type=None, retry_after=None):
        self.status = status
        self.reason = reason
        self.body = body
        self.method, self.url, self.content_type = method, url, content_type
        self.retry_after = retry_after
        super(ApiError, self).__init__("(%s) %s" % (status, reason))

    def status_message(self):
        """``403 Forbidden: secrets "x" is forbidden: ...`` from a Status body.

        A body that is not a JSON Status (an HTML page of a proxy, a load
        balancer's text) is described with the method, URL, status, content
        type and its first bytes instead.
        """
        try:
            data = json.loads(self.body)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return "%s %s: %s" % (self.status, data.get("reason", self.reason), data.get("message", ""))
        except (TypeError, ValueError):
            if self.method and self.url:
                return "%s %s: %s" % (self.status, self.reason or "",
                                      describe_response(self.method, self.url, self.status, self.content_type,
                                                        self.body))
            return "%s %s" % (self.status, (self.body or self.reason or "")[:500])


class K8sAccessError(Exception):
    """An expected failure of the ``kubernetes_service`` port-forward: the
    message says what is wrong and how to fix it."""
