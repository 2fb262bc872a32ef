"""module_utils/k8s/config.py and k8s/client.py: kubeconfig resolution and the HTTP client.

The TLS/HTTP path against a real kube-apiserver is covered by every k8s
test (tests/k8s); these tests cover the kubeconfig shapes the harness does
not produce, with a real HTTPS server and a real credential plugin.
"""
import base64
import http.server
import json
import os
import ssl
import stat
import subprocess
import threading

import pytest
import yaml

from ansible_collections.mlops.stack.plugins.module_utils.k8s.client import client_from_params
from ansible_collections.mlops.stack.plugins.module_utils.k8s.config import Settings, in_cluster_settings, settings_from_params
from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import ApiError, K8sConfigError, K8sConnectionError, UnsupportedConfig
from ansible_collections.mlops.stack.plugins.module_utils.k8s.transport import Client


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def write_config(path, users, clusters=None, contexts=None, current="main"):
    clusters = clusters or [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}]
    contexts = contexts or [{"name": "main", "context": {"cluster": "c", "user": "u"}}]
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": clusters,
                                    "users": users, "contexts": contexts, "current-context": current}))
    return str(path)


def test_token_file_relative_to_the_kubeconfig(tmp_path):
    (tmp_path / "tok").write_text("secret-token\n")
    cfg = write_config(tmp_path / "config", [{"name": "u", "user": {"tokenFile": "tok"}}],
                       clusters=[{"name": "c", "cluster": {"server": "https://k:6443",
                                                           "certificate-authority": "ca.pem"}}])
    s = settings_from_params({"kubeconfig": cfg}, environ={})
    assert s.token == "secret-token"
    assert s.server == "https://k:6443"
    assert s.ca_file == str(tmp_path / "ca.pem")


def test_kubeconfig_list_merges_first_wins(tmp_path):
    a = write_config(tmp_path / "a", [{"name": "u", "user": {"token": "from-a"}}], current="")
    b = write_config(tmp_path / "b", [{"name": "u", "user": {"token": "from-b"}},
                                      {"name": "v", "user": {"token": "v-token"}}],
                     contexts=[{"name": "main", "context": {"cluster": "c", "user": "u"}},
                               {"name": "other", "context": {"cluster": "c", "user": "v"}}], current="main")
    env = {"KUBECONFIG": os.pathsep.join([a, str(tmp_path / "missing"), b])}
    assert settings_from_params({}, environ=env).token == "from-a"
    assert settings_from_params({"context": "other"}, environ=env).token == "v-token"
    with pytest.raises(K8sConfigError, match="nope"):
        settings_from_params({"context": "nope"}, environ=env)


def test_explicit_options_override_the_kubeconfig(tmp_path):
    cfg = write_config(tmp_path / "config", [{"name": "u", "user": {"token": "t"}}],
                       clusters=[{"name": "c", "cluster": {"server": "https://k:6443",
                                                           "certificate-authority-data": _b64("PEM")}}])
    s = settings_from_params({"kubeconfig": cfg, "host": "https://other:443", "api_key": "k",
                              "validate_certs": False, "ca_cert": "/etc/ca.pem"}, environ={})
    assert (s.server, s.token, s.insecure, s.ca_file, s.ca_data) == ("https://other:443", "k", True,
                                                                     "/etc/ca.pem", None)
    alone = settings_from_params({"host": "https://h", "api_key": "x"}, environ={})
    assert (alone.server, alone.token) == ("https://h", "x")


def test_missing_kubeconfig_and_in_cluster(tmp_path):
    with pytest.raises(K8sConfigError, match="does not exist"):
        settings_from_params({"kubeconfig": str(tmp_path / "none")}, environ={})
    with pytest.raises(K8sConfigError, match="not running in a pod"):
        settings_from_params({}, environ={"KUBECONFIG": str(tmp_path / "none")})
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("pod-token")
    (sa / "ca.crt").write_text("PEM")
    s = in_cluster_settings({"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}, str(sa))
    assert (s.server, s.token, s.ca_file) == ("https://[fd00::1]:443", "pod-token", str(sa / "ca.crt"))


def test_auth_provider_is_left_to_the_library_proxy_url_is_not(tmp_path):
    cfg = write_config(tmp_path / "config", [{"name": "u", "user": {"auth-provider": {"name": "oidc"}}}],
                       clusters=[{"name": "c", "cluster": {"server": "https://k", "proxy-url": "http://p:3128"}}])
    with pytest.raises(UnsupportedConfig) as unsupported:
        settings_from_params({"kubeconfig": cfg}, environ={})
    # the cluster entry goes with it: the library path needs no second read for its proxy decision
    assert unsupported.value.cluster == {"server": "https://k", "proxy-url": "http://p:3128"}
    # proxy-url is the client's own now (tests/integration/test_k8s_transport.py).
    cfg = write_config(tmp_path / "config2", [{"name": "u", "user": {"token": "t"}}],
                       clusters=[{"name": "c", "cluster": {"server": "https://k", "proxy-url": "http://p:3128"}}])
    assert settings_from_params({"kubeconfig": cfg}, environ={}).proxy_url == "http://p:3128"


def plugin(tmp_path, body, code=0):
    script = tmp_path / "bin" / "cred"
    script.parent.mkdir(exist_ok=True)
    script.write_text("#!/bin/sh\necho \"$KUBERNETES_EXEC_INFO\" > \"$(dirname \"$0\")/info.json\"\n"
                      "echo \"$MY_VAR\" > \"$(dirname \"$0\")/var\"\ncat <<'EOF'\n%s\nEOF\nexit %d\n" % (body, code))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_exec_plugin_token(tmp_path):
    plugin(tmp_path, json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                                 "status": {"token": "exec-token"}}))
    cfg = write_config(tmp_path / "config", [{"name": "u", "user": {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": "./bin/cred",
        "env": [{"name": "MY_VAR", "value": "hello"}], "provideClusterInfo": True}}}])
    s = settings_from_params({"kubeconfig": cfg}, environ={"PATH": "/usr/bin:/bin"})
    assert s.token == "exec-token"
    info = json.loads((tmp_path / "bin" / "info.json").read_text())
    assert info["kind"] == "ExecCredential" and info["spec"]["interactive"] is False
    assert info["spec"]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert (tmp_path / "bin" / "var").read_text().strip() == "hello"


