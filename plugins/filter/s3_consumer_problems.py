# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
name: s3_consumer_problems
short_description: What is wrong with a table of object store consumers
version_added: 0.2.0
author: mlops.stack contributors
description:
  - Checks C(object_store_consumers) (or C(seaweedfs_users), the same shape) - consumer name to
    C(buckets_rw), C(buckets_ro) and C(secret) - and returns one readable reason per problem, an empty
    list when the table is valid.
  - The roles assert on it before any write; the keys rendered from the table are handled in tasks
    whose output is hidden, where an error would be unreadable.
options:
  _input:
    description: The consumers table.
    type: raw
    required: true
  buckets:
    description: The buckets that will exist; each consumer bucket must be one of them. Omit to skip.
    type: list
    elements: str
  secret_required:
    description: Each entry must name the Secret its consumer reads (C(secret)).
    type: bool
    default: false
  variable:
    description: The variable's name, used in the messages.
    type: str
    default: object_store_consumers
"""

EXAMPLES = r"""
- name: Check the consumers
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: "{{ object_store_consumers | mlops.stack.s3_consumer_problems(buckets=object_store_buckets) }}"
"""

RETURN = r"""
_value:
  description: The problems, each naming its entry; empty when valid.
  type: list
  elements: str
"""

from ansible_collections.mlops.stack.plugins.module_utils.s3.consumers import consumer_problems


def s3_consumer_problems(consumers, buckets=None, secret_required=False, variable="object_store_consumers"):
    return consumer_problems(consumers, buckets=buckets, secret_required=secret_required, variable=variable)


class FilterModule(object):
    def filters(self):
        return {"s3_consumer_problems": s3_consumer_problems}
