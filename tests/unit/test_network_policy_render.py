"""The NetworkPolicies the minio and mlflow roles render (``tasks_from:
manifests``, no cluster), for every way the MinIO console can be published.

In a NetworkPolicy an empty ``from`` admits every peer, so no rendered rule
may have one: the console rule is left out when nobody may reach it, and an
empty ``minio_network_policy_from`` / ``mlflow_network_policy_from`` /
``seaweedfs_network_policy_from`` is
refused by the role's validate step (the preflight's rule:
tests/unit/plugins/module_utils/test_stack_rules.py). All cases run in one
ansible-playbook, one play per case.
"""
import pytest

from tests.playbook import run_playbook, write_playbook

EVERY_NAMESPACE = [{"namespaceSelector": {}}]
ENVOY_GATEWAY = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"}}}]


def _namespace(name):
    return [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}]


PUBLISHED = {"minio_ingress_enabled": True, "mlops_ingress_class": "nginx", "mlops_tls_enabled": False}
# case -> (inventory, peers of the console rule or None when there is no console rule)
MINIO_CASES = {
    "gateway": (dict(PUBLISHED, mlops_exposure="gateway", mlops_gateway_namespace="edge"), _namespace("edge")),
    # No mlops_gateway_namespace: the Gateway is in the stack's namespace.
    "gateway-own-namespace": (dict(PUBLISHED, mlops_exposure="gateway", mlops_namespace="ml"), _namespace("ml")),
    "ingress": (dict(PUBLISHED, mlops_exposure="ingress"), _namespace("ingress-nginx")),
    "exposure-none": (dict(PUBLISHED, mlops_exposure="none"), None),
    "not-published": ({"mlops_exposure": "gateway"}, None),
    "console-off": (dict(PUBLISHED, mlops_exposure="gateway", minio_console_enabled=False), None),
    "empty-list-closes-the-console": (dict(PUBLISHED, mlops_exposure="gateway",
                                           minio_network_policy_console_from=[]), None),
    # Envoy Gateway's default mode: the proxies run in envoy-gateway-system.
    "own-peers": (dict(PUBLISHED, mlops_exposure="gateway", minio_network_policy_console_from=ENVOY_GATEWAY),
                  ENVOY_GATEWAY),
}
# case -> (role, inventory, expected failure text or None)
VALIDATE_CASES = {
    "minio-empty-api-peers": ("minio", {"minio_network_policy_from": []}, "minio_network_policy_from must not be empty"),
    "minio-empty-api-peers-without-policy": ("minio", {"minio_network_policy_from": [],
                                                       "minio_network_policy_enabled": False}, None),
    "mlflow-empty-peers": ("mlflow", {"mlflow_network_policy_from": []}, "mlflow_network_policy_from must not be empty"),
    "mlflow-default": ("mlflow", {}, None),
    "seaweedfs-empty-peers": ("seaweedfs", {"seaweedfs_network_policy_from": [], "mlops_object_store": "seaweedfs"},
                              "seaweedfs_network_policy_from must not be empty"),
    "seaweedfs-default": ("seaweedfs", {"mlops_object_store": "seaweedfs"}, None),
}


def _play(case, role, inventory):
    return {
        "name": case, "hosts": "localhost", "gather_facts": False, "vars": inventory,
        "tasks": [{"block": [
            {"name": "Build the %s manifests" % role,
             "ansible.builtin.include_role": {"name": "mlops.stack.%s" % role, "tasks_from": "manifests"}},
            {"name": "Rendered %s" % case,
             "ansible.builtin.debug": {"msg": "{{ %s_manifests | selectattr('kind', 'in', ['NetworkPolicy', "
                                              "'Service']) | list }}" % role}},
        ], "rescue": [
            {"name": "Refused %s" % case, "ansible.builtin.debug": {"msg": "{{ ansible_failed_result.msg }}"}},
        ]}],
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    plays = [_play(case, "minio", inv) for case, (inv, _peers) in MINIO_CASES.items()]
    plays += [_play(case, role, inv) for case, (role, inv, _msg) in VALIDATE_CASES.items()]
    res = run_playbook(write_playbook(tmp_path_factory.mktemp("np-render"), plays), timeout=600)
    assert res.rc == 0, res.explain()
    return res


def _objects(res, case):
    out = res.task_results("Rendered %s" % case)
    assert out, "case %s did not render: %s" % (case, res.task_results("Refused %s" % case))
    return out[0]["msg"]


@pytest.mark.parametrize("case", sorted(MINIO_CASES))
def test_minio_console_peers_follow_the_exposure(rendered, case):
    inventory, console_peers = MINIO_CASES[case]
    objs = _objects(rendered, case)
    [policy] = [o for o in objs if o["kind"] == "NetworkPolicy"]
    rules = {r["ports"][0]["port"]: r for r in policy["spec"]["ingress"]}
    assert rules[9000]["from"] == EVERY_NAMESPACE
    if console_peers is None:
        assert sorted(rules) == [9000], policy
    else:
        assert sorted(rules) == [9000, 9001] and rules[9001]["from"] == console_peers, policy
    # Never a rule that admits everyone by accident.
    assert all(rule.get("from") for rule in policy["spec"]["ingress"]), policy
    console_service = [o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == "minio-console"]
    assert len(console_service) == (0 if inventory.get("minio_console_enabled") is False else 1)


@pytest.mark.parametrize("case", sorted(VALIDATE_CASES))
def test_empty_api_peers_are_refused(rendered, case):
    role, inventory, refusal = VALIDATE_CASES[case]
    refused = rendered.task_results("Refused %s" % case)
    if refusal:
        assert refused and refusal in refused[0]["msg"], refused
        assert "admits every peer" in refused[0]["msg"] and "%s_network_policy_enabled: false" % role \
            in refused[0]["msg"]
        return
    assert not refused, refused
    policies = [o for o in _objects(rendered, case) if o["kind"] == "NetworkPolicy"]
    if inventory.get("%s_network_policy_enabled" % role) is False:
        assert policies == []
    else:
        assert [r["from"] for r in policies[0]["spec"]["ingress"]] == [EVERY_NAMESPACE]