def test_exec_plugin_failures(tmp_path):
    plugin(tmp_path, "denied", code=3)
    spec = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(tmp_path / "bin" / "cred")}
    cfg = write_config(tmp_path / "config", [{"name": "u", "user": {"exec": spec}}])
    with pytest.raises(K8sConfigError, match="exited 3"):
        settings_from_params({"kubeconfig": cfg}, environ={})
    plugin(tmp_path, "{}")
    with pytest.raises(K8sConfigError, match="neither a token nor a client certificate"):
        settings_from_params({"kubeconfig": cfg}, environ={})
    spec["command"] = str(tmp_path / "missing")
    cfg = write_config(tmp_path / "config", [{"name": "u", "user": {"exec": spec}}])
    with pytest.raises(K8sConfigError, match="failed to run"):
        settings_from_params({"kubeconfig": cfg}, environ={})


# ---- a real HTTPS server ---------------------------------------------------

@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """An HTTPS server on 127.0.0.1 with a certificate for 'api.internal' that
    records each request and answers like the API server."""
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=api.internal", "-addext", "subjectAltName=DNS:api.internal",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                   check=True, capture_output=True)
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen.append({"method": self.command, "path": self.path, "auth": self.headers.get("Authorization"),
                         "ctype": self.headers.get("Content-Type"), "body": body})
            if self.path.startswith("/missing"):
                code, out = 404, {"kind": "Status", "reason": "NotFound", "message": "not here"}
            else:
                code, out = 200, {"ok": True}
            data = json.dumps(out).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = do_POST = do_DELETE = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(d / "cert.pem"), str(d / "key.pem"))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": "https://127.0.0.1:%d" % server.server_address[1], "ca": str(d / "cert.pem"), "seen": seen}
    server.shutdown()
    server.server_close()


def test_https_with_tls_server_name_and_token(tls_server, tmp_path):
    cfg = write_config(tmp_path / "config", [{"name": "u", "user": {"token": "abc"}}],
                       clusters=[{"name": "c", "cluster": {
                           "server": tls_server["url"] + "/prefix", "tls-server-name": "api.internal",
                           "certificate-authority-data": _b64(open(tls_server["ca"]).read())}}])
    client = client_from_params({"kubeconfig": cfg})
    assert client.request("GET", "/api/v1/namespaces/a b", query=[("labelSelector", "x=y,z")]) == {"ok": True}
    client.request("PATCH", "/apis/apps/v1/x", body={"a": 1}, content_type="application/apply-patch+yaml")
    client.close()
    get, patch = tls_server["seen"][-2:]
    assert get["path"] == "/prefix/api/v1/namespaces/a%20b?labelSelector=x%3Dy%2Cz"
    assert get["auth"] == "Bearer abc"
    assert patch["ctype"] == "application/apply-patch+yaml" and json.loads(patch["body"]) == {"a": 1}


def test_https_verifies_the_certificate(tls_server, tmp_path):
    # Without tls-server-name, 127.0.0.1 does not match the certificate.
    cfg = write_config(tmp_path / "config", [{"name": "u", "user": {"username": "admin", "password": "pw"}}],
                       clusters=[{"name": "c", "cluster": {"server": tls_server["url"],
                                                           "certificate-authority": tls_server["ca"]}}])
    with pytest.raises(K8sConnectionError):
        client_from_params({"kubeconfig": cfg}).request("GET", "/x")
    insecure = client_from_params({"kubeconfig": cfg, "validate_certs": False})
    assert insecure.request("GET", "/x") == {"ok": True}
    assert tls_server["seen"][-1]["auth"] == "Basic " + _b64("admin:pw")
    with pytest.raises(ApiError) as err:
        insecure.request("GET", "/missing")
    assert err.value.status == 404 and err.value.status_message() == "404 NotFound: not here"


def test_unreachable_server():
    client = Client(Settings("https://127.0.0.1:1"), timeout=5)
    with pytest.raises(K8sConnectionError):
        client.request("GET", "/api")
