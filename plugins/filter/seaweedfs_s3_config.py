# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
name: seaweedfs_s3_config
short_description: SeaweedFS S3 identity file (C(weed s3 -config)) with the admin identity and bucket-scoped users
version_added: 0.1.0
author: mlops.stack contributors
description:
  - Returns the JSON document SeaweedFS reads with C(-s3.config), with one identity holding the given
    key pair and the actions C(Admin), C(Read), C(List), C(Tagging) and C(Write). Anonymous access stays
    disabled because no anonymous identity is defined.
  - With O(users), one more identity per user whose actions are limited to its buckets (SeaweedFS
    C(Action:bucket) syntax) - read-write is C(Read), C(Write) and C(List), read-only C(Read) and C(List)
    (see docs/least-privilege-s3.md). SeaweedFS reads the file when it starts, so a changed file needs a
    restart (the roles restart the pod through a checksum annotation).
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
  users:
    description:
      - Extra identities, each a dict with C(name), C(access_key) (default the name), C(secret_key),
        C(buckets_rw) and C(buckets_ro) (lists of bucket names; a bucket in both is read-write).
      - Or a dict of user name to C(buckets_rw)/C(buckets_ro) (the shape of the roles' C(seaweedfs_users)
        and C(object_store_consumers), whose C(secret) key is ignored), with the keys in O(user_keys).
      - Names and access keys must be unique (including the admin identity's).
    type: raw
    default: []
    version_added: 0.2.0
  user_keys:
    description:
      - With O(users) as a dict, the keys of each user - user name to a dict with C(access_key) and
        C(secret_key).
    type: dict
    default: {}
    version_added: 0.2.0
"""

EXAMPLES = r"""
- name: Render the S3 identity file
  ansible.builtin.set_fact:
    s3_json: "{{ access_key | mlops.stack.seaweedfs_s3_config(secret_key) }}"
  no_log: true

- name: Render it with an MLflow user (read-write) and a KServe user (read-only)
  ansible.builtin.set_fact:
    s3_json: >-
      {{ access_key | mlops.stack.seaweedfs_s3_config(secret_key, users=[
           {'name': 'mlflow', 'secret_key': mlflow_secret, 'buckets_rw': ['mlflow-artifacts', 'models']},
           {'name': 'kserve', 'secret_key': kserve_secret, 'buckets_ro': ['models']}]) }}
  no_log: true

- name: The same from a mapping, with keys generated elsewhere
  ansible.builtin.set_fact:
    s3_json: >-
      {{ access_key | mlops.stack.seaweedfs_s3_config(secret_key,
           users={'mlflow': {'buckets_rw': ['mlflow-artifacts']}, 'kserve': {'buckets_ro': ['models']}},
           user_keys={'mlflow': mlflow_keys, 'kserve': kserve_keys}) }}
  no_log: true
"""

RETURN = r"""
_value:
  description: JSON text.
  type: string
"""

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.stack.plugins.module_utils.s3.errors import S3Error
from ansible_collections.mlops.stack.plugins.module_utils.s3.seaweedfs_identities import ADMIN_ACTIONS, s3_config

ACTIONS = ADMIN_ACTIONS


def seaweedfs_s3_config(access_key, secret_key, name="mlops", users=None, user_keys=None):
    if not access_key or not secret_key:
        raise AnsibleFilterError("seaweedfs_s3_config: access key and secret key are required")
    if users is not None and not isinstance(users, (list, dict)):
        raise AnsibleFilterError("seaweedfs_s3_config: users must be a list or a dict, got %s" % type(users).__name__)
    try:
        doc = s3_config(access_key, secret_key, name=name, users=users, user_keys=user_keys)
    except S3Error as exc:
        raise AnsibleFilterError("seaweedfs_s3_config: %s" % exc)
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


class FilterModule(object):
    def filters(self):
        return {"seaweedfs_s3_config": seaweedfs_s3_config}
