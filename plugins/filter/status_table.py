# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
name: status_table
short_description: Format status rows as a fixed-width text table
version_added: 0.1.0
author: mlops.stack contributors
description:
  - Formats a list of dicts (for example from P(mlops.stack.workload_status#filter))
    as a table with one upper-case header line; empty cells show C(-).
options:
  _input:
    description: Rows to format.
    type: list
    elements: dict
    required: true
  columns:
    description: Keys to show, in order.
    type: list
    elements: string
    default: [component, version, ready, endpoint, problem]
"""

EXAMPLES = r"""
- name: Print the stack status
  ansible.builtin.debug:
    msg: "{{ rows | mlops.stack.status_table | split('\n') }}"
"""

RETURN = r"""
_value:
  description: The table, lines separated by newlines.
  type: string
"""

from ansible_collections.mlops.stack.plugins.module_utils.status import COLUMNS, status_table


def _status_table(rows, columns=COLUMNS):
    return status_table(rows, tuple(columns))


class FilterModule(object):
    def filters(self):
        return {"status_table": _status_table}
