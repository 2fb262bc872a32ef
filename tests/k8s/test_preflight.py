"""Bad inventory is refused before any write.

Bad values are generated mechanically from every argument spec (the
stack-wide one and each role's): a wrong type for every variable, a value
outside ``choices``, a malformed value for every variable whose name implies
a format (Kubernetes name, quantity, image, bucket, ...), and an empty value
where the role's default is not empty; plus the cross-field rules. The entry
playbooks then run against the local control plane, and its audit log must
show zero write requests, while the preflight's message names every variable.
"""
import copy
import json

import jinja2
import pytest
import yaml

from tests.k8s.site_env import ROOT, site_inventory
from tests.playbook import run_playbook

from ansible_collections.mlops.stack.plugins.module_utils.inventory_rules import format_of

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("k8s")]

PLAYBOOKS = ROOT / "playbooks"
ENTRY_PLAYBOOKS = ("site.yml", "storage.yml", "tracking.yml", "serving.yml", "gpu.yml", "observability.yml",
                   "render.yml", "teardown.yml", "validate.yml")
# Variables that decide which roles run: a bad value of one of them changes
# which other variables are checked, so each is tried in a run of its own.
SELECTORS = ("mlops_object_store", "kserve_deployment_mode", "gpu_serving_node_group", "mlops_certmanager_enabled",
             "mlops_exposure", "mlops_gateway_create", "mlops_tracking_enabled", "mlops_serving_enabled",
             "mlops_observability_enabled")
# Connection and run settings: a bad one is reported as a cluster problem.
NOT_INVENTORY = ("mlops_kubeconfig", "mlops_kube_context", "mlops_manifest_dir")

WRONG_TYPE = {"str": {"not": "a string"}, "path": {"not": "a path"}, "int": "not-a-number", "bool": "maybe",
              "list": {"not": "a list"}, "dict": ["not", "a", "mapping"], "float": "not-a-number"}
MALFORMED = {
    "dns_label": "Bad_Name", "dns_1035": "1-bad-name", "dns_subdomain": "Bad_Name", "hostname": "bad host:80",
    "image": "bad image:with space", "registry": "https://registry.example", "quantity": "lots",
    "resources": {"requests": {"cpu": "lots"}}, "bucket": "My_Bucket", "buckets": ["My_Bucket"],
    "url": "not a url", "duration": "forever", "memlimit": "lots", "email": "not-an-email",
    "labels": {"bad key!": "value"}, "replicas": -1, "positive": 0, "non_negative": -1, "uid": 0,
    "port": 70000, "digits": "abc",
}
CROSS_FIELD = [
    ({"mlflow_ingress_enabled": True, "mlflow_ingress_host": ""}, "mlflow_ingress_host"),
    ({"minio_ingress_enabled": True, "minio_ingress_host": ""}, "minio_ingress_host"),
    ({"mlflow_artifacts_backend": "pvc", "mlflow_replicas": 2, "mlflow_artifacts_pvc_access_mode": "ReadWriteOnce"},
     "mlflow_artifacts_pvc_access_mode"),
    ({"mlflow_auth_enabled": True, "mlflow_auth_username": ""}, "mlflow_auth_username"),
    ({"mlflow_auth_password": "short"}, "mlflow_auth_password"),
    ({"mlflow_artifacts_bucket": "not-created"}, "mlflow_artifacts_bucket"),
    ({"object_store_versioned_buckets": ["elsewhere"]}, "object_store_versioned_buckets"),
    # No Secret named (the test inventory has no bootstrap, so buckets are not compared).
    ({"object_store_consumers": {"mlflow": {"buckets_rw": ["mlflow-artifacts"]}}}, "object_store_consumers"),
    ({"mlops_object_store": "seaweedfs", "seaweedfs_users": {"mlflow": {"buckets": ["mlflow-artifacts"]}}},
     "seaweedfs_users"),
    ({"minio_external_endpoint_url": "https://s3.example.com"}, "minio_external_endpoint_url"),
    ({"minio_root_password": "short"}, "minio_root_password"),
    ({"postgresql_mode": "external", "postgresql_external_host": ""}, "postgresql_external_host"),
    ({"postgresql_extensions": ["Bad-Ext"]}, "postgresql_extensions"),
    ({"otel_collector_mlflow_version": "3.5.0"}, "otel_collector_mlflow_version"),
    ({"certmanager_acme_enabled": True, "certmanager_acme_email": ""}, "certmanager_acme_email"),
    ({"mlops_tls_enabled": True, "mlops_cluster_issuer": ""}, "mlops_cluster_issuer"),
    ({"minio_network_policy_from": []}, "minio_network_policy_from"),
    ({"mlflow_network_policy_from": []}, "mlflow_network_policy_from"),
    ({"mlops_object_store": "seaweedfs", "seaweedfs_network_policy_from": []}, "seaweedfs_network_policy_from"),
]


