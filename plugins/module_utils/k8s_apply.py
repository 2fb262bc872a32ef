# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Server-side apply of many Kubernetes objects over one connection.

Used by the ``mlops.stack.k8s_apply`` module. Upstream release manifests
(cert-manager, Knative, KServe) hold hundreds of objects and several MB of
CRDs; applying them one task (one process, one connection, one discovery)
per object through ``kubernetes.core.k8s`` is slow and loading them with
``from_yaml_all`` in Jinja is slower still. This code:

* reads multi-document YAML files with libyaml (checksum-verified),
* applies image-registry overrides and deep-merge overrides to the objects,
* sorts them into a safe install order (Namespace, CRD, built-in kinds,
  custom resources after their CRDs are Established, webhook
  configurations last),
* applies each with ``PATCH application/apply-patch+yaml`` (server-side
  apply) over one pooled connection, with ``dryRun=All`` in check mode,
* reports ``changed`` only when the object was created or our field
  manager's entry moved (a no-op apply does not bump ``resourceVersion``),
* optionally waits for CRDs Established and Deployments / DaemonSets /
  StatefulSets rolled out.

The helpers at the top are pure (plain dicts) and unit tested; only
:class:`Applier` talks to the API server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json
import os
import re
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.mlops.stack.plugins.module_utils.image import ImageRefError, mirror_image

YAML_IMPORT_ERROR = None
try:
    import yaml
    try:
        _YamlLoader = yaml.CSafeLoader
        _YamlDumper = yaml.CSafeDumper
    except AttributeError:  # pragma: no cover - libyaml missing
        _YamlLoader = yaml.SafeLoader
        _YamlDumper = yaml.SafeDumper
    HAS_YAML = True
except ImportError:  # pragma: no cover
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.mlops.stack.plugins.module_utils.k8s_client import (
    ApiError,
    K8sConfigError,
    K8sConnectionError,
    client_from_params,
    describe_config,
)


class K8sApplyError(Exception):
    """An expected failure; the message names the object and the fix."""


BUILTIN_GROUPS = frozenset([
    "", "apps", "batch", "policy", "autoscaling", "rbac.authorization.k8s.io",
    "networking.k8s.io", "storage.k8s.io", "scheduling.k8s.io", "node.k8s.io",
    "coordination.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io",
    "apiregistration.k8s.io", "certificates.k8s.io", "discovery.k8s.io",
    "events.k8s.io", "flowcontrol.apiserver.k8s.io", "resource.k8s.io",
])
WEBHOOK_KINDS = frozenset(["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
                           "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
                           "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"])

# Install phases (stable sort keeps the source order inside a phase).
PHASE_NAMESPACE = 0
PHASE_CRD = 1
PHASE_BUILTIN = 2
PHASE_CUSTOM = 3
PHASE_WEBHOOK = 4

# --------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------


def api_group(api_version):
    """'apps/v1' -> 'apps', 'v1' -> ''."""
    return api_version.rsplit("/", 1)[0] if "/" in (api_version or "") else ""


