#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r'''
---
module: mlflow_experiment
short_description: Ensure an MLflow experiment exists (or is deleted) and return its id
version_added: 0.1.0
description:
  - Creates an MLflow experiment, restores it when an experiment of that name was deleted, and
    sets its tags. With O(state=absent) it deletes the experiment (MLflow keeps deleted
    experiments restorable until C(mlflow gc) removes them).
  - Returns RV(experiment_id), for example for the OpenTelemetry Collector's
    C(x-mlflow-experiment-id) header.
  - Talks to the MLflow REST API (C(/api/2.0/mlflow/experiments/...)) directly; the host running
    the module needs no C(mlflow) package.
  - Works with and without MLflow authentication (C(mlflow server --app-name basic-auth), or a
    reverse proxy that takes a bearer token).
  - The server can be reached directly (O(tracking_uri)) or through a port-forward to a
    Kubernetes Service (O(kubernetes_service)).
author:
  - mlops.stack contributors (@mlops-stack)
extends_documentation_fragment:
  - mlops.stack.k8s_access
attributes:
  check_mode:
    support: full
    description: Reads the experiment and reports what would change; writes nothing. The
      RV(experiment_id) of an experiment that does not exist yet is V(null) in check mode.
  diff_mode:
    support: full
    description: Shows the experiment's lifecycle stage, artifact location and tags before and after.
  action_group:
    support: full
    description: Use C(group/mlops.stack.bootstrap) in C(module_defaults) to set the connection options once.
    membership:
      - mlops.stack.bootstrap
