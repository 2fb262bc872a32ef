"""The shape of plugins/ (issue #13): small files with one concern each, logic
that plugins share lives in module_utils (never in another plugin's module
file), and the default path (roles' tasks, playbooks) uses only the
collection's own Kubernetes layer."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "plugins"
MAX_LINES = 500
#: Files allowed over MAX_LINES, each with the reason; remove an entry when the
#: file is split (the test fails on an entry that is no longer needed).
OVERSIZED = {}
PACKAGE = "ansible_collections.mlops.stack.plugins.modules"


def _python_files():
    return sorted(p for p in PLUGINS.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path):
    """Dotted names a file imports (absolute and relative)."""
    tree = ast.parse(path.read_text(), str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                names.append("." * node.level + (node.module or ""))
            else:
                names.extend([node.module or ""] + ["%s.%s" % (node.module, a.name) for a in node.names])
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
    return names


def test_no_plugin_file_over_the_limit():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in _python_files()}
    over = {p: n for p, n in sizes.items() if n > MAX_LINES and p not in OVERSIZED}
    assert not over, "split these files (one concern per file, at most %s lines): %s" % (MAX_LINES, over)
    stale = sorted(p for p in OVERSIZED if sizes.get(p, 0) <= MAX_LINES)
    assert not stale, "no longer over the limit, remove from OVERSIZED: %s" % stale


@pytest.mark.parametrize("kind", ["action", "modules", "module_utils", "filter", "plugin_utils"])
def test_no_plugin_imports_a_module_file(kind):
    """A module file is an entry point (DOCUMENTATION + main()); what an action
    plugin or another module needs from it belongs in module_utils."""
    bad = []
    for path in sorted((PLUGINS / kind).rglob("*.py")):
        for name in _imports(path):
            if name.startswith(PACKAGE) or (name.startswith(".") and kind == "modules"):
                bad.append("%s imports %s" % (path.relative_to(ROOT), name))
    assert not bad, bad


def test_default_path_uses_the_collections_k8s_layer():
    """roles/*/tasks and playbooks/ use mlops.stack's Kubernetes modules, not
    kubernetes.core (one client, one set of connection defaults)."""
    files = sorted(ROOT.glob("roles/*/tasks/*.yml")) + sorted(ROOT.glob("playbooks/**/*.yml"))
    bad = ["%s:%s" % (f.relative_to(ROOT), n) for f in files
           for n, line in enumerate(f.read_text().splitlines(), 1)
           if "kubernetes.core" in line and not line.lstrip().startswith("#")]
    assert not bad, bad


#: Libraries that cost 0.3-1.4 s to import. Ansible loads every filter file of
#: the collection in each task's worker process whenever a filter's name is not
#: its file's name (exposure_objects, the gpu_* filters), so one of these
#: imported by any filter file is paid by every templating task of a run.
HEAVY = ("boto3", "botocore", "kubernetes", "psycopg", "psycopg2", "cryptography", "argon2", "mlflow")


def test_filter_plugins_import_no_heavy_library():
    code = ("import sys, importlib, pathlib\n"
            "for p in sorted(pathlib.Path(%r).glob('*.py')):\n"
            "    importlib.import_module('ansible_collections.mlops.stack.plugins.filter.' + p.stem)\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} & set(%r))))"
            % (str(PLUGINS / "filter"), HEAVY))
    collections = ROOT / "build" / "collections"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(collections)))
    assert res.stdout.split() == [], "filter plugins import %s" % res.stdout
