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
  v1beta1), token or client certificate.

Anything else (legacy ``auth-provider`` entries, ``proxy-url``) is handed to
the ``kubernetes`` library when it is installed, so such setups keep working
and only pay its import time. Without a kubeconfig, the in-cluster service
account is used.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import json
import os
import socket
import ssl
import subprocess
import tempfile

try:  # Python 3
    import http.client as http_client
    from urllib.parse import quote, urlencode, urlparse
except ImportError:  # pragma: no cover - Python 2 is not supported by the collection
    import httplib as http_client  # type: ignore
    from urllib import quote, urlencode  # type: ignore
    from urlparse import urlparse  # type: ignore

from ansible.module_utils.basic import env_fallback

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


class ApiError(Exception):
    """The API server answered with an HTTP error status."""

    def __init__(self, status, reason="", body=""):
        self.status = status
        self.reason = reason
        self.body = body
        super(ApiError, self).__init__("(%s) %s" % (status, reason))

    def status_message(self):
        """``403 Forbidden: secrets "x" is forbidden: ...`` from a Status body."""
        try:
            data = json.loads(self.body)
            return "%s %s: %s" % (self.status, data.get("reason", self.reason), data.get("message", ""))
        except (TypeError, ValueError):
            return "%s %s" % (self.status, (self.body or self.reason or "")[:500])


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

class Settings(object):
    """Where and how to connect: what a kubeconfig context resolves to."""

    def __init__(self, server, ca_file=None, ca_data=None, insecure=False, tls_server_name=None,
                 cert_file=None, key_file=None, cert_data=None, key_data=None, token=None,
                 username=None, password=None, source="options"):
        self.server = server
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


def settings_from_kubeconfig(config, context=None, source="kubeconfig", environ=None):
    """Resolve *context* (default: current-context) into :class:`Settings`."""
    name = context or config.get("current-context")
    if not name:
        raise K8sConfigError("%s has no current-context; set the context option" % source)
    ctx = _named(config["contexts"], name, "context", source)
    cluster_entry = [c for c in config["clusters"] if c.get("name") == ctx.get("cluster")]
    if not cluster_entry:
        raise K8sConfigError("cluster %r of context %r is not defined in %s" % (ctx.get("cluster"), name, source))
    cluster, cdir = cluster_entry[0].get("cluster") or {}, cluster_entry[0]["_dir"]
    user, udir = {}, cdir
    if ctx.get("user"):
        user_entry = [u for u in config["users"] if u.get("name") == ctx["user"]]
        if not user_entry:
            raise K8sConfigError("user %r of context %r is not defined in %s" % (ctx["user"], name, source))
        user, udir = user_entry[0].get("user") or {}, user_entry[0]["_dir"]
    if cluster.get("proxy-url"):
        raise UnsupportedConfig("proxy-url")
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
    """HTTPSConnection that verifies against tls-server-name when set."""

    def __init__(self, host, port, context, server_name, timeout):
        http_client.HTTPSConnection.__init__(self, host, port, timeout=timeout, context=context)
        self._mlops_context = context
        self._mlops_server_name = server_name

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._mlops_context.wrap_socket(sock, server_hostname=self._mlops_server_name or self.host)


class Client(object):
    """JSON requests to one API server over one keep-alive connection."""

    def __init__(self, settings, timeout=60):
        self.settings = settings
        url = urlparse(settings.server)
        if url.scheme not in ("https", "http"):
            raise K8sConfigError("server %r must be an http(s) URL" % settings.server)
        self.host = settings.server.rstrip("/")
        self._scheme, self._hostname = url.scheme, url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._prefix = url.path.rstrip("/")
        self._timeout = timeout
        self._headers = {"User-Agent": "mlops.stack"}
        if settings.token:
            self._headers["Authorization"] = "Bearer " + settings.token
        elif settings.username:
            basic = base64.b64encode(("%s:%s" % (settings.username, settings.password or "")).encode("utf-8"))
            self._headers["Authorization"] = "Basic " + basic.decode("ascii")
        self._context = ssl_context(settings) if url.scheme == "https" else None
        self._conn = None

    def clone(self):
        """Another connection to the same server (one per thread); the TLS
        context, with its certificates already loaded, is shared."""
        other = copy.copy(self)
        other._conn = None
        return other

    def _connection(self):
        if self._conn is None:
            if self._scheme == "https":
                self._conn = _HTTPSConnection(self._hostname, self._port, self._context,
                                              self.settings.tls_server_name, self._timeout)
            else:
                self._conn = http_client.HTTPConnection(self._hostname, self._port, timeout=self._timeout)
        return self._conn

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method, path, query=None, body=None, content_type=None, accept="application/json"):
        """Send one request; the decoded JSON answer ({} when empty).

        Raises :class:`ApiError` for HTTP errors and
        :class:`K8sConnectionError` when the server cannot be reached.
        """
        url = self._prefix + quote(path, safe="/:@!$&'()*+,;=-._~")
        if query:
            url += "?" + urlencode(query)
        headers = dict(self._headers, Accept=accept)
        payload = None
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            headers["Content-Type"] = content_type or "application/json"
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, url, body=payload, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (http_client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                # A keep-alive connection the server closed: reconnect once.
                self.close()
                if attempt == 2:
                    raise K8sConnectionError(str(exc))
            except (OSError, http_client.HTTPException) as exc:
                self.close()
                raise K8sConnectionError(str(exc))
        if resp.status >= 400:
            raise ApiError(resp.status, resp.reason, data.decode("utf-8", "replace"))
        return json.loads(data) if data else {}


class LibraryClient(object):
    """The same interface over the ``kubernetes`` library, for kubeconfigs
    this module leaves to it (auth-provider, proxy-url)."""

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
            raise ApiError(exc.status, exc.reason, exc.body)
        except Exception as exc:  # pylint: disable=broad-except
            raise K8sConnectionError(str(exc))
        return json.loads(resp.data) if resp.data else {}


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
