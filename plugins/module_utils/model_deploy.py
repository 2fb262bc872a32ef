# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Logic of mlops.stack.model_deployment: a registered MLflow model version
(or alias) becomes a KServe InferenceService with the stack's MLflow runtime.

Pure parts (argument checks, storage URI mapping, the InferenceService body,
readiness) are unit-tested with plain dicts; :func:`ensure` does the I/O
through the MLflow REST API and the collection's Kubernetes client.
"""


import re
import time

from ansible.module_utils.basic import env_fallback

from ansible_collections.mlops.stack.plugins.module_utils.k8s.applier import Applier
from ansible_collections.mlops.stack.plugins.module_utils.k8s.client import K8S_CONNECTION_ARGUMENT_SPEC
from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import ApiError, K8sAccessError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import K8sApplyError, strip_volatile
from ansible_collections.mlops.stack.plugins.module_utils.k8s.operations import delete_objects, run as apply_run
from ansible_collections.mlops.stack.plugins.module_utils.k8s.port_forward import K8S_SERVICE_ARGUMENT_SPEC, service_endpoint
from ansible_collections.mlops.stack.plugins.module_utils.mlflow import (
    MlflowApi, normalize_tracking_uri)

API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"
#: KServe appends "-predictor" (and Knative a revision suffix) to the name;
#: 45 characters keep every generated name within the 63 of a DNS label.
MAX_NAME_LENGTH = 45
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_ALIAS = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")
SCALE_METRICS = ("cpu", "memory", "concurrency", "rps")
DEPLOYMENT_MODES = ("", "Knative", "Serverless", "RawDeployment", "Standard")
#: Annotations on the InferenceService that say where it came from.
ANNOTATION_MODEL = "mlops.stack/registered-model"
ANNOTATION_VERSION = "mlops.stack/model-version"
ANNOTATION_ALIAS = "mlops.stack/model-alias"
ANNOTATION_SOURCE = "mlops.stack/model-source"


class ModelDeployError(Exception):
    """An expected failure; the message says what is wrong and how to fix it."""


def argument_spec():
    """The module's options; MLflow's own are prefixed tracking_ so they do not clash with the
    Kubernetes connection options of group/mlops.stack.k8s."""
    spec = dict(
        model=dict(type="str", required=True),
        version=dict(type="str"),
        alias=dict(type="str"),
        name=dict(type="str"),
        namespace=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        tracking_uri=dict(type="str", fallback=(env_fallback, ["MLFLOW_TRACKING_URI"])),
        tracking_username=dict(type="str", fallback=(env_fallback, ["MLFLOW_TRACKING_USERNAME"])),
        tracking_password=dict(type="str", no_log=True, fallback=(env_fallback, ["MLFLOW_TRACKING_PASSWORD"])),
        tracking_token=dict(type="str", no_log=True, fallback=(env_fallback, ["MLFLOW_TRACKING_TOKEN"])),
        tracking_validate_certs=dict(type="bool", default=True),
        tracking_ca_path=dict(type="path"),
        tracking_timeout=dict(type="int", default=30),
        artifacts_destination=dict(type="str"),
        runtime=dict(type="str", default="mlflow-mlserver"),
        model_format=dict(type="str", default="mlflow"),
        protocol_version=dict(type="str", default="v2", choices=["v1", "v2"]),
        service_account=dict(type="str", default="kserve-s3"),
        deployment_mode=dict(type="str", default="", choices=list(DEPLOYMENT_MODES)),
        resources=dict(type="dict", default={}),
        min_replicas=dict(type="int"),
        max_replicas=dict(type="int"),
        scale_metric=dict(type="str", choices=list(SCALE_METRICS)),
        scale_target=dict(type="int"),
        node_selector=dict(type="dict", default={}),
        tolerations=dict(type="list", elements="dict", default=[]),
        affinity=dict(type="dict", default={}),
        runtime_class_name=dict(type="str"),
        labels=dict(type="dict", default={}),
        annotations=dict(type="dict", default={}),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
        field_manager=dict(type="str", default="mlops-stack"),
    )
    spec.update(K8S_CONNECTION_ARGUMENT_SPEC)
    spec.update(K8S_SERVICE_ARGUMENT_SPEC)
    return spec


SPEC_KWARGS = dict(
    mutually_exclusive=[["version", "alias"], ["tracking_token", "tracking_username"]],
    required_if=[["state", "present", ["tracking_uri"]]],
)


# ---------------------------------------------------------------------------
# Pure parts
# ---------------------------------------------------------------------------

def service_name(model, name=None):
    """The InferenceService name: *name*, or the model name made a DNS-1035 label."""
    if name:
        candidate = name
    else:
        candidate = re.sub(r"[^a-z0-9-]+", "-", model.lower()).strip("-")
        candidate = re.sub(r"-{2,}", "-", candidate)
        if candidate and not candidate[0].isalpha():
            candidate = "m-" + candidate
        candidate = candidate[:MAX_NAME_LENGTH].rstrip("-")
    if not candidate or len(candidate) > MAX_NAME_LENGTH or not _DNS1035.match(candidate):
        raise ModelDeployError(
            "invalid InferenceService name %r%s: use lower-case letters, digits and '-', start with a "
            "letter, at most %d characters (KServe adds suffixes such as -predictor); set name."
            % (candidate, "" if name else " (derived from model %r)" % model, MAX_NAME_LENGTH))
    return candidate


def check_params(params):
    """Refuse bad combinations before any request."""
    if params["state"] == "present" and not (params.get("version") or params.get("alias")):
        raise ModelDeployError("set version (a number) or alias (for example champion) of registered model %r."
                               % params["model"])
    version = params.get("version")
    if version is not None and not re.match(r"^[1-9][0-9]*$", str(version)):
        raise ModelDeployError("invalid version %r: a registered model version is a positive number." % version)
    alias = params.get("alias")
    if alias is not None and not _ALIAS.match(alias):
        raise ModelDeployError("invalid alias %r: letters, digits, '_' and '-'." % alias)
    lo, hi = params.get("min_replicas"), params.get("max_replicas")
    if lo is not None and lo < 0:
        raise ModelDeployError("min_replicas must be 0 or more, got %s." % lo)
    if hi is not None and hi < 1:
        raise ModelDeployError("max_replicas must be 1 or more, got %s." % hi)
    if lo is not None and hi is not None and lo > hi:
        raise ModelDeployError("min_replicas (%s) is greater than max_replicas (%s)." % (lo, hi))
    if params.get("scale_target") is not None and params["scale_target"] < 1:
        raise ModelDeployError("scale_target must be 1 or more, got %s." % params["scale_target"])
    if params.get("scale_target") is not None and not params.get("scale_metric"):
        raise ModelDeployError("scale_target needs scale_metric (cpu, memory, concurrency or rps).")
    return service_name(params["model"], params.get("name"))


def storage_uri(artifact_uri, artifacts_destination=None):
    """Where KServe's storage initializer fetches the model from.

    A server that proxies artifacts (``--serve-artifacts``) hands out
    ``mlflow-artifacts:`` URIs; they map onto its ``--artifacts-destination``.
    """
    uri = (artifact_uri or "").strip()
    if not uri:
        raise ModelDeployError("MLflow returned no artifact location for this model version.")
    match = re.match(r"^mlflow-artifacts:(//[^/]*)?(/.*)?$", uri)
    if match:
        if not artifacts_destination:
            raise ModelDeployError(
                "the model is stored at %s (MLflow proxies its artifacts); set artifacts_destination to "
                "the server's --artifacts-destination (for example s3://mlflow-artifacts)." % uri)
        dest = artifacts_destination.rstrip("/")
        if not re.match(r"^(s3|gs)://", dest):
            raise ModelDeployError(
                "MLflow stores artifacts at %s, which KServe cannot read from the serving namespace; use an "
                "object store (mlflow_artifacts_backend: s3)." % artifacts_destination)
        return dest + "/" + (match.group(2) or "/").lstrip("/")
    if re.match(r"^(s3|gs|https?|hdfs|webhdfs|oci|hf|pvc)://", uri):
        return uri
    if re.match(r"^(models|runs):/", uri):
        raise ModelDeployError("MLflow returned %s instead of a storage location; the server is older than "
                               "MLflow 3 or the model was registered from another tracking server." % uri)
    raise ModelDeployError("the model's artifacts are at %s, which KServe's storage initializer cannot fetch "
                           "(file paths are local to the machine that logged it); log models to the stack's "
                           "MLflow server so they land in its object store." % uri)


def _string_map(value, what):
    out = {}
    for key, item in (value or {}).items():
        if isinstance(item, (dict, list)):
            raise ModelDeployError("%s.%s must be a string, got %r." % (what, key, item))
        out[str(key)] = ("true" if item else "false") if isinstance(item, bool) else str(item)
    return out


def inference_service(params, name, resolved):
    """The InferenceService body (what the module applies)."""
    annotations = _string_map(params.get("annotations"), "annotations")
    annotations.update({ANNOTATION_MODEL: params["model"], ANNOTATION_VERSION: resolved["version"],
                        ANNOTATION_SOURCE: resolved["artifact_uri"]})
    if params.get("alias"):
        annotations[ANNOTATION_ALIAS] = params["alias"]
    if params.get("deployment_mode"):
        annotations["serving.kserve.io/deploymentMode"] = params["deployment_mode"]
    labels = _string_map(params.get("labels"), "labels")
    labels.update({"app.kubernetes.io/name": name, "app.kubernetes.io/component": "model",
                   "app.kubernetes.io/part-of": "mlops-stack", "app.kubernetes.io/managed-by": "mlops.stack"})
    model = {"modelFormat": {"name": params.get("model_format") or "mlflow"},
             "protocolVersion": params.get("protocol_version") or "v2",
             "storageUri": resolved["storage_uri"]}
    if params.get("runtime"):
        model["runtime"] = params["runtime"]
    if params.get("resources"):
        model["resources"] = params["resources"]
    predictor = {"model": model}
    if params.get("service_account"):
        predictor["serviceAccountName"] = params["service_account"]
    for option, field in (("min_replicas", "minReplicas"), ("max_replicas", "maxReplicas"),
                          ("scale_metric", "scaleMetric"), ("scale_target", "scaleTarget"),
                          ("runtime_class_name", "runtimeClassName")):
        if params.get(option) is not None:
            predictor[field] = params[option]
    for option, field in (("node_selector", "nodeSelector"), ("tolerations", "tolerations"),
                          ("affinity", "affinity")):
        if params.get(option):
            predictor[field] = params[option]
    return {"apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": name, "namespace": params["namespace"], "labels": labels,
                         "annotations": annotations},
            "spec": {"predictor": predictor}}


def service_ready(obj):
    """(ready, reason) of an InferenceService, the reason naming what is not ready yet."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return False, "KServe has not reconciled generation %s yet (is the KServe controller running?)" \
            % meta.get("generation")
    conditions = status.get("conditions") or []
    ready = [c for c in conditions if c.get("type") == "Ready"]
    if ready and ready[0].get("status") == "True":
        return True, "Ready"
    problems = ["%s: %s%s" % (c.get("type"), c.get("reason") or c.get("status"),
                              (" (%s)" % c["message"]) if c.get("message") else "")
                for c in conditions if c.get("status") != "True" and c.get("type") != "Ready"]
    failure = ((status.get("modelStatus") or {}).get("lastFailureInfo") or {})
    if failure.get("message") or failure.get("reason"):
        problems.append("model: %s %s" % (failure.get("reason") or "", failure.get("message") or ""))
    if not conditions:
        problems.append("no status yet")
    return False, "; ".join(p.strip() for p in problems) or "Ready is %s" % (ready[0].get("status") if ready else "unknown")


