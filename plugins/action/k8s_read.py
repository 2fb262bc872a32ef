# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Runs mlops.stack.k8s_read in the controller's worker process when the
task is local (plugin_utils/in_process.py says why and when).
In either path a result holding Secrets is hidden from callbacks. In check
mode, a Secret an earlier task of the run would write is returned as a
stand-in (plugin_utils/check_plan.py)."""


from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import K8sApplyError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.reader import read, secret_result
from ansible_collections.mlops.stack.plugins.module_utils.k8s.specs import read_argument_spec
from ansible_collections.mlops.stack.plugins.plugin_utils.check_plan import plan_of, planned_read
from ansible_collections.mlops.stack.plugins.plugin_utils.in_process import InProcessAction


class ActionModule(InProcessAction):
    ARGUMENT_SPEC = read_argument_spec()
    FAILURE_EXCEPTIONS = (K8sApplyError,)

    def run(self, tmp=None, task_vars=None):
        self._check_plan = plan_of(task_vars)
        return super(ActionModule, self).run(tmp, task_vars)

    def run_module(self, params, check_mode, diff):
        result = dict(read(params), changed=False)
        if check_mode:
            result = planned_read(self._check_plan, params, result)
        return result

    def secret_result(self, result):
        return secret_result(result)
