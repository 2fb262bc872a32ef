# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
name: workload_status
short_description: Summarise a Deployment, StatefulSet or DaemonSet as a status row
version_added: 0.1.0
author: mlops.stack contributors
description:
  - Turns a workload object (as returned by M(kubernetes.core.k8s_info)) into a
    dict with the keys C(component), C(version), C(ready), C(endpoint), C(problem)
    and C(ok), used by C(playbooks/validate.yml).
  - An empty input (object not found) yields a row with the problem C(not found).
options:
  _input:
    description: The workload object, or an empty dict/null when it does not exist.
    type: raw
    required: true
  component:
    description: Name shown in the C(component) column (defaults to the object name).
    type: string
  endpoint:
    description: Endpoint shown in the C(endpoint) column.
    type: string
    default: ""
  missing:
    description:
      - Problem reported when the object does not exist, for example what creates it.
      - Empty reports C(not found).
    type: string
    default: ""
"""

EXAMPLES = r"""
- name: Summarise the MLflow Deployment
  ansible.builtin.set_fact:
    mlflow_row: "{{ deployment | mlops.stack.workload_status(component='mlflow', endpoint='http://mlflow.mlops:5000') }}"
"""

RETURN = r"""
_value:
  description: Status row.
  type: dict
  contains:
    ready:
      description: Ready over desired replicas, for example C(2/2).
      type: string
    problem:
      description: Empty when healthy, otherwise the first problem found.
      type: string
    ok:
      description: Whether the workload is healthy.
      type: bool
"""

from ansible_collections.mlops.stack.plugins.module_utils.status import workload_status


class FilterModule(object):
    def filters(self):
        return {"workload_status": workload_status}