def pod_problems(pods):
    """Why predictor pods do not run: scheduling failures and waiting/crashing containers."""
    found = []
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name")
        status = pod.get("status") or {}
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                found.append("pod %s not scheduled: %s" % (name, cond.get("message") or cond.get("reason")))
        for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            waiting = state.get("waiting") or {}
            if waiting.get("reason") and waiting["reason"] not in ("ContainerCreating", "PodInitializing"):
                found.append("pod %s container %s: %s %s" % (name, cs.get("name"), waiting["reason"],
                                                             waiting.get("message") or ""))
            last = (cs.get("lastState") or {}).get("terminated") or {}
            if last.get("exitCode"):
                found.append("pod %s container %s exited %s (%s)"
                             % (name, cs.get("name"), last["exitCode"], last.get("reason") or ""))
    return [f.strip() for f in found]


# ---------------------------------------------------------------------------
# MLflow model registry
# ---------------------------------------------------------------------------

def resolve_model(api, model, version=None, alias=None):
    """The registered model version to serve: dict(version, status, run_id, artifact_uri)."""
    if alias:
        payload = api.call("GET", "registered-models/alias", "read alias %r of registered model %r" % (alias, model),
                           {"name": model, "alias": alias}, not_found_ok=True)
        if payload is None:
            raise ModelDeployError(
                "registered model %r has no alias %r (or the model does not exist) at %s; set it with "
                "MlflowClient().set_registered_model_alias(%r, %r, <version>)."
                % (model, alias, api.endpoint, model, alias))
    else:
        payload = api.call("GET", "model-versions/get", "read version %s of registered model %r" % (version, model),
                           {"name": model, "version": str(version)}, not_found_ok=True)
        if payload is None:
            raise ModelDeployError("registered model %r has no version %s at %s." % (model, version, api.endpoint))
    mv = payload.get("model_version") or {}
    number = str(mv.get("version") or "")
    if not number:
        raise ModelDeployError("MLflow answered without a model version for %r at %s." % (model, api.endpoint))
    if mv.get("status") not in (None, "", "READY"):
        raise ModelDeployError("version %s of registered model %r is %s, not READY%s." % (
            number, model, mv.get("status"),
            (": " + mv["status_message"]) if mv.get("status_message") else ""))
    uri = api.call("GET", "model-versions/get-download-uri",
                   "read the storage location of version %s of %r" % (number, model),
                   {"name": model, "version": number})
    return {"version": number, "status": mv.get("status") or "READY", "run_id": mv.get("run_id") or "",
            "artifact_uri": (uri or {}).get("artifact_uri") or mv.get("source") or ""}


