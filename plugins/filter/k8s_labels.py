# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
name: k8s_labels
short_description: Standard Kubernetes labels for an mlops.stack object
version_added: 0.1.0
author: mlops.stack contributors
description:
  - Returns the C(app.kubernetes.io/*) labels every object of the stack carries (docs/CONVENTIONS.md).
  - The version label is taken from O(version) or, when empty, from the tag of O(image) (a digest-only
    reference gives the first 12 hex digits). Values are sanitised to valid label values (63 characters,
    alphanumerics, C(-), C(_), C(.)).
  - With O(selector=true) only the immutable selector labels (name, instance) are returned.
options:
  _input:
    description: Application name (C(app.kubernetes.io/name)), for example C(mlflow).
    type: string
    required: true
  component:
    description: C(app.kubernetes.io/component), for example C(tracking-server).
    type: string
    default: ""
  app_instance:
    description: C(app.kubernetes.io/instance); defaults to the name.
    type: string
    default: ""
  version:
    description: C(app.kubernetes.io/version); derived from O(image) when empty.
    type: string
    default: ""
  image:
    description: Image reference the version is derived from.
    type: string
    default: ""
  selector:
    description: Return only the selector labels.
    type: boolean
    default: false
"""

EXAMPLES = r"""
- name: Labels of the MLflow Deployment
  ansible.builtin.debug:
    msg: "{{ 'mlflow' | mlops.stack.k8s_labels(component='tracking-server', image='ghcr.io/mlflow/mlflow:v3.17.2-full') }}"
  # app.kubernetes.io/version: v3.17.2-full, part-of: mlops-stack, managed-by: mlops.stack
"""

RETURN = r"""
_value:
  description: Label dictionary.
  type: dict
"""

import re

from ansible.errors import AnsibleFilterError

_INVALID = re.compile(r"[^A-Za-z0-9_.-]")


def label_value(value):
    """Coerce *value* into a valid label value (may be empty)."""
    text = _INVALID.sub("-", str(value or ""))[:63]
    return text.strip("-_.")


def image_version(image):
    """The tag of an image reference, else the short digest, else ''."""
    if not image:
        return ""
    rest, digest = (image.split("@", 1) + [None])[:2]
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        return last.rsplit(":", 1)[1]
    if digest and ":" in digest:
        return digest.split(":", 1)[1][:12]
    return ""


def k8s_labels(name, component="", app_instance="", version="", image="", selector=False):
    if not name or not isinstance(name, str):
        raise AnsibleFilterError("k8s_labels: the application name must be a non-empty string, got %r" % (name,))
    labels = {
        "app.kubernetes.io/name": label_value(name),
        "app.kubernetes.io/instance": label_value(app_instance or name),
    }
    if selector:
        return labels
    ver = label_value(version or image_version(image))
    if ver:
        labels["app.kubernetes.io/version"] = ver
    if component:
        labels["app.kubernetes.io/component"] = label_value(component)
    labels["app.kubernetes.io/part-of"] = "mlops-stack"
    labels["app.kubernetes.io/managed-by"] = "mlops.stack"
    return labels


class FilterModule(object):
    def filters(self):
        return {"k8s_labels": k8s_labels}
