# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


class ModuleDocFragment(object):
    """Connection options of module_utils/k8s/client.py (K8S_CONNECTION_ARGUMENT_SPEC)."""

    DOCUMENTATION = r'''
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file (C(K8S_AUTH_KUBECONFIG)). Without it, C(KUBECONFIG) (a list of
        files, merged like kubectl does), then C(~/.kube/config), then the in-cluster service account.
      - Client certificates, tokens, token files, basic auth and C(exec) credential plugins are handled
        by the collection's own client; C(auth-provider) entries need the C(kubernetes) Python library.
      - Proxies as kubectl uses them, for every request and the port-forward alike - the cluster's
        C(proxy-url), else E(HTTPS_PROXY) (E(HTTP_PROXY) for an C(http://) server) minus E(NO_PROXY) (host,
        domain suffix, CIDR, C(*)); loopback servers never go through an environment proxy. Only C(http://)
        proxies are supported (a CONNECT tunnel for https servers).
    type: path
  context:
    description: Kubeconfig context to use (C(K8S_AUTH_CONTEXT)); the current context when unset.
    type: str
  host:
    description: API server URL (C(K8S_AUTH_HOST)); overrides the kubeconfig's, or stands alone with O(api_key).
    type: str
  api_key:
    description: Bearer token (C(K8S_AUTH_API_KEY)).
    type: str
  validate_certs:
    description: Verify the API server's certificate (C(K8S_AUTH_VERIFY_SSL)).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description: CA bundle for the API server (C(K8S_AUTH_SSL_CA_CERT)).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description: Client certificate (C(K8S_AUTH_CERT_FILE)).
    type: path
    aliases: [cert_file]
  client_key:
    description: Client key (C(K8S_AUTH_KEY_FILE)).
    type: path
    aliases: [key_file]
  request_timeout:
    description: Timeout in seconds of each API request.
    type: int
    default: 60
requirements:
  - PyYAML
notes:
  - When the task runs on the controller with C(connection=local) (no C(become), no task C(environment)),
    the collection's action plugin runs this module's code in Ansible's worker process instead of starting
    a new Python process, which saves about 0.4 s per task. Set the environment variable
    C(MLOPS_STACK_IN_PROCESS=0) to always run it as a normal module.
attributes:
  action_group:
    description: Use C(group/mlops.stack.k8s) in C(module_defaults) to set the connection options.
    support: full
    membership:
      - mlops.stack.k8s
'''
