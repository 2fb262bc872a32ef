"""Unit tests for the filters used by the minio/seaweedfs/postgresql/mlflow roles."""
import json
from urllib.parse import unquote, urlsplit

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.stack.plugins.filter.k8s_labels import image_version, k8s_labels, label_value
from ansible_collections.mlops.stack.plugins.filter.mlflow_allowed_hosts import mlflow_allowed_hosts
from ansible_collections.mlops.stack.plugins.filter.postgresql_conf import postgresql_conf
from ansible_collections.mlops.stack.plugins.filter.postgresql_uri import postgresql_uri
from ansible_collections.mlops.stack.plugins.filter.seaweedfs_s3_config import seaweedfs_s3_config


def test_k8s_labels_full_set():
    labels = k8s_labels("mlflow", component="tracking-server", image="ghcr.io/mlflow/mlflow:v3.17.2-full")
    assert labels == {
        "app.kubernetes.io/name": "mlflow",
        "app.kubernetes.io/instance": "mlflow",
        "app.kubernetes.io/version": "v3.17.2-full",
        "app.kubernetes.io/component": "tracking-server",
        "app.kubernetes.io/part-of": "mlops-stack",
        "app.kubernetes.io/managed-by": "mlops.stack",
    }


def test_k8s_labels_selector_only_and_instance():
    assert k8s_labels("minio", selector=True) == {"app.kubernetes.io/name": "minio",
                                                  "app.kubernetes.io/instance": "minio"}
    assert k8s_labels("mlflow", app_instance="mlflow-migration")["app.kubernetes.io/instance"] == "mlflow-migration"


@pytest.mark.parametrize("image,version", [
    ("postgres:17.7-bookworm", "17.7-bookworm"),
    ("registry:5000/x/minio", ""),
    ("cgr.dev/chainguard/minio@sha256:" + "ab" * 32, "ab" * 6),
    ("cgr.dev/chainguard/minio:latest@sha256:" + "ab" * 32, "latest"),
    ("", ""),
])
def test_image_version(image, version):
    assert image_version(image) == version


def test_label_value_sanitises():
    assert label_value("a b/c" + "x" * 80) == ("a-b-c" + "x" * 80)[:63]
    assert label_value("-x-") == "x"


def test_k8s_labels_rejects_empty_name():
    with pytest.raises(AnsibleFilterError):
        k8s_labels("")


def test_allowed_hosts_cover_ingress_and_service_names():
    hosts = mlflow_allowed_hosts("mlflow", "mlops", extra=["mlflow.example.com", ""])
    for h in ["mlflow.example.com", "mlflow.example.com:*", "mlflow", "mlflow:*", "mlflow.mlops",
              "mlflow.mlops.svc", "mlflow.mlops.svc.cluster.local:*", "localhost:*", "127.0.0.1:*"]:
        assert h in hosts
    assert len(hosts) == len(set(hosts))
    assert mlflow_allowed_hosts("m", "ns", extra=["h:8080"])[0:2] == ["h:8080", "m"]


def test_allowed_hosts_rejects_commas():
    with pytest.raises(AnsibleFilterError):
        mlflow_allowed_hosts("mlflow", "mlops", extra=["a,b"])


def test_postgresql_uri_escapes_everything():
    uri = postgresql_uri("ml flow", "p@ss:w/rd%", "db.ns.svc", 5433, "ml/db", params={"sslmode": "require"})
    parts = urlsplit(uri)
    assert parts.scheme == "postgresql" and parts.hostname == "db.ns.svc" and parts.port == 5433
    assert unquote(parts.username) == "ml flow" and unquote(parts.password) == "p@ss:w/rd%"
    assert unquote(parts.path[1:]) == "ml/db" and parts.query == "sslmode=require"


def test_postgresql_uri_requires_parts():
    with pytest.raises(AnsibleFilterError):
        postgresql_uri("u", "p", "", 5432, "db")
    with pytest.raises(AnsibleFilterError):
        postgresql_uri("u", "p", "h", "x", "db")


def test_postgresql_conf_quotes_and_sorts():
    text = postgresql_conf({"shared_buffers": "256MB", "max_connections": 200, "logging_collector": False,
                            "listen_addresses": "*", "search_path": "it's", "skip": None})
    assert text == ("listen_addresses = '*'\nlogging_collector = off\nmax_connections = 200\n"
                    "search_path = 'it''s'\nshared_buffers = '256MB'\n")


@pytest.mark.parametrize("bad", [{"Bad-Name": 1}, {"x": "a\nb"}, ["not", "a", "dict"]])
def test_postgresql_conf_rejects(bad):
    with pytest.raises(AnsibleFilterError):
        postgresql_conf(bad)


def test_seaweedfs_s3_config_is_stable_json():
    text = seaweedfs_s3_config("ak", "sk")
    assert text == seaweedfs_s3_config("ak", "sk")
    doc = json.loads(text)
    ident = doc["identities"][0]
    assert ident["credentials"] == [{"accessKey": "ak", "secretKey": "sk"}]
    assert "Admin" in ident["actions"] and "Write" in ident["actions"]
    with pytest.raises(AnsibleFilterError):
        seaweedfs_s3_config("", "sk")


# ---- mlflow_server_settings ----------------------------------------------
from ansible_collections.mlops.stack.plugins.filter.mlflow_server_settings import (  # noqa: E402
    mlflow_server_settings)


def _deployment(command, args, env=None):
    return {"metadata": {"name": "mlflow"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "sidecar", "command": ["sleep"], "args": ["1d"]},
                {"name": "mlflow", "command": command, "args": args, "env": env or []}]}}}}


def test_mlflow_server_settings_of_the_role_deployment():
    env = [{"name": "MLFLOW_AUTH_ADMIN_USERNAME", "valueFrom": {"secretKeyRef": {"name": "mlflow-auth", "key": "username"}}},
           {"name": "MLFLOW_AUTH_ADMIN_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "mlflow-auth", "key": "password"}}}]
    got = mlflow_server_settings(_deployment(
        ["mlflow", "server"], ["--host=0.0.0.0", "--port=5000", "--serve-artifacts",
                               "--artifacts-destination=s3://mlflow-artifacts", "--app-name=basic-auth"], env))
    assert got == {"port": 5000, "serve_artifacts": True, "artifacts_destination": "s3://mlflow-artifacts",
                   "auth_enabled": True,
                   "auth_secret": {"name": "mlflow-auth", "username_key": "username", "password_key": "password"}}


def test_mlflow_server_settings_space_separated_and_defaults():
    got = mlflow_server_settings(_deployment(
        ["/usr/local/bin/mlflow"], ["server", "--artifacts-destination", "s3://b/p", "--serve-artifacts"]))
    assert got == {"port": 5000, "serve_artifacts": True, "artifacts_destination": "s3://b/p",
                   "auth_enabled": False, "auth_secret": {}}
    got = mlflow_server_settings(_deployment(["mlflow", "server"], ["--default-artifact-root", "s3://x"],
                                             [{"name": "MLFLOW_PORT", "value": "8080"}]))
    assert got["port"] == 8080 and got["serve_artifacts"] is False and got["artifacts_destination"] == ""


def test_mlflow_server_settings_needs_an_mlflow_server():
    with pytest.raises(AnsibleFilterError, match="no container that runs `mlflow server`"):
        mlflow_server_settings(_deployment(["python"], ["app.py"]))
