"""Rules between inventory variables (plugins/module_utils/stack_rules.py)."""
import pytest

from ansible_collections.mlops.stack.plugins.module_utils.stack_rules import cross_field, exposure_warnings

GOOD = {
    "mlops_object_store": "minio", "mlops_tls_enabled": True, "mlops_cluster_issuer": "mlops-selfsigned",
    "object_store_buckets": ["mlflow-artifacts", "models"], "object_store_versioned_buckets": ["models"],
    "minio_ingress_enabled": False, "minio_ingress_host": "", "minio_root_password": "",
    "mlflow_ingress_enabled": True, "mlflow_ingress_host": "mlflow.mlops.local",
    "mlflow_artifacts_backend": "s3", "mlflow_artifacts_bucket": "mlflow-artifacts", "mlflow_replicas": 1,
    "mlflow_artifacts_pvc_access_mode": "ReadWriteMany", "mlflow_experiments": [{"name": "llm-traces"}],
    "mlflow_auth_enabled": False, "mlflow_auth_username": "admin", "mlflow_auth_password": "",
    "postgresql_mode": "bundled", "postgresql_extensions": ["pg_stat_statements"],
    "otel_collector_mlflow_version": "3.17.2", "otel_collector_compression": "auto",
    "certmanager_acme_enabled": False, "certmanager_acme_email": "",
    "mlops_exposure": "gateway", "mlops_gateway_name": "mlops", "mlops_gateway_create": False,
    "mlops_gateway_class": "", "mlops_ingress_class": "",
    "minio_network_policy_enabled": True, "minio_network_policy_from": [{"namespaceSelector": {}}],
    "mlflow_network_policy_enabled": True, "mlflow_network_policy_from": [{"namespaceSelector": {}}],
    "seaweedfs_network_policy_enabled": True, "seaweedfs_network_policy_from": [{"namespaceSelector": {}}],
}


def test_defaults_break_no_rule():
    assert cross_field(dict(GOOD)) == []


@pytest.mark.parametrize("change,variable", [
    ({"mlops_exposure": "ingress"}, "mlops_ingress_class"),
    ({"mlops_gateway_create": True}, "mlops_gateway_class"),
    ({"mlops_gateway_name": ""}, "mlops_gateway_name"),
    ({"certmanager_acme_enabled": True, "certmanager_acme_email": "a@b.c", "certmanager_acme_exposure": "none"},
     "certmanager_acme_exposure"),
    ({"certmanager_acme_enabled": True, "certmanager_acme_email": "a@b.c", "certmanager_acme_exposure": "ingress",
      "certmanager_acme_ingress_class": ""}, "certmanager_acme_ingress_class"),
    ({"mlflow_ingress_host": ""}, "mlflow_ingress_host"),
    ({"minio_ingress_enabled": True}, "minio_ingress_host"),
    ({"mlflow_artifacts_bucket": "elsewhere"}, "mlflow_artifacts_bucket"),
    ({"mlflow_artifacts_backend": "pvc", "mlflow_replicas": 2, "mlflow_artifacts_pvc_access_mode": "ReadWriteOnce"},
     "mlflow_artifacts_pvc_access_mode"),
    ({"mlflow_experiments": [{"tags": {}}]}, "mlflow_experiments"),
    ({"mlflow_auth_enabled": True, "mlflow_auth_username": ""}, "mlflow_auth_username"),
    ({"mlflow_auth_password": "short"}, "mlflow_auth_password"),
    ({"object_store_versioned_buckets": ["other"]}, "object_store_versioned_buckets"),
    ({"minio_root_password": "short"}, "minio_root_password"),
    ({"mlops_object_store": "external", "object_store_external_endpoint_url": ""}, "object_store_external_endpoint_url"),
    ({"object_store_external_access_key": "ak", "object_store_external_secret_key": ""},
     "object_store_external_secret_key"),
    ({"mlops_object_store": "none"}, "mlflow_artifacts_backend"),
    ({"postgresql_mode": "external", "postgresql_external_host": ""}, "postgresql_external_host"),
    ({"postgresql_extensions": ["Bad-Name"]}, "postgresql_extensions"),
    ({"otel_collector_mlflow_version": "3.5.1"}, "otel_collector_mlflow_version"),
    ({"otel_collector_mlflow_version": "3.6.0", "otel_collector_compression": "gzip"}, "otel_collector_compression"),
    ({"certmanager_acme_enabled": True}, "certmanager_acme_email"),
    ({"mlops_cluster_issuer": ""}, "mlops_cluster_issuer"),
    ({"minio_network_policy_from": []}, "minio_network_policy_from"),
    ({"mlflow_network_policy_from": []}, "mlflow_network_policy_from"),
    ({"seaweedfs_network_policy_from": []}, "seaweedfs_network_policy_from"),
])
def test_each_rule_names_the_variable_to_change(change, variable):
    values = dict(GOOD, **change)
    found = cross_field(values)
    assert [v for v, _text in found] == [variable], found


