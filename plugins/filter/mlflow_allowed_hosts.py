# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
name: mlflow_allowed_hosts
short_description: Host header allow-list for C(mlflow server --allowed-hosts)
version_added: 0.1.0
author: mlops.stack contributors
description:
  - MLflow >= 3.5 rejects requests whose C(Host) header is not allowed. This returns every name a client
    inside or outside the cluster uses for the server, each with and without a port
    (C(name) and C(name:*)), in a stable order without duplicates.
  - In-cluster names are C(<service>), C(<service>.<namespace>), C(<service>.<namespace>.svc) and
    C(<service>.<namespace>.svc.<cluster_domain>). C(localhost) and C(127.0.0.1) are included for
    port-forwards and probes.
options:
  _input:
    description: Service name.
    type: string
    required: true
  namespace:
    description: Namespace of the Service.
    type: string
    required: true
  extra:
    description: Further host names, for example the Ingress host. Empty strings are ignored.
    type: list
    elements: string
    default: []
  cluster_domain:
    description: Cluster DNS domain.
    type: string
    default: cluster.local
"""

EXAMPLES = r"""
- name: Build the --allowed-hosts value
  ansible.builtin.debug:
    msg: "{{ 'mlflow' | mlops.stack.mlflow_allowed_hosts('mlops', extra=['mlflow.example.com']) | join(',') }}"
"""

RETURN = r"""
_value:
  description: List of host patterns.
  type: list
  elements: string
"""

from ansible.errors import AnsibleFilterError


def mlflow_allowed_hosts(service, namespace, extra=None, cluster_domain="cluster.local"):
    if not service or not namespace:
        raise AnsibleFilterError("mlflow_allowed_hosts: service and namespace are required")
    names = list(extra or []) + [
        service,
        "%s.%s" % (service, namespace),
        "%s.%s.svc" % (service, namespace),
        "%s.%s.svc.%s" % (service, namespace, cluster_domain.strip(".")),
        "localhost",
        "127.0.0.1",
    ]
    out = []
    for name in names:
        name = str(name or "").strip()
        if not name:
            continue
        if "," in name or " " in name:
            raise AnsibleFilterError("mlflow_allowed_hosts: invalid host name %r" % name)
        for item in (name, "%s:*" % name) if ":" not in name else (name,):
            if item not in out:
                out.append(item)
    return out


class FilterModule(object):
    def filters(self):
        return {"mlflow_allowed_hosts": mlflow_allowed_hosts}
