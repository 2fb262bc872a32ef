"""Run real ansible-playbook processes from tests and read their results.

Every module and role test goes through this, so what is tested is what a
user runs: the CLI, the collection loader, argument specs, check and diff
mode.
"""
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


@dataclass
class PlaybookResult:
    rc: int
    stdout: str
    stderr: str
    data: dict = field(default_factory=dict)

    @property
    def stats(self):
        return self.data.get("stats", {})

    def changed(self, host="localhost"):
        return self.stats.get(host, {}).get("changed", 0)

    def failed(self, host="localhost"):
        s = self.stats.get(host, {})
        return s.get("failures", 0) + s.get("unreachable", 0)

    def task_results(self, name_contains, host="localhost"):
        """Results (dicts) of every task whose name contains the string."""
        out = []
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                if name_contains in task["task"]["name"]:
                    res = task["hosts"].get(host)
                    if res is not None:
                        out.append(res)
        return out

    def task_result(self, name_contains, host="localhost"):
        res = self.task_results(name_contains, host)
        assert res, "no task named like %r ran; output:\n%s" % (name_contains, self.stdout[-4000:])
        return res[-1]

    def failure_messages(self, host="localhost"):
        msgs = []
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                res = task["hosts"].get(host, {})
                if res.get("failed") or res.get("unreachable"):
                    msgs.append(res.get("msg", ""))
        return msgs

    def notices(self, host="localhost"):
        """(task, kind, message) of every deprecation and warning the tasks returned."""
        out = []
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                res = task["hosts"].get(host, {})
                for item in [res] + [r for r in res.get("results", []) if isinstance(r, dict)]:
                    for kind in ("deprecations", "warnings"):
                        for notice in item.get(kind) or []:
                            msg = notice.get("msg", "") if isinstance(notice, dict) else str(notice)
                            out.append((task["task"]["name"], kind, msg))
        return out

    def explain(self):
        return "rc=%s\nstderr:\n%s\nstdout tail:\n%s" % (self.rc, self.stderr[-3000:], self.stdout[-6000:])


def write_playbook(tmp_path, plays, name="play.yml"):
    """Write a list of plays (Python data) as a playbook file and return it."""
    path = Path(tmp_path) / name
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


def run_playbook(playbook, *, inventory=None, extra_vars=None, check=False, diff=False,
                 tags=None, skip_tags=None, env=None, timeout=1200, extra_args=()):
    """Run ansible-playbook with the JSON callback and return PlaybookResult."""
    cmd = [str(VENV_BIN / "ansible-playbook"), str(playbook)]
    tmpdir = tempfile.mkdtemp(prefix="mlops-pb-")
    if inventory is None:
        inv = Path(tmpdir) / "hosts.yml"
        inv.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable}}}}))
        inventory = inv
    cmd += ["-i", str(inventory)]
    if extra_vars:
        ev = Path(tmpdir) / "extra_vars.json"
        ev.write_text(json.dumps(extra_vars))
        cmd += ["-e", "@%s" % ev]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if tags:
        cmd += ["--tags", ",".join(tags) if isinstance(tags, (list, tuple)) else tags]
    if skip_tags:
        cmd += ["--skip-tags", skip_tags]
    cmd += list(extra_args)
    full_env = dict(os.environ)
    full_env.update({
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(Path(tmpdir) / "tmp"),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "PATH": "%s:%s" % (VENV_BIN, os.environ.get("PATH", "")),
    })
    if env:
        full_env.update(env)
    proc = subprocess.run(cmd, cwd=str(ROOT), env=full_env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    data = {}
    start = proc.stdout.find("{")
    if start >= 0:
        try:
            data = json.loads(proc.stdout[start:])
        except ValueError:
            data = {}
    return PlaybookResult(proc.returncode, proc.stdout, proc.stderr, data)
