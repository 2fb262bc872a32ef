import json

import pytest

from ansible_collections.mlops.stack.plugins.module_utils import k8s_apply as ka

CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}, "data": {"a": "1"}}


def test_sort_install_order():
    objs = [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "w"}},
        {"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "i"}},
        CM,
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}},
    ]
    assert [o["kind"] for o in ka.sort_objects(objs)] == [
        "Namespace", "CustomResourceDefinition", "ConfigMap", "Issuer", "ValidatingWebhookConfiguration"]


def test_load_documents_flattens_lists_and_skips_empty():
    text = "---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
    assert [o["metadata"]["name"] for o in ka.load_documents(text)] == ["a"]
    with pytest.raises(ka.K8sApplyError, match="not a mapping"):
        ka.load_documents("- a\n")


def test_overrides_merge_and_report_unmatched():
    objs, unmatched = ka.apply_overrides([CM], [
        {"kind": "ConfigMap", "name": "c", "merge": {"data": {"b": "2", "a": None}}},
        {"kind": "ConfigMap", "name": "missing", "merge": {}}])
    assert objs[0]["data"] == {"b": "2"}
    assert CM["data"] == {"a": "1"}  # input untouched
    assert [u["name"] for u in unmatched] == ["missing"]


def test_dedupe_keeps_first_position_last_content():
    a1 = dict(CM, data={"v": "1"})
    a2 = dict(CM, data={"v": "2"})
    other = dict(CM, metadata={"name": "o", "namespace": "n"})
    assert ka.dedupe_objects([a1, other, a2]) == [a2, other]


def test_filter_objects():
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}
    assert ka.filter_objects([ns, CM], include_kinds=["ConfigMap"]) == [CM]
    assert ka.filter_objects([ns, CM], exclude=[{"kind": "Namespace"}]) == [CM]


def test_mirror_images_everywhere():
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "quay.io/jetstack/cert-manager-controller:v1.19.4",
                        "args": ["--acme-http01-solver-image=quay.io/jetstack/cert-manager-acmesolver:v1.19.4",
                                 "--v=2"]}]}}}}
    out = ka.mirror_object_images(dep, "reg.corp/m")
    c = out["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "reg.corp/m/jetstack/cert-manager-controller:v1.19.4"
    assert c["args"] == ["--acme-http01-solver-image=reg.corp/m/jetstack/cert-manager-acmesolver:v1.19.4", "--v=2"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].startswith("quay.io")
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {
        "queue-sidecar-image": "gcr.io/knative-releases/queue@sha256:" + "a" * 64,
        "storageInitializer": '{\n  "image" : "kserve/storage-initializer:v0.20.0",\n  "cpu": "1"}',
        "other": "image: not-touched"}}
    data = ka.mirror_object_images(cm, "reg.corp/m")["data"]
    assert data["queue-sidecar-image"] == "reg.corp/m/knative-releases/queue@sha256:" + "a" * 64
    assert '"image" : "reg.corp/m/kserve/storage-initializer:v0.20.0"' in data["storageInitializer"]
    assert data["other"] == "image: not-touched"
    assert ka.mirror_object_images(cm, "") is cm


def test_checksums():
    assert ka.normalize_checksum("sha256:" + "A" * 64) == "a" * 64
    assert ka.normalize_checksum("") is None
    with pytest.raises(ka.K8sApplyError, match="only sha256"):
        ka.normalize_checksum("md5:abc")
    with pytest.raises(ka.K8sApplyError, match="not a sha256"):
        ka.normalize_checksum("abc")


