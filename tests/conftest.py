"""Shared pytest setup.

Unit tests import the collection as ``ansible_collections.mlops.stack``
through the symlink that scripts/bootstrap.sh creates under build/.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / "build" / "collections"
link = COLLECTIONS / "ansible_collections" / "mlops" / "stack"
if not link.exists():
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(Path("../../../.."), target_is_directory=True)
sys.path.insert(0, str(COLLECTIONS))
os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))

# PostgreSQL/MLflow server fixtures (pg_server, mlflow_server, mlflow_auth_server).
pytest_plugins = ["tests.integration.servers_pg_mlflow"]
