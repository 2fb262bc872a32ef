#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r'''
module: model_deployment
short_description: Serve a registered MLflow model version with a KServe InferenceService
version_added: 0.2.0
description:
  - Resolves a version (or an alias such as V(champion)) of a model in MLflow's model registry through
    MLflow's REST API, maps its artifact location onto the object store the stack's MLflow writes to,
    and applies an C(InferenceService) that serves it with the stack's MLflow runtime (MLServer, Open
    Inference Protocol v2).
  - Idempotent through server-side apply. Moving the alias to another version and running again
    changes O(name)'s C(storageUri), so KServe rolls the predictor to the new version.
  - Waits until the C(InferenceService) is Ready; when it is not, fails with its conditions and the
    predictor pods' scheduling or container problems.
  - O(state=absent) deletes the C(InferenceService) when this collection created it.
author:
  - mlops.stack contributors (@mlops-stack)
extends_documentation_fragment:
  - mlops.stack.k8s_auth
  - mlops.stack.k8s_access
attributes:
  check_mode:
    support: full
    description: Resolves the model and dry-runs the apply on the API server (its webhooks included);
      writes nothing and does not wait.
  diff_mode:
    support: full
    description: Shows the C(InferenceService) before and after.
options:
  model:
    description: Name of the registered model in MLflow.
    type: str
    required: true
  version:
    description:
      - Version of the registered model to serve, for example V(3).
      - Exactly one of O(version) and O(alias) is needed with O(state=present).
    type: str
  alias:
    description: Alias of the registered model to serve, for example V(champion).
    type: str
  name:
    description:
      - Name of the C(InferenceService); by default the model name made a DNS label (lower case,
        other characters replaced by C(-)).
      - At most 45 characters, since KServe derives longer names from it.
    type: str
  namespace:
    description: Namespace of the C(InferenceService) (the kserve role's serving namespace).
    type: str
    required: true
  state:
    description: V(present) applies the C(InferenceService), V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  tracking_uri:
    description:
      - Base URL of the MLflow tracking server (E(MLFLOW_TRACKING_URI)); required with O(state=present).
      - With O(kubernetes_service), its host and port are replaced by a port-forward's.
    type: str
  tracking_username:
    description: User for MLflow's basic-auth app (E(MLFLOW_TRACKING_USERNAME)).
    type: str
  tracking_password:
    description: Password for MLflow's basic-auth app (E(MLFLOW_TRACKING_PASSWORD)).
    type: str
  tracking_token:
    description: Bearer token for MLflow (E(MLFLOW_TRACKING_TOKEN)), instead of a user and password.
    type: str
  tracking_validate_certs:
    description: Verify MLflow's TLS certificate.
    type: bool
    default: true
  tracking_ca_path:
    description: CA bundle for MLflow's TLS certificate.
    type: path
  tracking_timeout:
    description: Seconds to wait for each MLflow request.
    type: int
    default: 30
  artifacts_destination:
    description:
      - The MLflow server's C(--artifacts-destination), for example V(s3://mlflow-artifacts).
      - Needed when the server proxies artifacts (C(--serve-artifacts), as the mlflow role deploys it), since
        model versions then live at C(mlflow-artifacts:/...), which KServe cannot read.
      - C(playbooks/deploy_model.yml) reads it from the MLflow Deployment.
    type: str
  runtime:
    description: C(ServingRuntime) to use; V("") lets KServe pick one for O(model_format).
    type: str
    default: mlflow-mlserver
  model_format:
    description: Model format KServe selects the runtime by.
    type: str
    default: mlflow
  protocol_version:
    description: Inference protocol; MLServer speaks V(v2) (Open Inference Protocol).
    type: str
    choices: [v1, v2]
    default: v2
  service_account:
    description: ServiceAccount whose annotated Secret gives the storage initializer its S3 credentials.
    type: str
    default: kserve-s3
  deployment_mode:
    description:
      - C(serving.kserve.io/deploymentMode) annotation; V("") keeps the cluster default of
        C(inferenceservice-config).
      - KServe 0.15 and later call C(RawDeployment) V(Standard) and C(Serverless) V(Knative).
    type: str
    choices: ["", Knative, Serverless, RawDeployment, Standard]
    default: ""
  resources:
    description: Resources of the model container (requests, limits; C(nvidia.com/gpu) limits for GPUs).
    type: dict
    default: {}
  min_replicas:
    description: Fewest predictor replicas (V(0) scales to zero in Knative mode).
    type: int
  max_replicas:
    description: Most predictor replicas.
    type: int
  scale_metric:
    description: Metric the autoscaler scales on (V(cpu), V(memory) for the HPA in Standard mode;
      V(concurrency), V(rps) for Knative).
    type: str
    choices: [cpu, memory, concurrency, rps]
  scale_target:
    description: Target of O(scale_metric) per replica (percent for V(cpu)/V(memory)).
    type: int
  node_selector:
    description: Node selector of the predictor pods (the GPU group's labels).
    type: dict
    default: {}
  tolerations:
    description: Tolerations of the predictor pods (the GPU nodes' taints).
    type: list
    elements: dict
    default: []
  affinity:
    description: Affinity of the predictor pods (for example a GPU product).
    type: dict
    default: {}
  runtime_class_name:
    description: RuntimeClass of the predictor pods (for example V(nvidia)).
    type: str
  labels:
    description: Extra labels of the C(InferenceService).
    type: dict
    default: {}
  annotations:
    description: Extra annotations of the C(InferenceService) (KServe copies them to the pods).
    type: dict
    default: {}
  wait:
    description: Wait until the C(InferenceService) is Ready (or deleted with O(state=absent)).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 600
  field_manager:
    description: Server-side apply field manager; O(state=absent) deletes only objects it has written.
    type: str
    default: mlops-stack
seealso:
  - module: mlops.stack.mlflow_experiment
  - name: KServe InferenceService
    description: The object this module applies.
    link: https://kserve.github.io/website/docs/model-serving/predictive-inference/frameworks/mlflow
'''

EXAMPLES = r'''
- name: Serve the champion version of the iris model on the GPU nodes
  mlops.stack.model_deployment:
    model: iris
    alias: champion
    namespace: mlops-serving
    tracking_uri: http://mlflow.mlops.svc:5000
    kubernetes_service:
      name: mlflow
      namespace: mlops
      port: http
    artifacts_destination: s3://mlflow-artifacts
    resources:
      requests: {cpu: "1", memory: 2Gi}
      limits: {cpu: "2", memory: 4Gi, nvidia.com/gpu: "1"}
    node_selector: {workload-type: inference}
    tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
    min_replicas: 1
    max_replicas: 3
    scale_metric: cpu
    scale_target: 70
  register: iris

- name: Remove it
  mlops.stack.model_deployment:
    model: iris
    namespace: mlops-serving
    state: absent
'''

RETURN = r'''
name:
  description: Name of the C(InferenceService).
  returned: always
  type: str
  sample: iris
namespace:
  description: Its namespace.
  returned: always
  type: str
  sample: mlops-serving
model_version:
  description: The registered model version served.
  returned: state=present
  type: str
  sample: "3"
run_id:
  description: The MLflow run that produced the version (empty for models logged outside a run).
  returned: state=present
  type: str
artifact_uri:
  description: Where MLflow says the version's files are.
  returned: state=present
  type: str
  sample: mlflow-artifacts:/1/models/m-6f1c/artifacts
storage_uri:
  description: The C(storageUri) KServe's storage initializer fetches.
  returned: state=present
  type: str
  sample: s3://mlflow-artifacts/1/models/m-6f1c/artifacts
result:
  description: V(created), V(configured), V(unchanged), V(deleted), V(absent) or V(foreign) (not ours, kept).
  returned: always
  type: str
ready:
  description: Whether the C(InferenceService) reported Ready.
  returned: state=present
  type: bool
url:
  description: The URL KServe publishes for it.
  returned: state=present
  type: str
  sample: http://iris.mlops-serving.mlops.local
inference_service:
  description: The C(InferenceService) as the API server returned it (the desired object in check mode).
  returned: state=present
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import K8sApplyError
from ansible_collections.mlops.stack.plugins.module_utils.mlflow import MlflowError
from ansible_collections.mlops.stack.plugins.module_utils.model_deploy import (
    SPEC_KWARGS, ModelDeployError, argument_spec, ensure)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **SPEC_KWARGS)
    try:
        result = ensure(module.params, check_mode=module.check_mode, want_diff=module._diff)
    except (ModelDeployError, MlflowError, K8sApplyError) as exc:
        module.fail_json(msg=str(exc))
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
