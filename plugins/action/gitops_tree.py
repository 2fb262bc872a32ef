# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""mlops.stack.gitops_tree: write the GitOps tree on the controller. See
plugins/modules/gitops_tree.py for the options."""


from ansible_collections.mlops.stack.plugins.module_utils.gitops import ARGUMENT_SPEC, GitOpsError, render
from ansible_collections.mlops.stack.plugins.plugin_utils.controller_action import ControllerAction


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (GitOpsError, OSError, ValueError)

    def execute(self, params, check_mode):
        return render(params, check_mode=check_mode)