# ---------------------------------------------------------------------------
# The module's run
# ---------------------------------------------------------------------------

def _k8s_params(params, manifest=None):
    keys = list(K8S_CONNECTION_ARGUMENT_SPEC) + ["field_manager"]
    out = {k: params.get(k) for k in keys}
    out.update(definition=manifest, wait=False, sort=False, owned_only=True,
               state="present" if manifest is not None else "absent")
    return out


def _isvc_path(applier, namespace, name):
    return applier.path({"apiVersion": API_VERSION, "kind": KIND,
                         "metadata": {"name": name, "namespace": namespace}})[0]


def wait_ready(applier, namespace, name, timeout, poll=2.0):
    """Wait for Ready; on timeout fail with the conditions and the predictor pods' problems."""
    path = _isvc_path(applier, namespace, name)
    deadline = time.time() + timeout
    while True:
        current = applier.get(path) or {}
        ok, reason = service_ready(current)
        if ok:
            return current
        if time.time() >= deadline:
            break
        time.sleep(poll)
    try:
        pods = applier.request("GET", "/api/v1/namespaces/%s/pods" % namespace,
                               query=[("labelSelector", "serving.kserve.io/inferenceservice=%s" % name)])
        problems = pod_problems(pods.get("items") or [])
    except (ApiError, K8sApplyError):
        problems = []
    raise ModelDeployError(
        "InferenceService %s/%s is not Ready after %ss: %s%s. Inspect it with kubectl describe "
        "inferenceservice %s -n %s; raise wait_timeout for slow image pulls or model downloads."
        % (namespace, name, timeout, reason, ("; " + "; ".join(problems)) if problems else "", name, namespace))


