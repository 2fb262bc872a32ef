# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Which proxy reaches a Kubernetes API server: the decision kubectl makes.

Pure functions (no network), shared by the collection's own client
(``k8s/transport.py``) and the code that uses the ``kubernetes`` library
(``k8s/library.py``: the port-forward and ``auth-provider`` kubeconfigs), so
one run never mixes two decisions.
"""


import base64
import ipaddress
import os
from urllib.parse import unquote, urlparse


class UnsupportedProxy(ValueError):
    """The proxy to use has a scheme this client cannot speak."""


#: Proxy schemes this client can speak. kubectl also speaks https:// (TLS to
#: the proxy) and socks5://; those are refused with a message naming them.
SUPPORTED_PROXY_SCHEMES = ("http",)
_DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}


class Proxy(object):
    """Where requests to the API server go: ``url`` None means direct.

    ``source`` says why (``kubeconfig proxy-url``, ``HTTPS_PROXY``,
    ``NO_PROXY entry '.svc'``, ...), for messages; ``display`` is the proxy
    URL without credentials.
    """

    def __init__(self, url=None, source="no proxy configured"):
        self.url = url
        self.source = source
        self.scheme = self.host = self.port = self.username = self.password = None
        if url:
            parts = urlparse(url)
            self.scheme = (parts.scheme or "http").lower()
            self.host = parts.hostname
            self.port = parts.port or _DEFAULT_PORTS.get(self.scheme, 80)
            self.username = unquote(parts.username) if parts.username else None
            self.password = unquote(parts.password) if parts.password else None

    @property
    def display(self):
        if not self.url:
            return "direct (%s)" % self.source
        host = "[%s]" % self.host if self.host and ":" in self.host else self.host
        return "%s://%s:%s (%s)" % (self.scheme, host, self.port, self.source)

    def auth_header(self):
        """``Proxy-Authorization`` value for credentials in the proxy URL."""
        if not self.username:
            return None
        raw = ("%s:%s" % (self.username, self.password or "")).encode("utf-8")
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def __repr__(self):
        return "Proxy(%s)" % self.display


def parse_proxy_value(value):
    """A proxy setting as Go reads it: without a scheme it is ``http://``."""
    value = (value or "").strip()
    if not value:
        return None
    parts = urlparse(value)
    if not parts.scheme or not parts.netloc:
        value = "http://" + value
    return value


def _env_any(environ, *names):
    for name in names:
        if environ.get(name):
            return name, environ[name]
    return None, None


def _ip(text):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def no_proxy_match(host, port, no_proxy):
    """The ``NO_PROXY`` entry that exempts ``host:port``, else None.

    Go's rules (golang.org/x/net/http/httpproxy, used by kubectl): entries
    are comma separated, case-insensitive; ``*`` matches everything; an IP
    or CIDR (``10.0.0.1``, ``10.0.0.0/8``, ``fd00::/8``) matches IP hosts;
    ``example.com`` matches it and its subdomains, ``.example.com`` and
    ``*.example.com`` only subdomains; any entry may end in ``:port``.
    """
    host = (host or "").strip().lower().strip("[]")
    port = str(port)
    ip = _ip(host)
    for raw in (no_proxy or "").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return raw.strip()
        if "/" in entry:
            try:
                net = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue
            if ip is not None and ip.version == net.version and ip in net:
                return raw.strip()
            continue
        entry_host, entry_port = entry, ""
        if entry.startswith("["):  # [IPv6]:port
            closing = entry.find("]")
            entry_host, rest = entry[1:closing], entry[closing + 1:]
            entry_port = rest[1:] if rest.startswith(":") else ""
        elif entry.count(":") == 1:  # host:port (more colons: a bare IPv6 address)
            entry_host, entry_port = entry.split(":")
            if not entry_host:
                continue
        entry_ip = _ip(entry_host)
        if entry_ip is not None:
            if ip is not None and ip == entry_ip and entry_port in ("", port):
                return raw.strip()
            continue
        if entry_host.startswith("*."):
            entry_host = entry_host[1:]
        match_host = not entry_host.startswith(".")
        suffix = entry_host if not match_host else "." + entry_host
        if host.endswith(suffix) or (match_host and host == entry_host):
            if entry_port in ("", port):
                return raw.strip()
    return None


