# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
name: content_named
short_description: Name objects after their own content (for immutable objects such as Jobs)
version_added: 0.3.0
author: mlops.stack contributors
description:
  - For each object that carries the annotation C(mlops.stack/name-from-content), appends to its name a short
    sha256 of everything but its name (C(apiVersion), C(kind), labels, other annotations, C(spec)), and removes
    that annotation.
  - A Job's pod template cannot change after creation, so a Job that must run again whenever any of its settings
    changes (the MLflow schema migration) gets a new name exactly then, whatever setting it was, and keeps its name
    otherwise.
  - Other objects are returned unchanged.
options:
  _input:
    description: Kubernetes objects.
    type: list
    elements: dict
    required: true
  length:
    description: Hex digits of the hash.
    type: integer
    default: 10
"""

EXAMPLES = r"""
- name: Name the migration Job after its content
  ansible.builtin.set_fact:
    mlflow_manifests: "{{ objects | mlops.stack.content_named }}"
"""

RETURN = r"""
_value:
  description: The objects, with content-derived names where asked.
  type: list
  elements: dict
"""

import hashlib
import json

ANNOTATION = "mlops.stack/name-from-content"


def content_named(objects, length=10):
    out = []
    for obj in objects:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if ANNOTATION not in annotations:
            out.append(obj)
            continue
        # A JSON round trip, not copy.deepcopy: Ansible hands filters its lazy
        # containers, whose deepcopy costs about 1 s for one Job (docs/benchmarks.md).
        named = json.loads(json.dumps(obj))
        meta = named["metadata"]
        del meta["annotations"][ANNOTATION]
        if not meta["annotations"]:
            del meta["annotations"]
        content = {k: v for k, v in named.items() if k != "metadata"}
        content["metadata"] = {k: v for k, v in meta.items() if k != "name"}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        meta["name"] = "%s-%s" % (meta["name"], digest[:int(length)])
        out.append(named)
    return out


class FilterModule(object):
    def filters(self):
        return {"content_named": content_named}
