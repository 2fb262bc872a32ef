#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: preflight
short_description: Check the whole inventory, and the cluster read-only, before anything is written
version_added: 0.2.0
author:
  - mlops.stack contributors (@mlops-stack)
description:
  - Runs on the controller (action plugin). Every entry playbook of the
    collection imports C(playbooks/preflight.yml), which calls this first.
  - Checks every variable of the stack-wide spec
    (C(playbooks/vars/stack_argument_spec.yml)) and of each enabled role's
    C(meta/argument_specs.yml), with the role's defaults under the inventory, for
    type, choices, and the value format its name implies (Kubernetes names,
    quantities, image references, S3 bucket names, host names, ports,
    replica counts; see C(plugins/module_utils/inventory_rules.py)).
  - Then the rules between variables (ingress host when ingress is on,
    external endpoints, password lengths, ...) and the hosts of the GPU
    inventory group.
  - With O(cluster=true), read-only cluster checks follow (GET requests
    only), which check that the kubeconfig is found, the API server is reachable, the Kubernetes
    version is supported, the GPU group hosts are cluster nodes and the CRDs needed from roles that
    are not part of the run exist. Existing namespaces the stack did not create
    produce a warning.
  - Fails once, with one message listing every problem, each naming the
    variable, the value (secrets hidden) and the rule.
  - Returns RV(objects_key), a digest of every input of the roles' objects,
    and RV(objects_valid) when objects built from the same inputs passed
    M(mlops.stack.k8s_validate) before; C(playbooks/preflight.yml) then skips
    building and validating them.
options:
  roles:
    description: The roles of the run (short names such as C(mlflow)).
    type: list
    elements: str
    required: true
  cluster:
    description: Also run the read-only cluster checks.
    type: bool
    default: true
  kubeconfig:
    description: Kubeconfig file; C($KUBECONFIG) or C(~/.kube/config) when empty.
    type: str
  context:
    description: Kubeconfig context; the current context when empty.
    type: str
  gpu_group:
    description: Inventory group of the GPU inference nodes; C(gpu_serving_node_group) when empty.
    type: str
  cache_dir:
    description: Directory of the markers of validated objects (see M(mlops.stack.k8s_validate)).
    type: str
    default: ~/.cache/mlops-stack/preflight
attributes:
  check_mode:
    description: Reads only, so it runs the same in check mode.
    support: full
  diff_mode:
    description: Reads only; there is never a diff.
    support: none
"""

EXAMPLES = r"""
- name: Check the inventory and the cluster before any change
  mlops.stack.preflight:
    roles: [minio, postgresql, mlflow]
    kubeconfig: "{{ mlops_kubeconfig | default(omit) }}"
"""

RETURN = r"""
problems:
  description: Every problem found (only when the check fails).
  returned: failure
  type: list
  elements: dict
  contains:
    variable:
      description: The variable (or C(cluster)) to fix.
      type: str
    role:
      description: The role whose spec holds it, C(stack), C(cross-field) or C(cluster).
      type: str
    value:
      description: The value found (C((hidden)) for secrets).
      type: str
    problem:
      description: The rule it breaks.
      type: str
preflight_seconds:
  description: Time the checks took.
  returned: always
  type: float
checked_roles:
  description: The roles whose variables were checked.
  returned: always
  type: list
  elements: str
kubernetes_version:
  description: The cluster's version (C(major.minor)), or the default schema version without a cluster.
  returned: always
  type: str
objects_key:
  description: Digest of the variables, GPU host vars, templates and filters the roles' objects are built from.
  returned: always
  type: str
objects_valid:
  description: Whether objects built from the same inputs were validated before.
  returned: always
  type: bool
otel_experiment_id:
  description: The collector's experiment id from the inventory, or C(0) as a placeholder to build its objects.
  returned: always
  type: str
foreign_namespaces:
  description:
    - The existing namespaces of enabled roles that the stack did not create (no C(app.kubernetes.io/part-of=mlops-stack)
      label), unless C(mlops_adopt_namespaces) is true; the roles leave their labels alone.
    - C(playbooks/preflight.yml) sets it as C(mlops_foreign_namespaces).
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(
        roles=dict(type="list", elements="str", required=True),
        cluster=dict(type="bool", default=True),
        kubeconfig=dict(type="str"),
        context=dict(type="str"),
        gpu_group=dict(type="str"),
        cache_dir=dict(type="str", default="~/.cache/mlops-stack/preflight"),
    ), supports_check_mode=True)
    module.fail_json(msg="mlops.stack.preflight runs as an action plugin on the controller; "
                         "call it from a play, not as a standalone module")


if __name__ == "__main__":
    main()
