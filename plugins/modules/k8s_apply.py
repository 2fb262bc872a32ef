#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: k8s_apply
short_description: Server-side apply many Kubernetes objects (or release manifests) in one fast call
version_added: 0.1.0
author:
  - mlops.stack contributors (@mlops-stack)
description:
  - Applies a list of Kubernetes objects with server-side apply
    (C(PATCH application/apply-patch+yaml)) over one API connection with
    cached discovery. Made for upstream release manifests (cert-manager,
    Knative, KServe, NVIDIA device plugin) that hold hundreds of objects and
    CRDs too big for client-side apply, where one C(kubernetes.core.k8s)
    call per object, or parsing the files with C(from_yaml_all), is slow.
  - Objects come from O(src) files (read with libyaml on the host the module
    runs on, optionally verified against a sha256 checksum) and/or O(definition).
  - Objects are applied in a safe install order (when O(sort=true)),
    Namespaces, CRDs, built-in kinds, custom resources (after the CRDs of
    this call are C(Established)), webhook configurations last.
  - Reports C(changed) only when an object was created or modified - a no-op
    server-side apply does not bump C(resourceVersion), and a bump caused by
    someone else is recognised by comparing this field manager's
    C(managedFields) entry. A second run is therefore C(changed=false).
  - Check mode is a real server-side dry run (C(dryRun=All)); objects whose
    CRD or namespace would only be created by this call are reported as
    C(created) without contacting the server for them.
  - With C(--diff), the before/after of every changed object is returned
    (without status and server-maintained metadata).
  - Connection options fall back to the C(K8S_AUTH_*) environment variables
    like C(kubernetes.core); set them once with C(module_defaults).
options:
  state:
    description:
      - V(present) applies the objects.
      - V(absent) deletes them in reverse install order (webhook
        configurations first, Namespaces and CRDs last), skipping the kinds in
        O(keep_kinds); with O(wait=true) it waits until they are gone.
        Objects already gone, or whose CRD is gone, count as deleted.
    type: str
    choices: [present, absent]
    default: present
  keep_kinds:
    description:
      - With O(state=absent), kinds that are never deleted, for example
        C(PersistentVolumeClaim), C(Secret) and C(Namespace) to keep data.
    type: list
    elements: str
    default: []
  owned_only:
    description:
      - With O(state=absent), delete only objects that O(field_manager) applied
        (it is in their C(managedFields)); others with the same name, created by
        someone else, are left alone and reported as C(foreign).
    type: bool
    default: false
  src:
    description:
      - Multi-document YAML files to apply, in order. Each item is a path or a
        dict with C(path) and C(checksum) (C(sha256:<hex>) or C(<hex>)); a
        checksum mismatch fails before anything is applied.
    type: list
    elements: raw
    default: []
  definition:
    description:
      - Objects to apply after the O(src) objects (a list of dicts, one dict,
        or a multi-document YAML string).
    type: raw
  include_kinds:
    description: Only apply objects of these kinds (all when empty).
    type: list
    elements: str
    default: []
  exclude:
    description: Drop objects matching any of these selectors (keys C(kind), C(name), C(namespace), C(api_version)).
    type: list
    elements: dict
    default: []
  overrides:
    description:
      - Changes to the objects before they are applied. Each item selects
        objects by C(kind), C(name), C(namespace), C(api_version) and
        deep-merges its C(merge) dict into them (dicts merge, lists and
        scalars replace, C(null) deletes a key).
      - Use this instead of a second apply of the same object so that one
        field manager owns one consistent set of fields (idempotent).
    type: list
    elements: dict
    default: []
  overrides_missing_ok:
    description: Do not fail when an override matches no object.
    type: bool
    default: false
  image_registry:
    description:
      - Registry mirror for every image reference (container images,
        C(--*-image=) arguments, ConfigMap keys ending in C(image) and JSON
        C("image") entries in ConfigMap values), rewritten like the
        C(mlops.stack.mirror_image) filter. Empty means no change.
    type: str
    default: ""
  image_keep_domain:
    description: Keep the source registry domain as the first path component (pull-through caches).
    type: bool
    default: false
  labels:
    description: Labels added to every object's metadata.
    type: dict
    default: {}
  namespace:
    description: Namespace for namespaced objects that have none.
    type: str
  sort:
    description: Apply in install order (see description) instead of the given order.
    type: bool
    default: true
  field_manager:
    description: Server-side apply field manager.
    type: str
    default: mlops-stack
  force_conflicts:
    description: Take ownership of fields another manager owns.
    type: bool
    default: true
  wait:
    description:
      - Wait for Deployments to be available, DaemonSets / StatefulSets to
        be rolled out and Jobs to complete (a failed Job fails the task at
        once). Objects that are already ready cost one read each. CRDs of
        this call are always waited for
        (C(Established)) before custom resources are applied and before the
        module returns.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for CRDs and workloads.
    type: int
    default: 300
  workers:
    description:
      - How many objects of one install phase are sent to the API server at the same time, each
        over its own connection. Phases (see description) still run one after the other.
      - C(1) applies one object at a time.
    type: int
    default: 4
  parse_cache:
    description:
      - Directory of a cache of parsed O(src) files, keyed by each file's sha256 (created when missing).
        Large upstream manifests are parsed from YAML once; later runs read the cached JSON, which
        is about 40 times faster. Content that does not survive a JSON round trip unchanged is never cached.
    type: path
  render_path:
    description:
      - Write the final objects (after filters, overrides and image mirror)
        as one multi-document YAML file to this path instead of applying
        them (GitOps rendering). No cluster access.
    type: path
