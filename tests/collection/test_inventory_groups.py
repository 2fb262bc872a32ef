"""Every collection playbook stops with a clear message when the inventory
has no k8s_control host, instead of skipping every play ("no hosts matched")
and exiting 0 having done nothing. No cluster is needed: the check is the
first play of the run."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLAYBOOKS = sorted(p.name for p in (ROOT / "playbooks").glob("*.yml"))
INVENTORIES = {
    # A host, but not in the group.
    "no-group": "all:\n  hosts:\n    somehost:\n      ansible_connection: local\n",
    # The group, empty.
    "empty-group": "all:\n  children:\n    k8s_control:\n      hosts: {}\n    gpu_inference_nodes:\n      hosts: {}\n",
}


def _ansible_playbook(playbook, inventory, cwd):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH="%s:%s" % (BIN, os.environ.get("PATH", "")))
    return subprocess.run([str(BIN / "ansible-playbook"), playbook, "-i", str(inventory)], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_every_collection_playbook_is_covered():
    assert {"site.yml", "storage.yml", "tracking.yml", "serving.yml", "gpu.yml", "observability.yml", "validate.yml",
            "render.yml", "teardown.yml", "deploy_model.yml", "preflight.yml"} <= set(PLAYBOOKS)


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_refuses_an_inventory_without_k8s_control(tmp_path, playbook):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(INVENTORIES["no-group"])
    res = _ansible_playbook(str(ROOT / "playbooks" / playbook), inventory, ROOT)
    out = res.stdout + res.stderr
    assert res.returncode != 0, "%s exited 0 without a k8s_control host:\n%s" % (playbook, out[-3000:])
    assert "no host in group k8s_control" in out and "inventories/local" in out, out[-3000:]
    assert str(inventory) in out, out[-3000:]
    # Nothing else ran: the check is the first and only task.
    assert "TASK [Check that the inventory has a k8s_control host]" in out
    assert out.count("TASK [") == 1, out[-3000:]


def test_installed_style_fqcn_run_with_an_empty_group(tmp_path):
    """`ansible-playbook mlops.stack.site` (the FQCN), from outside the repository."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(INVENTORIES["empty-group"])
    res = _ansible_playbook("mlops.stack.site", inventory, tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "no host in group k8s_control" in out, out[-3000:]
