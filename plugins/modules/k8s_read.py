#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: k8s_read
short_description: Read Kubernetes objects quickly (one object or a filtered list)
version_added: 0.1.0
author:
  - mlops.stack contributors (@mlops-stack)
description:
  - Reads one object by name, or lists the objects of a kind, like
    C(kubernetes.core.k8s_info) without waits, and returns them in the same
    RV(resources) shape.
  - Uses the collection's own REST client (no C(kubernetes) library import),
    so one call costs little more than an C(ansible.builtin.ping); roles use
    it for the reads they do on every run.
  - A missing object, or a kind the API server does not serve (its CRD is not
    installed), gives an empty RV(resources), never an error; RV(api_found)
    tells the two apart.
options:
  api_version:
    description: API version of the objects, such as C(v1) or C(apps/v1).
    type: str
    default: v1
  kind:
    description: Kind of the objects, such as C(Secret).
    type: str
    required: true
  name:
    description: Name of the one object to read; all objects of the kind when unset.
    type: str
  namespace:
    description: Namespace of namespaced objects; all namespaces when unset and O(name) is unset.
    type: str
  label_selectors:
    description: Label selectors (C(key=value), C(key!=value), C(key), C(!key)), all of which must match.
    type: list
    elements: str
    default: []
  field_selectors:
    description: Field selectors, such as C(status.phase=Running), all of which must match.
    type: list
    elements: str
    default: []
  metadata_only:
    description:
      - Return only C(apiVersion), C(kind) and C(metadata) (without C(managedFields)) of each object.
      - For existence checks of large objects such as CRDs, so the registered result stays small.
    type: bool
    default: false
extends_documentation_fragment:
  - mlops.stack.k8s_auth
attributes:
  check_mode:
    description: Reads only, so it runs the same in check mode.
    support: full
  diff_mode:
    description: Reads only; there is never a diff.
    support: none
notes:
  - Secrets are returned with their data (base64, as the API gives it). A result that holds a Secret
    is hidden from the output (as with C(no_log)) but registered in full; failures stay readable, so
    the task needs no C(no_log).
seealso:
  - module: kubernetes.core.k8s_info
"""

EXAMPLES = r"""
- name: Read the stack's S3 Secret
  mlops.stack.k8s_read:
    kind: Secret
    name: mlops-s3
    namespace: mlops
  register: s3_secret  # the output is hidden (it holds a Secret); s3_secret.resources is usable

- name: Find migration Jobs by label
  mlops.stack.k8s_read:
    api_version: batch/v1
    kind: Job
    namespace: mlops
    label_selectors:
      - app.kubernetes.io/instance=mlflow-migration

- name: Is the NVIDIA GPU Operator installed?
  mlops.stack.k8s_read:
    api_version: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    name: clusterpolicies.nvidia.com
  register: gpu_operator
"""

RETURN = r"""
resources:
  description: The objects found (empty when none).
  returned: always
  type: list
  elements: dict
  sample: [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "gpu-0"}}]
api_found:
  description: Whether the API server serves O(api_version) O(kind).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import K8sApplyError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.reader import read
from ansible_collections.mlops.stack.plugins.module_utils.k8s.specs import read_argument_spec as argument_spec


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
    )
    try:
        result = read(module.params)
    except K8sApplyError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
