# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Run a collection module's body inside the controller's worker process.

Why: every module task makes Ansible build a payload, start a Python
process and import ``ansible.module_utils.basic``, about 0.35-0.45 s even
for ``ansible.builtin.ping``. The Kubernetes modules of this collection run
on the controller (``connection: local``) up to twenty times in a no-op
``site.yml``; calling the same code directly costs a few milliseconds. The
idea is cloud.common's "turbo mode", without a server process.

The shortcut is taken only when running the module normally would run it
in a process like ours anyway: local connection, no ``become``, no task
``environment``, and ``MLOPS_STACK_IN_PROCESS`` is not ``0``. Otherwise the
module runs the usual way. Arguments are validated with the module's own
argument spec (types, aliases, choices, env fallbacks), and values of
``no_log`` options are removed from the result, as AnsibleModule does.

Secrets: in either path, a result that carries secret values (the action
says which, :meth:`InProcessAction.secret_result`) gets ``_ansible_no_log``,
so callbacks show it censored while ``register`` keeps it whole. Failures
carry no secret values and stay readable without task-level ``no_log``.
"""


import json
import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

DISABLE_ENV = "MLOPS_STACK_IN_PROCESS"


def plain(args):
    """Task arguments as plain Python types, as a module receives them.

    Templated values carry Ansible's tagged str/dict/list subclasses, which
    libraries such as PyYAML's C dumper refuse; a JSON round trip (what the
    module path does) turns them back into str, dict and list.
    """
    return json.loads(json.dumps(args, default=str))


class InProcessAction(ActionBase):
    """Base for action plugins named like their module.

    Subclasses set ``ARGUMENT_SPEC`` (the module's spec), ``SPEC_KWARGS``
    (mutually_exclusive and friends) and implement :meth:`run_module`,
    which returns the module result or raises ``FAILURE_EXCEPTIONS``.
    """

    ARGUMENT_SPEC = {}
    SPEC_KWARGS = {}
    FAILURE_EXCEPTIONS = ()

    def run_module(self, params, check_mode, diff):  # pragma: no cover - abstract
        raise NotImplementedError

    def scrubbed_values(self, params, no_log_values, failed=False):
        """The strings removed from the result (the module may keep some)."""
        return no_log_values

    def secret_result(self, result):
        """Whether *result* holds secret values; then callbacks never see it."""
        return False

    def hide_secrets(self, result):
        if self.secret_result(result):
            result["_ansible_no_log"] = True
        return result

    def in_process(self):
        if os.environ.get(DISABLE_ENV, "1") == "0":
            return False
        if getattr(self._connection, "transport", None) != "local":
            return False
        # The task's environment (a list of dicts, [{}] when unset) would not
        # reach code that runs in this process.
        if self._play_context.become or any(self._task.environment or []):
            return False
        return True

    def run(self, tmp=None, task_vars=None):
        result = super(InProcessAction, self).run(tmp, task_vars)
        if not self.in_process():
            result.update(self._execute_module(module_name=self._task.resolved_action, task_vars=task_vars))
            return self.hide_secrets(result)
        checked = ArgumentSpecValidator(self.ARGUMENT_SPEC, **self.SPEC_KWARGS).validate(plain(self._task.args))
        if checked.error_messages:
            msg = "Unsupported parameters or invalid values: %s" % "; ".join(checked.error_messages)
            result.update(failed=True, msg=remove_values(msg, self.scrubbed_values(
                checked.validated_parameters, checked._no_log_values, failed=True)))
            return result
        # The play context already carries the task's check_mode/diff keywords.
        check_mode, diff = bool(self._play_context.check_mode), bool(self._play_context.diff)
        try:
            out = self.run_module(checked.validated_parameters, check_mode, diff)
        except self.FAILURE_EXCEPTIONS as exc:
            out = {"failed": True, "msg": str(exc)}
        failed = bool(out.get("failed"))
        out = remove_values(out, self.scrubbed_values(checked.validated_parameters, checked._no_log_values, failed))
        out.setdefault("changed", False)
        result.update(out)
        return self.hide_secrets(result)