options:
  name:
    description:
      - Name of the experiment (at most 500 characters, no control characters, no leading or
        trailing whitespace).
    type: str
    required: true
  state:
    description:
      - V(present) creates the experiment when missing and restores it when it is deleted.
      - V(absent) deletes it (MLflow's soft delete).
    type: str
    choices: [present, absent]
    default: present
  tracking_uri:
    description:
      - Base URL of the MLflow tracking server, for example V(http://mlflow.mlops.svc:5000).
      - Defaults to E(MLFLOW_TRACKING_URI).
      - With O(kubernetes_service), its scheme and path are kept and host and port are replaced
        by the port-forward's.
    type: str
    required: true
  tags:
    description:
      - Tags to set on the experiment. Values are converted to strings (booleans to V(true)/V(false)).
      - Tags not listed are kept unless O(purge_tags=true). Not managed when omitted.
    type: dict
  purge_tags:
    description:
      - Delete tags that are not in O(tags). Tags that MLflow maintains (prefix C(mlflow.)) are
        never deleted.
    type: bool
    default: false
  artifact_location:
    description:
      - Where the experiment's artifacts go, for example V(s3://mlflow/experiments/traces).
        Only used when the experiment is created; without it the server's default applies
        (V(mlflow-artifacts:/...) when it proxies artifacts).
      - MLflow cannot change the location of an existing experiment. A different value on an
        existing experiment is reported as a warning and the experiment is left as it is (the
        runs already logged keep working); RV(experiment.artifact_location) has the actual value.
    type: str
  username:
    description:
      - User name for HTTP basic authentication (MLflow C(basic-auth) app).
      - Defaults to E(MLFLOW_TRACKING_USERNAME).
    type: str
  password:
    description:
      - Password for HTTP basic authentication. Defaults to E(MLFLOW_TRACKING_PASSWORD).
    type: str
  token:
    description:
      - Bearer token sent as C(Authorization) header instead of basic authentication.
      - Defaults to E(MLFLOW_TRACKING_TOKEN).
    type: str
  validate_certs:
    description: Verify the server's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: CA bundle to verify the server's certificate with.
    type: path
    aliases: [ca_bundle]
  timeout:
    description: Seconds to wait for each HTTP request.
    type: int
    default: 30
seealso:
  - module: mlops.stack.postgresql_database
  - name: MLflow REST API
    description: The experiments endpoints this module uses.
    link: https://mlflow.org/docs/latest/api_reference/rest-api.html
'''

EXAMPLES = r'''
- name: Ensure the experiment the OTel Collector sends traces to
  mlops.stack.mlflow_experiment:
    tracking_uri: http://127.0.0.1:5000
    name: llm-traces
    tags:
      team: platform
      source: otel-collector
  register: traces_experiment

- name: Use the id in the collector's exporter headers
  ansible.builtin.set_fact:
    otel_collector_mlflow_experiment_id: "{{ traces_experiment.experiment_id }}"

- name: Ensure an experiment on a basic-auth server inside the cluster
  mlops.stack.mlflow_experiment:
    tracking_uri: http://mlflow.mlops.svc:5000
    username: admin
    password: "{{ mlflow_admin_password }}"
    name: training
    artifact_location: s3://mlflow/training
    kubernetes_service:
      name: mlflow
      namespace: mlops

- name: Delete an experiment
  mlops.stack.mlflow_experiment:
    tracking_uri: http://127.0.0.1:5000
    name: scratch
    state: absent
'''

RETURN = r'''
experiment_id:
  description:
    - Id of the experiment (also after O(state=absent), when it existed).
    - V(null) in check mode when the experiment would be created, or when it does not exist.
  returned: always
  type: str
  sample: "3"
experiment:
  description: The experiment after the task (as it would be, in check mode).
  returned: always
  type: dict
  contains:
    experiment_id:
      description: Id.
      type: str
      sample: "3"
    name:
      description: Name.
      type: str
      sample: llm-traces
    artifact_location:
      description: Artifact root of the experiment.
      type: str
      sample: mlflow-artifacts:/3
    lifecycle_stage:
      description: V(active) or V(deleted).
      type: str
      sample: active
    tags:
      description: All tags, including those MLflow maintains.
      type: dict
      sample: {team: platform}
    creation_time:
      description: Creation time in milliseconds since the epoch.
      type: int
      sample: 1767225600000
    last_update_time:
      description: Last update time in milliseconds since the epoch.
      type: int
      sample: 1767225600000
actions:
  description: Changes made (or that would be made in check mode).
  returned: always
  type: list
  elements: str
  sample: [create experiment llm-traces, set tag team]
'''

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.mlops.stack.plugins.module_utils.check_mode import server_pending
from ansible_collections.mlops.stack.plugins.module_utils.k8s.port_forward import K8S_SERVICE_ARGUMENT_SPEC, service_endpoint
from ansible_collections.mlops.stack.plugins.module_utils.mlflow import (
    MlflowApi, MlflowError, NewServer, desired_from_params, ensure_experiment, normalize_tracking_uri)


def argument_spec():
    """The module's options (secrets, password and token, are no_log)."""
    spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        tracking_uri=dict(type="str", required=True, fallback=(env_fallback, ["MLFLOW_TRACKING_URI"])),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=False),
        artifact_location=dict(type="str"),
        username=dict(type="str", fallback=(env_fallback, ["MLFLOW_TRACKING_USERNAME"])),
        password=dict(type="str", no_log=True, fallback=(env_fallback, ["MLFLOW_TRACKING_PASSWORD"])),
        token=dict(type="str", no_log=True, fallback=(env_fallback, ["MLFLOW_TRACKING_TOKEN"])),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path", aliases=["ca_bundle"]),
        timeout=dict(type="int", default=30),
    )
    spec.update(K8S_SERVICE_ARGUMENT_SPEC)
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[["token", "username"]])
    p = module.params
    try:
        uri = normalize_tracking_uri(p["tracking_uri"])
        desired = desired_from_params(p)
    except MlflowError as exc:
        module.fail_json(msg=str(exc))

    pending = server_pending(module)
    if pending:
        # Check mode before the server exists: plan against a new, empty one.
        module.warn("%s Planned against a new MLflow server; the experiment id is known only after "
                    "the real run." % pending)
        result = ensure_experiment(NewServer(uri), desired, check_mode=True)
        for w in result.pop("warnings", []):
            module.warn(w)
        if not module._diff:
            result.pop("diff", None)
        module.exit_json(**result)
    with service_endpoint(module, uri) as url:
        api = MlflowApi(url.rstrip("/"), p["username"], p["password"], p["token"],
                        p["validate_certs"], p["ca_path"], p["timeout"])
        api.endpoint = uri  # messages name the endpoint the user configured
        try:
            result = ensure_experiment(api, desired, check_mode=module.check_mode)
        except MlflowError as exc:
            module.fail_json(msg=str(exc))
    for w in result.pop("warnings", []):
        module.warn(w)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