def _specs():
    """{variable: (option, default)} of the stack-wide spec and every role.

    A default is given as the value it evaluates to with the other defaults
    (plain Jinja; None when it uses something else, such as a filter of the
    collection), because an empty value is allowed exactly where the
    evaluated default is empty.
    """
    options, raw = {}, {}
    stack = yaml.safe_load((PLAYBOOKS / "vars" / "stack_argument_spec.yml").read_text())
    for name, opt in stack["argument_specs"]["main"]["options"].items():
        options[name], raw[name] = opt, opt.get("default")
    for spec in sorted((ROOT / "roles").glob("*/meta/argument_specs.yml")):
        defaults = yaml.safe_load((spec.parent.parent / "defaults" / "main.yml").read_text()) or {}
        for name, opt in yaml.safe_load(spec.read_text())["argument_specs"]["main"]["options"].items():
            options[name], raw[name] = opt, defaults.get(name)
    env = jinja2.Environment(undefined=jinja2.ChainableUndefined)
    out = {}
    for name, opt in options.items():
        value = raw[name]
        try:
            for dummy in range(3):
                if isinstance(value, str) and "{" in value:
                    value = env.from_string(value).render(raw)
        except (jinja2.TemplateError, TypeError):
            value = None
        out[name] = (opt, value)
    return out


def _cases():
    """(category, variable, bad value) for every variable of every spec."""
    cases = []
    for name, (opt, default) in sorted(_specs().items()):
        if name in NOT_INVENTORY:
            continue
        kind = opt.get("type", "str")
        cases.append(("wrong_type", name, WRONG_TYPE[kind]))
        if opt.get("choices"):
            cases.append(("bad_choice", name, "bogus-choice"))
        fmt = format_of(name, opt)
        if fmt:
            cases.append(("malformed", name, MALFORMED[fmt]))
            if kind == "str" and isinstance(default, str) and default.strip():
                cases.append(("empty", name, ""))
    return cases


def _batches():
    """Runs: one per category and object store, one per selector case, the cross-field cases."""
    batches = {}
    for category, name, value in _cases():
        if name in SELECTORS:
            batches["%s-%s" % (category, name)] = ({name: value}, [name])
            continue
        store = "seaweedfs" if name.startswith("seaweedfs_") else "minio"
        key = "%s-%s" % (category, store)
        values, names = batches.setdefault(key, ({"mlops_object_store": store}, []))
        values[name] = value
        names.append(name)
    for index, (values, name) in enumerate(CROSS_FIELD):
        batches["cross-%d-%s" % (index, name)] = (values, [name])
    return batches


def test_every_variable_has_a_bad_value():
    cases = _cases()
    covered = {name for _c, name, _v in cases}
    assert covered == set(_specs()) - set(NOT_INVENTORY)
    # Formats are not a hand-picked list: most variables have one.
    assert sum(1 for c in cases if c[0] == "malformed") > 120


@pytest.fixture(scope="module")
def preflight_inv(tmp_path_factory, k8s_cluster):
    return site_inventory(tmp_path_factory.mktemp("preflight-inv") / "hosts.yml", k8s_cluster)


def _run(k8s_cluster, inv, playbook, values, tmp_path):
    mark = k8s_cluster.audit_mark()
    extra = dict(copy.deepcopy(values), mlops_teardown_dir=str(tmp_path / "teardown"))
    if playbook == "render.yml":  # the only playbook that writes manifests
        extra["mlops_render_dir"] = str(tmp_path / "render")
    res = run_playbook(PLAYBOOKS / playbook, inventory=inv, extra_vars=extra, timeout=300)
    return res, k8s_cluster.audit_writes(mark)


