"""plugin_utils/check_plan.py: check mode knows what earlier tasks would create."""
from ansible_collections.mlops.stack.plugins.plugin_utils.check_plan import (
    PLAN_FACT, plan_fact, plan_of, planned_read, record_secret, run_planned)

NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mlops"}}
DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "mlflow", "namespace": "mlops"}}
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "clusterissuers.cert-manager.io"},
       "spec": {"group": "cert-manager.io", "names": {"kind": "ClusterIssuer"}}}
ISSUER = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "selfsigned"}}
OTHER = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "elsewhere"}}


def _ref(obj):
    meta = obj["metadata"]
    return "%s %s%s" % (obj["kind"], meta["namespace"] + "/" if meta.get("namespace") else "", meta["name"])


class FakeModule(object):
    """The module's run/load_objects: records what went to the server's dry run."""

    def __init__(self, created=()):
        self.sent = []
        self.created = set(created)

    def load_objects(self, params):
        return list(params["definition"])

    def run(self, params, check_mode, want_diff, **kwargs):
        assert check_mode
        objs = self.load_objects(params)
        self.sent.extend(_ref(o) for o in objs)
        entries = [{"ref": _ref(o), "result": "created" if _ref(o) in self.created else "unchanged"} for o in objs]
        return {"changed": any(e["result"] == "created" for e in entries), "objects": entries, "count": len(objs)}


def _plan(namespaces=(), crds=(), secrets=None):
    return {"namespaces": set(namespaces), "crds": set(crds), "secrets": dict(secrets or {})}


def test_first_task_records_the_namespace_and_crd_it_would_create():
    fake = FakeModule(created=["Namespace mlops", "CustomResourceDefinition clusterissuers.cert-manager.io"])
    res = run_planned(fake.run, fake.load_objects, {"definition": [NS, CRD, OTHER]}, _plan(), True)
    assert fake.sent == ["Namespace mlops", "CustomResourceDefinition clusterissuers.cert-manager.io",
                         "ConfigMap elsewhere/c"]
    assert res["ansible_facts"][PLAN_FACT] == {"namespaces": ["mlops"], "crds": [["cert-manager.io", "ClusterIssuer"]],
                                               "secrets": {}}


def test_later_task_reports_objects_that_need_the_plan_without_the_server():
    fake = FakeModule()
    plan = _plan(namespaces=["mlops"], crds=[("cert-manager.io", "ClusterIssuer")])
    res = run_planned(fake.run, fake.load_objects, {"definition": [DEPLOY, ISSUER, OTHER]}, plan, True)
    assert fake.sent == ["ConfigMap elsewhere/c"]
    assert res["objects"] == [
        {"ref": "Deployment mlops/mlflow", "result": "created (namespace mlops created by an earlier task)"},
        {"ref": "ClusterIssuer selfsigned", "result": "created (CRD created by an earlier task)"},
        {"ref": "ConfigMap elsewhere/c", "result": "unchanged"}]
    assert res["changed"] and res["counts"] == {"created": 2, "unchanged": 1}
    assert [d["after_header"] for d in res["diff"]] == ["Deployment mlops/mlflow", "ClusterIssuer selfsigned"]
    assert "ansible_facts" not in res


def test_nothing_pending_goes_to_the_server_unchanged():
    fake = FakeModule()
    params = {"definition": [OTHER]}
    res = run_planned(fake.run, fake.load_objects, params, _plan(namespaces=["mlops"]), False)
    assert fake.sent == ["ConfigMap elsewhere/c"] and res["objects"] == [{"ref": "ConfigMap elsewhere/c",
                                                                         "result": "unchanged"}]


def test_only_pending_objects_never_contact_the_server():
    fake = FakeModule()
    res = run_planned(fake.run, fake.load_objects, {"definition": [DEPLOY]}, _plan(namespaces=["mlops"]), False)
    assert fake.sent == [] and res["changed"] and res["count"] == 1


def test_plan_round_trips_through_the_fact():
    plan = _plan(namespaces=["a"], crds=[("g", "K")], secrets={"a/s": ["k"]})
    assert plan_of({"ansible_facts": {PLAN_FACT: plan_fact(plan)}}) == plan
    assert plan_of({}) == _plan()


def test_secrets_are_remembered_by_name_and_keys_only_when_they_change():
    params = {"namespace": "mlops", "name": "mlops-s3", "values": {"AWS_SECRET_ACCESS_KEY": "x" * 40}}
    result = {"changed": True, "secret": {"name": "mlops-s3", "namespace": "mlops",
                                          "keys": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]},
              "secret_data": {"AWS_SECRET_ACCESS_KEY": "x" * 40}}
    grown = record_secret(_plan(), result, params)
    assert grown["secrets"] == {"mlops/mlops-s3": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]}
    assert "x" * 40 not in str(plan_fact(grown))
    assert record_secret(_plan(), {"changed": False}, params) == _plan()


def test_a_read_of_a_planned_secret_returns_a_stand_in_without_values():
    plan = _plan(secrets={"mlops/mlops-s3": ["AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL"]})
    params = {"kind": "Secret", "name": "mlops-s3", "namespace": "mlops"}
    out = planned_read(plan, params, {"resources": [], "api_found": True})
    assert out["planned"] and out["resources"][0]["data"] == {"AWS_ACCESS_KEY_ID": "", "AWS_ENDPOINT_URL": ""}
    assert out["resources"][0]["metadata"]["name"] == "mlops-s3" and "mlops/mlops-s3" in out["warnings"][0]
    # Anything else is left alone: an existing Secret, another name, a list, another kind.
    existing = {"resources": [{"kind": "Secret", "data": {"a": "Yg=="}}], "api_found": True}
    assert planned_read(plan, params, existing) is existing
    for other in (dict(params, name="other"), dict(params, name=None), dict(params, kind="ConfigMap")):
        assert planned_read(plan, other, {"resources": []}) == {"resources": []}
