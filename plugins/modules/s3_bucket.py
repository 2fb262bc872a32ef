#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r'''
---
module: s3_bucket
short_description: Create, configure and delete buckets on any S3-compatible endpoint
version_added: 0.1.0
description:
  - Creates or deletes a bucket on MinIO, SeaweedFS, AWS S3 or any other S3-compatible server,
    and manages its versioning, bucket policy, tags and lifecycle expiration rules.
  - Uses boto3 directly; path-style addressing is the default for custom endpoints, which
    MinIO and SeaweedFS need.
  - Options that are not set are not managed, so the module can own only part of a bucket's
    configuration.
  - The bucket name is checked against the S3 naming rules before any request is sent.
  - Servers differ in what they implement. When the server does not implement a feature the
    task asks for (for example lifecycle rules), the module fails with a message naming the
    feature and the endpoint; features that are not asked for are never a reason to fail.
  - The server can be reached directly (O(endpoint_url)) or through a port-forward to a
    Kubernetes Service (O(kubernetes_service)).
author:
  - mlops.stack contributors (@mlops-stack)
extends_documentation_fragment:
  - mlops.stack.k8s_access
attributes:
  check_mode:
    support: full
    description: Reads the bucket and reports what would change; writes nothing.
  diff_mode:
    support: full
    description: Shows the bucket's versioning, policy, tags and lifecycle rules before and after.
  action_group:
    support: full
    description: Use C(group/mlops.stack.bootstrap) in C(module_defaults) to set the connection options once.
    membership:
      - mlops.stack.bootstrap
