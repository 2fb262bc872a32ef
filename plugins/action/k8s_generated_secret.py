# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Runs mlops.stack.k8s_generated_secret in the controller's worker process
when the task is local (plugin_utils/in_process.py says why and when).
In either path a result with secret_data is hidden from callbacks."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mlops.stack.plugins.module_utils.k8s.generated_secret import (
    ensure,
    kept_no_log_values,
    secret_result,
)
from ansible_collections.mlops.stack.plugins.module_utils.k8s.specs import generated_secret_argument_spec
from ansible_collections.mlops.stack.plugins.module_utils.k8s_secret import SecretError
from ansible_collections.mlops.stack.plugins.plugin_utils.in_process import InProcessAction


class ActionModule(InProcessAction):
    ARGUMENT_SPEC = generated_secret_argument_spec()
    FAILURE_EXCEPTIONS = (SecretError,)

    def run_module(self, params, check_mode, diff):
        return ensure(params, check_mode=check_mode, diff=diff)

    def scrubbed_values(self, params, no_log_values, failed=False):
        return kept_no_log_values(params, no_log_values, failed)

    def secret_result(self, result):
        return secret_result(result)
