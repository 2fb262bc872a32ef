# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
name: seaweedfs_user_keys
short_description: The keys of named users in a SeaweedFS S3 identity file
version_added: 0.2.0
author: mlops.stack contributors
description:
  - Reads the identity file SeaweedFS starts with (C(s3.json), as
    P(mlops.stack.seaweedfs_s3_config#filter) renders it) and returns, for each
    name in O(names), its C(access_key) and C(secret_key).
  - The object_store role gives each consumer the keys the server was started
    with this way, so a consumer's Secret can only hold keys SeaweedFS knows.
  - Fails naming the missing users (never a key) when the file lacks one.
options:
  _input:
    description: The identity file, as JSON text or as a parsed dict.
    type: raw
    required: true
  names:
    description: User (identity) names.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: The keys of MLflow's and KServe's SeaweedFS users
  ansible.builtin.set_fact:
    consumer_keys: "{{ s3_json | mlops.stack.seaweedfs_user_keys(['mlflow', 'kserve']) }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: User name to a dict with C(access_key) and C(secret_key).
  type: dict
"""

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.stack.plugins.module_utils.s3.errors import S3Error
from ansible_collections.mlops.stack.plugins.module_utils.s3.seaweedfs_identities import identity_keys


def seaweedfs_user_keys(s3_json, names):
    doc = s3_json
    if isinstance(s3_json, (str, bytes)):
        try:
            doc = json.loads(s3_json)
        except ValueError as exc:
            raise AnsibleFilterError("seaweedfs_user_keys: the identity file is not JSON (%s)" % exc)
    if not isinstance(doc, dict):
        raise AnsibleFilterError("seaweedfs_user_keys: expected the identity file, got %s" % type(doc).__name__)
    try:
        return identity_keys(doc, list(names or []))
    except S3Error as exc:
        raise AnsibleFilterError("seaweedfs_user_keys: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"seaweedfs_user_keys": seaweedfs_user_keys}
