# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Runs mlops.stack.model_deployment in the controller's worker process when
the task is local (plugin_utils/in_process.py says why and when)."""


from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import K8sApplyError
from ansible_collections.mlops.stack.plugins.module_utils.mlflow import MlflowError
from ansible_collections.mlops.stack.plugins.module_utils.model_deploy import (
    SPEC_KWARGS, ModelDeployError, argument_spec, ensure)
from ansible_collections.mlops.stack.plugins.plugin_utils.in_process import InProcessAction


class ActionModule(InProcessAction):
    ARGUMENT_SPEC = argument_spec()
    SPEC_KWARGS = SPEC_KWARGS
    FAILURE_EXCEPTIONS = (ModelDeployError, MlflowError, K8sApplyError)

    def run_module(self, params, check_mode, diff):
        return ensure(params, check_mode=check_mode, want_diff=diff)
