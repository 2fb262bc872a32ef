"""Every molecule scenario, run as a user runs it: ``molecule test -s NAME``.

Each run is molecule's full sequence from the base config
(.config/molecule/config.yml): dependency, cleanup, destroy, syntax, create,
prepare, converge, idempotence, verify, cleanup, destroy. The test asserts
rc 0 and that idempotence and verify ran and succeeded, and prints the time
of every step.

``default`` runs on a control plane of its own, started and stopped by
molecule's create/destroy (the local path of molecule/_shared/create.yml).
The role scenarios share a local control plane started here (one per xdist
worker: serving and tracking scenarios are two groups), through
``MOLECULE_CLUSTER=external`` (create copies its kubeconfig, cleanup deletes
the scenario's namespaces, destroy leaves it running): that saves a control
plane start and stop per scenario, and each scenario also converges on a
cluster that earlier scenarios left populated, as a re-run of the stack would.
"""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster import Cluster, missing_binaries
from tests.helpers import require

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# Two xdist groups so that the suite's two workers can share the load; each
# worker starts one control plane for the role scenarios it runs.
SERVING = ["certmanager", "gateway", "knative", "kserve", "gpu_serving"]
TRACKING = ["minio", "postgresql", "seaweedfs", "mlflow", "otel_collector"]
ROLE_SCENARIOS = SERVING + TRACKING
# molecule's step lines: "INFO     [<scenario> > <action>] Executing" (no colour),
# "INFO     <scenario> ➜ <action>: Executed: Successful" (colour)
STEP = re.compile(r"^(?:INFO|WARNING|ERROR)\s+\[?(\S+) (?:\u279c|>) (\w+)(?:\]|:) (Executing|Executed: .*)$")

pytestmark = [pytest.mark.slow]
GROUP = pytest.mark.xdist_group("molecule")


@GROUP
def test_every_scenario_is_tested():
    found = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
    assert found == sorted(ROLE_SCENARIOS + ["default"])


def _prerequisites():
    require((VENV_BIN / "molecule").exists(),
            "molecule is not installed in %s: run scripts/bootstrap.sh --test" % VENV_BIN)
    missing = missing_binaries()
    require(not missing, "control-plane binaries missing (%s): run scripts/build-testbins.sh"
            % ", ".join(missing))


def molecule_env(ephemeral, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MOLECULE_", "ANSIBLE_", "K8S_AUTH_", "KUBECONFIG"))}
    env.update({
        # molecule runs ansible-config / ansible-playbook by name
        "PATH": "%s:%s" % (VENV_BIN, env.get("PATH", "/usr/bin:/bin")),
        # this run's state, apart from a developer's ~/.ansible/tmp/molecule.*
        "MOLECULE_EPHEMERAL_DIRECTORY": str(ephemeral),
        "NO_COLOR": "1", "PY_COLORS": "0", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
    })
    env.update(extra)
    return env


def run_molecule(args, env, timeout=900):
    """Run molecule from the repository root.

    Returns (rc, output, [(step, seconds)...], {step: last result}).
    """
    proc = subprocess.Popen([str(VENV_BIN / "molecule")] + args, cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, steps, results, started = [], [], {}, time.monotonic()
    current = None
    deadline = started + timeout
    for line in proc.stdout:
        lines.append(line)
        now = time.monotonic()
        m = STEP.match(line.strip())
        if m and m.group(3) == "Executing":
            current = (m.group(2), now)
        elif m and current:
            steps.append((current[0], round(now - current[1], 1)))
            results[current[0]] = m.group(3)
            current = None
        if now > deadline:
            proc.kill()
            lines.append("\n[test] molecule killed after %ss\n" % timeout)
            break
    rc = proc.wait()
    steps.append(("total", round(time.monotonic() - started, 1)))
    return rc, "".join(lines), steps, results


def assert_passed(name, run):
    rc, out, steps, results = run
    print("molecule %s: %s" % (name, ", ".join("%s %ss" % s for s in steps)))
    tail = out[-6000:]
    assert rc == 0, "molecule test -s %s failed (rc %s)\n%s" % (name, rc, tail)
    for step in ("create", "prepare", "converge", "idempotence", "verify", "cleanup", "destroy"):
        assert results.get(step) == "Executed: Successful", \
            "step %s: %s\n%s" % (step, results.get(step, "did not run"), tail)
    assert "Missing playbook" not in out, tail


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory):
    _prerequisites()
    cl = Cluster.up(tmp_path_factory.mktemp("molecule-cluster"), name="molecule-shared",
                    parent_pid=os.getpid())
    try:
        yield cl
    finally:
        cl.down()


@GROUP
def test_default_scenario_on_its_own_control_plane(tmp_path):
    _prerequisites()
    assert_passed("default", run_molecule(["test", "-s", "default"], molecule_env(tmp_path / "eph")))
    assert not (tmp_path / "eph" / "cluster").exists(), "destroy left the control plane's directory"


@pytest.mark.parametrize("scenario", [
    pytest.param(s, marks=pytest.mark.xdist_group("molecule-serving")) for s in SERVING
] + [pytest.param(s, marks=GROUP) for s in TRACKING])
def test_role_scenario(scenario, shared_cluster, tmp_path):
    env = molecule_env(tmp_path / "eph", MOLECULE_CLUSTER="external",
                       MOLECULE_KUBECONFIG=str(shared_cluster.kubeconfig))
    assert_passed(scenario, run_molecule(["test", "-s", scenario], env))
    assert shared_cluster.is_ready(), "a scenario stopped the shared control plane"


@GROUP
def test_kind_says_what_is_missing(tmp_path):
    _prerequisites()
    path = "%s:/usr/bin:/bin" % VENV_BIN
    if shutil.which("kind", path=path):
        pytest.skip("kind is installed here: MOLECULE_CLUSTER=kind would create a real cluster")
    env = molecule_env(tmp_path / "eph", MOLECULE_CLUSTER="kind")
    env["PATH"] = path
    rc, out, dummy, dummy = run_molecule(["create", "-s", "default"], env, timeout=300)
    assert rc != 0, out[-3000:]
    assert "MOLECULE_CLUSTER=kind cannot create a cluster here" in out, out[-3000:]
    assert "the kind binary is not on PATH" in out, out[-3000:]
