# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Base of the actions that do their whole work on the controller (files of
the controller, no managed host): the options are validated with the
module_utils argument spec the module's documentation describes, then
:meth:`ControllerAction.execute` returns the result."""


from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.mlops.stack.plugins.plugin_utils.in_process import plain


class ControllerAction(ActionBase):
    TRANSFERS_FILES = False
    #: The module's argument spec (from module_utils).
    ARGUMENT_SPEC = {}
    #: Exceptions reported as a failed task with their message.
    ERRORS = ()

    def execute(self, params, check_mode):
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        result = super(ControllerAction, self).run(tmp, task_vars)
        checked = ArgumentSpecValidator(self.ARGUMENT_SPEC).validate(plain(self._task.args))
        if checked.error_messages:
            result.update(failed=True, msg="; ".join(checked.error_messages))
            return result
        try:
            result.update(self.execute(checked.validated_parameters, self._play_context.check_mode))
        except self.ERRORS as exc:
            result.update(failed=True, msg=str(exc))
        return result
