# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""JSON requests to one Kubernetes API server over one keep-alive connection.

Why not the ``kubernetes`` Python library: importing it takes 0.6-1 s
(every API model class is loaded), and our modules run once per task, so a
no-op ``site.yml`` paid that second dozens of times. The modules only need
raw JSON requests over one keep-alive HTTPS connection, which the standard
library does in a few milliseconds.

:class:`Client` connects with the :class:`~.config.Settings` of
``k8s/config.py`` (TLS: :func:`ssl_context`), through the proxy kubectl
would use (``k8s/proxy.py``: ``http://`` proxies only, an HTTP CONNECT
tunnel for https servers).

Requests are retried (:meth:`Client.request`): 429 and 503 answers with
bounded exponential backoff that honours ``Retry-After``, and connections
lost after the request was sent for idempotent requests only, all within a
total time cap. A body that is not JSON fails with the method, URL, status,
content type and the first bytes of the body.
"""


import copy
import http.client as http_client
import json
import os
import random
import select
import socket
import ssl
import tempfile
import time
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlencode, urlparse

from ansible_collections.mlops.stack.plugins.module_utils.k8s.config import authorization
from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import (
    ApiError,
    BadResponse,
    K8sConfigError,
    K8sConnectionError,
    describe_response,
)
from ansible_collections.mlops.stack.plugins.module_utils.k8s.proxy import proxy_for


def ssl_context(settings):
    ctx = ssl.create_default_context(cafile=settings.ca_file, cadata=settings.ca_data)
    if settings.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if settings.cert_data or settings.cert_file:
        if settings.cert_data:
            # ssl loads client certificates from files only: a private
            # (0600) temporary file, removed as soon as it is loaded.
            fd, path = tempfile.mkstemp(prefix="mlops-k8s-", suffix=".pem")
            try:
                with os.fdopen(fd, "w") as fh:
                    fh.write(settings.cert_data)
                    fh.write("\n")
                    fh.write(settings.key_data or "")
                ctx.load_cert_chain(path)
            finally:
                os.unlink(path)
        else:
            ctx.load_cert_chain(settings.cert_file, settings.key_file)
    return ctx


class _HTTPSConnection(http_client.HTTPSConnection):
    """HTTPSConnection that verifies against tls-server-name when set, and
    reaches the server through an HTTP CONNECT tunnel when
    :meth:`set_tunnel` was called (``host``/``port`` are then the proxy's)."""

    def __init__(self, host, port, context, server_name, timeout):
        http_client.HTTPSConnection.__init__(self, host, port, timeout=timeout, context=context)
        self._mlops_context = context
        self._mlops_server_name = server_name

    def connect(self):
        # TCP to the server or the proxy; with a tunnel, the CONNECT
        # exchange (http.client raises OSError on a non-200 answer).
        http_client.HTTPConnection.connect(self)
        target = getattr(self, "_tunnel_host", None) or self.host
        self.sock = self._mlops_context.wrap_socket(self.sock, server_hostname=self._mlops_server_name or target)


class _Lost(Exception):
    """The connection failed; ``sent`` says whether the whole request had
    been written (then the server may have acted on it)."""

    def __init__(self, exc, sent):
        super(_Lost, self).__init__(str(exc))
        self.exc, self.sent = exc, sent


#: Answers that mean "not now, try again".
RETRY_STATUSES = (429, 503)
#: Content types of PATCH bodies that give the same result when applied twice.
IDEMPOTENT_PATCH_TYPES = ("application/apply-patch+yaml", "application/merge-patch+json",
                          "application/strategic-merge-patch+json")


def is_idempotent(method, content_type=None):
    """Whether sending the request twice has the effect of sending it once.

    GET/HEAD/OPTIONS read; PUT replaces (and conflicts on a stale
    resourceVersion rather than applying twice); DELETE of a deleted object
    answers 404; server-side apply and merge patches converge to the same
    object. A JSON patch (``add`` to a list appends again) and POST
    (create: a second one answers 409, or makes a second object with
    generateName) are not.
    """
    method = method.upper()
    if method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE"):
        return True
    if method == "PATCH":
        return (content_type or "").split(";")[0].strip() in IDEMPOTENT_PATCH_TYPES
    return False


def parse_retry_after(value, now=None):
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP date), else None."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Client(object):
    """JSON requests to one API server over one keep-alive connection.

    Retries (:meth:`request`): ``max_attempts`` tries at most, and no new try
    starts later than ``retry_total`` seconds after the first one; between
    tries the ``Retry-After`` of the answer, else exponential backoff from
    ``backoff_base`` seconds (capped at ``backoff_max``, with jitter).
    """

    def __init__(self, settings, timeout=60, environ=None, retry_total=30.0, max_attempts=10,
                 backoff_base=0.25, backoff_max=8.0):
        self.settings = settings
        url = urlparse(settings.server)
        if url.scheme not in ("https", "http"):
            raise K8sConfigError("server %r must be an http(s) URL" % settings.server)
        self.host = settings.server.rstrip("/")
        self._scheme, self._hostname = url.scheme, url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._prefix = url.path.rstrip("/")
        self._origin = "%s://%s" % (url.scheme, url.netloc)
        self._timeout = timeout
        self._headers = {"User-Agent": "mlops.stack"}
        if authorization(settings):
            self._headers["Authorization"] = authorization(settings)
        self._context = ssl_context(settings) if url.scheme == "https" else None
        self.proxy = proxy_for(settings.server, settings.proxy_url, environ)
        self.retry_total, self.max_attempts = float(retry_total), int(max_attempts)
        self.backoff_base, self.backoff_max = float(backoff_base), float(backoff_max)
        self.attempts = 0  # tries of the last request (tests, messages)
        self._conn = None
        self._used = False  # the connection has carried a request (keep-alive)

    def clone(self):
        """Another connection to the same server (one per thread); the TLS
        context, with its certificates already loaded, is shared."""
        other = copy.copy(self)
        other._conn = None
        other._used = False
        return other

    def _connection(self):
        if self._conn is None:
            proxy = self.proxy
            if self._scheme == "https":
                if proxy.url:
                    self._conn = _HTTPSConnection(proxy.host, proxy.port, self._context,
                                                  self.settings.tls_server_name or self._hostname, self._timeout)
                    auth = proxy.auth_header()
                    self._conn.set_tunnel(self._hostname, self._port,
                                          headers={"Proxy-Authorization": auth} if auth else None)
                else:
                    self._conn = _HTTPSConnection(self._hostname, self._port, self._context,
                                                  self.settings.tls_server_name, self._timeout)
            elif proxy.url:
                # Plain http through a proxy: absolute-form request lines.
                self._conn = http_client.HTTPConnection(proxy.host, proxy.port, timeout=self._timeout)
            else:
                self._conn = http_client.HTTPConnection(self._hostname, self._port, timeout=self._timeout)
            self._used = False
        elif self._used and self._stale():
            # The server closed the idle keep-alive connection (EOF is
            # readable): reconnect before sending rather than after.
            self.close()
            return self._connection()
        return self._conn

    def _stale(self):
        sock = getattr(self._conn, "sock", None)
        if sock is None:
            return False
        try:
            if isinstance(sock, ssl.SSLSocket) and sock.pending():
                return True
            return bool(select.select([sock], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._used = False

    def _where(self):
        return "" if not self.proxy.url else " via proxy %s" % self.proxy.display

    def _send(self, method, url, payload, headers):
        """One try: (response, body bytes); raises :class:`_Lost`."""
        conn = self._connection()
        reused = self._used
        target = url
        if self._scheme == "http" and self.proxy.url:
            target = "http://%s:%s%s" % (self._hostname, self._port, url)
            auth = self.proxy.auth_header()
            if auth:
                headers = dict(headers, **{"Proxy-Authorization": auth})
        try:
            conn.request(method, target, body=payload, headers=headers)
        except (OSError, http_client.HTTPException) as exc:
            self.close()
            if isinstance(exc, (socket.timeout, ssl.SSLError)) or not reused:
                # Could not connect (refused, DNS, TLS, proxy refused the
                # tunnel) or timed out: no retry, fail now.
                raise K8sConnectionError("%s%s" % (exc, self._where()))
            # A reused connection broke while sending: the request was
            # not complete, the server cannot have acted on it.
            raise _Lost(exc, sent=False)
        self._used = True
        try:
            resp = conn.getresponse()
            data = resp.read()
        except socket.timeout as exc:
            self.close()
            raise K8sConnectionError("%s (no answer within %ss)%s" % (exc, self._timeout, self._where()))
        except (OSError, http_client.HTTPException) as exc:
            self.close()
            raise _Lost(exc, sent=True)
        if resp.will_close:
            self.close()
        return resp, data

    def _backoff(self, attempt):
        delay = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return delay / 2 + random.uniform(0, delay / 2)

    def request(self, method, path, query=None, body=None, content_type=None, accept="application/json"):
        """Send one request; the decoded JSON answer ({} when empty).

        Raises :class:`ApiError` for HTTP errors, :class:`BadResponse` for a
        2xx answer that is not JSON and :class:`K8sConnectionError` when the
        server cannot be reached.

        Retried, up to ``max_attempts`` tries within ``retry_total`` seconds:

        * 429 for every method: the API server (priority and fairness,
          max-in-flight) or an eviction's PodDisruptionBudget refused the
          request before acting on it;
        * 503 for idempotent requests (:func:`is_idempotent`: reads, PUT,
          DELETE, server-side apply and merge patches), and for the others
          (POST create, JSON patch) only when the answer carries
          ``Retry-After`` (the server says it did not act, as client-go
          assumes); a bare 503 may come from a proxy or load balancer after
          the server acted, and a repeated create is not harmless;
        * a connection reset / closed after the request was sent, for
          idempotent requests only, for the same reason; one that broke
          while the request was still being written (a keep-alive
          connection the server had closed) for every method.

        Connection refused, DNS, TLS and timeouts fail at once.
        """
        url = self._prefix + quote(path, safe="/:@!$&'()*+,;=-._~")
        if query:
            url += "?" + urlencode(query)
        full_url = self._origin + url
        headers = dict(self._headers, Accept=accept)
        payload = None
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            headers["Content-Type"] = content_type or "application/json"
        idempotent = is_idempotent(method, headers.get("Content-Type"))
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            self.attempts = attempt
            failure = None
            try:
                resp, data = self._send(method, url, payload, headers)
            except _Lost as lost:
                if lost.sent and not idempotent:
                    raise K8sConnectionError(
                        "%s%s; %s %s was sent and is not idempotent, so it is not retried (the server may "
                        "have acted on it)" % (lost, self._where(), method, full_url))
                failure = K8sConnectionError("%s%s (after %d tries)" % (lost, self._where(), attempt))
                wait = self._backoff(attempt)
            else:
                if resp.status < 400:
                    break
                retry_after = parse_retry_after(resp.getheader("Retry-After"))
                failure = ApiError(resp.status, resp.reason, data.decode("utf-8", "replace"), method=method,
                                   url=full_url, content_type=resp.getheader("Content-Type"),
                                   retry_after=retry_after)
                retry = resp.status == 429 or (resp.status == 503 and (idempotent or retry_after is not None))
                if not retry:
                    raise failure
                wait = retry_after if retry_after is not None else self._backoff(attempt)
            if attempt >= self.max_attempts or time.monotonic() - start + wait > self.retry_total:
                raise failure
            time.sleep(wait)
        if not data:
            return {}
        try:
            return json.loads(data)
        except ValueError:
            raise BadResponse("%s%s. Is the server URL a Kubernetes API server (not a proxy, login page or "
                              "load balancer)?" % (describe_response(method, full_url, resp.status,
                                                                     resp.getheader("Content-Type"), data),
                                                   self._where()))
