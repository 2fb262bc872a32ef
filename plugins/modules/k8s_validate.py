#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: k8s_validate
short_description: Validate Kubernetes objects offline against the API schemas and CRD schemas
version_added: 0.2.0
author:
  - mlops.stack contributors (@mlops-stack)
description:
  - Checks objects without a cluster. Built-in kinds are validated strictly
    (unknown fields are errors) with the JSON schemas of the Python package
    C(kubernetes-validate) for the given Kubernetes version; custom resources
    with the C(openAPIV3Schema) of their CRD, read from release manifest files.
  - The preflight (C(playbooks/preflight.yml)) runs it on every enabled role's
    objects before anything is applied, so a value that would be refused by
    the API server is reported first, with the role and the field.
  - With O(cache_key), a successful check leaves a marker in O(cache_dir); the
    preflight skips building and checking the objects when the marker of the
    same inputs exists.
options:
  objects:
    description: Objects to check, grouped by the role that builds them (role name -> list of objects).
    type: dict
    required: true
  crd_files:
    description: Release manifest files whose CustomResourceDefinitions give the schemas of custom resources.
    type: list
    elements: path
    default: []
  crd_definitions:
    description:
      - CustomResourceDefinition objects (for example read from the cluster) whose schemas are used besides those
        of O(crd_files).
    type: list
    elements: dict
    default: []
  unpinned_groups:
    description:
      - API groups that the cluster provides rather than a pinned release (for example
        C(gateway.networking.k8s.io)). Their objects are checked when O(crd_definitions) has their CRD, and
        otherwise reported in RV(unchecked) instead of failing.
    type: list
    elements: str
    default: []
  parse_cache:
    description: Directory of parsed release manifests (JSON keyed by sha256), shared with M(mlops.stack.k8s_apply).
    type: path
  kubernetes_version:
    description: Kubernetes version whose schemas are used (the newest available that is not newer).
    type: str
    default: "1.36"
  cache_key:
    description: Key of the inputs; a marker is written under O(cache_dir) when every object is valid.
    type: str
  cache_dir:
    description: Directory of the markers.
    type: path
    default: ~/.cache/mlops-stack/preflight
requirements:
  - jsonschema
  - kubernetes-validate
attributes:
  check_mode:
    description: Reads only (the marker is a local cache), so it runs the same in check mode.
    support: full
  diff_mode:
    description: There is never a diff.
    support: none
"""

EXAMPLES = r"""
- name: Validate the objects of two roles
  mlops.stack.k8s_validate:
    objects:
      mlflow: "{{ mlflow_manifests }}"
      kserve: "{{ kserve_manifests }}"
    crd_files: "{{ kserve_fetched | map(attribute='path') | list }}"
"""

RETURN = r"""
problems:
  description: One line per invalid object (role, kind, namespace/name, message, field path).
  returned: always
  type: list
  elements: str
checked:
  description: Number of objects checked.
  returned: always
  type: int
unchecked:
  description:
    - Objects of O(unpinned_groups) that could not be checked (no CRD given).
  returned: success
  type: list
  elements: str
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mlops.stack.plugins.module_utils import schema_check


def main():
    module = AnsibleModule(argument_spec=dict(
        objects=dict(type="dict", required=True),
        crd_files=dict(type="list", elements="path", default=[]),
        crd_definitions=dict(type="list", elements="dict", default=[]),
        unpinned_groups=dict(type="list", elements="str", default=[]),
        parse_cache=dict(type="path"),
        kubernetes_version=dict(type="str", default="1.36"),
        cache_key=dict(type="str", no_log=False),
        cache_dir=dict(type="path", default="~/.cache/mlops-stack/preflight"),
    ), supports_check_mode=True)
    if not schema_check.HAS_VALIDATORS:
        module.fail_json(msg=missing_required_lib("kubernetes-validate and jsonschema"))
    p = module.params
    try:
        schemas = schema_check.load_crd_schemas(p["crd_files"], p["parse_cache"])
        schemas.update(schema_check.crd_schemas(p["crd_definitions"]))
    except (IOError, OSError, ValueError) as exc:
        module.fail_json(msg="cannot read the CRDs of the release manifests: %s" % exc,
                         exception=traceback.format_exc())
    problems, checked, unchecked = [], 0, []
    for role, objects in sorted(p["objects"].items()):
        objects = [o for o in objects or [] if isinstance(o, dict)]
        checked += len(objects)
        problems.extend("role %s: %s" % (role, line)
                        for line in schema_check.validate_objects(objects, schemas, p["kubernetes_version"],
                                                                  p["unpinned_groups"], unchecked))
    if problems:
        module.fail_json(msg="%d object(s) would be refused by the API server; nothing was changed in the cluster:\n- %s"
                         % (len(problems), "\n- ".join(problems)), problems=problems, checked=checked)
    if p["cache_key"]:
        marker = schema_check.marker_path(p["cache_dir"], p["cache_key"])
        try:
            if not os.path.isdir(os.path.dirname(marker)):
                os.makedirs(os.path.dirname(marker))
            with open(marker, "w") as fh:
                fh.write("%d objects valid\n" % checked)
        except (IOError, OSError):
            pass  # the marker only saves time
    if unchecked:
        module.warn("not validated offline (their CRDs are not in the cluster or no cluster was read): %s"
                    % ", ".join(unchecked))
    module.exit_json(changed=False, problems=[], checked=checked, unchecked=unchecked)


if __name__ == "__main__":
    main()
