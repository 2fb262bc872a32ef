# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Where and how to reach the Kubernetes API server: the :class:`Settings` a
kubeconfig context (or the in-cluster service account, or explicit connection
options) resolves to. Shared by the REST client (``k8s/transport.py``) and the
port-forward (``k8s/port_forward.py``), so a run reads its kubeconfig once.

What is read from a kubeconfig (``KUBECONFIG`` lists are merged the way
kubectl merges them: the first file that names a cluster, user, context or
current-context wins):

* ``server``, ``certificate-authority(-data)``, ``insecure-skip-tls-verify``,
  ``tls-server-name``;
* ``client-certificate(-data)`` / ``client-key(-data)``, ``token``,
  ``tokenFile``, ``username``/``password``;
* ``exec`` credential plugins (client.authentication.k8s.io v1 and
  v1beta1), token or client certificate;
* the cluster's ``proxy-url`` (the proxy decision itself is ``k8s/proxy.py``).

Legacy ``auth-provider`` entries raise :class:`UnsupportedConfig`: they are
handed to the ``kubernetes`` library (``k8s/library.py``). Without a
kubeconfig, the in-cluster service account is used.
"""


import base64
import json
import os
import subprocess

from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import K8sConfigError, UnsupportedConfig

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover
    HAS_YAML = False

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")


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
        raise UnsupportedConfig("auth-provider %s" % (user["auth-provider"].get("name") or ""), cluster)
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
        raise UnsupportedConfig("exec apiVersion %s" % api_version, cluster)
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


def authorization(settings):
    """The ``Authorization`` header value of *settings* (bearer token, else
    basic auth), None for client certificates only."""
    if settings.token:
        return "Bearer " + settings.token
    if settings.username:
        basic = base64.b64encode(("%s:%s" % (settings.username, settings.password or "")).encode("utf-8"))
        return "Basic " + basic.decode("ascii")
    return None