extends_documentation_fragment:
  - mlops.stack.k8s_auth
requirements:
  - PyYAML (with libyaml for speed)
notes:
  - Files in O(src) are read on the host the module runs on; roles run it on
    the controller (C(connection=local)) where they cache the downloads.
  - Secrets can be applied too, but with C(--diff) their data is returned in
    the diff; set C(no_log) on tasks that apply Secrets.
seealso:
  - module: kubernetes.core.k8s
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
"""

EXAMPLES = r"""
- name: Remove a release but keep its data (PVCs, Secrets, Namespaces)
  mlops.stack.k8s_apply:
    state: absent
    src: [/srv/gitops/kserve/upstream.yaml, /srv/gitops/kserve/resources.yaml]
    keep_kinds: [PersistentVolumeClaim, Secret, Namespace]
    wait: true

- name: Install cert-manager from a verified release manifest
  mlops.stack.k8s_apply:
    src:
      - path: /var/cache/mlops/cert-manager/v1.19.4/cert-manager.yaml
        checksum: sha256:0a6f1c4bb6e7f0ed6d5eb0bb3d3ac4bf1bd9bb2c4b2e3b5c6b1d0c9d6f2c6e0d
    image_registry: registry.corp/mirror
    wait: true

- name: Install Knative with feature flags set in the upstream ConfigMap
  mlops.stack.k8s_apply:
    src: [serving-crds.yaml, serving-core.yaml]
    overrides:
      - kind: ConfigMap
        name: config-features
        namespace: knative-serving
        merge:
          data:
            kubernetes.podspec-nodeselector: enabled
            kubernetes.podspec-tolerations: enabled

- name: Apply the role's own objects
  mlops.stack.k8s_apply:
    definition: "{{ kserve_manifests }}"
"""

RETURN = r"""
objects:
  description: Every object handled, in apply order, with what happened to it.
  returned: always
  type: list
  elements: dict
  sample: [{"ref": "Namespace cert-manager", "result": "unchanged"}]
counts:
  description: Number of objects per result (created, configured, unchanged).
  returned: always
  type: dict
  sample: {"unchanged": 49}
count:
  description: Number of objects after filtering.
  returned: always
  type: int
waited:
  description: Objects the module waited for (CRDs Established, workloads ready).
  returned: always
  type: list
  elements: str
render_path:
  description: File written in render mode.
  returned: when O(render_path) is set
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import K8sApplyError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.operations import run
from ansible_collections.mlops.stack.plugins.module_utils.k8s.specs import apply_argument_spec as argument_spec


def _read(path):
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return fh.read()


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
    )
    try:
        result = run(module.params, check_mode=module.check_mode, want_diff=module._diff, read_file=_read)
    except K8sApplyError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
