# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
name: mirror_image
short_description: Rewrite a container image reference to pull from a registry mirror
version_added: 0.1.0
author: mlops.stack contributors
description:
  - Returns O(_input) unchanged when O(registry) is empty, so roles can apply
    it to every image unconditionally.
  - Otherwise replaces the registry domain of the image with O(registry),
    keeping the repository path, tag and digest. Docker Hub short names such
    as C(postgres:17) are expanded to C(library/postgres:17) first.
  - Fails on strings that are not valid image references instead of
    producing a reference that will not pull.
options:
  _input:
    description: Image reference, for example C(ghcr.io/mlflow/mlflow:v3.17.0).
    type: string
    required: true
  registry:
    description: Mirror registry with an optional path prefix, for example C(registry.corp:5000/mirror).
    type: string
    required: true
  keep_domain:
    description:
      - Keep the original registry domain as the first path component, as
        pull-through caches such as Harbor proxy projects expect.
    type: boolean
    default: false
"""

EXAMPLES = r"""
- name: Use the mirror for the MLflow image
  ansible.builtin.debug:
    msg: "{{ 'ghcr.io/mlflow/mlflow:v3.17.0' | mlops.stack.mirror_image('registry.corp/mirror') }}"
  # -> registry.corp/mirror/mlflow/mlflow:v3.17.0

- name: Keep the source domain in the path
  ansible.builtin.debug:
    msg: "{{ 'postgres:17.6' | mlops.stack.mirror_image('harbor.corp/proxy', keep_domain=true) }}"
  # -> harbor.corp/proxy/docker.io/library/postgres:17.6
"""

RETURN = r"""
_value:
  description: The rewritten image reference.
  type: string
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.mlops.stack.plugins.module_utils.image import (
    ImageRefError,
    mirror_image as _mirror_image,
)


def mirror_image(image, registry, keep_domain=False):
    try:
        return _mirror_image(image, registry, keep_domain=keep_domain)
    except ImageRefError as exc:
        raise AnsibleFilterError("mirror_image: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"mirror_image": mirror_image}
