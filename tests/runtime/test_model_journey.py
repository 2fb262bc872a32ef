"""Both journeys of the stack, end to end, with the software of every container:

1. A scikit-learn model is trained, logged and registered in the stack's real
   MLflow (the rendered Deployment run as its pod, artifacts proxied to the
   rendered MinIO), `playbooks/deploy_model.yml` deploys the alias on the local
   control plane, KServe's storage initializer fetches what the
   InferenceService's storageUri names, and MLServer with the env KServe
   injects answers a v2 request with the model's own predictions.
2. The experiment is created the way the mlflow role's bootstrap does
   (mlops.stack.mlflow_experiment's code), the collector is rendered with its
   id as site.yml does, and an LLM-style trace sent to the collector lands in
   that experiment.

What is not real: the KServe controller does not run here
(tests/k8s/test_real_kserve.py runs it), so the predictor's containers are
started from the InferenceService and the ServingRuntime the way KServe 0.20
builds them (tests/runtime/serving.py). The control-node playbook reaches the
MLflow pod through a local relay, as `kubernetes_service` would through a
port-forward.
"""
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import yaml

from ansible_collections.mlops.stack.plugins.module_utils.mlflow import MlflowApi, desired_from_params, ensure_experiment
from tests.cluster.netns import pump
from tests.k8s.conftest import k8s_cluster  # noqa: F401 pylint: disable=unused-import
from tests.playbook import ROOT, run_playbook
from tests.runtime import images, render, serving
from tests.runtime.conftest import start_workload
from tests.runtime.node import Node
from tests.runtime.test_tracking import pg_query, send_trace

pytestmark = [pytest.mark.runtime, pytest.mark.xdist_group("runtime"), pytest.mark.slow]

MODEL = "journey-iris"
MIRROR = (ROOT.parent / "shared" / "upstream-manifests").resolve()

TRAIN = textwrap.dedent("""
    import json, sys
    import mlflow, mlflow.sklearn, numpy as np
    from mlflow import MlflowClient
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(11)
    x = rng.normal(size=(80, 4))
    y = (x[:, 0] - x[:, 2] > 0).astype(int)
    mlflow.set_experiment("journey-training")
    rows = x[:6].tolist()
    out = {}
    # Version 2 learns the opposite labels, so every prediction tells the versions apart.
    for version, labels in ((1, y), (2, 1 - y)):
        model = LogisticRegression().fit(x, labels)
        with mlflow.start_run():
            mlflow.sklearn.log_model(model, name="model", signature=infer_signature(x, model.predict(x)),
                                     registered_model_name=sys.argv[1], pip_requirements=["scikit-learn"])
        out[str(version)] = model.predict(np.array(rows)).tolist()
    MlflowClient().set_registered_model_alias(sys.argv[1], "champion", "1")
    print(json.dumps({"rows": rows, "predictions": out}))
""")


class Relay:
    """127.0.0.1:port on the machine -> ip:port inside a node (what kubectl port-forward gives a control node)."""

    def __init__(self, node, ip, port):
        self.node, self.target = node, (ip, port)
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                conn, dummy = self.server.accept()
            except OSError:
                return
            try:
                upstream = self.node.call(socket.create_connection, self.target, 10)
            except OSError:
                conn.close()
                continue
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    def close(self):
        self._stop = True
        self.server.close()


@pytest.fixture(scope="module")
def relay(node, mlflow_pod):
    mlflow_pod.wait_probe("readinessProbe", 180)
    r = Relay(node, mlflow_pod.ip, 5000)
    yield "http://127.0.0.1:%d" % r.port
    r.close()