def object_ref(obj):
    """Human readable 'Kind namespace/name' (or 'Kind name')."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return "%s %s%s" % (obj.get("kind", "?"), ns + "/" if ns else "", meta.get("name", "?"))


def object_key(obj):
    meta = obj.get("metadata") or {}
    return (api_group(obj.get("apiVersion", "")), obj.get("kind"), meta.get("namespace") or "", meta.get("name"))


def install_phase(obj):
    kind = obj.get("kind")
    if kind == "Namespace":
        return PHASE_NAMESPACE
    if kind == "CustomResourceDefinition":
        return PHASE_CRD
    if kind in WEBHOOK_KINDS:
        return PHASE_WEBHOOK
    if api_group(obj.get("apiVersion", "")) in BUILTIN_GROUPS:
        return PHASE_BUILTIN
    return PHASE_CUSTOM


def sort_objects(objects):
    """Install order: Namespaces, CRDs, built-in kinds, custom resources,
    webhook configurations (last, so a webhook whose pods are not ready yet
    cannot reject the objects of its own install)."""
    return sorted(objects, key=install_phase)


def load_documents(text, source="<string>"):
    """Parse multi-document YAML into a list of object dicts.

    Empty documents are dropped and ``kind: *List`` documents are flattened.
    """
    if not HAS_YAML:  # pragma: no cover
        raise K8sApplyError("PyYAML is required to read %s" % source)
    out = []
    try:
        docs = list(yaml.load_all(text, Loader=_YamlLoader))
    except yaml.YAMLError as exc:
        raise K8sApplyError("%s is not valid YAML: %s" % (source, exc))
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise K8sApplyError("%s contains a document that is not a mapping: %r" % (source, str(doc)[:80]))
        if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            out.extend(i for i in doc["items"] if i)
        else:
            out.append(doc)
    return out


def load_documents_cached(raw, source, digest, cache_dir):
    """:func:`load_documents` through a JSON cache keyed by the file's sha256.

    Upstream release files are large (KServe's CRDs: 2.3 MB) and PyYAML
    builds Python objects slowly (about 2 s for that file); the same
    content read back from JSON takes about 40 ms. The cache is written
    only when the JSON round trip gives back exactly what YAML gave (no
    timestamps or non-string keys), so a hit can never change an object.
    """
    cache_file = os.path.join(cache_dir, "%s.json" % digest)
    try:
        with open(cache_file) as fh:
            return json.load(fh)
    except (IOError, OSError, ValueError):
        pass
    docs = load_documents(raw.decode("utf-8"), source)
    try:
        text = json.dumps(docs)
        if json.loads(text) != docs:
            return docs
        if not os.path.isdir(cache_dir):
            os.makedirs(cache_dir)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".parse-")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, cache_file)  # atomic: concurrent runs never read half a file
    except (TypeError, ValueError, IOError, OSError):
        pass  # a cache that cannot be written only costs time
    return docs


def dump_documents(objects):
    """Objects as one multi-document YAML string (for render mode)."""
    return "".join("---\n" + yaml.dump(o, Dumper=_YamlDumper, default_flow_style=False, sort_keys=False)
                   for o in objects)


def sha256_text(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def normalize_checksum(checksum):
    """Accept 'sha256:<hex>' or '<hex>'; return lowercase hex or None."""
    if not checksum:
        return None
    value = str(checksum).strip()
    if ":" in value:
        algo, value = value.split(":", 1)
        if algo.lower() != "sha256":
            raise K8sApplyError("only sha256 checksums are supported, got %r" % checksum)
    value = value.lower()
    if not re.match(r"^[0-9a-f]{64}$", value):
        raise K8sApplyError("checksum %r is not a sha256 hex digest" % checksum)
    return value


def deep_merge(base, patch):
    """Return *base* with *patch* merged in: dicts recursively, everything
    else (lists, scalars) replaced; a ``None`` value in *patch* deletes the key."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _override_matches(override, obj):
    meta = obj.get("metadata") or {}
    if override.get("kind") and override["kind"] != obj.get("kind"):
        return False
    if override.get("name") and override["name"] != meta.get("name"):
        return False
    if override.get("namespace") and override["namespace"] != meta.get("namespace"):
        return False
    if override.get("api_version") and override["api_version"] != obj.get("apiVersion"):
        return False
    return True


def apply_overrides(objects, overrides):
    """Deep-merge each override's ``merge`` dict into every object it selects
    (by kind / name / namespace / api_version). Returns (objects, unmatched)."""
    unmatched = []
    result = list(objects)
    for ov in overrides or []:
        hit = False
        for idx, obj in enumerate(result):
            if _override_matches(ov, obj):
                result[idx] = deep_merge(obj, ov.get("merge") or {})
                hit = True
        if not hit:
            unmatched.append(ov)
    return result, unmatched


def dedupe_objects(objects):
    """Drop repeated objects (same group/kind/namespace/name); the last
    definition wins but keeps the position of the first (Knative ships its
    CRDs both in serving-crds.yaml and serving-core.yaml)."""
    index = {}
    out = []
    for obj in objects:
        key = object_key(obj)
        if key in index:
            out[index[key]] = obj
        else:
            index[key] = len(out)
            out.append(obj)
    return out


def filter_objects(objects, include_kinds=None, exclude=None):
    """Keep objects whose kind is in *include_kinds* (all when empty) and
    that match no entry of *exclude* (dicts with kind/name/namespace)."""
    out = []
    for obj in objects:
        if include_kinds and obj.get("kind") not in include_kinds:
            continue
        if any(_override_matches(ex, obj) for ex in exclude or []):
            continue
        out.append(obj)
    return out


_JSON_IMAGE = re.compile(r'("image"\s*:\s*")([^"]+)(")')
_ARG_IMAGE = re.compile(r"^(--[A-Za-z0-9-]*image=)(\S+)$")


def _looks_like_image(value):
    return isinstance(value, str) and value and " " not in value and "\n" not in value and (
        "/" in value or ":" in value or "@" in value)


def mirror_object_images(obj, registry, keep_domain=False):
    """Rewrite every image reference in *obj* to pull from *registry*.

    Covers ``image:`` fields anywhere (pod templates, Knative ``Image``,
    KServe runtimes and storage containers), ``--*-image=`` container
    arguments (cert-manager's ACME solver) and, in ConfigMaps, data keys
    ending in ``image`` (Knative ``queue-sidecar-image``) and JSON values
    with ``"image": "..."`` entries (KServe ``inferenceservice-config``).
    Returns a new object; *obj* is not modified.
    """
    if not registry:
        return obj

    def mirror(ref):
        try:
            return mirror_image(ref, registry, keep_domain=keep_domain)
        except ImageRefError:
            return ref

    def walk(node, in_args=False):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "image" and isinstance(value, str) and value:
                    out[key] = mirror(value)
                elif key in ("args", "command") and isinstance(value, list):
                    out[key] = [walk(v, in_args=True) for v in value]
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        if in_args and isinstance(node, str):
            m = _ARG_IMAGE.match(node)
            if m and _looks_like_image(m.group(2)):
                return m.group(1) + mirror(m.group(2))
        return node

    result = walk(obj)
    if result.get("kind") == "ConfigMap" and api_group(result.get("apiVersion", "")) == "" and isinstance(result.get("data"), dict):
        data = {}
        for key, value in result["data"].items():
            if not isinstance(value, str):
                data[key] = value
            elif key.lower().endswith("image") and _looks_like_image(value.strip()):
                data[key] = mirror(value.strip())
            elif '"image"' in value:
                data[key] = _JSON_IMAGE.sub(lambda m: m.group(1) + mirror(m.group(2)) + m.group(3), value)
            else:
                data[key] = value
        result["data"] = data
    return result


VOLATILE_METADATA = ("resourceVersion", "managedFields", "generation", "creationTimestamp", "uid",
                     "selfLink")


def strip_volatile(obj):
    """Copy of *obj* without status and server-maintained metadata (for diffs)."""
    if not obj:
        return {}
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = dict(out.get("metadata") or {})
    for key in VOLATILE_METADATA:
        meta.pop(key, None)
    annotations = dict(meta.get("annotations") or {})
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    return out


def manager_entry(metadata, manager):
    """Our field manager's Apply entry in ``metadata.managedFields`` (or None)."""
    for entry in (metadata or {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            return {"time": entry.get("time"), "fieldsV1": entry.get("fieldsV1"),
                    "apiVersion": entry.get("apiVersion")}
    return None


def apply_changed(before_meta, after_meta, manager):
    """Did an apply change the object?

    A no-op server-side apply does not write, so ``resourceVersion`` stays;
    when it moved, someone changed the object, but it was us only if our
    manager's managedFields entry (field set or timestamp) moved too.
    """
    if before_meta is None:
        return True
    if before_meta.get("resourceVersion") == (after_meta or {}).get("resourceVersion"):
        return False
    return manager_entry(before_meta, manager) != manager_entry(after_meta, manager)


def crd_established(crd):
    for cond in (crd.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Established":
            return cond.get("status") == "True"
    return False


def workload_ready(obj):
    """(ready, reason) for Deployment / DaemonSet / StatefulSet rollouts."""
    kind = obj.get("kind")
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    # Jobs have no status.observedGeneration.
    if kind != "Job" and status.get("observedGeneration", 0) < meta.get("generation", 0):
        return False, "controller has not observed generation %s yet" % meta.get("generation")
    if kind == "Deployment":
        replicas = spec.get("replicas", 1)
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
                return False, "rollout exceeded its progress deadline: %s" % cond.get("message")
        if status.get("updatedReplicas", 0) < replicas:
            return False, "%s/%s replicas updated" % (status.get("updatedReplicas", 0), replicas)
        if status.get("availableReplicas", 0) < replicas:
            return False, "%s/%s replicas available" % (status.get("availableReplicas", 0), replicas)
        return True, "available"
    if kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled", 0)
        if status.get("updatedNumberScheduled", 0) < desired:
            return False, "%s/%s pods updated" % (status.get("updatedNumberScheduled", 0), desired)
        if status.get("numberAvailable", 0) < desired:
            return False, "%s/%s pods available" % (status.get("numberAvailable", 0), desired)
        return True, "rolled out"
    if kind == "StatefulSet":
        replicas = spec.get("replicas", 1)
        if status.get("readyReplicas", 0) < replicas:
            return False, "%s/%s replicas ready" % (status.get("readyReplicas", 0), replicas)
        return True, "ready"
    if kind == "Job":
        for cond in status.get("conditions") or []:
            if cond.get("status") == "True" and cond.get("type") == "Complete":
                return True, "complete"
        return False, "%s succeeded, %s failed" % (status.get("succeeded", 0), status.get("failed", 0))
    return True, "no readiness check for %s" % kind


WAIT_KINDS = frozenset(["CustomResourceDefinition", "Deployment", "DaemonSet", "StatefulSet", "Job"])


def job_failed(obj):
    """The message of a Job's Failed condition (waiting longer cannot help), else None."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            return "%s: %s" % (cond.get("reason") or "Failed", cond.get("message") or "")
    return None


# --------------------------------------------------------------------------
# API access
# --------------------------------------------------------------------------

def _api_error(exc):
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
            raise K8sApplyError("discovery of %s at %s failed: %s" % (api_version, self.endpoint, _api_error(exc)))
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
            raise K8sApplyError("cannot read %s from %s: %s" % (path, self.endpoint, _api_error(exc)))

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
                                % (object_ref(obj), self.endpoint, _api_error(exc)))

    def wait_ready(self, items, timeout):
        """Wait until every (obj, path) in *items* is ready; return list of refs."""
        deadline = time.time() + timeout
        pending = list(items)
        waited = []
        while pending:
            still = []
            last_reason = {}
            for obj, path in pending:
                current = self.get(path) or {}
                if obj["kind"] == "CustomResourceDefinition":
                    ok, reason = crd_established(current), "not Established"
                else:
                    ok, reason = workload_ready(current)
                    failed = job_failed(current) if obj["kind"] == "Job" else None
                    if failed:
                        raise K8sApplyError("%s failed (%s). Read its pod logs (kubectl logs job/%s -n %s), fix "
                                            "the cause, delete the Job and run again."
                                            % (object_ref(obj), failed, obj["metadata"]["name"],
                                               (current.get("metadata") or {}).get("namespace", "")))
                if ok:
                    waited.append(object_ref(obj))
                else:
                    still.append((obj, path))
                    last_reason[object_ref(obj)] = reason
            pending = still
            if pending:
                if time.time() >= deadline:
                    raise K8sApplyError(
                        "timed out after %ss waiting for: %s. Check the pods/events of these objects "
                        "(kubectl describe); raise wait_timeout for slow image pulls."
                        % (timeout, "; ".join("%s (%s)" % kv for kv in sorted(last_reason.items()))))
                time.sleep(1)
        return waited


def load_objects(params):
    """Read, filter, override, mirror, label and sort the objects to handle."""
    objects = []
    # Sources first, then inline definitions.
    for src in params.get("src") or []:
        if isinstance(src, str):
            src = {"path": src}
        path = src.get("path")
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except (IOError, OSError) as exc:
            raise K8sApplyError("cannot read manifest file %s: %s" % (path, exc))
        want = normalize_checksum(src.get("checksum"))
        got = sha256_text(raw) if (want or params.get("parse_cache")) else None
        if want and got != want:
            raise K8sApplyError("checksum mismatch for %s: expected sha256 %s, file has %s. The file is "
                                "corrupt or not the pinned release; re-download it or fix the checksum."
                                % (path, want, got))
        if params.get("parse_cache"):
            objects.extend(load_documents_cached(raw, path, got, params["parse_cache"]))
        else:
            objects.extend(load_documents(raw.decode("utf-8"), path))
    definition = params.get("definition")
    if isinstance(definition, dict):
        definition = [definition]
    elif isinstance(definition, str):
        definition = load_documents(definition, "definition")
    for obj in definition or []:
        if obj:
            objects.append(obj)

    for obj in objects:
        if not obj.get("apiVersion") or not obj.get("kind"):
            raise K8sApplyError("object without apiVersion/kind: %s" % json.dumps(obj)[:200])
    objects = dedupe_objects(filter_objects(objects, params.get("include_kinds"), params.get("exclude")))
    objects, unmatched = apply_overrides(objects, params.get("overrides"))
    if unmatched and not params.get("overrides_missing_ok"):
        raise K8sApplyError("overrides match no object: %s. The upstream manifests changed or the override is "
                            "wrong; fix the selector (kind/name/namespace)."
                            % ", ".join("%s %s/%s" % (o.get("kind"), o.get("namespace") or "", o.get("name"))
                                        for o in unmatched))
    if params.get("image_registry"):
        objects = [mirror_object_images(o, params["image_registry"], params.get("image_keep_domain"))
                   for o in objects]
    if params.get("labels"):
        objects = [deep_merge(o, {"metadata": {"labels": params["labels"]}}) for o in objects]
    if params.get("sort", True):
        objects = sort_objects(objects)
    return objects


def _apply_one(applier, obj, phase, ctx):
    """Apply one object; what happened, for :func:`run` to collect."""
    check_mode, want_diff = ctx["check_mode"], ctx["want_diff"]
    ref = object_ref(obj)
    out = {"obj": obj, "path": None, "after": None, "changed": False, "diff": None, "created_namespace": False}
    if check_mode and phase >= PHASE_CUSTOM and (api_group(obj["apiVersion"]), obj["kind"]) in ctx["crds_in_batch"]:
        try:
            path, ns = applier.path(obj, applier.params.get("namespace"))
        except K8sApplyError:
            out.update(entry={"ref": ref, "result": "created (CRD not installed yet)"}, changed=True)
            return out
    else:
        path, ns = applier.path(obj, applier.params.get("namespace"),
                                wait_seconds=ctx["wait_timeout"] if phase >= PHASE_CUSTOM and ctx["crd_pending"] else 0)
    out["path"] = path
    body = obj
    if ns and not (obj.get("metadata") or {}).get("namespace"):
        body = deep_merge(obj, {"metadata": {"namespace": ns}})
    full_before = check_mode or want_diff
    if check_mode and ns in ctx["namespaces_created"]:
        before, after = None, body
    else:
        before = applier.get(path, metadata_only=not full_before)
        after = applier.apply(path, body, dry_run=check_mode)
    if check_mode or want_diff:
        changed = before is None or strip_volatile(before) != strip_volatile(after)
    else:
        changed = apply_changed((before or {}).get("metadata") if before is not None else None,
                                after.get("metadata"), applier.manager)
    state = "created" if before is None else ("configured" if changed else "unchanged")
    out.update(entry={"ref": ref, "result": state}, after=after, changed=changed,
               created_namespace=obj["kind"] == "Namespace" and before is None)
    if changed and want_diff:
        out["diff"] = {"before_header": ref, "after_header": ref,
                       "before": strip_volatile(before) if before else {}, "after": strip_volatile(after)}
    return out


def run(params, check_mode=False, want_diff=False, read_file=None):
    """Module body without AnsibleModule; returns the result dict."""
    objects = load_objects(params)
    if params.get("state") == "absent":
        return delete_objects(Applier(params), objects, params, check_mode)

    result = {"changed": False, "objects": [], "count": len(objects), "waited": []}
    if params.get("render_path"):
        text = dump_documents(objects)
        old = read_file(params["render_path"]) if read_file else None
        result["changed"] = old != text
        result["render_path"] = params["render_path"]
        if result["changed"] and not check_mode:
            with open(params["render_path"], "w") as fh:
                fh.write(text)
        return result

    applier = Applier(params)
    diffs = []
    crd_wait, workload_wait = [], []
    crds_in_batch = set()
    namespaces_created = set()
    wait_timeout = params.get("wait_timeout") or 300
    entries = []
    # Objects of one install phase do not depend on each other, so they go
    # to the API server concurrently (a no-op server-side apply of a large
    # release is mostly waiting for the server); phases stay in order.
    phases = []
    for obj in objects:
        phase = install_phase(obj)
        if not phases or phases[-1][0] != phase:
            phases.append((phase, []))
        phases[-1][1].append(obj)
    crds_waited = False
    for phase, batch in phases:
        if phase >= PHASE_CUSTOM and crd_wait and not crds_waited and not check_mode:
            result["waited"].extend(applier.wait_ready(crd_wait, wait_timeout))
            crds_waited = True
        context = {"check_mode": check_mode, "want_diff": want_diff, "wait_timeout": wait_timeout,
                   "crds_in_batch": frozenset(crds_in_batch), "namespaces_created": frozenset(namespaces_created),
                   "crd_pending": bool(crd_wait)}
        for outcome in applier.map(lambda ap, obj: _apply_one(ap, obj, phase, context), batch):
            entries.append(outcome)
            obj, path = outcome["obj"], outcome["path"]
            if outcome["created_namespace"]:
                namespaces_created.add(obj["metadata"]["name"])
            if obj["kind"] == "CustomResourceDefinition":
                spec = obj.get("spec") or {}
                crds_in_batch.add((spec.get("group"), (spec.get("names") or {}).get("kind")))
            if outcome["diff"]:
                diffs.append(outcome["diff"])
            if outcome["changed"]:
                result["changed"] = True
            after = outcome["after"]
            if after is None:
                continue
            if obj["kind"] == "CustomResourceDefinition" and not crd_established(after):
                # Always waited for: custom resources (in this call or the next
                # task) need the CRD Established.
                crd_wait.append((obj, path))
            elif params.get("wait") and obj["kind"] in WAIT_KINDS and not workload_ready(after)[0]:
                workload_wait.append((obj, path))
    result["objects"] = [e["entry"] for e in entries]
    if not check_mode:
        if crd_wait and not crds_waited:
            result["waited"].extend(applier.wait_ready(crd_wait, wait_timeout))
        if workload_wait:
            result["waited"].extend(applier.wait_ready(workload_wait, wait_timeout))
    counts = {}
    for entry in result["objects"]:
        key = entry["result"].split(" ")[0]
        counts[key] = counts.get(key, 0) + 1
    result["counts"] = counts
    if want_diff and diffs:
        result["diff"] = diffs
    return result


def read_objects(params):
    """One object by name, or a filtered list: dict(resources, api_found)."""
    applier = Applier(params)
    probe = {"apiVersion": params.get("api_version") or "v1", "kind": params["kind"],
             "metadata": {"name": params.get("name") or "x", "namespace": params.get("namespace")}}
    found = applier.resources(probe["apiVersion"]).get(probe["kind"])
    if not found:
        return {"resources": [], "api_found": False}
    plural, namespaced = found
    base = "/api/v1" if probe["apiVersion"] == "v1" else "/apis/%s" % probe["apiVersion"]
    ns = params.get("namespace") if namespaced else None
    if namespaced and params.get("name") and not ns:
        raise K8sApplyError("%s is namespaced: set namespace to read %s" % (params["kind"], params["name"]))
    collection = "%s/namespaces/%s/%s" % (base, ns, plural) if ns else "%s/%s" % (base, plural)
    if params.get("name"):
        obj = applier.get("%s/%s" % (collection, params["name"]))
        items = [obj] if obj else []
    else:
        query = []
        if params.get("label_selectors"):
            query.append(("labelSelector", ",".join(params["label_selectors"])))
        if params.get("field_selectors"):
            query.append(("fieldSelector", ",".join(params["field_selectors"])))
        try:
            data = applier.request("GET", collection, query=query)
        except ApiError as exc:
            raise K8sApplyError("cannot list %s %s at %s: %s" % (probe["apiVersion"], params["kind"],
                                                                 applier.endpoint, _api_error(exc)))
        items = data.get("items") or []
        # List items carry no apiVersion/kind; k8s_info callers expect them.
        for item in items:
            item.setdefault("apiVersion", probe["apiVersion"])
            item.setdefault("kind", params["kind"])
    return {"resources": items, "api_found": True}


def managed_by(obj, manager):
    """Whether ``manager`` has written to the object (its managedFields)."""
    return any(entry.get("manager") == manager for entry in (obj.get("metadata") or {}).get("managedFields") or [])


def delete_objects(applier, objects, params, check_mode=False):
    """Delete objects in reverse install order and wait until they are gone.

    Webhook configurations go first (their backends are being removed),
    then custom resources, built-in kinds, CRDs and Namespaces last. Kinds in
    ``keep_kinds`` are left alone; objects whose type is no longer served
    (their CRD is gone) count as deleted.
    """
    keep = set(params.get("keep_kinds") or [])
    result = {"changed": False, "objects": [], "count": 0, "waited": []}
    gone_wait = []
    for obj in reversed(sort_objects(objects)) if params.get("sort", True) else objects:
        if obj["kind"] in keep:
            continue
        result["count"] += 1
        ref = object_ref(obj)
        try:
            path, dummy = applier.path(obj, params.get("namespace"))
        except K8sApplyError:
            result["objects"].append({"ref": ref, "result": "absent"})
            continue
        current = applier.get(path, metadata_only=True)
        if current is None:
            result["objects"].append({"ref": ref, "result": "absent"})
            continue
        if params.get("owned_only") and not managed_by(current, applier.manager):
            result["objects"].append({"ref": ref, "result": "foreign"})
            continue
        result["changed"] = True
        result["objects"].append({"ref": ref, "result": "deleted"})
        if check_mode:
            continue
        try:
            applier.request("DELETE", path, body={"propagationPolicy": "Background"})
        except ApiError as exc:
            if exc.status != 404:
                raise K8sApplyError("cannot delete %s at %s: %s" % (ref, applier.endpoint, _api_error(exc)))
        gone_wait.append((ref, path))
    if params.get("wait") and gone_wait and not check_mode:
        deadline = time.time() + (params.get("wait_timeout") or 300)
        pending = gone_wait
        while pending:
            pending = [(ref, path) for ref, path in pending if applier.get(path, metadata_only=True) is not None]
            if pending and time.time() >= deadline:
                raise K8sApplyError("timed out waiting for the deletion of: %s. Look for finalizers "
                                    "(kubectl get -o yaml) whose controller is already gone."
                                    % ", ".join(ref for ref, dummy in pending))
            if pending:
                time.sleep(1)
        result["waited"] = [ref for ref, dummy in gone_wait]
    counts = {}
    for entry in result["objects"]:
        counts[entry["result"]] = counts.get(entry["result"], 0) + 1
    result["counts"] = counts
    return result
