"""The shape every role shares (docs/CONVENTIONS.md, "Role contract"), checked
by walking roles/: one description per variable, internal values that can
never be mistaken for settings, builders that never touch the cluster, and
release files resolved in one place."""
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").exists())
#: Modules that read or write the cluster; a builder (tasks/manifests.yml) may only use
#: k8s_apply with render_path (files, for GitOps).
CLUSTER_MODULES = ("mlops.stack.k8s_read", "mlops.stack.k8s_generated_secret", "kubernetes.core.",
                   "mlops.stack.s3_bucket", "mlops.stack.postgresql_database", "mlops.stack.mlflow_experiment",
                   "mlops.stack.model_deployment")


def _yaml(path):
    return yaml.safe_load(path.read_text()) or {}


def _specs(role):
    return _yaml(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]


def _tasks(path):
    """Every task dict in a task file, blocks included."""
    out = []
    for task in _yaml(path) if isinstance(_yaml(path), list) else []:
        out.append(task)
        for key in ("block", "rescue", "always"):
            out.extend(task.get(key) or [])
    return out


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_main_spec_describe_the_same_variables(role):
    defaults = _yaml(ROOT / "roles" / role / "defaults" / "main.yml")
    specs = _specs(role)
    main = specs["main"]["options"]
    every_option = set().union(*(set(ep.get("options") or {}) for ep in specs.values()))
    assert not set(defaults) - every_option, "defaults without a spec entry: %s" % sorted(set(defaults) - every_option)
    undocumented = [k for k, opt in main.items() if k not in defaults and not opt.get("required")]
    assert not undocumented, "spec options without a default: %s" % undocumented


@pytest.mark.parametrize("role", ROLES)
def test_every_entry_point_reads_only_declared_variables(role):
    defaults = _yaml(ROOT / "roles" / role / "defaults" / "main.yml")
    for name, entry in _specs(role).items():
        for key, opt in (entry.get("options") or {}).items():
            assert key in defaults or opt.get("required"), "%s: %s has no default and is not required" % (name, key)
            assert key.startswith(role + "_"), "%s: %s lacks the role prefix" % (name, key)


@pytest.mark.parametrize("role", ROLES)
def test_internal_values_are_not_settings(role):
    """vars/main.yml beats the inventory; a name there that is also a setting would silently win."""
    path = ROOT / "roles" / role / "vars" / "main.yml"
    internal = set(_yaml(path)) if path.exists() else set()
    every_option = set().union(*(set(ep.get("options") or {}) for ep in _specs(role).values()))
    assert not internal & every_option, sorted(internal & every_option)
    # Named as internal, so nobody mistakes one for a setting they could put in the inventory.
    assert all(name.startswith("__%s_" % role) for name in internal), sorted(internal)


@pytest.mark.parametrize("role", ROLES)
def test_builder_never_touches_the_cluster(role):
    path = ROOT / "roles" / role / "tasks" / "manifests.yml"
    assert path.exists(), "every role builds its objects in tasks/manifests.yml (render and the preflight use it)"
    assert "manifests" in _specs(role), "tasks/manifests.yml needs a 'manifests' entry point in the spec"
    for task in _tasks(path):
        module = next((k for k in task if "." in k), "")
        assert not module.startswith(CLUSTER_MODULES), "%s uses %s" % (task.get("name"), module)
        if module == "mlops.stack.k8s_apply":
            assert "render_path" in task[module], "%s applies to the cluster" % task.get("name")


WRITERS = ("ansible.builtin.copy", "ansible.builtin.template", "ansible.builtin.file")


@pytest.mark.parametrize("role", ROLES)
def test_main_only_deploys(role):
    """Only playbooks/render.yml writes manifests: a role's main entry point
    never writes files and never branches on a render directory."""
    path = ROOT / "roles" / role / "tasks" / "main.yml"
    assert "render_dir" not in path.read_text(), "%s branches on a render directory" % path.relative_to(ROOT)
    for task in _tasks(path):
        assert not any(k in task for k in WRITERS), "%s writes files (%s)" % (task.get("name"), path)


def test_release_files_are_resolved_in_one_place():
    copies = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "roles").glob("*/tasks/fetch.yml"))
    assert not copies, "use mlops.stack.release_files instead of per-role fetch tasks: %s" % copies


def test_role_readmes_are_generated_from_the_specs():
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "role_docs.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