def _tracking_service(params):
    ks = params.get("kubernetes_service")
    if not ks:
        return params
    ks = dict(ks)
    ks.setdefault("kubeconfig", None)
    ks.setdefault("context", None)
    ks["kubeconfig"] = ks["kubeconfig"] or params.get("kubeconfig")
    ks["context"] = ks["context"] or params.get("context")
    return dict(params, kubernetes_service=ks)


def resolve_with_mlflow(params):
    uri = normalize_tracking_uri(params["tracking_uri"])
    try:
        with service_endpoint(_tracking_service(params), uri) as url:
            api = MlflowApi(url.rstrip("/"), params.get("tracking_username"), params.get("tracking_password"),
                            params.get("tracking_token"), params.get("tracking_validate_certs"),
                            params.get("tracking_ca_path"), params.get("tracking_timeout"))
            api.endpoint = uri
            api.headers["User-Agent"] = "mlops.stack.model_deployment"
            resolved = resolve_model(api, params["model"], params.get("version"), params.get("alias"))
    except K8sAccessError as exc:
        raise ModelDeployError(str(exc))
    resolved["storage_uri"] = storage_uri(resolved["artifact_uri"], params.get("artifacts_destination"))
    return resolved


def ensure(params, check_mode=False, want_diff=False):
    """Resolve, apply, wait (or delete); returns the module result."""
    name = check_params(params)
    namespace = params["namespace"]
    if params["state"] == "absent":
        applier = Applier(_k8s_params(params))
        stub = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name, "namespace": namespace}}
        delete_params = dict(_k8s_params(params), wait=params["wait"], wait_timeout=params["wait_timeout"])
        out = delete_objects(applier, [stub], delete_params, check_mode)
        result = {"changed": out["changed"], "name": name, "namespace": namespace, "state": "absent",
                  "result": out["objects"][0]["result"] if out["objects"] else "absent"}
        if result["result"] == "foreign":
            result["warnings"] = ["InferenceService %s/%s was not created by this collection (field manager %s); "
                                  "left in place." % (namespace, name, params.get("field_manager"))]
        return result

    resolved = resolve_with_mlflow(params)
    manifest = inference_service(params, name, resolved)
    applied = apply_run(_k8s_params(params, manifest), check_mode=check_mode, want_diff=want_diff)
    result = {"changed": applied["changed"], "name": name, "namespace": namespace, "state": "present",
              "model_version": resolved["version"], "run_id": resolved["run_id"],
              "artifact_uri": resolved["artifact_uri"], "storage_uri": resolved["storage_uri"],
              "result": applied["objects"][0]["result"] if applied.get("objects") else "unchanged",
              "ready": False, "url": None, "inference_service": manifest}
    if want_diff and applied.get("diff"):
        result["diff"] = applied["diff"][0]
    if check_mode:
        return result
    applier = Applier(_k8s_params(params))
    if params["wait"]:
        current = wait_ready(applier, namespace, name, params["wait_timeout"])
    else:
        current = applier.get(_isvc_path(applier, namespace, name)) or {}
    result["ready"] = service_ready(current)[0]
    result["url"] = (current.get("status") or {}).get("url")
    result["inference_service"] = strip_volatile(current) if current else manifest
    return result
