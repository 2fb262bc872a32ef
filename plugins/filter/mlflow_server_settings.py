# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
name: mlflow_server_settings
short_description: What a client of an MLflow tracking server needs, read from its Deployment
version_added: 0.2.0
author: mlops.stack contributors
description:
  - Reads the C(mlflow server) container of a Deployment (as the mlflow role renders it, or any Deployment
    that runs C(mlflow server)) and returns its port, its C(--artifacts-destination), whether the
    C(basic-auth) app is on, and the Secret that holds the admin user and password.
  - Lets other plays look the tracking contract up from the cluster instead of from facts of an earlier
    play or from copies of the mlflow role's variables.
options:
  _input:
    description: The Deployment object (for example C(resources[0]) of C(mlops.stack.k8s_read)).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Read the MLflow Deployment
  mlops.stack.k8s_read:
    api_version: apps/v1
    kind: Deployment
    name: mlflow
    namespace: mlops
  register: mlflow_deployment

- name: Where MLflow keeps artifacts
  ansible.builtin.debug:
    msg: "{{ (mlflow_deployment.resources[0] | mlops.stack.mlflow_server_settings).artifacts_destination }}"
"""

RETURN = r"""
_value:
  description: The settings.
  type: dict
  contains:
    port:
      description: The port the server listens on (C(--port), else MLflow's default 5000).
      type: int
    artifacts_destination:
      description: C(--artifacts-destination) when the server proxies artifacts, else an empty string.
      type: str
    serve_artifacts:
      description: Whether the server proxies artifacts.
      type: bool
    auth_enabled:
      description: Whether C(--app-name basic-auth) is set.
      type: bool
    auth_secret:
      description: C(name), C(username_key) and C(password_key) of the Secret behind
        C(MLFLOW_AUTH_ADMIN_USERNAME)/C(MLFLOW_AUTH_ADMIN_PASSWORD); empty when not set that way.
      type: dict
"""

from ansible.errors import AnsibleFilterError


def _options(words):
    """``--flag=value`` and ``--flag value`` as one dict (a bare flag maps to True)."""
    out = {}
    idx = 0
    while idx < len(words):
        word = str(words[idx])
        if word.startswith("--"):
            if "=" in word:
                key, value = word[2:].split("=", 1)
            elif idx + 1 < len(words) and not str(words[idx + 1]).startswith("--"):
                key, value = word[2:], str(words[idx + 1])
                idx += 1
            else:
                key, value = word[2:], True
            out[key] = value
        idx += 1
    return out


def _server_container(deployment):
    containers = ((((deployment or {}).get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")
    for container in containers or []:
        words = [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
        if any(w.endswith("mlflow") for w in words) and "server" in words:
            return container, words
    name = ((deployment or {}).get("metadata") or {}).get("name")
    raise AnsibleFilterError("mlflow_server_settings: Deployment %s has no container that runs `mlflow server`"
                             % name)


def mlflow_server_settings(deployment):
    if not isinstance(deployment, dict):
        raise AnsibleFilterError("mlflow_server_settings: expected a Deployment object, got %r" % type(deployment))
    container, words = _server_container(deployment)
    opts = _options(words[words.index("server") + 1:])
    env = {e.get("name"): e for e in container.get("env") or []}
    refs = {}
    for var, key in (("MLFLOW_AUTH_ADMIN_USERNAME", "username_key"), ("MLFLOW_AUTH_ADMIN_PASSWORD", "password_key")):
        ref = ((env.get(var) or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
        if ref.get("name"):
            refs.setdefault("name", ref["name"])
            refs[key] = ref.get("key")
    port = opts.get("port")
    if port is None and env.get("MLFLOW_PORT", {}).get("value"):
        port = env["MLFLOW_PORT"]["value"]
    serve = bool(opts.get("serve-artifacts")) and "no-serve-artifacts" not in opts
    return {
        "port": int(port) if port not in (None, True) else 5000,
        "serve_artifacts": serve,
        "artifacts_destination": opts.get("artifacts-destination", "") if serve else "",
        "auth_enabled": opts.get("app-name") == "basic-auth",
        "auth_secret": refs if len(refs) == 3 else {},
    }


class FilterModule(object):
    def filters(self):
        return {"mlflow_server_settings": mlflow_server_settings}
