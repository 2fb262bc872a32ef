"""Checks of single inventory values (plugins/module_utils/inventory_rules.py)."""
import pytest

from ansible_collections.mlops.stack.plugins.module_utils.inventory_rules import (
    FORMATS,
    check_option,
    check_value,
    format_of,
)


@pytest.mark.parametrize("value,option,converted", [
    ("3", {"type": "int"}, 3),
    ("-1", {"type": "int"}, -1),
    ("yes", {"type": "bool"}, True),
    ("false", {"type": "bool"}, False),
    (1.23, {"type": "str"}, "1.23"),
    (["a", "b"], {"type": "list", "elements": "str"}, ["a", "b"]),
    ({"a": 1}, {"type": "dict"}, {"a": 1}),
])
def test_accepted_values_are_converted(value, option, converted):
    assert check_option(value, option) == (converted, [])


@pytest.mark.parametrize("value,option,problem", [
    ({"a": 1}, {"type": "str"}, "must be a string"),
    (True, {"type": "str"}, "must be a string"),
    ("lots", {"type": "int"}, "must be an integer"),
    (True, {"type": "int"}, "must be an integer"),
    ("maybe", {"type": "bool"}, "must be a boolean"),
    ("a,b", {"type": "list"}, "must be a list"),
    ("k=v", {"type": "dict"}, "must be a mapping"),
    ("bogus", {"type": "str", "choices": ["minio", "seaweedfs"]}, "must be one of 'minio', 'seaweedfs'"),
    ([1, {"x": 1}], {"type": "list", "elements": "str"}, "item 1 must be a string"),
    ("", {"type": "str", "required": True}, "is required"),
])
def test_rejected_values_say_why(value, option, problem):
    _value, problems = check_option(value, option)
    assert problems and problem in problems[0], problems


@pytest.mark.parametrize("name,option,fmt", [
    ("mlflow_namespace", {}, "dns_label"),
    ("mlflow_manage_namespace", {"type": "bool"}, None),
    ("mlflow_name", {}, "dns_1035"),
    ("minio_image", {}, "image"),
    ("minio_image_registry", {}, "registry"),
    ("minio_image_pull_policy", {}, None),
    ("minio_storage_size", {}, "quantity"),
    ("mlflow_artifacts_bucket", {}, "bucket"),
    ("minio_versioned_buckets", {"type": "list"}, "buckets"),
    ("otel_collector_replicas", {"type": "int"}, "replicas"),
    ("mlflow_wait_timeout", {"type": "int"}, "positive"),
    ("otel_collector_export_timeout", {"type": "str"}, "duration"),
    ("mlflow_ingress_host", {}, "hostname"),
    ("otel_collector_grpc_port", {"type": "int"}, "port"),
    ("mlflow_auth_password", {}, None),
])
def test_format_follows_the_variable_name(name, option, fmt):
    assert format_of(name, option) == fmt


@pytest.mark.parametrize("fmt,good,bad", [
    ("dns_label", "mlops-2", "My_NS"),
    ("dns_1035", "mlflow", "1mlflow"),
    ("dns_subdomain", "mlops-s3.v1", "Bad_Name"),
    ("hostname", "mlflow.mlops.local", "mlflow.local:80"),
    ("image", "ghcr.io/mlflow/mlflow:v3.17.2-full", "minio image"),
    ("registry", "mirror.local:5000/proxy", "https://mirror.local"),
    ("quantity", "10Gi", "lots"),
    ("quantity", "500m", "10 Gi"),
    ("resources", {"requests": {"cpu": "1", "memory": "2Gi"}}, {"requests": {"cpu": "lots"}}),
    ("resources", {"limits": {"nvidia.com/gpu": 1}}, {"request": {}}),
    ("bucket", "mlflow-artifacts", "My_Bucket"),
    ("buckets", ["models", {"name": "data"}], ["ok-name", "x"]),
    ("url", "http://minio.mlops.svc:9000", "minio.mlops.svc"),
    ("duration", "2160h", "90 days"),
    ("memlimit", "400MiB", "400MB"),
    ("email", "ops@example.com", "ops"),
    ("labels", {"workload-type": "inference"}, {"workload type": "x"}),
    ("replicas", 1, -1),
    ("positive", "5", 0),
    ("non_negative", 0, -1),
    ("uid", 1000, 0),
    ("port", 5432, 70000),
    ("digits", "12", "abc"),
])
def test_each_format_accepts_good_and_rejects_bad(fmt, good, bad):
    assert FORMATS[fmt](good) == []
    assert FORMATS[fmt](bad), "%s accepted %r" % (fmt, bad)


def test_empty_is_fine_only_where_optional():
    assert check_value("minio_image_registry", "", {"type": "str"}, optional=True) == ("", [])
    _value, problems = check_value("mlflow_namespace", "", {"type": "str"}, optional=False)
    assert problems


def test_type_problems_come_before_format_problems():
    _value, problems = check_value("mlflow_namespace", {"a": 1}, {"type": "str"})
    assert problems == ["must be a string, not a mapping"]
