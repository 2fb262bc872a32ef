# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""A small Kubernetes REST client for the collection's modules.

Why not the ``kubernetes`` Python library: importing it takes 0.6-1 s
(every API model class is loaded), and our modules run once per task, so a
no-op ``site.yml`` paid that second dozens of times. The modules only need
raw JSON requests over one keep-alive HTTPS connection, which the standard
library does in a few milliseconds.

What is read from a kubeconfig (``KUBECONFIG`` lists are merged the way
kubectl merges them: the first file that names a cluster, user, context or
current-context wins):

* ``server``, ``certificate-authority(-data)``, ``insecure-skip-tls-verify``,
  ``tls-server-name``;
* ``client-certificate(-data)`` / ``client-key(-data)``, ``token``,
  ``tokenFile``, ``username``/``password``;
* ``exec`` credential plugins (client.authentication.k8s.io v1 and
  v1beta1), token or client certificate;
* the cluster's ``proxy-url``, else ``HTTPS_PROXY`` / ``HTTP_PROXY`` /
  ``NO_PROXY`` (and lower case) the way kubectl reads them
  (:func:`proxy_for`); ``http://`` proxies only (an HTTP CONNECT tunnel for
  https servers), any other proxy scheme is refused with a message naming it.

Legacy ``auth-provider`` entries are handed to the ``kubernetes`` library
when it is installed (with the same proxy decision), so such setups keep
working and only pay its import time. Without a kubeconfig, the in-cluster
service account is used.

Requests are retried (:meth:`Client.request`): 429 and 503 answers with
bounded exponential backoff that honours ``Retry-After``, and connections
lost after the request was sent for idempotent requests only, all within a
total time cap. A body that is not JSON fails with the method, URL, status,
content type and the first bytes of the body.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import json
import os
import random
import select
import socket
import ssl
import subprocess
import tempfile
import time

try:  # Python 3
    import http.client as http_client
    from urllib.parse import quote, urlencode, urlparse
    from email.utils import parsedate_to_datetime
except ImportError:  # pragma: no cover - Python 2 is not supported by the collection
    import httplib as http_client  # type: ignore
    from urllib import quote, urlencode  # type: ignore
    from urlparse import urlparse  # type: ignore
    parsedate_to_datetime = None  # type: ignore

from ansible.module_utils.basic import env_fallback
from ansible_collections.mlops.stack.plugins.module_utils.k8s_proxy import configure_library_proxy, proxy_for

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover
    HAS_YAML = False

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

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")


class K8sConfigError(Exception):
    """The kubeconfig (or the connection options) cannot be used."""


class UnsupportedConfig(K8sConfigError):
    """A kubeconfig feature this client leaves to the kubernetes library."""


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


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

class Settings(object):
    """Where and how to connect: what a kubeconfig context resolves to."""

    def __init__(self, server, ca_file=None, ca_data=None, insecure=False, tls_server_name=None,
                 cert_file=None, key_file=None, cert_data=None, key_data=None, token=None,
                 username=None, password=None, source="options", proxy_url=None):
        self.server = server
        self.proxy_url = proxy_url  # the kubeconfig cluster's proxy-url
        self.ca_file, self.ca_data = ca_file, ca_data
        self.insecure = insecure
        self.tls_server_name = tls_server_name
        self.cert_file, self.key_file = cert_file, key_file
        self.cert_data, self.key_data = cert_data, key_data
        self.token = token
        self.username, self.password = username, password
        self.source = source


def _named(entries, name, what, path):
    for entry in entries:
        if entry.get("name") == name:
            return entry.get(what) or {}
    raise K8sConfigError("%s %r is not defined in %s" % (what, name, path))


def _b64(value):
    return base64.b64decode(value).decode("utf-8") if value else None


def _relative(path, base_dir):
    if not path:
        return None
    path = os.path.expanduser(path)
    return path if os.path.isabs(path) else os.path.join(base_dir, path)


def kubeconfig_paths(explicit=None, environ=None):
    """The kubeconfig files to read, kubectl's order."""
    environ = os.environ if environ is None else environ
    if explicit:
        return [os.path.expanduser(explicit)]
    if environ.get("KUBECONFIG"):
        return [p for p in environ["KUBECONFIG"].split(os.pathsep) if p]
    return [os.path.expanduser("~/.kube/config")]


