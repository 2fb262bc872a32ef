# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: seaweedfs_s3_config
short_description: SeaweedFS S3 identity file (C(weed s3 -config)) for one admin identity
version_added: 0.1.0
author: mlops.stack contributors
description:
  - Returns the JSON document SeaweedFS reads with C(-s3.config), with one identity holding the given
    key pair and the actions C(Admin), C(Read), C(List), C(Tagging) and C(Write). Anonymous access stays
    disabled because no anonymous identity is defined.
  - Output is compact and key-sorted so it is stable between runs (idempotent Secrets).
options:
  _input:
    description: Access key id.
    type: string
    required: true
  secret_key:
    description: Secret access key.
    type: string
    required: true
  name:
    description: Identity name.
    type: string
    default: mlops
"""

EXAMPLES = r"""
- name: Render the S3 identity file
  ansible.builtin.set_fact:
    s3_json: "{{ access_key | mlops.stack.seaweedfs_s3_config(secret_key) }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: JSON text.
  type: string
"""

import json

from ansible.errors import AnsibleFilterError

ACTIONS = ["Admin", "Read", "List", "Tagging", "Write"]


def seaweedfs_s3_config(access_key, secret_key, name="mlops"):
    if not access_key or not secret_key:
        raise AnsibleFilterError("seaweedfs_s3_config: access key and secret key are required")
    doc = {
        "identities": [{
            "name": name,
            "credentials": [{"accessKey": str(access_key), "secretKey": str(secret_key)}],
            "actions": ACTIONS,
        }]
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


class FilterModule(object):
    def filters(self):
        return {"seaweedfs_s3_config": seaweedfs_s3_config}