def test_run_checksum_mismatch(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text(json.dumps(CM))
    with pytest.raises(ka.K8sApplyError, match="checksum mismatch"):
        ka.run({"src": [{"path": str(f), "checksum": "0" * 64}], "render_path": str(tmp_path / "o.yaml")})
    res = ka.run({"src": [{"path": str(f), "checksum": ka.sha256_text(f.read_bytes())}],
                  "render_path": str(tmp_path / "o.yaml")})
    assert res["changed"] and (tmp_path / "o.yaml").exists()


def test_run_fails_on_unmatched_override(tmp_path):
    with pytest.raises(ka.K8sApplyError, match="overrides match no object"):
        ka.run({"definition": [CM], "overrides": [{"kind": "Secret", "name": "x", "merge": {}}],
                "render_path": str(tmp_path / "o.yaml")})


def test_apply_changed_logic():
    mf = [{"manager": "mlops-stack", "operation": "Apply", "time": "t1", "fieldsV1": {"f:data": {}}}]
    before = {"resourceVersion": "1", "managedFields": mf}
    assert ka.apply_changed(None, before, "mlops-stack")
    assert not ka.apply_changed(before, dict(before), "mlops-stack")
    # someone else bumped the object, our entry did not move
    assert not ka.apply_changed(before, {"resourceVersion": "2", "managedFields": mf}, "mlops-stack")
    moved = [dict(mf[0], time="t2")]
    assert ka.apply_changed(before, {"resourceVersion": "2", "managedFields": moved}, "mlops-stack")


def test_readiness():
    assert ka.crd_established({"status": {"conditions": [{"type": "Established", "status": "True"}]}})
    assert not ka.crd_established({})
    dep = {"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2},
           "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 1}}
    assert ka.workload_ready(dep) == (False, "1/2 replicas available")
    dep["status"]["availableReplicas"] = 2
    assert ka.workload_ready(dep)[0]
    ds = {"kind": "DaemonSet", "metadata": {"generation": 1}, "status": {
        "observedGeneration": 1, "desiredNumberScheduled": 1, "updatedNumberScheduled": 1, "numberAvailable": 1}}
    assert ka.workload_ready(ds)[0]


def test_job_readiness():
    # A Job has metadata.generation but never status.observedGeneration.
    job = {"kind": "Job", "metadata": {"name": "migrate", "generation": 1}, "status": {"active": 1}}
    assert ka.workload_ready(job) == (False, "0 succeeded, 0 failed")
    assert ka.job_failed(job) is None
    job["status"] = {"succeeded": 1, "conditions": [
        {"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}
    assert ka.workload_ready(job) == (True, "complete")
    failed = {"kind": "Job", "status": {"failed": 6, "conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the limit"}]}}
    assert not ka.workload_ready(failed)[0]
    assert ka.job_failed(failed) == "BackoffLimitExceeded: Job has reached the limit"
    assert "Job" in ka.WAIT_KINDS


def test_strip_volatile():
    obj = {"kind": "X", "status": {"a": 1}, "metadata": {"name": "n", "resourceVersion": "5", "managedFields": [],
                                                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}}}
    assert ka.strip_volatile(obj) == {"kind": "X", "metadata": {"name": "n"}}


def test_parse_cache_round_trip(tmp_path):
    src = tmp_path / "release.yaml"
    src.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: '1'}\n---\n"
                   "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: n}}\n")
    cache = tmp_path / "cache"
    params = {"src": [str(src)], "parse_cache": str(cache)}
    first = ka.load_objects(params)
    files = list(cache.iterdir())
    assert [f.name for f in files] == [ka.sha256_text(src.read_bytes()) + ".json"]
    assert ka.load_objects(params) == first == ka.load_objects({"src": [str(src)]})
    # A hit is read from the cache, not the YAML (proved by editing the cache).
    data = json.loads(files[0].read_text())
    data[0]["data"]["k"] = "from-cache"
    files[0].write_text(json.dumps(data))
    assert ka.load_objects(params)[1]["data"]["k"] == "from-cache"
    # A corrupt cache entry is ignored and rewritten.
    files[0].write_text("{not json")
    assert ka.load_objects(params) == first
    assert json.loads(files[0].read_text())[0]["data"]["k"] == "1"


def test_parse_cache_skips_content_json_cannot_hold(tmp_path):
    src = tmp_path / "ts.yaml"
    # An unquoted timestamp becomes a datetime in YAML and a string in JSON.
    src.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {when: 2026-11-23}\n")
    cache = tmp_path / "cache"
    objs = ka.load_objects({"src": [str(src)], "parse_cache": str(cache)})
    assert objs[0]["data"]["when"].year == 2026
    assert not cache.exists() or not list(cache.iterdir())
