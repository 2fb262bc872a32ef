# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Check mode of the bootstrap modules before their server exists.

``s3_bucket``, ``postgresql_database`` and ``mlflow_experiment`` reach a
server inside the cluster through ``kubernetes_service`` (a port-forward to a
Ready pod behind a Service, module_utils/k8s/port_forward.py). Check mode creates
nothing, so on a cluster the run has not deployed to yet, that Service (or a
Ready pod behind it), which the real run creates and waits for before the
module runs, is missing. :func:`server_pending` says so; the modules then
warn and report what they would do on a new, empty server instead of
failing. A real run never takes this path, and other failures (no
kubeconfig, API server unreachable, RBAC) are left to ``service_endpoint``,
which reports them as before.
"""


from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import ApiError, K8sAccessError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.port_forward import connect
from ansible_collections.mlops.stack.plugins.module_utils.k8s.service_target import pod_is_ready, selector_matches


def _message(what):
    return ("Check mode: %s yet (this run deploys the server before this task, or a real run would wait "
            "for it)." % what)


def server_pending(module):
    """In check mode: why the ``kubernetes_service`` server cannot be reached yet, else None (reads only)."""
    params = getattr(module, "params", None) or {}
    ks = params.get("kubernetes_service")
    if not ks or not getattr(module, "check_mode", False):
        return None
    try:
        api = connect(ks)
    except K8sAccessError:
        return None
    ns, name = ks.get("namespace") or "default", ks["name"]
    try:
        svc = api.request("GET", "/api/v1/namespaces/%s/services/%s" % (ns, name))
    except ApiError as exc:
        return _message("Service %s/%s does not exist" % (ns, name)) if exc.status == 404 else None
    except Exception:  # pylint: disable=broad-except
        return None
    selector = (svc.get("spec") or {}).get("selector") or {}
    if not selector:
        return None
    try:
        pods = api.request("GET", "/api/v1/namespaces/%s/pods" % ns, query={
            "labelSelector": ",".join("%s=%s" % kv for kv in sorted(selector.items()))}).get("items") or []
    except Exception:  # pylint: disable=broad-except
        return None
    if not any(selector_matches(selector, (p.get("metadata") or {}).get("labels"))
               and pod_is_ready(p) for p in pods):
        return _message("Service %s/%s has no Ready pod" % (ns, name))
    return None