def load_kubeconfig(paths):
    """Merge kubeconfig files: the first one that names an entry wins.

    Each entry remembers the directory of its file, because relative paths
    in a kubeconfig are relative to that file.
    """
    merged = {"clusters": [], "users": [], "contexts": [], "current-context": None}
    seen = {"clusters": set(), "users": set(), "contexts": set()}
    found = False
    for path in paths:
        if not os.path.exists(path):
            continue
        found = True
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
        if not isinstance(data, dict):
            raise K8sConfigError("%s is not a kubeconfig (a YAML mapping)" % path)
        base = os.path.dirname(os.path.abspath(path))
        for key in ("clusters", "users", "contexts"):
            for entry in data.get(key) or []:
                if entry.get("name") in seen[key]:
                    continue
                seen[key].add(entry.get("name"))
                entry = dict(entry)
                entry["_dir"] = base
                merged[key].append(entry)
        if not merged["current-context"] and data.get("current-context"):
            merged["current-context"] = data["current-context"]
    return merged if found else None


def _context_cluster(config, context, source):
    """(context name, context, cluster, directory of the cluster's file)."""
    name = context or config.get("current-context")
    if not name:
        raise K8sConfigError("%s has no current-context; set the context option" % source)
    ctx = _named(config["contexts"], name, "context", source)
    cluster_entry = [c for c in config["clusters"] if c.get("name") == ctx.get("cluster")]
    if not cluster_entry:
        raise K8sConfigError("cluster %r of context %r is not defined in %s" % (ctx.get("cluster"), name, source))
    return name, ctx, cluster_entry[0].get("cluster") or {}, cluster_entry[0]["_dir"]


def settings_from_kubeconfig(config, context=None, source="kubeconfig", environ=None):
    """Resolve *context* (default: current-context) into :class:`Settings`."""
    name, ctx, cluster, cdir = _context_cluster(config, context, source)
    user, udir = {}, cdir
    if ctx.get("user"):
        user_entry = [u for u in config["users"] if u.get("name") == ctx["user"]]
        if not user_entry:
            raise K8sConfigError("user %r of context %r is not defined in %s" % (ctx["user"], name, source))
        user, udir = user_entry[0].get("user") or {}, user_entry[0]["_dir"]
    if user.get("auth-provider"):
        raise UnsupportedConfig("auth-provider %s" % (user["auth-provider"].get("name") or ""))
    if not cluster.get("server"):
        raise K8sConfigError("cluster %r in %s has no server" % (ctx.get("cluster"), source))
    settings = Settings(
        server=cluster["server"],
        ca_file=_relative(cluster.get("certificate-authority"), cdir),
        ca_data=_b64(cluster.get("certificate-authority-data")),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name"),
        cert_file=_relative(user.get("client-certificate"), udir),
        key_file=_relative(user.get("client-key"), udir),
        cert_data=_b64(user.get("client-certificate-data")),
        key_data=_b64(user.get("client-key-data")),
        token=user.get("token"),
        username=user.get("username"),
        password=user.get("password"),
        source="%s (context %s)" % (source, name),
        proxy_url=cluster.get("proxy-url") or None,
    )
    if not settings.token and user.get("tokenFile"):
        with open(_relative(user["tokenFile"], udir)) as fh:
            settings.token = fh.read().strip()
    if user.get("exec"):
        run_exec_plugin(user["exec"], settings, udir, cluster, environ)
    return settings