def _preflight_result(res):
    out = res.task_result("Check the inventory and the cluster before any change")
    return out.get("problems") or [], out.get("msg", "")


def _assert_refused(res, writes, names, tmp_path, label):
    assert res.rc != 0, "%s: bad values were accepted\n%s" % (label, res.explain())
    assert writes == [], "%s: %d write requests reached the API server: %s" % (
        label, len(writes), [(w["verb"], w.get("objectRef")) for w in writes[:10]])
    problems, msg = _preflight_result(res)
    named = {p["variable"] for p in problems}
    missing = [n for n in names if n not in named or n not in msg]
    assert not missing, "%s: not named by the preflight: %s\n%s" % (label, missing, msg[:3000])
    assert not (tmp_path / "render").exists(), "render wrote files before the preflight passed"


@pytest.mark.parametrize("batch", sorted(_batches()))
def test_site_refuses_bad_values_without_writing(k8s_cluster, preflight_inv, tmp_path, batch):
    values, names = _batches()[batch]
    res, writes = _run(k8s_cluster, preflight_inv, "site.yml", values, tmp_path)
    _assert_refused(res, writes, names, tmp_path, batch)


@pytest.mark.parametrize("playbook", [p for p in ENTRY_PLAYBOOKS if p != "site.yml"])
@pytest.mark.parametrize("category", ["malformed-minio", "wrong_type-minio"])
def test_entry_playbooks_refuse_bad_values_without_writing(k8s_cluster, preflight_inv, tmp_path, playbook,
                                                           category):
    values, names = _batches()[category]
    res, writes = _run(k8s_cluster, preflight_inv, playbook, values, tmp_path)
    _assert_refused(res, writes, names, tmp_path, "%s %s" % (playbook, category))


def test_unreachable_cluster_is_named_quickly(tmp_path, k8s_cluster):
    inv = site_inventory(tmp_path / "hosts.yml", k8s_cluster, extra={"mlops_kubeconfig": str(tmp_path / "missing")})
    res = run_playbook(PLAYBOOKS / "site.yml", inventory=inv, timeout=120)
    assert res.rc != 0
    _problems, msg = _preflight_result(res)
    assert str(tmp_path / "missing") in msg and "render.yml" in msg and "make rehearse" in msg, msg
    assert "censored" not in res.stdout
    # It is the run's first task after the inventory group check (a play on
    # localhost that reads no cluster) and the controller-side tasks that only
    # read the inventory, and it gives up at once (no retries, no waits).
    plays = [p for p in res.data["plays"] if p["play"]["name"] != "Check the inventory groups"]
    ran = [t["task"]["name"] for t in plays[0]["tasks"]
           if not all(h.get("skipped") for h in t["hosts"].values())]
    first_task = "Check the inventory and the cluster before any change"
    assert ran[:2] == ["Resolve the roles of this run once", first_task], ran
    assert res.task_result(first_task)["preflight_seconds"] < 5


def test_good_inventory_passes_and_reports_its_time(k8s_cluster, preflight_inv):
    res = run_playbook(PLAYBOOKS / "preflight.yml", inventory=preflight_inv, timeout=120)
    assert res.rc == 0, res.explain()
    out = res.task_result("Check the inventory and the cluster before any change")
    assert "gpu_serving" in out["checked_roles"] and "mlflow" in out["checked_roles"]
    assert out["preflight_seconds"] < 3, json.dumps(out)


def test_audit_log_sees_a_write(k8s_cluster):
    """The zero-writes assertions above are only worth something if a write shows up."""
    mark = k8s_cluster.audit_mark()
    k8s_cluster.kubectl("create", "configmap", "preflight-audit-probe", "-n", "default")
    k8s_cluster.kubectl("delete", "configmap", "preflight-audit-probe", "-n", "default")
    verbs = [(w["verb"], w["objectRef"]["name"]) for w in k8s_cluster.audit_writes(mark)]
    assert ("create", "preflight-audit-probe") in verbs and ("delete", "preflight-audit-probe") in verbs, verbs


