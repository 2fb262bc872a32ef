#!/usr/bin/env python
"""Where a no-op `site.yml` run spends its time, by kind of work (issue #13).

Reads the output of a run with the `ansible.posix.json` stdout callback (one
record per task with its start and end time and the action of each result)
and sums the task times per category; what is left of the wall time is
Ansible's own start-up, playbook parsing and the time between tasks.

    ANSIBLE_STDOUT_CALLBACK=ansible.posix.json ansible-playbook playbooks/site.yml ... > run.json
    .venv/bin/python scripts/bench/noop_breakdown.py run.json --wall 17.0

bench_site.py calls `breakdown()` on one of its no-op runs.
"""
import argparse
import json
from datetime import datetime

#: action -> category; anything else that ran counts as a controller-side task.
CATEGORIES = (
    ("server-side apply and readiness (k8s_apply)", ("mlops.stack.k8s_apply",)),
    ("cluster reads and generated Secrets", ("mlops.stack.k8s_read", "mlops.stack.k8s_generated_secret")),
    ("bootstrap calls to S3, PostgreSQL, MLflow", ("mlops.stack.s3_bucket", "mlops.stack.s3_user",
                                                   "mlops.stack.postgresql_database",
                                                   "mlops.stack.mlflow_experiment")),
    ("preflight (mlops.stack.preflight)", ("mlops.stack.preflight",)),
    ("release files (mlops.stack.release_files)", ("mlops.stack.release_files",)),
    ("role argument validation", ("ansible.builtin.validate_argument_spec", "validate_argument_spec")),
)
CONTROLLER = "controller-side tasks (set_fact, assert, include, template lookups)"
SKIPPED = "tasks skipped by their condition"


def _seconds(duration):
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    return (datetime.strptime(duration["end"], fmt) - datetime.strptime(duration["start"], fmt)).total_seconds()


def breakdown(run):
    """{category: [seconds, tasks]} for a parsed ansible.posix.json document."""
    by_action = {action: label for label, actions in CATEGORIES for action in actions}
    out = {}
    for play in run.get("plays", []):
        for task in play.get("tasks", []):
            results = list(task.get("hosts", {}).values())
            if not results or "duration" not in task["task"] or "end" not in task["task"]["duration"]:
                continue
            if all(r.get("skipped") for r in results):
                label = SKIPPED
            else:
                label = by_action.get(results[0].get("action", ""), CONTROLLER)
            entry = out.setdefault(label, [0.0, 0])
            entry[0] += _seconds(task["task"]["duration"])
            entry[1] += 1
    return out


def table(parts, wall):
    """Markdown rows: category, tasks, seconds, share of the wall time."""
    rows = ["| where | tasks | seconds | share |", "|---|---|---|---|"]
    for label, (secs, count) in sorted(parts.items(), key=lambda kv: -kv[1][0]):
        rows.append("| %s | %d | %.1f | %d%% |" % (label, count, secs, round(100 * secs / wall)))
    rest = wall - sum(secs for secs, dummy in parts.values())
    rows.append("| Ansible start-up, parsing, between tasks | - | %.1f | %d%% |" % (rest, round(100 * rest / wall)))
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_json")
    ap.add_argument("--wall", type=float, required=True, help="wall time of that run in seconds")
    args = ap.parse_args()
    with open(args.run_json) as fh:
        print(table(breakdown(json.load(fh)), args.wall))


if __name__ == "__main__":
    main()
