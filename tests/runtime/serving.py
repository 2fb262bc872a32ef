"""The predictor pod KServe v0.20.0 builds for an InferenceService that uses
the stack's MLflow ServingRuntime, started from the rendered objects:

    init = start_storage_initializer(node, objs, storage_uri, secret_data, models_dir, workdir)
    init.wait_exit(300)
    srv = start_mlserver(node, objs, "my-model", models_dir, workdir)
    srv.wait_probe("readinessProbe", 120)   # v2 ready endpoint, see below
    infer(srv, "my-model", rows) -> outputs

What KServe's webhook and controller add is derived from the rendered
objects the way KServe does it (pkg/credentials/s3: BuildSecretEnvs and
BuildS3EnvVars; the storage-initializer injector; the MLServer env defaults
for runtimes annotated serving.kserve.io/server-type: mlserver), so a change
in our objects changes what these pods get. The real controller is exercised
by the control-plane tests; this mirror is what runs the containers.

Differences from a real pod, stated by the tests: the storage initializer and
MLServer run in separate mount/network namespaces (init and main containers
share a pod), and the kserve-provision-location emptyDir is a directory of
the test that both see.
"""
import json
from pathlib import Path

from tests.runtime import images, render
from tests.runtime.pod import run_container

PROVISION_VOLUME = "kserve-provision-location"
MODELS_DIR = "/mnt/models"


def inferenceservice_config(objs):
    return render.find(objs, "ConfigMap", "inferenceservice-config")["data"]


def s3_secret_env(secret_name, annotations, s3_config):
    """KServe's BuildSecretEnvs + BuildS3EnvVars for a Secret with these annotations."""
    key_id = s3_config.get("s3AccessKeyIDName") or "awsAccessKeyID"
    key_secret = s3_config.get("s3SecretAccessKeyName") or "awsSecretAccessKey"
    env = [{"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key_id}}},
           {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key_secret}}}]
    pre = "serving.kserve.io/"
    endpoint = annotations.get(pre + "s3-endpoint")
    if endpoint is not None:
        url = "https://" + endpoint
        if pre + "s3-usehttps" in annotations:
            if annotations[pre + "s3-usehttps"] == "0":
                url = "http://" + endpoint
            env.append({"name": "S3_USE_HTTPS", "value": annotations[pre + "s3-usehttps"]})
        env += [{"name": "S3_ENDPOINT", "value": endpoint}, {"name": "AWS_ENDPOINT_URL", "value": url}]
    elif s3_config.get("s3Endpoint"):
        url = "https://" + s3_config["s3Endpoint"]
        if s3_config.get("s3UseHttps") == "0":
            url = "http://" + s3_config["s3Endpoint"]
            env.append({"name": "S3_USE_HTTPS", "value": "0"})
        env += [{"name": "S3_ENDPOINT", "value": s3_config["s3Endpoint"]},
                {"name": "AWS_ENDPOINT_URL", "value": url}]
    for ann, cfg, var in (("s3-verifyssl", "s3VerifySSL", "S3_VERIFY_SSL"),
                          ("s3-useanoncredential", "s3UseAnonymousCredential", "awsAnonymousCredential"),
                          ("s3-region", "s3Region", "AWS_DEFAULT_REGION"),
                          ("s3-usevirtualbucket", "s3UseVirtualBucket", "S3_USER_VIRTUAL_BUCKET"),
                          ("s3-cabundle", "s3CABundle", "AWS_CA_BUNDLE"),
                          ("s3-cabundle-configmap", "s3CABundleConfigMap", "AWS_CA_BUNDLE_CONFIGMAP")):
        value = annotations.get(pre + ann, s3_config.get(cfg, ""))
        if value != "":
            env.append({"name": var, "value": value})
    return env


