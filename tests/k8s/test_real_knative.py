"""Knative mode with real controllers: KServe -> Knative Service -> Revision
-> Deployment -> a pod on a simulated GPU node, with admission webhooks on.

A control plane of its own (admission webhooks on, in a network namespace,
see docs/testing-control-plane.md "Knative Serving"). Real processes play the
pods of four upstream Deployments, started with the args and env of the pods
our roles' manifests produce (tests/cluster/controllers.py, knative.py):
KServe v0.20.0's controller-manager and Knative Serving's controller, webhook
and autoscaler (tools/testbins/knative: knative.dev/serving v0.50.0, i.e.
Knative 1.22.0, against the 1.23.0 manifests the knative role pins -- the
proxy refuses 1.23's dependencies; test_version_skew pins that fact).

Nothing of the data plane runs: the activator, net-kourier's controller and
the Kourier/Envoy gateway are kwok pods, queue-proxy and the model server
never start. What that leaves un-Ready is asserted (test_what_becomes_ready).

cert-manager's webhooks have no process here (its part of #16 is another
test): they are switched off with a matchCondition that our re-applies keep.
"""
import json
import re
from pathlib import Path

import pytest
import yaml
from ansible_collections.mlops.stack.plugins.module_utils import model_deploy

from tests.cluster import knative
from tests.cluster.controllers import KSERVE_POD, kserve_runner, runner_logs
from tests.helpers import require, wait_for
from tests.k8s.serving_env import SERVING_NS, conditions, extra, get, kjson
from tests.k8s.webhook_env import (CERT_MANAGER, KNATIVE_CORE, KSERVE_CORE, gpu_isvc, scheduled_pod, serving_deployed,
                                   webhook_cluster)
from tests.playbook import ROOT
from tests.servers.bins import find_bin

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("k8s-knative"), pytest.mark.slow]

ISVC = "wine"
KSVC = ISVC + "-predictor"
REVISION = KSVC + "-00001"
#: The documented version skew (tools/testbins/knative/build.sh): the release
#: the role applies and the knative.dev/serving module the binaries are built from.
MANIFEST_RELEASE = "1.23.0"
SERVING_MODULE = "v0.50.0"  # Knative 1.22.0: module v0.N.x is release 1.(N-28)
AUTOSCALING = {"min_replicas": 1, "max_replicas": 3, "scale_metric": "concurrency", "scale_target": 5}
# No registry is reachable from the test (pods have no route out): Knative
# resolves image tags to digests unless the registry is skipped.
SKIP_TAG_RESOLVING = ["kind.local", "ko.local", "dev.local", "docker.io", "index.docker.io"]


def _extra(tmp):
    # kserve_deployment_mode is left at the role's default (Knative).
    return dict(extra(tmp), kserve_wait_timeout=120, knative_wait_timeout=180,
                knative_registries_skipping_tag_resolving=SKIP_TAG_RESOLVING)


def _isvc(name, sched, **autoscaling):
    """No deployment_mode: the cluster default, Knative."""
    return gpu_isvc(name, "mlflow-mlserver", sched, **autoscaling)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    binaries = {"kserve-manager": "kserve"}
    binaries.update((binary, "knative") for _sel, _container, binary in knative.COMPONENTS.values())
    with webhook_cluster(tmp_path_factory, "knative", [KSERVE_POD] + knative.LOCAL_PODS, binaries,
                         "Knative with real controllers") as cl:
        yield cl


