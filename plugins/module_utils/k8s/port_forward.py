# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Reach a server that runs inside a Kubernetes cluster from the control node.

Modules that talk to S3, PostgreSQL or MLflow take a direct endpoint (URL or
host/port). When that server is only reachable inside the cluster, the
optional ``kubernetes_service`` option makes the module open a port-forward
to a Ready pod behind the Service for the duration of the call, exactly like
``kubectl port-forward svc/<name> <local>:<port>``:

    from ansible_collections.mlops.stack.plugins.module_utils.k8s.port_forward import (
        K8S_SERVICE_ARGUMENT_SPEC, service_endpoint)

    argument_spec.update(K8S_SERVICE_ARGUMENT_SPEC)
    ...
    with service_endpoint(module, module.params['endpoint_url']) as url:
        ...  # talk to url; the tunnel is closed on exit

Documentation: ``extends_documentation_fragment: [mlops.stack.k8s_access]``
and docs/k8s-access.md.

The selection logic (Service port -> targetPort -> Ready pod) is pure
(``k8s/service_target.py``); only :class:`PortForwardTunnel` touches the
network.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os
import select
import socket
import threading
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib
from ansible_collections.mlops.stack.plugins.module_utils.k8s.config import HAS_YAML, server_and_proxy_url
from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import K8sAccessError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.proxy import configure_library_proxy, proxy_for
from ansible_collections.mlops.stack.plugins.module_utils.k8s.service_target import LOCALHOST, local_url, select_pod

# The kubernetes client takes ~1 s to import; only kubernetes_service needs
# it, so it is imported on first use (direct endpoints never pay for it).
K8S_IMPORT_ERROR = None
HAS_KUBERNETES = None  # unknown until _import_kubernetes() ran
k8s_client = k8s_config = k8s_portforward = None


def _import_kubernetes():
    global k8s_client, k8s_config, k8s_portforward, HAS_KUBERNETES, K8S_IMPORT_ERROR  # pylint: disable=global-statement
    if HAS_KUBERNETES is None:
        try:
            from kubernetes import client as _client
            from kubernetes import config as _config
            from kubernetes.stream import portforward as _portforward
            k8s_client, k8s_config, k8s_portforward = _client, _config, _portforward
            HAS_KUBERNETES = True
        except ImportError:
            HAS_KUBERNETES = False
            K8S_IMPORT_ERROR = traceback.format_exc()
    return HAS_KUBERNETES


#: Argument-spec fragment: ``argument_spec.update(K8S_SERVICE_ARGUMENT_SPEC)``.
K8S_SERVICE_ARGUMENT_SPEC = dict(
    kubernetes_service=dict(
        type="dict",
        options=dict(
            name=dict(type="str", required=True),
            namespace=dict(type="str", default="default"),
            port=dict(type="str"),
            kubeconfig=dict(type="path", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
            context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
            local_port=dict(type="int", default=0),
            timeout=dict(type="int", default=30),
        ),
    ),
)


def _params_of(module_or_params):
    params = getattr(module_or_params, "params", module_or_params)
    return params or {}


def _load_api(ks):
    if not _import_kubernetes():
        raise K8sAccessError(missing_required_lib("kubernetes") + " It is needed for kubernetes_service "
                             "(port-forward to Service %s/%s). Original error: %s"
                             % (ks.get("namespace"), ks.get("name"), (K8S_IMPORT_ERROR or "").strip().splitlines()[-1]))
    try:
        # type.__call__: a plain Configuration, not a copy of the library's default.
        cfg = type.__call__(k8s_client.Configuration)
        if ks.get("kubeconfig") or not _in_cluster():
            k8s_config.load_kube_config(config_file=ks.get("kubeconfig"), context=ks.get("context"),
                                        client_configuration=cfg)
        else:
            k8s_config.load_incluster_config(client_configuration=cfg)
        # The proxy decision of the collection's own client (kubeconfig
        # proxy-url, else HTTPS_PROXY/NO_PROXY as kubectl reads them), for
        # the REST reads and the port-forward websocket alike.
        configure_library_proxy(cfg, proxy_for(cfg.host, _kubeconfig_proxy_url(ks)))
        api_client = k8s_client.ApiClient(configuration=cfg)
    except Exception as exc:  # pylint: disable=broad-except
        raise K8sAccessError("Cannot load the Kubernetes configuration (kubeconfig=%s, context=%s): %s. "
                             "Set kubernetes_service.kubeconfig/context or K8S_AUTH_KUBECONFIG."
                             % (ks.get("kubeconfig") or "default", ks.get("context") or "current", exc))
    return api_client


def _kubeconfig_proxy_url(ks):
    """The proxy-url of the kubeconfig cluster *ks* selects (None in a pod)."""
    if not HAS_YAML or not (ks.get("kubeconfig") or not _in_cluster()):
        return None
    return server_and_proxy_url({"kubeconfig": ks.get("kubeconfig"), "context": ks.get("context")})[1]


def _in_cluster():
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and not os.path.exists(
        os.path.expanduser(os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0]))


