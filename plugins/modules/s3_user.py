#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r'''
---
module: s3_user
short_description: S3 users limited to their buckets on MinIO, verified on SeaweedFS
version_added: 0.2.0
description:
  - Gives an application its own S3 user instead of the object store's root credentials, with
    read-write access to some buckets and read-only access to others, and nothing else.
  - With O(backend=minio), creates or removes the user and a canned policy through MinIO's admin API
    (C(/minio/admin/v3), AWS SigV4-signed; the bodies that carry secret keys are encrypted like
    C(mc admin) does). The policy is attached to the user as its only policy.
  - Read-write grants C(s3:GetObject), C(s3:PutObject), C(s3:DeleteObject), C(s3:ListBucket),
    C(s3:GetBucketLocation) and the multipart actions (C(s3:ListBucketMultipartUploads),
    C(s3:ListMultipartUploadParts), C(s3:AbortMultipartUpload)); read-only grants C(s3:GetObject) and
    C(s3:ListBucket). A bucket listed in both is read-write.
  - A user's secret key cannot be read back from MinIO. The module therefore compares what it can read
    (the user's existence and status, its attached policies and the policy document) and sends the
    secret key only when it creates the user, or on every run with O(update_secret=always).
  - With O(backend=seaweedfs), users live in the identity file SeaweedFS reads when it starts
    (C(-s3.config)); render it with the filter P(mlops.stack.seaweedfs_s3_config#filter) and its
    C(users) argument. The module then only verifies, with the user's own keys, that the user is active
    and can list each of its buckets (O(state=present)) or that its access key is rejected
    (O(state=absent)). It never reports a change.
  - The server can be reached directly (O(endpoint_url)) or through a port-forward to a
    Kubernetes Service (O(kubernetes_service)).
author:
  - mlops.stack contributors (@mlops-stack)
extends_documentation_fragment:
  - mlops.stack.k8s_access
attributes:
  check_mode:
    support: full
    description: Reads the user and policy and reports what would change; writes nothing.
  diff_mode:
    support: full
    description: Shows the user's status, attached policies and policy document before and after (never a secret).
options:
  name:
    description:
      - Name of the user, for example V(mlflow).
      - On MinIO it is the user's access key unless O(user_access_key) is set, and it names the policy
        (see O(policy_name)).
    type: str
    required: true
  user_access_key:
    description:
      - The user's access key id. Defaults to O(name).
      - MinIO identifies a user by its access key; changing it creates another user.
      - At least 3 characters, no V(=) or V(,).
    type: str
  user_secret_key:
    description:
      - The user's secret key, 8 to 40 characters.
      - Required to create a MinIO user, with O(update_secret=always) and for O(backend=seaweedfs).
        Not needed to update or remove an existing MinIO user.
    type: str
  update_secret:
    description:
      - V(on_create) sends O(user_secret_key) only when the user is created, so re-runs are idempotent
        and a key rotated elsewhere is not reset.
      - V(always) sets it on every run (the task then always reports a change, because the current
        secret key cannot be read to compare).
    type: str
    choices: [on_create, always]
    default: on_create
  buckets_rw:
    description: Buckets the user may list, read, write and delete objects in (with multipart uploads).
    type: list
    elements: str
    default: []
  buckets_ro:
    description: Buckets the user may list and read objects from.
    type: list
    elements: str
    default: []
  policy_name:
    description:
      - Name of the MinIO canned policy that holds the user's permissions. Defaults to V(mlops-<name>).
      - The module owns this policy, replaces its document when the buckets change and removes it
        with O(state=absent).
    type: str
  state:
    description:
      - V(present) creates or updates the user (MinIO) or verifies it (SeaweedFS).
      - V(absent) removes the user and its policy (MinIO) or verifies that its key is rejected (SeaweedFS).
    type: str
    choices: [present, absent]
    default: present
  backend:
    description:
      - The S3 server. V(minio) manages users through the admin API; V(seaweedfs) verifies users of the
        identity file.
    type: str
    choices: [minio, seaweedfs]
    required: true
  endpoint_url:
    description:
      - URL of the S3 endpoint, for example V(http://minio.mlops.svc:9000).
      - Defaults to E(AWS_ENDPOINT_URL_S3), then E(AWS_ENDPOINT_URL).
      - With O(kubernetes_service), its scheme and path are kept and its host and port are replaced
        by the local end of the port-forward.
    type: str
    aliases: [aws_endpoint_url, s3_url, endpoint]
  region:
    description:
      - Region of the request signature. Defaults to E(AWS_REGION), then E(AWS_DEFAULT_REGION), then V(us-east-1).
    type: str
    aliases: [aws_region]
  access_key:
    description:
      - Access key of the MinIO root (or an admin) user that manages users. Not used with O(backend=seaweedfs).
    type: str
    aliases: [aws_access_key_id, aws_access_key]
  secret_key:
    description:
      - Secret key of that admin user; it also encrypts the secret-bearing admin API bodies.
    type: str
    aliases: [aws_secret_access_key, aws_secret_key]
  session_token:
    description: Session token for temporary admin credentials.
    type: str
    aliases: [aws_session_token]
  validate_certs:
    description:
      - Verify the server's TLS certificate. Set to V(false) only for test servers.
    type: bool
    default: true
  ca_bundle:
    description:
      - PEM file with the CA certificates to verify the server with. Defaults to E(AWS_CA_BUNDLE).
    type: path
    aliases: [aws_ca_bundle]
  addressing_style:
    description: How the bucket appears in request URLs (O(backend=seaweedfs) checks only). Default V(path).
    type: str
    choices: [auto, path, virtual]
  timeout:
    description: Read timeout in seconds for each request; the connect timeout is the smaller of this and 10.
    type: int
    default: 30
requirements:
  - boto3 >= 1.35
  - botocore >= 1.35
  - cryptography (O(backend=minio); with Argon2id, i.e. >= 44 built with OpenSSL >= 3.2, or else argon2-cffi)
  - argon2-cffi (O(backend=minio) when cryptography has no Argon2id)
  - kubernetes (only with O(kubernetes_service))
notes:
  - MinIO with an external identity provider (LDAP) does not allow built-in users; the module fails
    with the server's message.
  - The buckets do not have to exist for MinIO; SeaweedFS verification needs them (create them with
    M(mlops.stack.s3_bucket) first).
  - docs/least-privilege-s3.md describes which stack component gets which user.
seealso:
  - module: mlops.stack.s3_bucket
  - name: Least-privilege S3 users
    description: docs/least-privilege-s3.md in this collection.
    link: https://github.com/mlops-stack/mlops.stack/blob/main/docs/least-privilege-s3.md
'''

EXAMPLES = r'''
- name: MLflow may read and write its artifact and model buckets
  mlops.stack.s3_user:
    backend: minio
    name: mlflow
    user_secret_key: "{{ mlflow_s3_secret_key }}"
    buckets_rw: [mlflow-artifacts, models]
    endpoint_url: http://minio.mlops.svc:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
    kubernetes_service:
      name: minio
      namespace: mlops
      port: api

- name: KServe's storage initializer may only read models
  mlops.stack.s3_user:
    backend: minio
    name: kserve
    user_secret_key: "{{ kserve_s3_secret_key }}"
    buckets_ro: [models]
    endpoint_url: http://127.0.0.1:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"

- name: Check that the SeaweedFS identity file gave KServe its bucket
  mlops.stack.s3_user:
    backend: seaweedfs
    name: kserve
    user_secret_key: "{{ kserve_s3_secret_key }}"
    buckets_ro: [models]
    endpoint_url: http://seaweedfs.mlops.svc:8333

- name: Remove a user and its policy
  mlops.stack.s3_user:
    backend: minio
    name: old-app
    state: absent
    endpoint_url: http://127.0.0.1:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
'''

RETURN = r'''
user:
  description: The user after the task (in check mode, as it would be). Never contains a secret key.
  returned: always
  type: dict
  contains:
    access_key:
      description: The user's access key.
      type: str
      returned: always
      sample: mlflow
    exists:
      description: Whether the user exists after the task.
      type: bool
      returned: always
      sample: true
    status:
      description: V(enabled) or V(disabled) (MinIO).
      type: str
      returned: when the user exists on MinIO
      sample: enabled
    policies:
      description: Policies attached to the user (MinIO).
      type: list
      elements: str
      returned: when the user exists on MinIO
      sample: [mlops-mlflow]
    policy_name:
      description: The user's canned policy (MinIO).
      type: str
      returned: when the user exists on MinIO
      sample: mlops-mlflow
    policy:
      description: The policy document (MinIO).
      type: dict
      returned: when the user exists on MinIO
      sample: {"Version": "2012-10-17", "Statement": []}
    actions:
      description: The SeaweedFS actions the user needs (O(backend=seaweedfs)).
      type: list
      elements: str
      returned: with O(backend=seaweedfs) and O(state=present)
      sample: ["Read:models", "List:models"]
actions:
  description: What the task did (or, in check mode, would do), in order.
  returned: always
  type: list
  elements: str
  sample: ["write policy mlops-mlflow", "create user mlflow", "attach policy mlops-mlflow (only) to user mlflow"]
verified:
  description: What O(backend=seaweedfs) checked with the user's keys.
  returned: with O(backend=seaweedfs)
  type: list
  elements: str
  sample: ["user kserve can list bucket models"]
'''

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.mlops.stack.plugins.module_utils.check_mode import server_pending
from ansible_collections.mlops.stack.plugins.module_utils.common import make_diff
from ansible_collections.mlops.stack.plugins.module_utils.k8s.port_forward import K8S_SERVICE_ARGUMENT_SPEC, service_endpoint
from ansible_collections.mlops.stack.plugins.module_utils.s3.client import (
    BOTO3_IMPORT_ERROR, HAS_BOTO3, S3_CONNECTION_ARGUMENT_SPEC, S3Error)
from ansible_collections.mlops.stack.plugins.module_utils.s3.madmin_crypto import CRYPTO_IMPORT_ERROR, missing_library
from ansible_collections.mlops.stack.plugins.module_utils.s3.minio_admin import admin_for
from ansible_collections.mlops.stack.plugins.module_utils.s3.seaweedfs_verify import verify_user
from ansible_collections.mlops.stack.plugins.module_utils.s3.users import plan_minio, describe, run_minio, validate_user


def argument_spec():
    spec = dict(
        name=dict(type="str", required=True),
        user_access_key=dict(type="str", no_log=False),
        user_secret_key=dict(type="str", no_log=True),
        update_secret=dict(type="str", default="on_create", choices=["on_create", "always"]),
        buckets_rw=dict(type="list", elements="str", default=[]),
        buckets_ro=dict(type="list", elements="str", default=[]),
        policy_name=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        backend=dict(type="str", required=True, choices=["minio", "seaweedfs"]),
    )
    spec.update(S3_CONNECTION_ARGUMENT_SPEC)
    spec["endpoint_url"] = dict(spec["endpoint_url"],
                                fallback=(env_fallback, ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]))
    spec["region"] = dict(spec["region"], fallback=(env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"]))
    spec["ca_bundle"] = dict(spec["ca_bundle"], fallback=(env_fallback, ["AWS_CA_BUNDLE"]))
    spec.update(K8S_SERVICE_ARGUMENT_SPEC)
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    if not HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
    if params["backend"] == "minio" and missing_library():
        module.fail_json(msg=missing_required_lib(missing_library()), exception=CRYPTO_IMPORT_ERROR)
    try:
        validate_user(params)
    except S3Error as exc:
        module.fail_json(msg=str(exc))

    pending = server_pending(module)
    try:
        if pending:
            # Check mode before the server exists: plan against a new, empty one.
            module.warn("%s Planned against a new, empty S3 server." % pending)
            result = _plan_on_new_server(params)
        else:
            with service_endpoint(module, params["endpoint_url"]) as url:
                if params["backend"] == "seaweedfs":
                    result = verify_user(params, url)
                else:
                    result = run_minio(admin_for(params, url), params, check_mode=module.check_mode)
    except S3Error as exc:
        module.fail_json(msg=str(exc))
    before, after = result.pop("before", None), result.pop("after", None)
    if module._diff and before is not None:
        result["diff"] = make_diff(before, after, "user %s" % params["name"], "user %s" % params["name"])
    module.exit_json(**result)


def _plan_on_new_server(params):
    if params["backend"] == "seaweedfs":
        return {"changed": False, "actions": [], "verified": [],
                "user": {"access_key": params.get("user_access_key") or params["name"],
                         "exists": params["state"] == "present"}}
    after, actions = plan_minio(params, None, None)
    return {"changed": bool(actions), "actions": [describe(v, a, params) for v, a in actions], "user": after,
            "before": {"access_key": after["access_key"], "exists": False}, "after": after}


if __name__ == "__main__":
    main()