@pytest.fixture(scope="module")
def converged(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real-knative")
    runners = [kserve_runner(cluster, find_bin("kserve-manager"), tmp / "kserve", KSERVE_CORE)]
    runners += knative.runners(cluster, find_bin, tmp / "knative", KNATIVE_CORE)
    with serving_deployed(cluster, tmp, runners, _extra(tmp), lambda sched: _isvc(ISVC, sched, **AUTOSCALING),
                          webhooks_off=(CERT_MANAGER,)) as out:
        yield out


def _changed(result):
    """Names of the changed tasks and the objects they modified."""
    out = []
    for play in result.data.get("plays", []):
        for task in play.get("tasks", []):
            res = task["hosts"].get("localhost", {})
            if res.get("changed"):
                objs = [o["ref"] for o in res.get("objects", []) if o.get("result") != "unchanged"]
                out.append((task["task"]["name"], objs))
    return out


def test_version_skew():
    """The binaries are Knative Serving 1.22.0 (module v0.50.0) run against the
    1.23.0 manifests: if either side moves, the docs and this pin must too."""
    for _sel, _container, binary in knative.COMPONENTS.values():
        path = find_bin(binary)
        require(path, "%s missing: run scripts/build-testbins.sh knative" % binary)
        info = Path(path).read_bytes()
        found = re.search(rb"\tknative\.dev/serving\t(v[0-9][^\t\n]*)\t", info)
        assert found, "%s: no Go build info for knative.dev/serving" % path
        assert found.group(1).decode() == SERVING_MODULE, (path, found.group(1))
    docs = [d for d in yaml.safe_load_all(KNATIVE_CORE.read_text()) if d]
    versions = {d["metadata"].get("labels", {}).get("app.kubernetes.io/version") for d in docs
                if d["kind"] == "Deployment"}
    assert versions == {MANIFEST_RELEASE}, versions
    roles_default = yaml.safe_load((ROOT / "roles/knative/defaults/main.yml").read_text())["knative_version"]
    assert roles_default == MANIFEST_RELEASE


def test_roles_converge_with_knative_webhooks(converged, cluster):
    first = converged["runs"][0]
    assert first.rc == 0, first.explain() + runner_logs(converged["runners"])
    second = converged["runs"][1]
    assert second.rc == 0, second.explain()
    # Includes the knative role leaving its webhook configurations to Knative's
    # webhook, which rewrites their rules (a re-apply would flip them back).
    assert second.changed() == 0, _changed(second)
    for r in converged["runners"]:
        assert not r.errors, (r.name, r.errors)
        # KServe's manager exits until its CRDs are Established (restarted as
        # kubelet would); Knative's processes start once and stay up.
        assert any(e["ready"] and (e["restarts"] == 0 or r.name == "local-pods-kserve")
                   for e in r.pods.values()), (r.name, r.logs())
    # Knative's webhook issued its own certificate and published the CA.
    for kind, name in (("validatingwebhookconfiguration", "config.webhook.serving.knative.dev"),
                       ("validatingwebhookconfiguration", "validation.webhook.serving.knative.dev"),
                       ("mutatingwebhookconfiguration", "webhook.serving.knative.dev")):
        hooks = kjson(cluster, "get", kind, name)["webhooks"]
        assert all(h["clientConfig"].get("caBundle") for h in hooks), name
        assert all(h.get("rules") for h in hooks), name
    cert = kjson(cluster, "-n", "knative-serving", "get", "certificates.networking.internal.knative.dev",
                 "routing-serving-certs")
    assert cert["spec"]["secretName"] == "routing-serving-certs"


def test_knative_webhooks_accept_our_config_and_enforce_it(converged, cluster):
    """The config webhook validates ConfigMaps (our re-applies went through
    it); the resource webhook admits a nodeSelector/tolerations only because
    config-features enables them, and refuses a field that stays disabled."""
    features = kjson(cluster, "-n", "knative-serving", "get", "configmap", "config-features")["data"]
    for flag in ("kubernetes.podspec-nodeselector", "kubernetes.podspec-tolerations",
                 "kubernetes.podspec-affinity"):
        assert features[flag] == "enabled", features
    bad = cluster.kubectl("-n", "knative-serving", "patch", "configmap", "config-autoscaler", "--dry-run=server",
                          "--type", "merge", "-p", '{"data": {"max-scale-up-rate": "0.5"}}', check=False)
    assert bad.returncode != 0
    assert 'admission webhook "config.webhook.serving.knative.dev" denied' in bad.stderr, bad.stderr
    ksvc = {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": "probe", "namespace": SERVING_NS},
            "spec": {"template": {"spec": {
                "nodeSelector": {"workload-type": "inference"},
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                "containers": [{"image": "docker.io/library/busybox:1"}]}}}}
    ok = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(ksvc), check=False)
    assert ok.returncode == 0, ok.stderr
    ksvc["spec"]["template"]["spec"]["hostAliases"] = [{"ip": "10.1.1.1", "hostnames": ["a"]}]
    refused = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(ksvc), check=False)
    assert refused.returncode != 0
    assert 'admission webhook "validation.webhook.serving.knative.dev" denied' in refused.stderr, refused.stderr
    assert "spec.template.spec.hostAliases" in refused.stderr