def find_target(api_client, ks):
    """Read the Service and its pods through the API and pick the target."""
    core = k8s_client.CoreV1Api(api_client)
    ns, name = ks.get("namespace") or "default", ks["name"]
    try:
        svc = api_client.sanitize_for_serialization(core.read_namespaced_service(name, ns, _request_timeout=ks.get("timeout") or 30))
    except k8s_client.exceptions.ApiException as exc:
        if exc.status == 404:
            raise K8sAccessError("Service %s/%s not found; check kubernetes_service.name/namespace." % (ns, name))
        raise K8sAccessError("Cannot read Service %s/%s from the Kubernetes API: %s %s"
                             % (ns, name, exc.status, exc.reason))
    except Exception as exc:  # pylint: disable=broad-except
        raise K8sAccessError("Cannot reach the Kubernetes API to read Service %s/%s: %s" % (ns, name, exc))
    selector = (svc.get("spec") or {}).get("selector") or {}
    pods = []
    if selector:
        label_selector = ",".join("%s=%s" % kv for kv in sorted(selector.items()))
        try:
            pod_list = core.list_namespaced_pod(ns, label_selector=label_selector,
                                                _request_timeout=ks.get("timeout") or 30)
        except Exception as exc:  # pylint: disable=broad-except
            raise K8sAccessError("Cannot list pods of Service %s/%s: %s" % (ns, name, exc))
        pods = api_client.sanitize_for_serialization(pod_list).get("items") or []
    return select_pod(svc, pods, ks.get("port"))


def _pump(a, b, stop):
    """Copy bytes both ways between two sockets until either closes."""
    pair = {a: b, b: a}
    try:
        while not stop.is_set():
            readable = select.select([a, b], [], [], 0.5)[0]
            for src in readable:
                data = src.recv(65536)
                if not data:
                    return
                pair[src].sendall(data)
    except (OSError, ValueError):
        return
    finally:
        for s in (a, b):
            try:
                s.close()
            except Exception:  # pylint: disable=broad-except
                pass


class PortForwardTunnel(object):
    """A local listener on 127.0.0.1 whose connections go to a pod port.

    Each accepted connection opens its own port-forward stream (the API
    server's portforward subresource carries one stream per port per
    websocket), so concurrent clients such as connection pools work.
    """

    def __init__(self, api_client, namespace, pod, port, local_port=0):
        self.api_client = api_client
        self.namespace = namespace
        self.pod = pod
        self.port = int(port)
        self._stop = threading.Event()
        self._threads = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._listener.bind((LOCALHOST, int(local_port or 0)))
        except OSError as exc:
            self._listener.close()
            raise K8sAccessError("Cannot listen on %s:%s for the port-forward: %s; choose another "
                                 "kubernetes_service.local_port (0 picks a free one)." % (LOCALHOST, local_port, exc))
        self._listener.listen(16)
        self._listener.settimeout(0.5)
        self.local_port = self._listener.getsockname()[1]

    def open_stream(self):
        core = k8s_client.CoreV1Api(self.api_client)
        pf = k8s_portforward(core.connect_get_namespaced_pod_portforward, self.pod, self.namespace,
                             ports=str(self.port))
        return pf, pf.socket(self.port)

    def check(self):
        """Open and close one stream so errors surface before the module's call."""
        try:
            pf, sock = self.open_stream()
        except Exception as exc:  # pylint: disable=broad-except
            raise K8sAccessError("Cannot open a port-forward to pod %s/%s port %s: %s (the user needs "
                                 "'create' on pods/portforward)." % (self.namespace, self.pod, self.port, exc))
        try:
            sock.close()
            pf.close()
        except Exception:  # pylint: disable=broad-except
            pass

    def _serve_one(self, conn):
        try:
            pf, remote = self.open_stream()
        except Exception:  # pylint: disable=broad-except
            conn.close()
            return
        try:
            remote.setblocking(True)
            _pump(conn, remote, self._stop)
        finally:
            try:
                pf.close()
            except Exception:  # pylint: disable=broad-except
                pass

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, dummy = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            t = threading.Thread(target=self._serve_one, args=(conn,), name="mlops-pf-conn")
            t.daemon = True
            t.start()
            self._threads.append(t)

    def start(self):
        t = threading.Thread(target=self._accept_loop, name="mlops-pf-accept")
        t.daemon = True
        t.start()
        self._threads.append(t)
        return self

    def close(self):
        self._stop.set()
        try:
            self._listener.close()
        except Exception:  # pylint: disable=broad-except
            pass
        for t in self._threads:
            t.join(timeout=2)


@contextlib.contextmanager
def service_endpoint(module_or_params, default_url=None, default_scheme="http"):
    """Yield the URL a module should use for its server.

    Without ``kubernetes_service`` in the params this yields *default_url*
    unchanged (direct endpoint, e.g. an Ingress URL). With it, a
    port-forward to a Ready pod behind the Service is opened and the URL
    ``<scheme of default_url>://127.0.0.1:<local port><path of default_url>``
    is yielded; the tunnel is closed when the block exits.

    Failures call ``module.fail_json`` when a module is given, else raise
    :class:`K8sAccessError`.
    """
    params = _params_of(module_or_params)
    ks = params.get("kubernetes_service")
    if not ks:
        yield default_url
        return
    tunnel = None
    try:
        api_client = _load_api(ks)
        pod, cport = find_target(api_client, ks)
        tunnel = PortForwardTunnel(api_client, ks.get("namespace") or "default", pod, cport,
                                   ks.get("local_port") or 0)
        tunnel.check()
        tunnel.start()
    except K8sAccessError as exc:
        if tunnel is not None:
            tunnel.close()
        if hasattr(module_or_params, "fail_json"):
            module_or_params.fail_json(msg=str(exc))
        raise
    try:
        yield local_url(default_url, tunnel.local_port, default_scheme)
    finally:
        tunnel.close()
