# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Runs mlops.stack.k8s_generated_secret in the controller's worker process
when the task is local (plugin_utils/in_process.py says why and when).
In either path a result with secret_data is hidden from callbacks. In check
mode, a Secret it would write is remembered for later tasks
(plugin_utils/check_plan.py; names only, never values)."""


from ansible_collections.mlops.stack.plugins.module_utils.k8s.generated_secret import (
    ensure,
    kept_no_log_values,
    secret_result,
)
from ansible_collections.mlops.stack.plugins.module_utils.k8s.specs import generated_secret_argument_spec
from ansible_collections.mlops.stack.plugins.module_utils.k8s.secret import SecretError
from ansible_collections.mlops.stack.plugins.plugin_utils.check_plan import (
    PLAN_FACT, plan_fact, plan_of, record_secret)
from ansible_collections.mlops.stack.plugins.plugin_utils.in_process import InProcessAction


class ActionModule(InProcessAction):
    ARGUMENT_SPEC = generated_secret_argument_spec()
    FAILURE_EXCEPTIONS = (SecretError,)

    def run(self, tmp=None, task_vars=None):
        self._check_plan = plan_of(task_vars)
        return super(ActionModule, self).run(tmp, task_vars)

    def run_module(self, params, check_mode, diff):
        result = ensure(params, check_mode=check_mode, diff=diff)
        if check_mode:
            grown = record_secret(self._check_plan, result, params)
            if grown != self._check_plan:
                result["ansible_facts"] = {PLAN_FACT: plan_fact(grown)}
        return result

    def scrubbed_values(self, params, no_log_values, failed=False):
        return kept_no_log_values(params, no_log_values, failed)

    def secret_result(self, result):
        return secret_result(result)
