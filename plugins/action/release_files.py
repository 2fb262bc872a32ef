# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""mlops.stack.release_files: upstream release files resolved on the
controller (mirror or verified, cached download). See
plugins/modules/release_files.py for the options."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.mlops.stack.plugins.module_utils.release import ARGUMENT_SPEC, ReleaseError, resolve
from ansible_collections.mlops.stack.plugins.plugin_utils.in_process import plain


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        checked = ArgumentSpecValidator(ARGUMENT_SPEC).validate(plain(self._task.args))
        if checked.error_messages:
            result.update(failed=True, msg="; ".join(checked.error_messages))
            return result
        spec = checked.validated_parameters
        try:
            # The cache lives on the controller, not on a managed host, and later
            # tasks need the files to predict changes: check mode fills it too.
            out = resolve(spec, timeout=spec["timeout"])
        except ReleaseError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(changed=bool(out["downloaded"]), files=out["files"], downloaded=out["downloaded"],
                      source="mirror" if spec["src_dir"] else "download")
        return result
