# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Which pod and port a port-forward to a Service uses, the way
``kubectl port-forward svc/<name>`` picks them (Service port -> targetPort ->
Ready pod), and the local URL a module then talks to.

Pure: plain dicts in the API's camelCase form, unit-tested without a cluster.
The network part is ``k8s/port_forward.py``.
"""


from urllib.parse import urlsplit, urlunsplit

from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import K8sAccessError

LOCALHOST = "127.0.0.1"


def _svc_ref(service):
    meta = service.get("metadata") or {}
    return "Service %s/%s" % (meta.get("namespace", "?"), meta.get("name", "?"))


def resolve_service_port(service, port=None):
    """Return the ``spec.ports[]`` entry of *service* that *port* designates.

    *port* is the Service port number (int or digit string), its name, or
    None when the Service has exactly one port.
    """
    ports = (service.get("spec") or {}).get("ports") or []
    ref = _svc_ref(service)
    if not ports:
        raise K8sAccessError("%s has no ports; cannot port-forward to it." % ref)
    described = ", ".join(
        "%s%s" % (p.get("port"), " (%s)" % p["name"] if p.get("name") else "") for p in ports)
    if port is None or port == "":
        if len(ports) == 1:
            return ports[0]
        raise K8sAccessError(
            "%s has several ports (%s); set kubernetes_service.port to one of them." % (ref, described))
    text = str(port).strip()
    for entry in ports:
        if text.isdigit() and entry.get("port") == int(text):
            return entry
        if entry.get("name") and entry.get("name") == text:
            return entry
    raise K8sAccessError(
        "%s has no port %r; its ports are: %s. Fix kubernetes_service.port." % (ref, port, described))


def pod_is_ready(pod):
    """True for a Running, not terminating pod whose Ready condition is True."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return False
    if status.get("phase") != "Running":
        return False
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            return str(cond.get("status")) == "True"
    return False


def selector_matches(selector, labels):
    """Service selectors are plain equality maps."""
    labels = labels or {}
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def resolve_target_port(service_port, pod):
    """The container port number on *pod* that *service_port* forwards to.

    ``targetPort`` may be a number, a named container port, or absent
    (then it equals ``port``). Returns None when a named port does not
    exist on the pod.
    """
    target = service_port.get("targetPort")
    if target is None or target == "":
        return int(service_port["port"])
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for cport in container.get("ports") or []:
            if cport.get("name") == target and cport.get("protocol", "TCP") == "TCP":
                return int(cport["containerPort"])
    return None


def select_pod(service, pods, port=None):
    """Pick the pod and container port a port-forward to *service* uses.

    Returns ``(pod_name, container_port)``. Ready pods matching the
    Service selector are preferred in name order (deterministic); pods
    whose named targetPort does not resolve are skipped.
    """
    ref = _svc_ref(service)
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        raise K8sAccessError(
            "%s is of type ExternalName (%s); point the module at that host directly instead of "
            "using kubernetes_service." % (ref, spec.get("externalName")))
    selector = spec.get("selector") or {}
    if not selector:
        raise K8sAccessError(
            "%s has no pod selector (manually managed Endpoints are not supported); "
            "use a direct endpoint URL or an Ingress instead." % ref)
    sport = resolve_service_port(service, port)
    if (sport.get("protocol") or "TCP") != "TCP":
        raise K8sAccessError("%s port %s is %s; only TCP can be port-forwarded."
                             % (ref, sport.get("port"), sport.get("protocol")))
    matching = [p for p in pods if selector_matches(selector, (p.get("metadata") or {}).get("labels"))]
    sel_text = ",".join("%s=%s" % kv for kv in sorted(selector.items()))
    ready = sorted((p for p in matching if pod_is_ready(p)),
                   key=lambda p: (p.get("metadata") or {}).get("name", ""))
    if not ready:
        raise K8sAccessError(
            "%s has no Ready pod (selector %s; %d matching pod(s), none Ready). Check that the "
            "workload is running: kubectl -n %s get pods -l %s"
            % (ref, sel_text, len(matching), (service.get("metadata") or {}).get("namespace", "default"),
               sel_text))
    for pod in ready:
        cport = resolve_target_port(sport, pod)
        if cport is not None:
            return pod["metadata"]["name"], cport
    raise K8sAccessError(
        "%s targetPort %r does not name a container port on any Ready pod (selector %s)."
        % (ref, sport.get("targetPort"), sel_text))


def local_url(default_url, local_port, default_scheme="http"):
    """*default_url* with its host:port replaced by 127.0.0.1:*local_port*.

    Scheme, path and query are kept, so ``https://s3.example/prefix``
    becomes ``https://127.0.0.1:4711/prefix``. Userinfo is kept too
    (``postgresql://u:p@db:5432/x`` style URLs).
    """
    if not default_url:
        return "%s://%s:%d" % (default_scheme, LOCALHOST, local_port)
    parts = urlsplit(default_url)
    if not parts.scheme or not parts.netloc:
        return "%s://%s:%d" % (default_scheme, LOCALHOST, local_port)
    userinfo = ""
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0] + "@"
    return urlunsplit((parts.scheme, "%s%s:%d" % (userinfo, LOCALHOST, local_port),
                       parts.path, parts.query, parts.fragment))