def test_empty_network_policy_peers_are_refused_unless_there_is_no_policy():
    """An empty `from` admits every peer: [] is refused with what to write instead."""
    [(variable, text)] = cross_field(dict(GOOD, minio_network_policy_from=[]))
    assert variable == "minio_network_policy_from" and "admits every peer" in text
    assert "minio_network_policy_enabled: false" in text and "namespaceSelector" in text
    assert cross_field(dict(GOOD, minio_network_policy_from=[], minio_network_policy_enabled=False,
                            mlflow_network_policy_from=[], mlflow_network_policy_enabled=False)) == []


def test_rules_skip_what_was_not_checked():
    # Only variables that passed their own checks reach the rules.
    assert cross_field({"mlflow_ingress_enabled": True}) == []


def test_ingress_class_is_only_needed_when_something_is_exposed():
    assert cross_field(dict(GOOD, mlops_exposure="ingress", mlflow_ingress_enabled=False)) == []
    found = cross_field(dict(GOOD, mlops_exposure="ingress", mlflow_ingress_enabled=False,
                             kserve_deployment_mode="Standard"))
    assert [pair[0] for pair in found] == ["mlops_ingress_class"] and "kserve" in found[0][1]


def test_published_mlflow_without_auth_is_warned_about():
    assert "without authentication" in exposure_warnings(dict(GOOD))[0]
    assert exposure_warnings(dict(GOOD, mlflow_auth_enabled=True)) == []
    assert exposure_warnings(dict(GOOD, mlops_exposure="none")) == []


def test_none_store_with_pvc_artifacts_breaks_no_rule():
    assert cross_field(dict(GOOD, mlops_object_store="none", mlflow_artifacts_backend="pvc")) == []


@pytest.mark.parametrize("old,new", [
    ("minio_external_endpoint_url", "object_store_external_endpoint_url"),
    ("minio_external_credentials_secret", "object_store_external_credentials_secret"),
    ("minio_external_region", "object_store_region"),
    ("minio_buckets", "object_store_buckets"),
    ("seaweedfs_bootstrap_endpoint_url", "object_store_bootstrap_endpoint_url"),
    ("minio_mode", "mlops_object_store"),
])
def test_renamed_variables_are_refused_with_the_new_name(old, new):
    found = cross_field(dict(GOOD), names={old: "x", "minio_name": "minio"})
    assert [v for v, _t in found] == [old], found
    assert new in found[0][1] and "no longer read" in found[0][1]


def test_consumers_are_checked_against_the_created_buckets():
    consumers = {"mlflow": {"secret": "mlops-s3", "buckets_rw": ["nowhere"]}}
    values = {"mlops_object_store": "minio", "object_store_consumers": consumers, "object_store_buckets": ["a-b-c"]}
    assert cross_field(values) == [
        ("object_store_consumers",
         "object_store_consumers.mlflow: bucket nowhere is not in object_store_buckets (the role creates only those)")]
    # Without the bootstrap the buckets are the operator's; with no object store nobody reads the table.
    assert cross_field(dict(values, object_store_bootstrap_enabled=False)) == []
    assert cross_field(dict(values, mlops_object_store="none")) == []


def test_seaweedfs_users_are_checked_with_seaweedfs_only():
    users = {"mlflow": {"buckets": ["mlflow-artifacts"]}}
    found = cross_field({"mlops_object_store": "seaweedfs", "seaweedfs_users": users})
    assert {v for v, _p in found} == {"seaweedfs_users"} and any("unknown keys buckets" in p for _v, p in found)
    assert cross_field({"mlops_object_store": "minio", "seaweedfs_users": users}) == []
