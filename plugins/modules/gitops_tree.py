#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: gitops_tree
short_description: Write the stack's ArgoCD app of apps and one Kustomize directory per component
version_added: 0.3.0
author:
  - mlops.stack contributors (@mlops-stack)
description:
  - Runs on the controller (action plugin); C(playbooks/render.yml) calls it once with every component's objects
    and staged release files.
  - Every object gets an ArgoCD sync wave inside its Application (CRDs -3; ServiceAccounts, RBAC, ConfigMaps,
    Secrets, NetworkPolicies and PVCs -2; migration Jobs and custom resources of CRDs from other components -1;
    workloads, Services and webhook configurations 0; custom resources of the component's own CRDs 1) and custom
    resources get C(SkipDryRunOnMissingResource=true).
  - Namespaces move into one C(namespaces) Application that never prunes; Namespaces, CRDs and PVCs carry
    C(Prune=false,Delete=false), so deleting or pruning an Application never deletes data or other users' custom
    resources.
  - Component Applications get sync waves in site.yml order, automated sync with retry and backoff,
    server-side apply and C(ignoreDifferences) for the CA bundles and webhook rules controllers inject.
  - Files an earlier render wrote (listed in C(<dest>/.mlops-render.json)) and this one does not are removed;
    other files are never touched. Unchanged files are not rewritten.
options:
  dest:
    description: Directory of the tree (the root of the Git repository path given by O(path)).
    type: str
    required: true
  components:
    description: The components in site.yml order.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Directory and Application name (C(mlops-<name>)).
        type: str
        required: true
      files:
        description: Release files the role wrote (multi-document YAML); each keeps its file name.
        type: list
        elements: path
        default: []
      objects:
        description: The role's own objects, written to C(resources.yaml).
        type: list
        elements: dict
        default: []
  argocd:
    description: Write the ArgoCD Applications and the C(namespaces) directory; C(false) writes plain Kustomize
      directories as the roles built them (Namespaces stay in their components, no sync annotations).
    type: bool
    default: true
  repo_url:
    description: Git repository ArgoCD reads the tree from; required when O(argocd=true).
    type: str
    default: ""
  revision:
    description: Git revision (branch, tag or commit).
    type: str
    default: main
  path:
    description: Directory of the tree inside the repository (empty for its root).
    type: str
    default: ""
  argocd_namespace:
    description: Namespace of ArgoCD's Applications.
    type: str
    default: argocd
  argocd_project:
    description: ArgoCD project of the Applications.
    type: str
    default: default
  destination_server:
    description: API server the Applications deploy to.
    type: str
    default: https://kubernetes.default.svc
  root_name:
    description: Name of the app-of-apps Application.
    type: str
    default: mlops-stack
  retry_limit:
    description: Sync retries of each Application (backoff 10s, doubling, at most 3m).
    type: int
    default: 10
attributes:
  check_mode:
    description: Reports the files it would write or remove.
    support: full
  diff_mode:
    description: No diff.
    support: none
"""

EXAMPLES = r"""
- name: Write the tree
  mlops.stack.gitops_tree:
    dest: ./gitops
    repo_url: https://git.example.org/platform/mlops.git
    path: clusters/prod
    components:
      - name: mlflow
        objects: "{{ mlflow_manifests }}"
      - name: kserve
        files: [/tmp/staging/kserve/upstream.yaml]
        objects: "{{ kserve_manifests }}"
"""

RETURN = r"""
written:
  description: Files (relative to O(dest)) written because they were new or different.
  returned: success
  type: list
  elements: str
removed:
  description: Files of an earlier render that this one no longer has.
  returned: success
  type: list
  elements: str
apps:
  description: The Applications under C(apps/).
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlops.stack.plugins.module_utils.gitops import ARGUMENT_SPEC


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="mlops.stack.gitops_tree runs as an action plugin on the controller; "
                         "call it from a play, not as a standalone module")


if __name__ == "__main__":
    main()