def _gpu_inventory(tmp_path, k8s_cluster, hosts):
    path = site_inventory(tmp_path / "hosts.yml", k8s_cluster)
    inv = yaml.safe_load(path.read_text())
    inv["all"]["children"]["gpu_inference_nodes"]["hosts"] = hosts
    path.write_text(yaml.safe_dump(inv))
    return path


@pytest.mark.parametrize("hosts,expected", [
    ({"no-such-node": {"gpu_count": 1}}, "no-such-node"),
    ({"gpu-node-bad": {"gpu_count": "many"}}, "gpu_count"),
])
def test_bad_gpu_group_is_refused_without_writing(tmp_path, k8s_cluster, hosts, expected):
    inv = _gpu_inventory(tmp_path, k8s_cluster, hosts)
    mark = k8s_cluster.audit_mark()
    res = run_playbook(PLAYBOOKS / "site.yml", inventory=inv, timeout=300)
    assert res.rc != 0
    assert k8s_cluster.audit_writes(mark) == []
    _problems, msg = _preflight_result(res)
    assert expected in msg and "gpu_inference_nodes" in msg, msg


@pytest.mark.parametrize("values,expected", [
    ({"mlflow_extra_env": [{"name": 1, "value": "x"}]}, "role mlflow: Deployment mlops/mlflow"),
    ({"otel_collector_tolerations": [{"key": "a", "operator": 5}]}, "spec/template/spec/tolerations/0/operator"),
    ({"kserve_mlflow_runtime_resources": {"limits": {"cpu": "1"}, "claims": "all"}}, "role kserve: ServingRuntime"),
])
def test_objects_the_api_server_would_refuse_are_refused_first(k8s_cluster, preflight_inv, tmp_path, values, expected):
    """Values that pass their own checks but build an invalid object (pass-through
    lists and mappings) are caught by the offline schema validation."""
    res, writes = _run(k8s_cluster, preflight_inv, "site.yml", values, tmp_path)
    assert res.rc != 0, res.explain()
    assert writes == [], [(w["verb"], w.get("objectRef")) for w in writes[:10]]
    msg = res.task_result("Validate the objects against the Kubernetes and CRD schemas")["msg"]
    assert expected in msg, msg


def test_valid_objects_are_not_checked_twice(k8s_cluster, preflight_inv):
    first = run_playbook(PLAYBOOKS / "preflight.yml", inventory=preflight_inv, timeout=300)
    assert first.rc == 0, first.explain()
    second = run_playbook(PLAYBOOKS / "preflight.yml", inventory=preflight_inv, timeout=300)
    assert second.rc == 0, second.explain()
    assert second.task_result("Check the inventory and the cluster before any change")["objects_valid"] is True
    assert second.task_result("Validate the objects against the Kubernetes and CRD schemas").get("skipped")


def test_foreign_namespace_gets_a_warning(k8s_cluster, preflight_inv, k8s_namespace):
    res = run_playbook(PLAYBOOKS / "preflight.yml", inventory=preflight_inv,
                       extra_vars={"mlops_namespace": k8s_namespace}, timeout=300)
    assert res.rc == 0, res.explain()
    warnings = " ".join(res.task_result("Check the inventory and the cluster before any change").get("warnings", []))
    assert "namespace %s exists and was not created by mlops.stack" % k8s_namespace in warnings, warnings


def test_cluster_cert_manager_must_be_there_when_not_installed(k8s_cluster, preflight_inv, tmp_path):
    """With mlops_certmanager_enabled=false the run relies on the cluster's cert-manager."""
    values = {"mlops_certmanager_enabled": False, "mlops_cluster_issuer": "no-such-issuer"}
    res, writes = _run(k8s_cluster, preflight_inv, "site.yml", values, tmp_path)
    assert res.rc != 0 and writes == []
    _problems, msg = _preflight_result(res)
    crds = k8s_cluster.kubectl("get", "crd", "-o", "name").stdout
    if "certificates.cert-manager.io" in crds:
        assert "no-such-issuer" in msg and "ClusterIssuer does not exist" in msg, msg
    else:
        assert "needs the CRD certificates.cert-manager.io" in msg, msg
