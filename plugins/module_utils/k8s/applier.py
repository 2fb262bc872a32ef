# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""API access for the Kubernetes layer: :class:`Applier` holds one client
(``k8s/client.py``), cached discovery, object paths, GET / server-side apply
PATCH, and per-thread clones for parallel applies."""


import copy
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.mlops.stack.plugins.module_utils.k8s.client import client_from_params, describe_config
from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import ApiError, K8sConfigError, K8sConnectionError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import K8sApplyError, object_ref
from ansible_collections.mlops.stack.plugins.module_utils.k8s.readiness import wait_ready


def api_error(exc):
    """Short message from an ApiError (the Status message when JSON)."""
    return exc.status_message()


class Applier(object):
    """One API client, cached discovery, apply/get/wait."""

    def __init__(self, params):
        self.params = params
        try:
            self.api = client_from_params(params)
        except K8sConfigError as exc:
            raise K8sApplyError("cannot load the Kubernetes configuration (%s): %s. "
                                "Set kubeconfig/context (or K8S_AUTH_KUBECONFIG / K8S_AUTH_CONTEXT)."
                                % (describe_config(params), exc))
        self.manager = params.get("field_manager") or "mlops-stack"
        self._resources = {}  # group/version -> {kind: (plural, namespaced)}
        self.endpoint = self.api.host

    def clone(self):
        """An Applier for another thread: its own connection, shared discovery."""
        other = copy.copy(self)
        other.api = self.api.clone()
        return other

    def map(self, func, objects):
        """``[func(applier, obj) for obj in objects]``, up to ``workers`` at a time."""
        workers = min(int(self.params.get("workers") or 1), len(objects))
        if workers <= 1:
            return [func(self, obj) for obj in objects]
        local = threading.local()
        clones = []

        def call(obj):
            if not hasattr(local, "applier"):
                local.applier = self.clone()
                clones.append(local.applier)
            return func(local.applier, obj)

        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            return list(pool.map(call, objects))
        finally:
            pool.shutdown(wait=True)
            for clone in clones:
                if clone.api is not self.api:
                    clone.api.close()

    # ---- raw requests -------------------------------------------------
    def request(self, method, path, query=None, body=None, content_type=None, accept="application/json"):
        try:
            return self.api.request(method, path, query=query, body=body, content_type=content_type, accept=accept)
        except K8sConnectionError as exc:
            raise K8sApplyError("cannot reach the Kubernetes API at %s (%s %s): %s. Check kubeconfig/context "
                                "and that the API server is up." % (self.endpoint, method, path, exc))

    # ---- discovery ----------------------------------------------------
    def resources(self, api_version, refresh=False):
        if api_version in self._resources and not refresh:
            return self._resources[api_version]
        path = "/api/v1" if api_version == "v1" else "/apis/%s" % api_version
        try:
            data = self.request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                self._resources[api_version] = {}
                return {}
            raise K8sApplyError("discovery of %s at %s failed: %s" % (api_version, self.endpoint, api_error(exc)))
        kinds = {}
        for res in data.get("resources") or []:
            if "/" in res.get("name", ""):
                continue
            kinds[res["kind"]] = (res["name"], bool(res.get("namespaced")))
        self._resources[api_version] = kinds
        return kinds

    def resolve(self, obj, wait_seconds=0):
        """(plural, namespaced) for the object's kind; retries discovery for
        up to *wait_seconds* (CRDs applied moments ago)."""
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        deadline = time.time() + wait_seconds
        refresh = False
        while True:
            found = self.resources(api_version, refresh=refresh).get(kind)
            if found:
                return found
            if time.time() >= deadline:
                raise K8sApplyError(
                    "the API server at %s does not serve %s %s (needed by %s). Install its CRD first (or the "
                    "component that provides it) and check that the CRD is Established."
                    % (self.endpoint, api_version, kind, object_ref(obj)))
            refresh = True
            time.sleep(1)

    def path(self, obj, namespace_default=None, wait_seconds=0):
        plural, namespaced = self.resolve(obj, wait_seconds)
        api_version = obj["apiVersion"]
        base = "/api/v1" if api_version == "v1" else "/apis/%s" % api_version
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        if not name:
            raise K8sApplyError("%s has no metadata.name" % object_ref(obj))
        if namespaced:
            ns = meta.get("namespace") or namespace_default
            if not ns:
                raise K8sApplyError("%s is namespaced but has no metadata.namespace; set it or the module's "
                                    "namespace option" % object_ref(obj))
            return "%s/namespaces/%s/%s/%s" % (base, ns, plural, name), ns
        return "%s/%s/%s" % (base, plural, name), None

    # ---- object operations --------------------------------------------
    def get(self, path, metadata_only=False):
        accept = ("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
                  if metadata_only else "application/json")
        try:
            return self.request("GET", path, accept=accept)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise K8sApplyError("cannot read %s from %s: %s" % (path, self.endpoint, api_error(exc)))

    def apply(self, path, obj, dry_run=False):
        query = [("fieldManager", self.manager)]
        if self.params.get("force_conflicts", True):
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        try:
            return self.request("PATCH", path, query=query, body=obj, content_type="application/apply-patch+yaml")
        except ApiError as exc:
            raise K8sApplyError("server-side apply of %s to %s failed: %s"
                                % (object_ref(obj), self.endpoint, api_error(exc)))

    def wait_ready(self, items, timeout):
        """Wait until every (obj, path) in *items* is ready; return list of refs."""
        return wait_ready(self.get, items, timeout)
