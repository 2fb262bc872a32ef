# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


class ModuleDocFragment(object):
    """Options of module_utils/k8s/port_forward.py (K8S_SERVICE_ARGUMENT_SPEC)."""

    DOCUMENTATION = r'''
options:
  kubernetes_service:
    description:
      - Reach the server through a Kubernetes Service instead of a direct endpoint.
      - The module opens a port-forward (like C(kubectl port-forward svc/NAME)) to a Ready pod
        selected by the Service's selector and C(targetPort), on 127.0.0.1, for the duration of
        the task, and talks to the server through it. The scheme and path of the module's
        endpoint option are kept; only host and port are replaced.
      - Needs the C(kubernetes) Python library on the host that runs the module and RBAC
        C(get) on services, C(list) on pods and C(create) on C(pods/portforward).
      - Omit it to use the endpoint directly (for example an Ingress URL or a LoadBalancer address).
      - In check mode, when the Service does not exist or has no Ready pod (a run that would
        deploy the server first, on a cluster it has not deployed to yet), the module warns and
        reports what it would do on a new, empty server instead of failing.
      - See docs/k8s-access.md in the collection.
    type: dict
    suboptions:
      name:
        description: Name of the Service.
        type: str
        required: true
      namespace:
        description: Namespace of the Service.
        type: str
        default: default
      port:
        description:
          - Service port number or port name.
          - May be omitted when the Service has exactly one port.
        type: str
      kubeconfig:
        description:
          - Path to the kubeconfig file.
          - Defaults to E(K8S_AUTH_KUBECONFIG), then the client's default (E(KUBECONFIG) or
            C(~/.kube/config)), then the in-cluster service account.
        type: path
      context:
        description:
          - Kubeconfig context to use. Defaults to E(K8S_AUTH_CONTEXT), then the current context.
        type: str
      local_port:
        description:
          - Local port on 127.0.0.1 to listen on. V(0) picks a free port.
        type: int
        default: 0
      timeout:
        description: Seconds to wait for each Kubernetes API request.
        type: int
        default: 30
'''
