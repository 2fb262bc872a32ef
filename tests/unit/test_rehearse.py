"""tests/rehearse.py (`make rehearse`) starts the same kind of S3 server as the
inventory deploys, and refuses to start anything when that server is missing
(the end-to-end run is tests/k8s/test_default_inventory.py)."""
import os
import subprocess
import sys

import pytest

from tests import rehearse


def _inventory(tmp_path, store):
    group_vars = tmp_path / store / "group_vars" / "all"
    group_vars.mkdir(parents=True)
    (group_vars / "stack.yml").write_text("---\nmlops_object_store: %s\n" % store)
    return tmp_path / store


def test_the_default_inventory_rehearses_minio():
    assert rehearse.inventory_object_store() == "minio"
    assert rehearse.s3_backend() == "minio"


@pytest.mark.parametrize("store,server", [("minio", "minio"), ("seaweedfs", "seaweedfs"), ("external", "seaweedfs"),
                                          ("none", None)])
def test_the_s3_server_follows_the_inventory(tmp_path, store, server):
    inventory = _inventory(tmp_path, store)
    assert rehearse.s3_backend(inventory) == server
    if store in ("external", "none"):  # SeaweedFS comes with the test requirements; none needs no server
        assert rehearse.s3_server_problem(inventory) is None


def test_a_seaweedfs_inventory_is_refused_with_the_reason(tmp_path):
    """Its consumers' users exist only in a SeaweedFS started from the rendered identity file."""
    problem = rehearse.s3_server_problem(_inventory(tmp_path, "seaweedfs"))
    assert "mlops_object_store=seaweedfs" in problem and "identity file" in problem, problem


def test_a_missing_minio_stops_the_rehearsal_before_anything_starts(tmp_path):
    """No fallback to SeaweedFS: the object_store role would create MinIO users through an admin API that
    SeaweedFS does not have. An empty cache has neither the control plane nor MinIO."""
    cache = tmp_path / "cache"
    env = dict(os.environ, MLOPS_CACHE=str(cache), PATH="/usr/bin:/bin")
    env.pop("XDG_CACHE_HOME", None)
    res = subprocess.run([sys.executable, "-m", "tests.rehearse"], cwd=str(rehearse.ROOT), env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "deploys mlops_object_store=minio" in res.stderr and "MinIO binary not built" in res.stderr, res.stderr
    assert res.stderr.count("run scripts/bootstrap.sh --test-servers") + \
        res.stderr.count("Run scripts/bootstrap.sh --test-servers") == 2, res.stderr
    assert "==>" not in res.stdout, res.stdout  # no control plane, no server started
    assert not (cache / "run").exists()