def proxy_for(server, proxy_url=None, environ=None):
    """The :class:`Proxy` kubectl would use to reach *server*.

    * The kubeconfig cluster's ``proxy-url`` wins, for every server
      (client-go uses it unconditionally; ``NO_PROXY`` does not apply).
    * Else the environment: ``HTTPS_PROXY`` (else ``https_proxy``) for an
      https server, ``HTTP_PROXY`` / ``http_proxy`` for an http one (an
      https server never falls back to ``HTTP_PROXY``); upper case first.
      ``localhost`` and loopback IPs are always reached directly, and so is
      any host that ``NO_PROXY`` / ``no_proxy`` matches
      (:func:`no_proxy_match`).

    Raises :class:`UnsupportedProxy` when the chosen proxy has a scheme this
    client cannot speak (only ``http://``), naming it, rather than silently
    going direct.
    """
    environ = os.environ if environ is None else environ
    url = urlparse(server or "")
    scheme = (url.scheme or "https").lower()
    host = (url.hostname or "").lower()
    port = url.port or (443 if scheme == "https" else 80)
    if proxy_url:
        proxy = Proxy(parse_proxy_value(proxy_url), "kubeconfig proxy-url")
    else:
        names = ("HTTPS_PROXY", "https_proxy") if scheme == "https" else ("HTTP_PROXY", "http_proxy")
        name, value = _env_any(environ, *names)
        if not value:
            return Proxy(None, "no %s in the environment" % names[0])
        if host == "localhost" or (_ip(host) is not None and _ip(host).is_loopback):
            return Proxy(None, "%s is a loopback address, never proxied" % host)
        no_name, no_value = _env_any(environ, "NO_PROXY", "no_proxy")
        entry = no_proxy_match(host, port, no_value)
        if entry is not None:
            return Proxy(None, "%s entry %r" % (no_name, entry))
        proxy = Proxy(parse_proxy_value(value), name)
    if proxy.scheme not in SUPPORTED_PROXY_SCHEMES:
        raise UnsupportedProxy(
            "the proxy %s for the Kubernetes API at %s has the scheme %r, which mlops.stack's client does not "
            "support (kubectl does); use an http:// (HTTP CONNECT) proxy, or exempt the API server with "
            "NO_PROXY when it is reachable directly" % (proxy.display, server, proxy.scheme))
    if not proxy.host:
        raise UnsupportedProxy("the proxy %r (%s) has no host" % (proxy.url, proxy.source))
    return proxy


#: A NO_PROXY value no host matches (see configure_library_proxy).
_NEVER_BYPASS = "no-proxy.mlops-stack.invalid"
#: A proxy that is never contacted: NO_PROXY "*" bypasses it (see configure_library_proxy).
_UNUSED_PROXY = "http://unused-proxy.mlops-stack.invalid:9"


def configure_library_proxy(configuration, proxy):
    """Make a ``kubernetes`` library Configuration follow *proxy* exactly.

    The library decides on its own otherwise, and differently: its REST
    client (urllib3) reads ``HTTP_PROXY`` over ``HTTPS_PROXY`` and ignores
    the kubeconfig's proxy-url, and websocket-client (port-forward) reads
    ``https_proxy`` / ``no_proxy`` itself unless it is given a proxy host,
    and honours a given no-proxy list only together with a proxy host. So
    both are pinned: our proxy with a NO_PROXY that matches nothing, or, for
    "direct", a proxy that is never contacted with ``no_proxy="*"``
    (both libraries then connect directly).
    """
    if proxy.url:
        configuration.proxy = "http://%s:%s" % ("[%s]" % proxy.host if ":" in proxy.host else proxy.host,
                                                proxy.port)
        configuration.no_proxy = _NEVER_BYPASS
        auth = proxy.auth_header()
        configuration.proxy_headers = {"proxy-authorization": auth} if auth else None
    else:
        configuration.proxy = _UNUSED_PROXY
        configuration.no_proxy = "*"
        configuration.proxy_headers = None
    return configuration
