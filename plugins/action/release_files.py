# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""mlops.stack.release_files: upstream release files resolved on the
controller (mirror or verified, cached download). See
plugins/modules/release_files.py for the options."""


from ansible_collections.mlops.stack.plugins.module_utils.release import ARGUMENT_SPEC, ReleaseError, resolve
from ansible_collections.mlops.stack.plugins.plugin_utils.controller_action import ControllerAction


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (ReleaseError,)

    def execute(self, params, check_mode):
        # The cache lives on the controller, not on a managed host, and later
        # tasks need the files to predict changes: check mode fills it too.
        out = resolve(params, timeout=params["timeout"])
        return dict(changed=bool(out["downloaded"]), files=out["files"], downloaded=out["downloaded"],
                    source="mirror" if params["src_dir"] else "download")
