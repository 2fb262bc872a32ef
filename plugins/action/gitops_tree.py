# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""mlops.stack.gitops_tree: write the GitOps tree on the controller. See
plugins/modules/gitops_tree.py for the options."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.mlops.stack.plugins.module_utils.gitops import ARGUMENT_SPEC, GitOpsError, render
from ansible_collections.mlops.stack.plugins.plugin_utils.in_process import plain


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        checked = ArgumentSpecValidator(ARGUMENT_SPEC).validate(plain(self._task.args))
        if checked.error_messages:
            result.update(failed=True, msg="; ".join(checked.error_messages))
            return result
        try:
            result.update(render(checked.validated_parameters, check_mode=self._play_context.check_mode))
        except (GitOpsError, OSError, ValueError) as exc:
            result.update(failed=True, msg=str(exc))
        return result
