#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: k8s_generated_secret
short_description: Ensure a Kubernetes Secret has the given keys, generating only missing values
version_added: 0.1.0
author:
  - mlops.stack contributors (@mlops-stack)
description:
  - Creates or updates an C(Opaque) Secret so that it contains every key in O(generate) and O(values).
  - A key listed in O(generate) that already exists is B(never rotated); a missing (or empty) one gets a
    random value from a cryptographically secure generator. Re-runs are therefore idempotent.
  - Keys in O(values) are set to exactly the given value (user-supplied credentials; also the way to rotate
    a generated one on purpose, or to store values derived from generated ones).
  - Other keys of an existing Secret are left alone; labels and annotations are merged.
  - Values are never shown; C(--diff) lists key names with C(<hidden>) and whether each one was added,
    generated or updated. The values are returned only with O(return_values=true), and such a result is
    hidden from the output (as with C(no_log)) but registered in full.
  - Failure messages name the Secret, the API server and what to fix, and never contain a value, so the
    task needs no C(no_log) (which would hide them too).
  - The Kubernetes connection options have the same names and environment variables as
    M(kubernetes.core.k8s). A collection module cannot join the C(kubernetes.core.k8s) action group, so
    set them explicitly or with C(module_defaults) for C(mlops.stack.k8s_generated_secret) (or the
    C(group/mlops.stack.k8s) action group when it is defined in C(meta/runtime.yml)).
options:
  name:
    description: Name of the Secret.
    type: str
    required: true
  namespace:
    description: Namespace of the Secret. It must exist.
    type: str
    default: default
  generate:
    description:
      - Keys that get a random value when missing. Each entry is a key name or a dict with C(name),
        optional C(length) and C(charset).
    type: list
    elements: raw
    default: []
  length:
    description: Default length of generated values (8-256).
    type: int
    default: 32
  charset:
    description:
      - Default character set of generated values. All choices are safe in URLs, connection strings
        and INI files without quoting.
    type: str
    choices: [alphanumeric, lower_alphanumeric, hex]
    default: alphanumeric
  values:
    description:
      - Keys set to exactly these values (converted to strings). They override O(generate) for the same key.
    type: dict
    default: {}
  labels:
    description: Labels merged into the Secret's labels.
    type: dict
    default: {}
  annotations:
    description: Annotations merged into the Secret's annotations.
    type: dict
    default: {}
  type:
    description: Secret type used when the Secret is created (an existing Secret's type is not changed).
    type: str
    default: Opaque
  create_namespace:
    description:
      - Create the namespace (without labels) when it does not exist yet, so a role can create its
        Secrets before it applies its own objects, the labelled Namespace among them.
      - Without it, a missing namespace fails the task.
    type: bool
    default: false
  return_values:
    description:
      - Return the resulting key/value pairs in RV(secret_data). The task's output is then hidden, as with
        C(no_log); use the registered variable.
    type: bool
    default: false
extends_documentation_fragment:
  - mlops.stack.k8s_auth
attributes:
  check_mode:
    support: full
    description: Reads the Secret and reports what would be generated or updated; writes nothing.
  diff_mode:
    support: full
    description: Shows key names with C(<hidden>) and whether each was added, generated or updated; never values.
notes:
  - Only text values are managed; a key holding binary data makes the module fail rather than guess.
"""

EXAMPLES = r"""
- name: Ensure MinIO root credentials exist (generated once, never rotated)
  mlops.stack.k8s_generated_secret:
    name: minio-root
    namespace: mlops
    generate:
      - name: MINIO_ROOT_USER
        length: 16
        charset: lower_alphanumeric
      - MINIO_ROOT_PASSWORD
    labels:
      app.kubernetes.io/part-of: mlops-stack
    return_values: true
  register: minio_root  # output hidden (it holds values); minio_root.secret_data is usable

- name: Store values derived from generated ones
  mlops.stack.k8s_generated_secret:
    name: mlops-postgresql-mlflow
    namespace: mlops
    values:
      uri: "postgresql://mlflow:{{ pg.secret_data.password }}@postgresql.mlops.svc:5432/mlflow"

- name: Use a password supplied by the user (stored as given)
  mlops.stack.k8s_generated_secret:
    name: mlflow-auth
    namespace: mlops
    values:
      username: admin
      password: "{{ vault_mlflow_admin_password }}"
"""

RETURN = r"""
secret:
  description: Name, namespace and key names of the Secret (no values).
  returned: always
  type: dict
  sample: {"name": "minio-root", "namespace": "mlops", "keys": ["MINIO_ROOT_PASSWORD", "MINIO_ROOT_USER"]}
generated_keys:
  description: Keys that got a new random value in this run.
  returned: always
  type: list
  elements: str
updated_keys:
  description: Keys set or changed from O(values) in this run.
  returned: always
  type: list
  elements: str
secret_data:
  description:
    - All key/value pairs of the Secret after the run (in check mode, what they would be).
    - The result that carries it is hidden from the output; read it from the registered variable.
  returned: when O(return_values=true)
  type: dict
namespace_created:
  description: Whether the task created the namespace (O(create_namespace)).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mlops.stack.plugins.module_utils.k8s.generated_secret import ensure, kept_no_log_values
from ansible_collections.mlops.stack.plugins.module_utils.k8s.specs import (
    generated_secret_argument_spec as argument_spec,
)
from ansible_collections.mlops.stack.plugins.module_utils.k8s.secret import SecretError


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = ensure(module.params, check_mode=module.check_mode, diff=module._diff)
    except SecretError as exc:
        module.no_log_values.intersection_update(kept_no_log_values(module.params, module.no_log_values, True))
        module.fail_json(msg=str(exc))
    module.no_log_values.intersection_update(kept_no_log_values(module.params, module.no_log_values))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