def run_exec_plugin(spec, settings, base_dir, cluster=None, environ=None):
    """Run a client-go credential plugin and put what it returns in *settings*."""
    api_version = spec.get("apiVersion")
    if api_version not in EXEC_API_VERSIONS:
        raise UnsupportedConfig("exec apiVersion %s" % api_version)
    command = spec.get("command") or ""
    if os.sep in command and not os.path.isabs(command):
        # client-go: a relative path with a slash is relative to the kubeconfig.
        command = os.path.join(base_dir, command)
    env = dict(os.environ if environ is None else environ)
    for item in spec.get("env") or []:
        env[item["name"]] = item.get("value", "")
    info = {"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    if spec.get("provideClusterInfo") and cluster:
        info["spec"]["cluster"] = dict((k, v) for k, v in cluster.items() if k != "extensions")
    env["KUBERNETES_EXEC_INFO"] = json.dumps(info)
    try:
        # module_utils has no AnsibleModule here (the client also serves code
        # without one), so run_command is not available.
        proc = subprocess.Popen([command] + list(spec.get("args") or []), env=env,  # pylint: disable=ansible-bad-function
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate(timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        hint = spec.get("installHint") or ""
        raise K8sConfigError("credential plugin %s failed to run: %s. %s" % (command, exc, hint))
    if proc.returncode != 0:
        raise K8sConfigError("credential plugin %s exited %s: %s"
                             % (command, proc.returncode, err.decode("utf-8", "replace").strip()[-500:]))
    try:
        status = json.loads(out.decode("utf-8")).get("status") or {}
    except ValueError:
        raise K8sConfigError("credential plugin %s did not print an ExecCredential (JSON)" % command)
    if status.get("token"):
        settings.token = status["token"]
    elif status.get("clientCertificateData") and status.get("clientKeyData"):
        settings.cert_data, settings.key_data = status["clientCertificateData"], status["clientKeyData"]
        settings.cert_file = settings.key_file = None
    else:
        raise K8sConfigError("credential plugin %s returned neither a token nor a client certificate" % command)


def in_cluster_settings(environ=None, sa_dir=SERVICE_ACCOUNT_DIR):
    environ = os.environ if environ is None else environ
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    token_path = os.path.join(sa_dir, "token")
    if not (host and port and os.path.exists(token_path)):
        return None
    with open(token_path) as fh:
        token = fh.read().strip()
    if ":" in host:  # IPv6 service address
        host = "[%s]" % host
    ca = os.path.join(sa_dir, "ca.crt")
    return Settings("https://%s:%s" % (host, port), ca_file=ca if os.path.exists(ca) else None, token=token,
                    source="in-cluster service account")


def settings_from_params(params, environ=None):
    """:class:`Settings` from the module's connection options.

    Order: explicit ``host`` without kubeconfig/context; else the kubeconfig
    (option, ``KUBECONFIG``, ``~/.kube/config``); else the in-cluster
    service account. Explicit options override what the kubeconfig says.
    """
    p = params
    if not HAS_YAML:
        raise K8sConfigError("the Python library PyYAML is required to read kubeconfig files")
    settings = None
    if p.get("host") and not (p.get("kubeconfig") or p.get("context")):
        settings = Settings(p["host"])
    else:
        paths = kubeconfig_paths(p.get("kubeconfig"), environ)
        config = load_kubeconfig(paths)
        if config is not None:
            settings = settings_from_kubeconfig(config, p.get("context"), source=", ".join(paths), environ=environ)
        elif p.get("kubeconfig") or p.get("context"):
            raise K8sConfigError("kubeconfig %s does not exist" % ", ".join(paths))
        else:
            settings = in_cluster_settings(environ)
        if settings is None:
            raise K8sConfigError("no kubeconfig (%s) and not running in a pod; set kubeconfig/context or host"
                                 % ", ".join(paths))
    if p.get("host"):
        settings.server = p["host"]
    if p.get("api_key"):
        settings.token = p["api_key"]
    if p.get("validate_certs") is not None:
        settings.insecure = not p["validate_certs"]
    if p.get("ca_cert"):
        settings.ca_file, settings.ca_data = p["ca_cert"], None
    if p.get("client_cert"):
        settings.cert_file, settings.cert_data = p["client_cert"], None
    if p.get("client_key"):
        settings.key_file, settings.key_data = p["client_key"], None
    return settings


def server_and_proxy_url(params, environ=None):
    """(server URL, kubeconfig proxy-url) the connection options resolve to,
    without credentials (no exec plugin runs): what :func:`proxy_for` needs,
    for code that connects through another library (the port-forward path
    in k8s_access.py, :class:`LibraryClient`)."""
    p = params
    if p.get("host") and not (p.get("kubeconfig") or p.get("context")):
        return p["host"], None
    paths = kubeconfig_paths(p.get("kubeconfig"), environ)
    config = load_kubeconfig(paths)
    if config is not None:
        dummy, dummy2, cluster, dummy3 = _context_cluster(config, p.get("context"), ", ".join(paths))
        return p.get("host") or cluster.get("server"), cluster.get("proxy-url") or None
    settings = in_cluster_settings(environ)
    return (p.get("host") or (settings.server if settings else None)), None


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


# --------------------------------------------------------------------------
# Transport
# --------------------------------------------------------------------------

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
    if parsedate_to_datetime is None:
        return None
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
        if settings.token:
            self._headers["Authorization"] = "Bearer " + settings.token
        elif settings.username:
            basic = base64.b64encode(("%s:%s" % (settings.username, settings.password or "")).encode("utf-8"))
            self._headers["Authorization"] = "Basic " + basic.decode("ascii")
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


def client_from_params(params, timeout=None):
    """A :class:`Client` (or :class:`LibraryClient`) for the module params."""
    timeout = timeout or params.get("request_timeout") or 60
    try:
        return Client(settings_from_params(params), timeout=timeout)
    except UnsupportedConfig:
        return LibraryClient(params, timeout=timeout)
    except (IOError, OSError, ValueError, ssl.SSLError, yaml.YAMLError) as exc:
        raise K8sConfigError(str(exc))


def describe_config(params):
    """``kubeconfig=..., context=...`` for error messages."""
    kubeconfig = params.get("kubeconfig") or os.environ.get("KUBECONFIG") or "default"
    return "kubeconfig=%s, context=%s" % (kubeconfig, params.get("context") or "current")
