# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""The GitOps tree of playbooks/render.yml: ArgoCD app of apps plus one
Kustomize directory per component, ordered so that a first sync from an
empty cluster converges without manual retries.

Ordering inside an Application (ArgoCD sync waves; within a wave ArgoCD
applies by kind, see ARGO_KIND_ORDER, and waits for every object of a wave
to be Healthy before the next):

* -3  CustomResourceDefinitions;
* -2  what workloads reference: ServiceAccounts, RBAC, ConfigMaps, Secrets,
      NetworkPolicies, PVCs, ...;
* -1  migration Jobs (``mlops.stack/phase: migrate``) and custom resources
      whose CRD comes from another Application (a cert-manager Certificate
      in the KServe app: the Deployment of wave 0 mounts its Secret);
*  0  workloads, Services, webhook configurations and everything else;
*  1  custom resources whose CRD and controller (and webhook) are in the
      same Application: they wait until that webhook's Deployment is Healthy.

Custom resources carry ``SkipDryRunOnMissingResource=true`` (the dry run of
a first sync happens before their CRD exists). Namespaces move into one
``namespaces`` Application that never prunes or deletes them; CRDs and
PersistentVolumeClaims are never pruned or deleted by ArgoCD either, so
removing an Application cannot cascade into data or into other users'
custom resources.
"""


import copy
import json
import os

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - ansible-core depends on PyYAML
    HAS_YAML = False

from ansible_collections.mlops.stack.plugins.module_utils.schema_check import is_custom

WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
OPTIONS_ANNOTATION = "argocd.argoproj.io/sync-options"
KEEP = "Prune=false,Delete=false"
SKIP_DRY_RUN = "SkipDryRunOnMissingResource=true"
INDEX_FILE = ".mlops-render.json"
NAMESPACES_APP = "namespaces"
EXAMPLES_DIR = "examples"
#: Workloads that serve a model are examples, not platform: they go to
#: examples/ (no Application), to apply once the platform is Healthy.
EXAMPLE_KINDS = frozenset((("serving.kserve.io", "InferenceService"), ("serving.kserve.io", "LLMInferenceService")))

#: The order ArgoCD (gitops-engine) applies kinds in within one wave; kinds not
#: listed follow, sorted by kind.
ARGO_KIND_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy", "PodDisruptionBudget",
    "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job",
    "CronJob", "IngressClass", "Ingress", "APIService")

FOUNDATION_KINDS = frozenset((
    "ServiceAccount", "Secret", "ConfigMap", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding",
    "NetworkPolicy", "ResourceQuota", "LimitRange", "PodDisruptionBudget", "PersistentVolumeClaim",
    "StorageClass", "PriorityClass", "RuntimeClass", "IngressClass"))

#: Kinds ArgoCD must never prune nor delete with their Application.
KEPT_KINDS = frozenset(("Namespace", "CustomResourceDefinition", "PersistentVolumeClaim"))

#: Fields that controllers of the stack write into objects of the tree
#: (cert-manager's cainjector, Knative's and KServe's webhooks).
IGNORE_DIFFERENCES = [
    {"group": "admissionregistration.k8s.io", "kind": "MutatingWebhookConfiguration",
     "jqPathExpressions": [".webhooks[]?.clientConfig.caBundle", ".webhooks[]?.rules"]},
    {"group": "admissionregistration.k8s.io", "kind": "ValidatingWebhookConfiguration",
     "jqPathExpressions": [".webhooks[]?.clientConfig.caBundle", ".webhooks[]?.rules"]},
    {"group": "apiextensions.k8s.io", "kind": "CustomResourceDefinition",
     "jqPathExpressions": [".spec.conversion.webhook.clientConfig.caBundle"]},
]


class GitOpsError(Exception):
    pass


def _kind_of_crd(crd):
    spec = crd.get("spec") or {}
    return (spec.get("group", ""), (spec.get("names") or {}).get("kind", ""))


def _group_kind(obj):
    api_version = obj.get("apiVersion", "")
    return (api_version.split("/")[0] if "/" in api_version else "", obj.get("kind", ""))


def object_wave(obj, own_kinds):
    """The sync wave of ``obj`` inside its Application; ``own_kinds`` holds the
    (group, kind) pairs whose CRD is in the same Application."""
    kind = obj.get("kind", "")
    if kind == "CustomResourceDefinition":
        return -3
    if kind in FOUNDATION_KINDS:
        return -2
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if kind == "Job" and annotations.get("mlops.stack/phase") == "migrate":
        return -1
    if is_custom(obj.get("apiVersion", "")):
        return 1 if _group_kind(obj) in own_kinds else -1
    return 0


def _add_options(annotations, options):
    have = [o for o in (annotations.get(OPTIONS_ANNOTATION) or "").split(",") if o]
    for opt in options.split(","):
        if opt not in have:
            have.append(opt)
    annotations[OPTIONS_ANNOTATION] = ",".join(have)


def annotate(obj, own_kinds):
    """A copy of ``obj`` with its wave and sync options. A wave the object
    already declares is kept (the role chose it)."""
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    annotations = meta.get("annotations") or {}
    annotations.setdefault(WAVE_ANNOTATION, str(object_wave(obj, own_kinds)))
    if out.get("kind") in KEPT_KINDS:
        _add_options(annotations, KEEP)
    if is_custom(out.get("apiVersion", "")):
        _add_options(annotations, SKIP_DRY_RUN)
    meta["annotations"] = annotations
    return out


def wave_of(obj):
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        return int(annotations.get(WAVE_ANNOTATION, "0"))
    except ValueError:
        return 0


def _kind_rank(kind):
    try:
        return (ARGO_KIND_ORDER.index(kind), "")
    except ValueError:
        return (len(ARGO_KIND_ORDER), kind)


def argo_order(objects):
    """``objects`` in the order ArgoCD applies them: by wave, then kind, then
    namespace and name."""
    def key(obj):
        meta = obj.get("metadata") or {}
        return (wave_of(obj), _kind_rank(obj.get("kind", "")), meta.get("namespace", ""), meta.get("name", ""))
    return sorted(objects, key=key)


def _merge_namespace(have, new, where):
    """One Namespace declared by several roles: labels and annotations are
    merged; a conflicting value is an error (two roles disagree)."""
    for field in ("labels", "annotations"):
        mine = have["metadata"].setdefault(field, {}) or {}
        theirs = (new.get("metadata") or {}).get(field) or {}
        for key, value in theirs.items():
            if key in mine and mine[key] != value:
                raise GitOpsError("Namespace %s: %s %s is %r in one component and %r in %s"
                                  % (have["metadata"]["name"], field[:-1], key, mine[key], value, where))
            mine[key] = value
        have["metadata"][field] = mine
        if not mine:
            del have["metadata"][field]


def load_documents(path):
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, "r") as fh:
        return [doc for doc in yaml.load_all(fh, Loader=loader) if doc]


def dump_documents(objects, header):
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    parts = [header]
    for obj in objects:
        parts.append("---\n")
        parts.append(yaml.dump(obj, Dumper=dumper, default_flow_style=False, sort_keys=True, width=10000))
    return "".join(parts)


HEADER = "# Rendered by mlops.stack playbooks/render.yml; do not edit by hand.\n"


def _join(*parts):
    kept = [p.strip("/") for p in parts if p and p.strip("/") not in ("", ".")]
    return "/".join(kept) or "."


def application(name, path, wave, settings, keep=False):
    """An ArgoCD Application for one directory of the tree."""
    sync = {
        "automated": {"prune": not keep, "selfHeal": True},
        "retry": {"limit": settings["retry_limit"],
                  "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}},
        "syncOptions": (["ServerSideApply=true", "CreateNamespace=false", "RespectIgnoreDifferences=true"]
                        + ([] if keep else ["PruneLast=true"])),
    }
    meta = {"name": "mlops-" + name.replace("_", "-"), "namespace": settings["argocd_namespace"],
            "annotations": {WAVE_ANNOTATION: str(wave)}}
    if not keep:
        # Deleting the Application deletes what it applied (Namespaces, CRDs
        # and PVCs excepted, see KEEP).
        meta["finalizers"] = ["resources-finalizer.argocd.argoproj.io"]
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": meta,
        "spec": {
            "project": settings["argocd_project"],
            "source": {"repoURL": settings["repo_url"], "targetRevision": settings["revision"],
                       "path": _join(settings["path"], path)},
            "destination": {"server": settings["destination_server"]},
            "ignoreDifferences": copy.deepcopy(IGNORE_DIFFERENCES),
            "syncPolicy": sync,
        },
    }


def root_application(settings):
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": settings["root_name"], "namespace": settings["argocd_namespace"]},
        "spec": {
            "project": settings["argocd_project"],
            "source": {"repoURL": settings["repo_url"], "targetRevision": settings["revision"],
                       "path": _join(settings["path"], "apps")},
            "destination": {"server": settings["destination_server"], "namespace": settings["argocd_namespace"]},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True},
                           "retry": {"limit": settings["retry_limit"],
                                     "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}}},
        },
    }


def kustomization(files):
    return HEADER + yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                    "resources": list(files)}, default_flow_style=False, sort_keys=False)


def build_tree(components, settings):
    """The files of the tree: ``{relative path: text}``.

    ``components``: ``[{"name", "files": [(file name, [objects])]}]`` in
    site.yml order; each component becomes ``<name>/`` with its files plus a
    kustomization, and ``apps/<name>.yaml``. Without ``settings["argocd"]``
    only the Kustomize directories, as the roles built them.
    """
    if not settings.get("argocd", True):
        out = {}
        for comp in components:
            files = [(f, objs) for f, objs in comp["files"] if objs]
            for fname, objects in files:
                out["%s/%s" % (comp["name"], fname)] = dump_documents(objects, HEADER)
            if files:
                out[comp["name"] + "/kustomization.yaml"] = kustomization(pair[0] for pair in files)
        return out
    parsed = []
    namespaces = {}
    examples = []
    for comp in components:
        own_kinds = set()
        for objects in (pair[1] for pair in comp["files"]):
            own_kinds.update(_kind_of_crd(o) for o in objects if o.get("kind") == "CustomResourceDefinition")
        files = []
        for fname, objects in comp["files"]:
            kept = []
            for obj in objects:
                if obj.get("kind") == "Namespace" and obj.get("apiVersion") == "v1":
                    name = obj["metadata"]["name"]
                    if name in namespaces:
                        _merge_namespace(namespaces[name], obj, comp["name"])
                    else:
                        namespaces[name] = copy.deepcopy(obj)
                    continue
                if _group_kind(obj) in EXAMPLE_KINDS:
                    examples.append(obj)
                    continue
                kept.append(annotate(obj, own_kinds))
            if kept:
                files.append((fname, kept))
        parsed.append((comp["name"], files))

    out = {}
    apps = []
    if namespaces:
        ns_objects = [annotate(namespaces[n], set()) for n in sorted(namespaces)]
        out[NAMESPACES_APP + "/namespaces.yaml"] = dump_documents(ns_objects, HEADER)
        out[NAMESPACES_APP + "/kustomization.yaml"] = kustomization(["namespaces.yaml"])
        apps.append((NAMESPACES_APP, application(NAMESPACES_APP, NAMESPACES_APP, 0, settings, keep=True)))
    for index, (name, files) in enumerate(parsed, start=1):
        if not files:
            continue
        for fname, objects in files:
            out["%s/%s" % (name, fname)] = dump_documents(objects, HEADER)
        out[name + "/kustomization.yaml"] = kustomization(pair[0] for pair in files)
        apps.append((name, application(name, name, index, settings)))
    if examples:
        out[EXAMPLES_DIR + "/examples.yaml"] = dump_documents(examples, HEADER)
        out[EXAMPLES_DIR + "/kustomization.yaml"] = kustomization(["examples.yaml"])
    for name, app in apps:
        out["apps/%s.yaml" % name] = dump_documents([app], HEADER)
    out["root-application.yaml"] = dump_documents([root_application(settings)], HEADER)
    return out


def write_tree(dest, files, check_mode=False):
    """Write ``files`` under ``dest``; remove files an earlier render wrote
    that this one does not (listed in INDEX_FILE), never any other file.
    Returns (written, removed)."""
    index_path = os.path.join(dest, INDEX_FILE)
    previous = []
    if os.path.exists(index_path):
        with open(index_path) as fh:
            previous = json.load(fh).get("files", [])
    written = []
    for rel in sorted(files):
        path = os.path.join(dest, rel)
        if os.path.exists(path):
            with open(path) as fh:
                if fh.read() == files[rel]:
                    continue
        written.append(rel)
        if not check_mode:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = path + ".tmp"
            with open(tmp, "w") as fh:
                fh.write(files[rel])
            os.replace(tmp, path)
    removed = sorted(set(previous) - set(files))
    if not check_mode:
        for rel in removed:
            path = os.path.join(dest, rel)
            if os.path.exists(path):
                os.remove(path)
            parent = os.path.dirname(path)
            while parent != os.path.normpath(dest) and os.path.isdir(parent) and not os.listdir(parent):
                os.rmdir(parent)
                parent = os.path.dirname(parent)
        index = json.dumps({"files": sorted(files)}, indent=1) + "\n"
        old = None
        if os.path.exists(index_path):
            with open(index_path) as fh:
                old = fh.read()
        if old != index:
            with open(index_path, "w") as fh:
                fh.write(index)
    return written, removed


ARGUMENT_SPEC = dict(
    dest=dict(type="str", required=True),
    components=dict(type="list", elements="dict", required=True, options=dict(
        name=dict(type="str", required=True),
        files=dict(type="list", elements="path", default=[]),
        objects=dict(type="list", elements="dict", default=[]),
    )),
    argocd=dict(type="bool", default=True),
    repo_url=dict(type="str", default=""),
    revision=dict(type="str", default="main"),
    path=dict(type="str", default=""),
    argocd_namespace=dict(type="str", default="argocd"),
    argocd_project=dict(type="str", default="default"),
    destination_server=dict(type="str", default="https://kubernetes.default.svc"),
    root_name=dict(type="str", default="mlops-stack"),
    retry_limit=dict(type="int", default=10),
)


def render(params, check_mode=False):
    """Build the tree from the staged release files and the roles' objects,
    write it; returns the module result."""
    components = []
    for comp in params["components"]:
        files = [(os.path.basename(path), load_documents(path)) for path in comp["files"]]
        if comp["objects"]:
            files.append(("resources.yaml", comp["objects"]))
        components.append({"name": comp["name"], "files": files})
    if params["argocd"] and not params["repo_url"]:
        raise GitOpsError("repo_url is required for the ArgoCD Applications")
    settings = dict((k, params[k]) for k in ("argocd", "repo_url", "revision", "path", "argocd_namespace", "argocd_project",
                                             "destination_server", "root_name", "retry_limit"))
    tree = build_tree(components, settings)
    written, removed = write_tree(params["dest"], tree, check_mode=check_mode)
    return {"changed": bool(written or removed), "written": written, "removed": removed,
            "apps": sorted(p[len("apps/"):-len(".yaml")] for p in tree if p.startswith("apps/")),
            "examples": sorted(p for p in tree if p.startswith(EXAMPLES_DIR + "/"))}
