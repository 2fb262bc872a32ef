import pytest

from ansible_collections.mlops.stack.plugins.module_utils.image import (
    ImageRefError,
    mirror_image,
    parse_image,
)


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("postgres:17.6", ("docker.io", "library/postgres", "17.6", None)),
        ("bitnami/postgresql", ("docker.io", "bitnami/postgresql", None, None)),
        ("ghcr.io/mlflow/mlflow:v3.17.0", ("ghcr.io", "mlflow/mlflow", "v3.17.0", None)),
        ("localhost:5000/app:1", ("localhost:5000", "app", "1", None)),
        ("localhost/app", ("localhost", "app", None, None)),
        (
            "quay.io/x/y@sha256:" + "a" * 64,
            ("quay.io", "x/y", None, "sha256:" + "a" * 64),
        ),
        (
            "gcr.io/knative-releases/queue:v1@sha256:" + "b" * 64,
            ("gcr.io", "knative-releases/queue", "v1", "sha256:" + "b" * 64),
        ),
    ],
)
def test_parse_image(ref, expected):
    assert parse_image(ref) == expected


@pytest.mark.parametrize(
    "bad",
    ["", " postgres", "Postgres:1", "x/y:bad tag", "x@sha256:zz", None, 5, "a//b"],
)
def test_parse_image_rejects_invalid(bad):
    with pytest.raises(ImageRefError):
        parse_image(bad)


def test_mirror_image_empty_registry_is_identity():
    assert mirror_image("anything-even-Invalid", "") == "anything-even-Invalid"
    assert mirror_image("postgres:17", None) == "postgres:17"


@pytest.mark.parametrize(
    "ref, registry, keep, expected",
    [
        ("postgres:17.6", "reg.corp/mirror", False, "reg.corp/mirror/library/postgres:17.6"),
        ("ghcr.io/mlflow/mlflow:v3.17.0", "reg.corp:5000/", False, "reg.corp:5000/mlflow/mlflow:v3.17.0"),
        ("ghcr.io/mlflow/mlflow:v3.17.0", "harbor/p", True, "harbor/p/ghcr.io/mlflow/mlflow:v3.17.0"),
        ("q.io/a/b@sha256:" + "c" * 64, "m.io", False, "m.io/a/b@sha256:" + "c" * 64),
    ],
)
def test_mirror_image(ref, registry, keep, expected):
    assert mirror_image(ref, registry, keep_domain=keep) == expected


def test_mirror_image_rejects_url_registry():
    with pytest.raises(ImageRefError, match="host"):
        mirror_image("postgres:17", "https://reg.corp")
