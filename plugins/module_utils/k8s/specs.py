# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Argument specs of the Kubernetes modules (``k8s_apply``, ``k8s_read``,
``k8s_generated_secret``), shared by each module and the action plugin that
runs it in-process. The connection options come from ``k8s/client.py``."""


from ansible_collections.mlops.stack.plugins.module_utils.k8s.client import K8S_CONNECTION_ARGUMENT_SPEC
from ansible_collections.mlops.stack.plugins.module_utils.k8s.secret import CHARSETS


def apply_argument_spec():
    """Options of mlops.stack.k8s_apply."""
    return dict(
        state=dict(type="str", default="present", choices=["present", "absent"]),
        keep_kinds=dict(type="list", elements="str", default=[]),
        owned_only=dict(type="bool", default=False),
        src=dict(type="list", elements="raw", default=[]),
        definition=dict(type="raw"),
        include_kinds=dict(type="list", elements="str", default=[]),
        exclude=dict(type="list", elements="dict", default=[]),
        overrides=dict(type="list", elements="dict", default=[]),
        overrides_missing_ok=dict(type="bool", default=False),
        image_registry=dict(type="str", default=""),
        image_keep_domain=dict(type="bool", default=False),
        labels=dict(type="dict", default={}),
        namespace=dict(type="str"),
        sort=dict(type="bool", default=True),
        field_manager=dict(type="str", default="mlops-stack"),
        force_conflicts=dict(type="bool", default=True),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
        render_path=dict(type="path"),
        parse_cache=dict(type="path"),
        workers=dict(type="int", default=4),
        **K8S_CONNECTION_ARGUMENT_SPEC
    )


def read_argument_spec():
    """Options of mlops.stack.k8s_read."""
    return dict(
        api_version=dict(type="str", default="v1"),
        kind=dict(type="str", required=True),
        name=dict(type="str"),
        namespace=dict(type="str"),
        label_selectors=dict(type="list", elements="str", default=[]),
        field_selectors=dict(type="list", elements="str", default=[]),
        metadata_only=dict(type="bool", default=False),
        **K8S_CONNECTION_ARGUMENT_SPEC
    )


def generated_secret_argument_spec():
    """Options of mlops.stack.k8s_generated_secret."""
    spec = dict(
        name=dict(type="str", required=True),
        namespace=dict(type="str", default="default"),
        generate=dict(type="list", elements="raw", default=[]),
        length=dict(type="int", default=32),
        charset=dict(type="str", default="alphanumeric", choices=sorted(CHARSETS)),
        values=dict(type="dict", default={}, no_log=True),
        labels=dict(type="dict", default={}),
        annotations=dict(type="dict", default={}),
        type=dict(type="str", default="Opaque"),
        return_values=dict(type="bool", default=False),
        create_namespace=dict(type="bool", default=False),
    )
    spec.update(K8S_CONNECTION_ARGUMENT_SPEC)
    return spec