@pytest.fixture(scope="module")
def registered(relay):
    env = dict(os.environ, MLFLOW_TRACKING_URI=relay, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    for key in [k for k in env if k.startswith(("AWS_", "MLFLOW_S3"))]:
        env.pop(key)  # artifacts go through MLflow's proxy to MinIO, as a data scientist's client does
    proc = subprocess.run([sys.executable, "-c", TRAIN, MODEL], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def deployed(k8s_cluster, tracking_objs, relay, registered, tmp_path_factory):
    """deploy_model.yml on the control plane with the KServe CRDs and the stack's MLflow Deployment."""
    k8s_cluster.apply_server_side(str(MIRROR / "kserve" / "v0.20.0" / "kserve-crds.yaml"))
    deadline = time.monotonic() + 60
    while k8s_cluster.kubectl("get", "crd/inferenceservices.serving.kserve.io", "-o",
                              "jsonpath={.status.conditions[?(@.type=='Established')].status}",
                              check=False).stdout != "True":
        assert time.monotonic() < deadline, "the InferenceService CRD is not Established"
        time.sleep(0.5)
    k8s_cluster.kubectl("create", "namespace", "mlops", check=False)
    k8s_cluster.kubectl("create", "namespace", "mlops-serving", check=False)
    # The MLflow Deployment exactly as rendered: the playbook reads its port and artifacts destination.
    k8s_cluster.apply_server_side([render.find(tracking_objs, "Deployment", "mlflow")])
    inv = tmp_path_factory.mktemp("journey") / "hosts.yml"
    inv.write_text(yaml.safe_dump({"all": {"children": {"k8s_control": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    env = {"K8S_AUTH_KUBECONFIG": k8s_cluster.kubeconfig, "K8S_AUTH_CONTEXT": k8s_cluster.context or "",
           "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
    extra = {"model": MODEL, "alias": "champion", "kserve_deploy_tracking_uri": relay, "kserve_deploy_wait": False}
    first = run_playbook(ROOT / "playbooks" / "deploy_model.yml", inventory=inv, extra_vars=extra, env=env)
    assert first.rc == 0, first.explain()
    again = run_playbook(ROOT / "playbooks" / "deploy_model.yml", inventory=inv, extra_vars=extra, env=env)
    assert again.rc == 0 and again.changed() == 0, again.explain()
    isvc = json.loads(k8s_cluster.kubectl("-n", "mlops-serving", "get", "inferenceservice", "journey-iris",
                                          "-o", "json").stdout)
    return isvc


def test_registered_model_answers_inference_like_the_trained_one(
        node, tracking_objs, stack_secrets, minio_pod, registered, deployed, tmp_path_factory):
    uri = deployed["spec"]["predictor"]["model"]["storageUri"]
    assert uri.startswith("s3://mlflow-artifacts/") and uri.endswith("/artifacts"), uri
    assert deployed["metadata"]["annotations"]["mlops.stack/model-version"] == "1"
    provision = tmp_path_factory.mktemp("journey-provision")
    provision.chmod(0o777)
    for parent in list(provision.parents)[:2]:
        parent.chmod(0o755)
    init = serving.start_storage_initializer(node, tracking_objs, uri, stack_secrets["mlops-s3-kserve"], provision,
                                             tmp_path_factory.mktemp("journey-init"))
    assert init.wait_exit(300) == 0, "storage initializer failed; log:\n%s" % init.log()
    assert (provision / "MLmodel").is_file(), sorted(p.name for p in provision.iterdir())
    srv_node = Node(tmp_path_factory.mktemp("journey-node"))
    try:
        srv = serving.start_mlserver(srv_node, tracking_objs, deployed["metadata"]["name"], provision,
                                     tmp_path_factory.mktemp("journey-mlserver"))
        try:
            srv.wait_probe("readinessProbe", 180)
            got = serving.infer(srv, deployed["metadata"]["name"], registered["rows"])
        finally:
            srv.stop()
    finally:
        srv_node.stop()
    assert got == registered["predictions"]["1"]
    assert got != registered["predictions"]["2"]


def test_trace_reaches_the_experiment_the_bootstrap_created(node, stack_secrets, mlflow_pod, relay,
                                                            tmp_path_factory):
    api = MlflowApi(relay)
    result = ensure_experiment(api, desired_from_params({"name": "llm-traces", "state": "present",
                                                         "tags": {"purpose": "journey"}}))
    exp_id = result["experiment_id"]
    objs = render.render(tmp_path_factory.mktemp("journey-render-otel"), ["otel_collector"],
                         {"otel_collector_experiment_id": exp_id})
    deploy = render.find(objs, "Deployment", "otel-collector")
    spec, container = render.pod_template(deploy)
    image = images.go_binary(container["image"], "otelcol", "/otelcol-contrib",
                             spec["securityContext"]["runAsUser"], entrypoint=["/otelcol-contrib"])
    ip = node.pod_ip("otel-collector-journey.mlops.svc")
    pod = start_workload(node, image, deploy, name="otel-collector-journey", ip=ip,
                         workdir=tmp_path_factory.mktemp("journey-otel"), objs=objs, secrets_=stack_secrets)
    app = stack_secrets["mlops-postgresql-mlflow"]
    pg_ip = node.resolve(app["host"])
    query = "SELECT count(*) FROM trace_info WHERE experiment_id = %d" % int(exp_id)
    try:
        pod.wait_started()
        pod.wait_probe("readinessProbe", 60)
        send_trace(node, ip, "journey-%d" % time.time_ns())
        deadline = time.monotonic() + 60
        while pg_query(node, pg_ip, app, query)[0][0] == 0:
            assert time.monotonic() < deadline, "no trace in experiment %s after 60s; collector log:\n%s" % (
                exp_id, pod.log())
            time.sleep(1)
    finally:
        pod.stop()