options:
  name:
    description:
      - Name of the bucket.
      - Must follow the S3 bucket naming rules (3-63 characters, lowercase letters, digits, V(.)
        and V(-), starting and ending with a letter or digit, not an IP address).
      - Exactly one of O(name) and O(buckets) is required.
    type: str
    aliases: [bucket]
  buckets:
    description:
      - Several buckets in one task, over one S3 client (one module start instead of one per
        bucket in a loop, which is what a re-run spends its time on).
      - Each entry takes O(name) and any of O(state), O(force), O(versioning), O(policy), O(tags),
        O(purge_tags) and O(lifecycle_rules); what an entry leaves unset comes from the
        task's top-level option.
      - Results are in RV(results), in the same order.
    type: list
    elements: dict
  state:
    description:
      - V(present) creates the bucket if needed and applies the given settings.
      - V(absent) deletes it. A bucket that holds objects is only deleted with O(force=true).
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - With O(state=absent), delete every object, object version, delete marker and
        unfinished multipart upload before deleting the bucket.
      - Without it, deleting a non-empty bucket fails and nothing is removed.
    type: bool
    default: false
  versioning:
    description:
      - V(true) enables object versioning, V(false) suspends it (a bucket that never had
        versioning stays unversioned).
      - Not managed when omitted.
    type: bool
  policy:
    description:
      - Bucket policy as a dict or a JSON string.
      - Compared semantically with the current policy, so key order, statement order, the order
        of values in C(Action), C(Resource), C(Principal) and C(Condition), a single string vs a
        one-element list and C("*") vs C({"AWS":"*"}) principals do not cause a change.
      - An empty dict or empty string removes the policy. Not managed when omitted.
    type: json
  tags:
    description:
      - Bucket tags as a dict of key to value. Values are converted to strings.
      - An empty dict removes all tags (with O(purge_tags=true)). Not managed when omitted.
    type: dict
  purge_tags:
    description:
      - When V(true), tags not listed in O(tags) are removed.
      - When V(false), O(tags) are added to or updated in the existing tags.
    type: bool
    default: true
  lifecycle_rules:
    description:
      - The complete list of lifecycle expiration rules of the bucket; rules not listed are removed.
      - An empty list removes the lifecycle configuration. Not managed when omitted.
      - Rules are compared by content, independent of order. An existing rule that uses features
        this module does not model (transitions, tag filters) is replaced.
    type: list
    elements: dict
    suboptions:
      id:
        description: Unique rule id.
        type: str
        required: true
      prefix:
        description: Apply the rule to object keys with this prefix. V("") means all objects.
        type: str
        default: ""
      enabled:
        description: Whether the rule is enabled.
        type: bool
        default: true
      expiration_days:
        description: Delete (or, in versioned buckets, make noncurrent) objects this many days after creation.
        type: int
      noncurrent_version_expiration_days:
        description: Permanently delete noncurrent object versions this many days after they became noncurrent.
        type: int
      abort_incomplete_multipart_upload_days:
        description: Abort multipart uploads that are not completed this many days after they started.
        type: int
  endpoint_url:
    description:
      - URL of the S3 endpoint, for example V(http://minio.mlops.svc:9000) or V(https://s3.example.com).
      - Omit it for AWS S3.
      - Defaults to E(AWS_ENDPOINT_URL_S3), then E(AWS_ENDPOINT_URL).
      - With O(kubernetes_service), its scheme and path are kept and its host and port are replaced
        by the local end of the port-forward.
    type: str
    aliases: [aws_endpoint_url, s3_url, endpoint]
  region:
    description:
      - Region of the bucket and the request signature. Defaults to E(AWS_REGION), then
        E(AWS_DEFAULT_REGION), then V(us-east-1).
      - For a region other than V(us-east-1) the bucket is created with that location constraint.
    type: str
    aliases: [aws_region]
  access_key:
    description:
      - S3 access key id. Defaults to what boto3 finds (E(AWS_ACCESS_KEY_ID), shared credentials file).
    type: str
    aliases: [aws_access_key_id, aws_access_key]
  secret_key:
    description:
      - S3 secret access key. Defaults to what boto3 finds (E(AWS_SECRET_ACCESS_KEY), shared credentials file).
    type: str
    aliases: [aws_secret_access_key, aws_secret_key]
  session_token:
    description: Session token for temporary credentials (STS).
    type: str
    aliases: [aws_session_token]
  validate_certs:
    description:
      - Verify the server's TLS certificate. Set to V(false) only for test servers.
    type: bool
    default: true
  ca_bundle:
    description:
      - PEM file with the CA certificates to verify the server with (for example a private CA or
        the cert-manager self-signed issuer). Defaults to E(AWS_CA_BUNDLE).
    type: path
    aliases: [aws_ca_bundle]
  addressing_style:
    description:
      - How the bucket appears in request URLs.
      - Default V(path) when O(endpoint_url) is set (MinIO, SeaweedFS), otherwise V(auto).
    type: str
    choices: [auto, path, virtual]
  timeout:
    description: Read timeout in seconds for each request; the connect timeout is the smaller of this and 10.
    type: int
    default: 30
requirements:
  - boto3 >= 1.35
  - botocore >= 1.35
  - kubernetes (only with O(kubernetes_service))
notes:
  - Bucket policy, tag and lifecycle support varies between S3 servers; SeaweedFS and MinIO
    implement all options of this module.
  - On AWS S3, S(bucket names are global); a name owned by another account fails with a clear message.
seealso:
  - module: amazon.aws.s3_bucket
  - name: Kubernetes access path
    description: docs/k8s-access.md in this collection.
    link: https://github.com/mlops-stack/mlops.stack/blob/main/docs/k8s-access.md
'''

EXAMPLES = r'''
- name: Create the MLflow artifact bucket on the in-cluster MinIO
  mlops.stack.s3_bucket:
    name: mlflow-artifacts
    endpoint_url: http://minio.mlops.svc:9000
    access_key: "{{ s3_access_key }}"
    secret_key: "{{ s3_secret_key }}"
    versioning: true
    tags:
      app.kubernetes.io/part-of: mlops-stack

- name: Same bucket, reached through a port-forward to the MinIO Service
  mlops.stack.s3_bucket:
    name: mlflow-artifacts
    endpoint_url: http://minio.mlops.svc:9000
    access_key: "{{ s3_access_key }}"
    secret_key: "{{ s3_secret_key }}"
    kubernetes_service:
      name: minio
      namespace: mlops
      port: api

- name: Read-only public models bucket with expiring scratch data
  mlops.stack.s3_bucket:
    name: models
    endpoint_url: https://s3.mlops.example.com
    ca_bundle: /etc/ssl/mlops-ca.pem
    access_key: "{{ s3_access_key }}"
    secret_key: "{{ s3_secret_key }}"
    policy:
      Version: "2012-10-17"
      Statement:
        - Sid: PublicRead
          Effect: Allow
          Principal: "*"
          Action: s3:GetObject
          Resource: arn:aws:s3:::models/*
    lifecycle_rules:
      - id: expire-scratch
        prefix: scratch/
        expiration_days: 7
      - id: old-versions
        noncurrent_version_expiration_days: 30
        abort_incomplete_multipart_upload_days: 2

- name: Add one tag, keep the others
  mlops.stack.s3_bucket:
    name: models
    endpoint_url: https://s3.mlops.example.com
    tags:
      owner: ml-platform
    purge_tags: false

- name: Delete a bucket and everything in it
  mlops.stack.s3_bucket:
    name: scratch
    endpoint_url: http://127.0.0.1:9000
    state: absent
    force: true
'''

RETURN = r'''
bucket:
  description:
    - The bucket's resulting state (in check mode, the state it would have).
    - Features the server cannot report are V(null).
  returned: always
  type: dict
  contains:
    name:
      description: Bucket name.
      type: str
      returned: always
      sample: mlflow-artifacts
    exists:
      description: Whether the bucket exists after the task.
      type: bool
      returned: always
      sample: true
    versioning:
      description: V(Enabled), V(Suspended) or V(Disabled).
      type: str
      returned: when the bucket exists
      sample: Enabled
    policy:
      description: The bucket policy, or V(null) when there is none.
      type: dict
      returned: when the bucket exists
      sample: {"Version": "2012-10-17", "Statement": []}
    tags:
      description: Bucket tags.
      type: dict
      returned: when the bucket exists
      sample: {"owner": "ml-platform"}
    lifecycle_rules:
      description:
        - Lifecycle rules in the form of the O(lifecycle_rules) option.
        - Rules with parts this module does not model list them under C(unmanaged).
      type: list
      elements: dict
      returned: when the bucket exists
      sample: [{"id": "expire-scratch", "prefix": "scratch/", "enabled": true, "expiration_days": 7,
                "noncurrent_version_expiration_days": null, "abort_incomplete_multipart_upload_days": null}]
    empty:
      description: Whether the bucket holds no objects, object versions or delete markers.
      type: bool
      returned: when the bucket exists
      sample: true
    endpoint_url:
      description: The endpoint the module talked to (the local port-forward with O(kubernetes_service)).
      type: str
      returned: always
      sample: http://127.0.0.1:9000
actions:
  description: What the task did (or, in check mode, would do), in order.
  returned: always
  type: list
  elements: str
  sample: ["create bucket models", "set versioning of models to Enabled"]
results:
  description: With O(buckets), the result of each bucket (C(bucket), C(actions), C(changed)), in order.
  returned: when O(buckets) is set
  type: list
  elements: dict
  sample: [{"bucket": {"name": "mlflow-artifacts", "exists": true}, "actions": [], "changed": false}]
'''

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.mlops.stack.plugins.module_utils.check_mode import server_pending
from ansible_collections.mlops.stack.plugins.module_utils.common import make_diff
from ansible_collections.mlops.stack.plugins.module_utils.k8s.port_forward import K8S_SERVICE_ARGUMENT_SPEC, service_endpoint
from ansible_collections.mlops.stack.plugins.module_utils.s3.client import (
    BOTO3_IMPORT_ERROR, HAS_BOTO3, S3_CONNECTION_ARGUMENT_SPEC, BotoCoreError, S3Error, build_client, classify_error)
from ansible_collections.mlops.stack.plugins.module_utils.s3.lifecycle import LIFECYCLE_RULE_SPEC, normalize_rules
from ansible_collections.mlops.stack.plugins.module_utils.s3.names import validate_bucket_name
from ansible_collections.mlops.stack.plugins.module_utils.s3.operations import plan_on_new_server, run_bucket
from ansible_collections.mlops.stack.plugins.module_utils.s3.policy import parse_policy


BUCKET_OPTIONS = ("state", "force", "versioning", "policy", "tags", "purge_tags", "lifecycle_rules")


def argument_spec():
    spec = dict(
        name=dict(type="str", aliases=["bucket"]),
        buckets=dict(type="list", elements="dict"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        force=dict(type="bool", default=False),
        versioning=dict(type="bool"),
        policy=dict(type="json"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
        lifecycle_rules=dict(type="list", elements="dict", options=LIFECYCLE_RULE_SPEC),
    )
    spec.update(S3_CONNECTION_ARGUMENT_SPEC)
    spec["endpoint_url"] = dict(spec["endpoint_url"],
                                fallback=(env_fallback, ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]))
    spec["region"] = dict(spec["region"], fallback=(env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"]))
    spec["ca_bundle"] = dict(spec["ca_bundle"], fallback=(env_fallback, ["AWS_CA_BUNDLE"]))
    spec.update(K8S_SERVICE_ARGUMENT_SPEC)
    return spec


def bucket_params(params):
    """One params dict per bucket: entries of ``buckets``, validated like the
    top-level options, over the top-level options."""
    if not params.get("buckets"):
        return [params]
    spec = argument_spec()
    entry_spec = {"name": dict(type="str", required=True, aliases=["bucket"])}
    for key in BUCKET_OPTIONS:
        entry_spec[key] = dict((k, v) for k, v in spec[key].items() if k != "default")
    validator = ArgumentSpecValidator(entry_spec)
    out = []
    for index, entry in enumerate(params["buckets"]):
        checked = validator.validate(entry)
        if checked.error_messages:
            raise S3Error("buckets[%d]: %s" % (index, "; ".join(checked.error_messages)))
        merged = dict(params)
        merged.pop("buckets")
        for key, value in checked.validated_parameters.items():
            if value is not None and key in entry_spec:
                merged[key] = value
        out.append(merged)
    return out


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[("name", "buckets")], required_one_of=[("name", "buckets")])
    if not HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
    try:
        # Local validation first: nothing is sent for a bad name/policy/rule.
        todo = bucket_params(module.params)
        for params in todo:
            validate_bucket_name(params["name"])
            parse_policy(params["policy"])
            normalize_rules(params["lifecycle_rules"])
    except S3Error as exc:
        module.fail_json(msg=str(exc))

    results = []
    pending = server_pending(module)
    if pending:
        # Check mode before the server exists: plan against a new, empty one.
        module.warn("%s Planned against a new, empty S3 server." % pending)
        results = [plan_on_new_server(params, module.params["endpoint_url"]) for params in todo]
    else:
        with service_endpoint(module, module.params["endpoint_url"]) as url:
            client = None
            try:
                for params in todo:
                    if client is None:
                        client = build_client(params, url)
                    results.append(run_bucket(params, url, check_mode=module.check_mode, client=client))
            except S3Error as exc:
                module.fail_json(msg=str(exc), results=[public_result(r) for r in results])
            except (BotoCoreError, ValueError) as exc:
                module.fail_json(msg=str(classify_error(url, "cannot configure the S3 client", exc)))
    diffs = [make_diff(r["before"], r["after"], r["bucket"]["name"], r["bucket"]["name"]) for r in results]
    if module.params.get("buckets"):
        result = {"changed": any(r["changed"] for r in results),
                  "results": [public_result(r) for r in results]}
        if module._diff:
            result["diff"] = diffs
    else:
        result = public_result(results[0])
        if module._diff:
            result["diff"] = make_diff(results[0]["before"], results[0]["after"])
    module.exit_json(**result)


def public_result(result):
    """The module result without the diff views."""
    return dict((k, v) for k, v in result.items() if k not in ("before", "after"))


if __name__ == "__main__":
    main()
