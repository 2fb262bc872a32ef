"""A control plane of a test module's own, with admission webhooks on, where
upstream controllers run for real (tests/cluster/controllers.py): what
tests/k8s/test_real_certmanager.py, test_real_knative.py and
test_real_kserve.py share. Inventory, environment and extra vars of the
playbooks come from serving_env.py, as for the shared control plane."""
import contextlib
import time

import yaml
from ansible_collections.mlops.stack.plugins.module_utils import model_deploy

from tests.cluster import gateway_api, missing_binaries, netns
from tests.cluster.controllers import running
from tests.helpers import require
from tests.k8s.serving_env import MIRROR, PLAYBOOKS, SERVING_NS, env, inventory, kjson, s3_secret
from tests.playbook import run_playbook
from tests.servers.bins import find_bin

CERT_MANAGER = MIRROR / "cert-manager" / "v1.19.4" / "cert-manager.yaml"
KNATIVE_CORE = MIRROR / "knative-serving" / "1.23.0" / "serving-core.yaml"
KSERVE_CORE = MIRROR / "kserve" / "v0.20.0" / "kserve-core.yaml"


@contextlib.contextmanager
def webhook_cluster(tmp_path_factory, name, local_pods, binaries, purpose):
    """The control plane ``mlops-<name>``, kwok leaving the pods ``local_pods``
    select to the test's runners; skipped (failed in CI) without the
    binaries ({binary: scripts/build-testbins.sh target}) or network
    namespaces, which the API server needs to call webhook processes."""
    missing = missing_binaries()
    require(not missing, "control-plane binaries missing (%s): run scripts/build-testbins.sh" % ", ".join(missing))
    for binary, target in binaries.items():
        require(find_bin(binary), "%s missing: run scripts/build-testbins.sh %s" % (binary, target))
    why = netns.available()
    require(not why, purpose + ": " + why)
    with gateway_api.cluster_with_gateway_api(tmp_path_factory.mktemp("k8s-" + name), "mlops-" + name,
                                              webhooks=True, local_pods=local_pods) as cl:
        yield cl


def switch_off_webhooks(cluster, manifest):
    """Pre-create a release's webhook configurations with a matchCondition
    that never matches, under a field manager of the test: the role's
    server-side apply of the upstream objects keeps a field it does not set.
    For the webhooks whose process does not run here."""
    docs = [d for d in yaml.safe_load_all(manifest.read_text())
            if d and d["kind"].endswith("WebhookConfiguration")]
    for d in docs:
        for w in d["webhooks"]:
            w["matchConditions"] = [{"name": "mlops-tests-no-webhook-process", "expression": "false"}]
    cluster.apply_server_side(docs, field_manager="mlops-tests-webhook-off")


def converge_twice(playbook, **kwargs):
    """The playbook's runs: a second one, which must change nothing, only
    after a first that succeeded (after a failure it would prove nothing)."""
    t0 = time.monotonic()
    runs = [run_playbook(playbook, **kwargs)]
    t1 = time.monotonic()
    if runs[0].rc == 0:
        runs.append(run_playbook(playbook, **kwargs))
    print("%s: converge %.1fs, second converge %.1fs" % (playbook.name, t1 - t0, time.monotonic() - t1))
    return runs


def gpu_isvc(name, runtime, sched, **autoscaling):
    """The InferenceService mlops.stack.model_deployment applies with the
    options roles/kserve/tasks/deploy_model.yml passes for a GPU model
    (``sched``: what the gpu_serving role reports for predictors)."""
    params = {"model": name, "namespace": SERVING_NS, "runtime": runtime, "model_format": "mlflow",
              "protocol_version": "v2", "service_account": "kserve-s3", "resources": sched["resources"],
              "node_selector": sched["nodeSelector"], "tolerations": sched["tolerations"],
              "affinity": sched["affinity"]}
    params.update(autoscaling)
    return model_deploy.inference_service(params, name, {
        "version": "1", "artifact_uri": "mlflow-artifacts:/1/abc/artifacts/model",
        "storage_uri": "s3://models/%s/1" % name})


@contextlib.contextmanager
def serving_deployed(cluster, tmp, runners, extra, isvc_for, webhooks_off=()):
    """With the runners' controllers running: the serving roles converged
    twice, then the InferenceService ``isvc_for(scheduling)`` applied twice;
    what the tests look at. ``webhooks_off``: the manifests whose webhooks
    have no process here."""
    s3_secret(cluster)
    for manifest in webhooks_off:
        switch_off_webhooks(cluster, manifest)
    with running(runners):
        inv = inventory(tmp, cluster, cluster.gpu_nodes)
        runs = converge_twice(PLAYBOOKS / "serving_converge.yml", inventory=inv, extra_vars=extra, env=env(cluster))
        t0 = time.monotonic()
        sched = run_playbook(PLAYBOOKS / "serving_raw_isvc.yml", inventory=inv, extra_vars=extra, env=env(cluster))
        sched = sched.task_result("Report the scheduling")["gpu_serving_predictor_scheduling"]
        deploys = [run_playbook(PLAYBOOKS / "serving_raw_isvc.yml", inventory=inv, env=env(cluster),
                                extra_vars=dict(extra, isvc_definition=isvc_for(sched))) for dummy in range(2)]
        print("isvc x2 %.1fs" % (time.monotonic() - t0))
        yield {"runs": runs, "deploys": deploys, "runners": runners, "inv": inv, "extra": extra, "sched": sched}


def scheduled_pod(cluster, selector):
    """A pod ``selector`` picks in the serving namespace that the scheduler
    placed and that is not going away (a rollout leaves terminating ones), or None."""
    pods = kjson(cluster, "-n", SERVING_NS, "get", "pods", "-l", selector)["items"]
    pods = [p for p in pods if p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")]
    return pods[-1] if pods else None
