# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Runs mlops.stack.k8s_apply in the controller's worker process when the
task is local (plugin_utils/in_process.py says why and when). In check mode
it also knows what earlier tasks of the run would create
(plugin_utils/check_plan.py)."""


import os

from ansible_collections.mlops.stack.plugins.module_utils.k8s.manifests import load_objects
from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import K8sApplyError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.operations import run
from ansible_collections.mlops.stack.plugins.module_utils.k8s.specs import apply_argument_spec
from ansible_collections.mlops.stack.plugins.plugin_utils.check_plan import plan_of, run_planned
from ansible_collections.mlops.stack.plugins.plugin_utils.in_process import InProcessAction


def _read(path):
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return fh.read()


class ActionModule(InProcessAction):
    ARGUMENT_SPEC = apply_argument_spec()
    FAILURE_EXCEPTIONS = (K8sApplyError,)

    def run(self, tmp=None, task_vars=None):
        self._check_plan = plan_of(task_vars)
        return super(ActionModule, self).run(tmp, task_vars)

    def run_module(self, params, check_mode, diff):
        if check_mode and params.get("state") != "absent" and not params.get("render_path"):
            return run_planned(run, load_objects, params, self._check_plan, diff, read_file=_read)
        return run(params, check_mode=check_mode, want_diff=diff, read_file=_read)
