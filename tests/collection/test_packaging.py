"""The collection as users get it: the tarball `ansible-galaxy collection
build` makes, installed with `ansible-galaxy collection install`.

- The tarball holds what users need (plugins, roles, playbooks, meta, docs,
  README, changelog, the example inventories the README tells them to copy)
  and none of the development files (galaxy.yml ``build_ignore``).
- The installed copy works: its playbooks pass ``--syntax-check`` by their
  FQCN, from a directory outside this repository.
- Every filter the collection exports has its own documentation in the
  installed copy: ``ansible-doc -t filter mlops.stack.<name>`` shows that
  filter's name, options that match the function's parameters, and a
  description no other filter has.
"""
import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

ABSENT = ("tests/", "molecule/", "tools/", "scripts/", "ansible.cfg", ".config/", ".ci/", "Makefile", "pytest.ini",
          "requirements-test.txt", "changelogs/fragments/", "build/", ".venv/", ".ansible-lint", ".yamllint")
PRESENT = ("MANIFEST.json", "FILES.json", "README.md", "LICENSE", "CHANGELOG.rst", "changelogs/changelog.yaml",
           "meta/runtime.yml", "requirements.txt", "plugins/modules/s3_bucket.py", "plugins/action/k8s_apply.py",
           "plugins/filter/gpu_scheduling.py", "plugins/filter/gpu_tolerations.yml", "roles/mlflow/tasks/main.yml",
           "roles/kserve/meta/argument_specs.yml", "playbooks/site.yml", "playbooks/inventory_groups.yml",
           "playbooks/vars/components.yml", "docs/CONVENTIONS.md", "inventories/local/hosts.yml",
           "inventories/example-production/hosts.yml")


def _env(collections_path, **extra):
    env = dict(os.environ)
    env.pop("ANSIBLE_CONFIG", None)
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections_path), ANSIBLE_NOCOLOR="1",
               PATH="%s:%s" % (BIN, env.get("PATH", "")), **extra)
    return env


def _run(cmd, cwd, env, timeout=300):
    return subprocess.run([str(c) for c in cmd], cwd=str(cwd), env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(tarball member names, collections path of the installed copy, a neutral work directory)."""
    base = tmp_path_factory.mktemp("collection")
    work = base / "work"
    work.mkdir()
    env = _env(base / "installed")
    built = _run([BIN / "ansible-galaxy", "collection", "build", "--output-path", base / "dist", ROOT], work, env)
    assert built.returncode == 0, built.stdout + built.stderr
    tarball = next((base / "dist").glob("mlops-stack-*.tar.gz"))
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    done = _run([BIN / "ansible-galaxy", "collection", "install", "--no-deps", "-p", base / "installed", tarball],
                work, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (base / "installed" / "ansible_collections" / "mlops" / "stack" / "MANIFEST.json").exists()
    return names, base / "installed", work


def test_tarball_holds_only_what_users_need(installed):
    names = installed[0]
    shipped = [n for n in names if any(n == a.rstrip("/") or n.startswith(a) for a in ABSENT)]
    assert shipped == [], "development files in the tarball: %s" % shipped[:20]
    missing = [p for p in PRESENT if p not in names]
    assert missing == [], "missing from the tarball: %s" % missing
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_installed_playbooks_pass_syntax_check(installed):
    dummy, path, work = installed
    inventory = path / "ansible_collections" / "mlops" / "stack" / "inventories" / "local"
    for playbook in ("site", "render", "teardown", "deploy_model"):
        res = _run([BIN / "ansible-playbook", "mlops.stack.%s" % playbook, "--syntax-check", "-i", inventory],
                   work, _env(path))
        assert res.returncode == 0, "mlops.stack.%s: %s%s" % (playbook, res.stdout[-2000:], res.stderr[-3000:])
        assert "playbook: " in res.stdout and str(path) in res.stdout, res.stdout


def _exported_filters():
    sys.path.insert(0, str(ROOT / "build" / "collections"))
    out = {}
    for info in pkgutil.iter_modules([str(ROOT / "plugins" / "filter")]):
        module = importlib.import_module("ansible_collections.mlops.stack.plugins.filter." + info.name)
        out.update(module.FilterModule().filters())
    return out


def test_every_filter_has_its_own_documentation(installed):
    dummy, path, work = installed
    filters = _exported_filters()
    assert len(filters) >= 20 and "gpu_tolerations" in filters
    names = ["mlops.stack.%s" % n for n in sorted(filters)]
    res = _run([BIN / "ansible-doc", "-t", "filter", "--json"] + names, work, _env(path))
    assert res.returncode == 0, res.stderr[-3000:]
    docs = json.loads(res.stdout)
    descriptions = {}
    for name, func in sorted(filters.items()):
        doc = docs["mlops.stack.%s" % name]["doc"]
        assert doc["name"] == name, "ansible-doc mlops.stack.%s shows the documentation of %s" % (name, doc["name"])
        assert str(path) in doc["filename"], doc["filename"]
        text = " ".join(doc["description"]) if isinstance(doc["description"], list) else doc["description"]
        descriptions.setdefault(text, []).append(name)
        options = set(doc.get("options") or {}) - {"_input"}
        params = [p.name for p in list(inspect.signature(func).parameters.values())[1:]
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        assert options == set(params), "%s: documented options %s, parameters %s" % (name, sorted(options), params)
    shared = {d[:60]: n for d, n in descriptions.items() if len(n) > 1}
    assert not shared, "filters sharing one description: %s" % shared
    # The text a user reads names the filter asked for.
    res = _run([BIN / "ansible-doc", "-t", "filter", "mlops.stack.gpu_tolerations"], work, _env(path))
    assert res.returncode == 0 and "mlops.stack.gpu_tolerations" in res.stdout, res.stdout + res.stderr
    assert "gpu_inventory" not in res.stdout.split("\n", 1)[0] and "Tolerations" in res.stdout, res.stdout[:800]
