"""Secrets are protected where they live (issue #14, item 5).

Options carrying secrets are ``no_log``; results that carry secret values
are recognised (the action plugins then hide them from callbacks); failure
messages name the API server and the fix and never contain a value. The
failures here are real: a closed port on 127.0.0.1.
"""
import socket

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.mlops.stack.plugins.module_utils.k8s import generated_secret, reader
from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import K8sApplyError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.secret import SecretError
from ansible_collections.mlops.stack.plugins.modules import (
    k8s_generated_secret,
    k8s_read,
    mlflow_experiment,
    postgresql_database,
    s3_bucket,
)

PASSWORD = "Xq7sVv2Lr9pKd3Wm"


def _spec(module):
    return module.argument_spec()


def _params(module, args):
    checked = ArgumentSpecValidator(_spec(module)).validate(args)
    assert not checked.error_messages, checked.error_messages
    return checked.validated_parameters, checked._no_log_values


@pytest.fixture
def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.parametrize("module, path", [
    (k8s_generated_secret, ["values"]),
    (k8s_generated_secret, ["api_key"]),
    (k8s_read, ["api_key"]),
    (s3_bucket, ["access_key"]),
    (s3_bucket, ["secret_key"]),
    (s3_bucket, ["session_token"]),
    (postgresql_database, ["login_password"]),
    (postgresql_database, ["role", "password"]),
    (mlflow_experiment, ["password"]),
    (mlflow_experiment, ["token"]),
])
def test_secret_options_are_no_log(module, path):
    opt = _spec(module)[path[0]]
    for name in path[1:]:
        opt = opt["options"][name]
    assert opt.get("no_log") is True, path


def test_generated_secret_keeps_given_values_on_success_only_short_ones_on_failure():
    params = {"values": {"dbname": "mlflow", "flag": "0", "password": PASSWORD}}
    no_log = {"mlflow", "0", PASSWORD, "api-key-value-123"}
    # Success: the given values are not scrubbed (a result with values is
    # hidden as a whole); the api key always is.
    assert generated_secret.kept_no_log_values(params, no_log) == {"api-key-value-123"}
    # Failure: credential-length values are scrubbed, "0" and "mlflow" are
    # not (they would mangle "127.0.0.1" and Secret names in the message).
    assert generated_secret.kept_no_log_values(params, no_log, failed=True) == {PASSWORD, "api-key-value-123"}


def test_results_with_secret_values_are_recognised():
    assert generated_secret.secret_result({"secret_data": {}})
    assert not generated_secret.secret_result({"secret": {"name": "x", "keys": ["password"]}})
    assert not generated_secret.secret_result({"failed": True, "msg": "cannot read Secret"})
    assert reader.secret_result({"resources": [{"kind": "Secret", "data": {"a": "Yg=="}}]})
    assert reader.secret_result({"resources": [{"kind": "ConfigMap"}, {"kind": "Secret"}]})
    assert not reader.secret_result({"resources": [{"kind": "ConfigMap", "data": {"a": "b"}}]})
    assert not reader.secret_result({"resources": []})
    assert not reader.secret_result({"failed": True, "msg": "reading v1 Secret x failed"})


def test_generated_secret_failure_names_server_and_fix_without_values(closed_port):
    params, dummy = _params(k8s_generated_secret, {
        "name": "creds", "namespace": "ns1", "host": "http://127.0.0.1:%d" % closed_port,
        "generate": ["token"], "values": {"password": PASSWORD}, "return_values": True})
    with pytest.raises(SecretError) as err:
        generated_secret.ensure(params)
    msg = str(err.value)
    assert "cannot read Secret ns1/creds on http://127.0.0.1:%d" % closed_port in msg, msg
    assert "Is the API server up" in msg and "K8S_AUTH_KUBECONFIG" in msg, msg
    assert PASSWORD not in msg


def test_read_failure_names_object_server_and_config(closed_port, tmp_path):
    params, dummy = _params(k8s_read, {"kind": "Secret", "name": "creds", "namespace": "ns1",
                                       "host": "http://127.0.0.1:%d" % closed_port})
    with pytest.raises(K8sApplyError) as err:
        reader.read(params)
    msg = str(err.value)
    assert msg.startswith("reading v1 Secret ns1/creds failed: cannot reach the Kubernetes API at "
                          "http://127.0.0.1:%d" % closed_port), msg
    assert "kubeconfig=" in msg and "context=" in msg, msg