def storage_initializer_container(objs, storage_uri):
    """The init container KServe injects for `storage_uri` with the kserve-s3 ServiceAccount."""
    cfg = inferenceservice_config(objs)
    init_cfg = json.loads(cfg["storageInitializer"])
    s3_config = json.loads(cfg["credentials"])["s3"]
    sa = render.find(objs, "ServiceAccount", "kserve-s3")
    secret_name = sa["secrets"][0]["name"]
    # The kserve role copies mlops-s3-kserve into the serving namespace (as mlops-s3) with the
    # ServiceAccount's annotations (tasks/main.yml), which KServe reads.
    annotations = sa["metadata"].get("annotations", {})
    return {
        "name": "storage-initializer",
        "image": init_cfg["image"],
        "args": [storage_uri, MODELS_DIR],
        "env": s3_secret_env(secret_name, annotations, s3_config),
        "resources": {"requests": {"cpu": init_cfg["cpuRequest"], "memory": init_cfg["memoryRequest"]},
                      "limits": {"cpu": init_cfg["cpuLimit"], "memory": init_cfg["memoryLimit"]}},
        "volumeMounts": [{"name": PROVISION_VOLUME, "mountPath": MODELS_DIR}],
    }, secret_name


def mlserver_runtime(objs, name="mlflow-mlserver"):
    return render.find(objs, "ServingRuntime", name)


def injected_model_env(runtime, isvc_name):
    """What KServe 0.20 adds to an MLServer runtime's container: only runtimes
    annotated serving.kserve.io/server-type: mlserver get the model name/URI."""
    ann = runtime["metadata"].get("annotations", {})
    if ann.get("serving.kserve.io/server-type") != "mlserver":
        return []
    return [{"name": "MLSERVER_MODEL_NAME", "value": isvc_name},
            {"name": "MLSERVER_MODEL_URI", "value": MODELS_DIR}]


def _pod_spec():
    return {"volumes": [{"name": PROVISION_VOLUME, "persistentVolumeClaim": {"claimName": PROVISION_VOLUME}}]}


def start_storage_initializer(node, objs, storage_uri, s3_secret_data, models_dir, workdir, ip=None):
    container, secret_name = storage_initializer_container(objs, storage_uri)
    image = images.storage_initializer(container["image"])
    return run_container(node, image, _pod_spec(), container, name="storage-initializer", workdir=workdir,
                         secrets={secret_name: s3_secret_data}, pvcs={PROVISION_VOLUME: Path(models_dir)},
                         pod_ip=ip or node.pod_ip())


def start_mlserver(node, objs, isvc_name, models_dir, workdir, ip=None):
    runtime = mlserver_runtime(objs)
    container = dict(runtime["spec"]["containers"][0])
    # The predictor reads the model through a read-only mount of the
    # provision volume; its readiness is MLServer's v2 ready endpoint on the
    # declared port (Knative's queue-proxy probes that port).
    container["volumeMounts"] = list(container.get("volumeMounts", [])) + [
        {"name": PROVISION_VOLUME, "mountPath": MODELS_DIR, "readOnly": True}]
    port = container["ports"][0]["containerPort"]
    container["readinessProbe"] = {"httpGet": {"path": "/v2/models/%s/ready" % isvc_name, "port": port}}
    image = images.mlserver(container["image"])
    return run_container(node, image, _pod_spec(), container, name=isvc_name + "-predictor", workdir=workdir,
                         pvcs={PROVISION_VOLUME: Path(models_dir)}, pod_ip=ip or node.pod_ip(),
                         extra_env=injected_model_env(runtime, isvc_name))


def infer(pod, model_name, rows):
    """POST a v2 /infer with a FP64 [n, d] tensor; return the first output's data."""
    body = {"inputs": [{"name": "input-0", "shape": [len(rows), len(rows[0])], "datatype": "FP64",
                        "data": [x for r in rows for x in r]}]}
    status, raw = pod.node.http("POST", pod.ip, pod.port(pod.container["ports"][0]["containerPort"]),
                                "/v2/models/%s/infer" % model_name, body=json.dumps(body),
                                headers={"Content-Type": "application/json"}, timeout=60)
    assert status == 200, "infer -> %s %s\nlog:\n%s" % (status, raw[:500], pod.log())
    return json.loads(raw)["outputs"][0]["data"]
