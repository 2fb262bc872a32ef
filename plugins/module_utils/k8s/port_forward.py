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


import contextlib
import select
import socket
import threading
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib
from ansible_collections.mlops.stack.plugins.module_utils.k8s.client import client_from_params
from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import (
    ApiError,
    K8sAccessError,
    K8sConnectionError,
)
from ansible_collections.mlops.stack.plugins.module_utils.k8s.library import LibraryApi
from ansible_collections.mlops.stack.plugins.module_utils.k8s.service_target import LOCALHOST, local_url, select_pod

# The kubernetes client takes ~1 s to import; only the port-forward
# websocket needs it (the Service and its pods are read with the collection's
# own client), so it is imported on first use (direct endpoints and check
# mode's server_pending never pay for it).
K8S_IMPORT_ERROR = None
HAS_KUBERNETES = None  # unknown until _import_kubernetes() ran
k8s_client = k8s_portforward = None


def _import_kubernetes():
    global k8s_client, k8s_portforward, HAS_KUBERNETES, K8S_IMPORT_ERROR  # pylint: disable=global-statement
    if HAS_KUBERNETES is None:
        try:
            from kubernetes import client as _client
            from kubernetes.stream import portforward as _portforward
            k8s_client, k8s_portforward = _client, _portforward
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


def _require_kubernetes(ks):
    if not _import_kubernetes():
        raise K8sAccessError(missing_required_lib("kubernetes") + " It is needed for kubernetes_service "
                             "(port-forward to Service %s/%s). Original error: %s"
                             % (ks.get("namespace"), ks.get("name"), (K8S_IMPORT_ERROR or "").strip().splitlines()[-1]))


def connect(ks):
    """The REST client for the cluster ``kubernetes_service`` names: the same
    kubeconfig resolution (``k8s/config.py``) and proxy decision as every
    other module of the collection (kubeconfig, else ``KUBECONFIG``, else
    ``~/.kube/config``, else the in-cluster service account). The
    port-forward itself connects with the settings of this client
    (:class:`~.library.LibraryApi`). No request is sent yet."""
    params = {"kubeconfig": ks.get("kubeconfig"), "context": ks.get("context"),
              "request_timeout": ks.get("timeout") or 30}
    try:
        return client_from_params(params)
    except Exception as exc:  # pylint: disable=broad-except
        raise K8sAccessError("Cannot load the Kubernetes configuration (kubeconfig=%s, context=%s): %s. "
                             "Set kubernetes_service.kubeconfig/context or K8S_AUTH_KUBECONFIG."
                             % (ks.get("kubeconfig") or "default", ks.get("context") or "current", exc))


def find_target(api, ks):
    """Read the Service and its pods through the API (*api*: :func:`connect`)
    and pick the target."""
    ns, name = ks.get("namespace") or "default", ks["name"]
    try:
        svc = api.request("GET", "/api/v1/namespaces/%s/services/%s" % (ns, name))
    except ApiError as exc:
        if exc.status == 404:
            raise K8sAccessError("Service %s/%s not found; check kubernetes_service.name/namespace." % (ns, name))
        raise K8sAccessError("Cannot read Service %s/%s from the Kubernetes API: %s %s"
                             % (ns, name, exc.status, exc.reason))
    except K8sConnectionError as exc:
        raise K8sAccessError("Cannot reach the Kubernetes API to read Service %s/%s: %s" % (ns, name, exc))
    selector = (svc.get("spec") or {}).get("selector") or {}
    pods = []
    if selector:
        label_selector = ",".join("%s=%s" % kv for kv in sorted(selector.items()))
        try:
            pods = api.request("GET", "/api/v1/namespaces/%s/pods" % ns,
                               query={"labelSelector": label_selector}).get("items") or []
        except (ApiError, K8sConnectionError) as exc:
            raise K8sAccessError("Cannot list pods of Service %s/%s: %s" % (ns, name, exc))
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

    def __init__(self, api, namespace, pod, port, local_port=0):
        self.api = api  # the REST client of connect(); the websocket connects as it does
        self._library = None
        self._library_lock = threading.Lock()
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

    def _api_client(self):
        with self._library_lock:
            if self._library is None:
                _import_kubernetes()
                self._library = LibraryApi(self.api, k8s_client)
            return self._library.api

    def open_stream(self):
        api_client = self._api_client()  # imports the library first
        core = k8s_client.CoreV1Api(api_client)
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
        with self._library_lock:
            if self._library is not None:
                self._library.close()


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
        _require_kubernetes(ks)
        api = connect(ks)
        pod, cport = find_target(api, ks)
        tunnel = PortForwardTunnel(api, ks.get("namespace") or "default", pod, cport, ks.get("local_port") or 0)
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