def test_isvc_apply_is_idempotent(converged):
    first, second = converged["deploys"]
    assert first.rc == 0, first.explain()
    assert second.rc == 0, second.explain()
    assert second.changed() == 0, second.explain()


def _autoscaling_annotations(annotations):
    assert annotations["autoscaling.knative.dev/class"] == "kpa.autoscaling.knative.dev", annotations
    assert annotations["autoscaling.knative.dev/metric"] == "concurrency"
    assert annotations["autoscaling.knative.dev/target"] == "5"
    assert annotations["autoscaling.knative.dev/min-scale"] == "1"
    assert annotations["autoscaling.knative.dev/max-scale"] == "3"


def _gpu_pod_spec(spec, sched):
    main = next(c for c in spec["containers"] if c["name"] == "kserve-container")
    assert main["resources"]["limits"]["nvidia.com/gpu"] == "1", main["resources"]
    assert spec["nodeSelector"] == sched["nodeSelector"] == {"workload-type": "inference"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["affinity"] == sched["affinity"]
    return main


def test_kserve_creates_knative_service(converged, cluster):
    ksvc = wait_for("Knative Service " + KSVC, lambda: get(cluster, "-n", SERVING_NS, "get", "ksvc", KSVC))
    owner = ksvc["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("InferenceService", ISVC)
    isvc = kjson(cluster, "-n", SERVING_NS, "get", "inferenceservice", ISVC)
    # Our object names no mode: the cluster default (the kserve role's Knative).
    assert "serving.kserve.io/deploymentMode" not in isvc["metadata"]["annotations"] \
        or isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] in ("Knative", "Serverless")
    tmpl = ksvc["spec"]["template"]
    _autoscaling_annotations(tmpl["metadata"]["annotations"])
    main = _gpu_pod_spec(tmpl["spec"], converged["sched"])
    env = {e["name"]: e.get("value") for e in main.get("env", [])}
    assert env["MLSERVER_MODEL_NAME"] == ISVC and env["MLSERVER_MODEL_URI"] == "/mnt/models", env
    assert tmpl["metadata"]["annotations"]["internal.serving.kserve.io/storage-initializer-sourceuri"] \
        == "s3://models/%s/1" % ISVC


def test_knative_creates_revision_deployment_and_gpu_pod(converged, cluster):
    rev = wait_for("Revision " + REVISION, lambda: get(cluster, "-n", SERVING_NS, "get", "revision", REVISION))
    assert rev["metadata"]["ownerReferences"][0]["kind"] == "Configuration"
    _autoscaling_annotations(rev["metadata"]["annotations"])
    dep_name = REVISION + "-deployment"
    dep = wait_for("Deployment " + dep_name, lambda: get(cluster, "-n", SERVING_NS, "get", "deployment", dep_name))
    owner = dep["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("Revision", REVISION)
    # min-scale 1: Knative starts the Deployment at one replica.
    assert dep["spec"]["replicas"] == 1
    spec = dep["spec"]["template"]["spec"]
    _gpu_pod_spec(spec, converged["sched"])
    names = [c["name"] for c in spec["containers"]]
    assert names == ["kserve-container", "queue-proxy"], names
    qp = {e["name"]: e.get("value") for e in spec["containers"][1]["env"]}
    assert qp["SERVING_REVISION"] == REVISION and qp["SERVING_SERVICE"] == KSVC
    assert qp["CONTAINER_CONCURRENCY"] == "0"

    p = wait_for("a scheduled pod of " + REVISION,
                 lambda: scheduled_pod(cluster, "serving.knative.dev/revision=" + REVISION))
    assert p["spec"]["nodeName"] in cluster.gpu_nodes
    assert p["spec"]["nodeName"] not in cluster.cpu_nodes
    # KServe's pod mutator adds the storage initializer to the pod Knative's Deployment creates.
    init = {c["name"]: c for c in p["spec"].get("initContainers", [])}
    assert init["storage-initializer"]["args"][:1] == ["s3://models/%s/1" % ISVC], list(init)


def test_autoscaler_reconciles_podautoscaler(converged, cluster):
    """The real autoscaler's PodAutoscaler carries the settings (class KPA,
    concurrency metric, target, min/max scale) and scales to min-scale."""
    def ready():
        pa = get(cluster, "-n", SERVING_NS, "get", "podautoscalers.autoscaling.internal.knative.dev", REVISION)
        return pa if conditions(pa).get("Ready", {}).get("status") == "True" else None
    pa = wait_for("PodAutoscaler %s Ready" % REVISION, ready)
    assert pa["spec"]["reachability"] in ("Reachable", "Unknown"), pa["spec"]
    assert pa["spec"]["protocolType"] == "http1"
    _autoscaling_annotations(pa["metadata"]["annotations"])
    assert pa["status"]["desiredScale"] == 1 and pa["status"]["actualScale"] == 1, pa["status"]
    assert pa["status"]["metricsServiceName"] == REVISION + "-private"


def test_what_becomes_ready(converged, cluster):
    """Ready: Configuration, Revision, PodAutoscaler, ServerlessService. Not
    Ready without a data plane: the Route (no networking-layer controller
    programs the KIngress: net-kourier's controller and the Envoy gateway are
    kwok pods), hence the Knative Service and the InferenceService."""
    def settled():
        rev = get(cluster, "-n", SERVING_NS, "get", "revision", REVISION)
        route = get(cluster, "-n", SERVING_NS, "get", "route", KSVC)
        return (rev, route) if conditions(rev).get("Ready", {}).get("status") == "True" \
            and "IngressReady" in conditions(route) else None
    rev, route = wait_for("Revision %s Ready" % REVISION, settled)
    objs = {"Revision": rev, "Route": route}
    for kind, ref in (("Configuration", "configuration/" + KSVC), ("Service", "ksvc/" + KSVC),
                      ("PodAutoscaler", "podautoscalers.autoscaling.internal.knative.dev/" + REVISION),
                      ("ServerlessService", "serverlessservices.networking.internal.knative.dev/" + REVISION),
                      ("KIngress", "ingresses.networking.internal.knative.dev/" + KSVC),
                      ("InferenceService", "inferenceservice/" + ISVC)):
        objs[kind] = kjson(cluster, "-n", SERVING_NS, "get", ref)
    report = {k: {t: (c["status"], c.get("reason", "")) for t, c in conditions(o).items()} for k, o in objs.items()}
    print("Knative-mode conditions:\n" + json.dumps(report, indent=1, sort_keys=True))
    conds = {k: conditions(o) for k, o in objs.items()}
    for kind in ("Revision", "Configuration", "PodAutoscaler", "ServerlessService"):
        assert conds[kind]["Ready"]["status"] == "True", (kind, report[kind])
    assert conds["Revision"]["ResourcesAvailable"]["status"] == "True"
    assert conds["Revision"]["ContainerHealthy"]["status"] == "True"
    # Proxy mode: the activator's (kwok) endpoints front the revision.
    assert objs["ServerlessService"]["spec"]["mode"] == "Proxy"
    # The KIngress is created but nobody reconciles it.
    assert objs["KIngress"]["metadata"]["annotations"]["networking.knative.dev/ingress.class"] \
        == "kourier.ingress.networking.knative.dev"
    assert not conds["KIngress"], report["KIngress"]
    assert conds["Route"]["IngressReady"]["status"] == "Unknown", report["Route"]
    assert conds["Service"]["Ready"]["status"] == "Unknown", report["Service"]
    assert conds["Service"]["ConfigurationsReady"]["status"] == "True", report["Service"]
    ready, reason = model_deploy.service_ready(objs["InferenceService"])
    assert not ready, reason
    assert conds["InferenceService"]["PredictorReady"]["status"] != "True", report["InferenceService"]


def test_cpu_metric_is_refused_in_knative_mode(converged, cluster):
    """KServe's KPA path supports concurrency and rps only: scale_metric cpu
    (fine in Standard mode's HPA) is refused by its validating webhook."""
    body = _isvc("cpu-scaled", converged["sched"], min_replicas=1, max_replicas=3, scale_metric="cpu",
                 scale_target=70)
    res = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(body), check=False)
    assert res.returncode != 0
    assert "[cpu] is not a supported metric" in res.stderr, res.stderr
