# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
name: s3_bucket_specs
short_description: Turn bucket names into the buckets list of the s3_bucket module
version_added: 0.1.0
author: mlops.stack contributors
description:
  - Gives one C({name}) entry per bucket, with C(versioning=true) for the buckets listed in
    O(versioned), so a role creates all its buckets in one C(mlops.stack.s3_bucket) call.
  - Entries that already are dicts are kept as they are (their own settings win).
options:
  _input:
    description: Bucket names (or complete entries).
    type: list
    elements: raw
    required: true
  versioned:
    description: Names of the buckets that get versioning enabled.
    type: list
    elements: string
    default: []
"""

EXAMPLES = r"""
- name: Create the stack's buckets in one call
  mlops.stack.s3_bucket:
    buckets: "{{ ['mlflow-artifacts', 'models'] | mlops.stack.s3_bucket_specs(['models']) }}"
    endpoint_url: http://minio.mlops.svc:9000
"""

RETURN = r"""
_value:
  description: 'One dict per bucket, for example V([{"name": "models", "versioning": true}]).'
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError


def s3_bucket_specs(buckets, versioned=None):
    versioned = set(versioned or [])
    out = []
    for entry in buckets or []:
        if isinstance(entry, dict):
            out.append(dict(entry))
        elif isinstance(entry, str) and entry:
            spec = {"name": entry}
            if entry in versioned:
                spec["versioning"] = True
            out.append(spec)
        else:
            raise AnsibleFilterError("s3_bucket_specs: bucket names must be non-empty strings, got %r" % (entry,))
    return out


class FilterModule(object):
    def filters(self):
        return {"s3_bucket_specs": s3_bucket_specs}
