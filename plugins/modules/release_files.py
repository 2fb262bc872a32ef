#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: release_files
short_description: Resolve an upstream release's manifest files on the controller, verified by sha256
version_added: 0.2.0
author:
  - mlops.stack contributors (@mlops-stack)
description:
  - Runs on the controller (action plugin); the release roles (certmanager, knative, kserve, gpu_serving)
    use it to turn a pinned release into local file paths for M(mlops.stack.k8s_apply).
  - With O(src_dir) (an offline mirror, for example C(<mlops_manifest_dir>/<component>/<version>)) the files
    are read from there; each must exist.
  - Otherwise each file is downloaded from C(<url>/<file>) into
    C(<cache_dir>/<component>/<version>/<file>) unless a cached copy with the pinned sha256 is already there, so
    a re-run makes no HTTP request. A download whose sha256 differs from the pinned one is refused and not
    written.
  - Every downloaded file needs a pinned sha256 in O(checksums) unless O(allow_unverified=true).
options:
  component:
    description: Name of the component, used in the cache path and messages (for example C(kserve)).
    type: str
    required: true
  version:
    description: Release version, used in the cache path (for example C(v0.20.0)).
    type: str
    required: true
  files:
    description: File names of the release, in the order they are returned.
    type: list
    elements: str
    required: true
  url:
    description: Base URL the files are downloaded from.
    type: str
    default: ""
  src_dir:
    description: Local mirror directory holding the files; no download when set.
    type: str
    default: ""
  checksums:
    description: sha256 per file name, a dict of file name to sha256; mirror files are returned with theirs so that
      M(mlops.stack.k8s_apply) verifies them.
    type: dict
    default: {}
  allow_unverified:
    description: Download files that have no pinned sha256.
    type: bool
    default: false
  cache_dir:
    description: Download cache on the controller.
    type: str
    default: ~/.cache/mlops-stack/manifests
  timeout:
    description: Seconds to wait for each download.
    type: int
    default: 60
attributes:
  check_mode:
    description: The download cache is on the controller and later tasks need the files to predict their
      changes, so check mode downloads too.
    support: full
  diff_mode:
    description: No diff.
    support: none
"""

EXAMPLES = r"""
- name: Resolve the KServe release
  mlops.stack.release_files:
    component: kserve
    version: v0.20.0
    files: [kserve-crds.yaml, kserve-core.yaml]
    url: https://github.com/kserve/kserve/releases/download/v0.20.0
    checksums:
      kserve-crds.yaml: 3a5d6a1afbff01dff82e0afcb00a613080050c21ca8ca2c300375c4289c5a05a
      kserve-core.yaml: d4f06463787671f44e67cd4f86fa0a7f9b015e52dd29eba71984c16fdd37c4f5
  register: kserve_release

- name: Apply it
  mlops.stack.k8s_apply:
    src: "{{ kserve_release.files }}"
"""

RETURN = r"""
files:
  description: The files, in the order of O(files), as C(src) entries for M(mlops.stack.k8s_apply).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: File name.
      type: str
    path:
      description: Local path.
      type: str
    checksum:
      description: The pinned sha256, or an empty string.
      type: str
downloaded:
  description: Files downloaded by this run (changed when not empty).
  returned: success
  type: list
  elements: str
source:
  description: C(mirror) or C(download).
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlops.stack.plugins.module_utils.release import ARGUMENT_SPEC


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="mlops.stack.release_files runs as an action plugin on the controller; "
                         "call it from a play, not as a standalone module")


if __name__ == "__main__":
    main()
