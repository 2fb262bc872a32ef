# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Runs mlops.stack.k8s_apply in the controller's worker process when the
task is local (plugin_utils/in_process.py says why and when)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import K8sApplyError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.operations import run
from ansible_collections.mlops.stack.plugins.module_utils.k8s.specs import apply_argument_spec
from ansible_collections.mlops.stack.plugins.plugin_utils.in_process import InProcessAction


def _read(path):
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return fh.read()


class ActionModule(InProcessAction):
    ARGUMENT_SPEC = apply_argument_spec()
    FAILURE_EXCEPTIONS = (K8sApplyError,)

    def run_module(self, params, check_mode, diff):
        return run(params, check_mode=check_mode, want_diff=diff, read_file=_read)
