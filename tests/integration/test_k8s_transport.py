"""module_utils/k8s/transport.py against real servers on 127.0.0.1:
retries (429/503/connection resets, Retry-After, the total cap), answers
that are not JSON, and the proxy path through a real CONNECT proxy
(tests/servers/connect_proxy.py). The same against the real kube-apiserver,
next to kubectl, is tests/k8s/test_k8s_proxy.py."""
import http.server
import json
import socket
import ssl
import threading
import time

import pytest
import yaml

from ansible_collections.mlops.stack.plugins.module_utils.k8s.client import client_from_params
from ansible_collections.mlops.stack.plugins.module_utils.k8s.config import Settings, settings_from_params
from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import ApiError, BadResponse, K8sConfigError, K8sConnectionError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.transport import Client
from ansible_collections.mlops.stack.plugins.module_utils.k8s.proxy import UnsupportedProxy
from tests.cluster import pki
from tests.servers.connect_proxy import ConnectProxy

pytestmark = pytest.mark.integration

#: The server's certificate names only this (and 127.0.0.1); the proxy
#: alone resolves it, so a request that reaches it went through the proxy.
NAME = "api.proxy-test.invalid"


class Api:
    """An HTTPS server that answers by path prefix and counts the tries."""

    def __init__(self, tmp_path):
        ca = pki.new_ca()
        leaf = pki.issue(ca, NAME, dns=[NAME], ips=["127.0.0.1"], server=True)
        (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
        (tmp_path / "tls.pem").write_bytes(leaf.cert_pem + leaf.key_pem)
        self.ca = str(tmp_path / "ca.pem")
        self.hits = {}
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, code, body, ctype="application/json", headers=()):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                key = self.path.split("?")[0]
                n = api.hits[key] = api.hits.get(key, 0) + 1
                if key.startswith("/busy-then-ok"):  # 429 Retry-After: 1 twice, then 200
                    if n <= 2:
                        return self._send(429, {"kind": "Status", "reason": "TooManyRequests"},
                                          headers=[("Retry-After", "1")])
                    return self._send(200, {"ok": n})
                if key.startswith("/always-busy"):
                    return self._send(429, {"kind": "Status", "reason": "TooManyRequests"},
                                      headers=[("Retry-After", "1")])
                if key.startswith("/unavailable"):  # bare 503 (no Retry-After) once, then 200
                    if n <= 1:
                        return self._send(503, b"upstream connect error", ctype="text/plain")
                    return self._send(200, {"ok": n})
                if key.startswith("/reset"):  # connection dropped after the request, once
                    if n <= 1:
                        self.close_connection = True
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                   b"\x01\x00\x00\x00\x00\x00\x00\x00")
                        self.connection.close()
                        return None
                    return self._send(200, {"ok": n})
                if key.startswith("/login-page"):
                    return self._send(200, b"<html><body>Sign in to Corp SSO</body></html>",
                                      ctype="text/html; charset=utf-8")
                if key.startswith("/bad-gateway"):
                    return self._send(502, b"<html><h1>502 Bad Gateway</h1></html>", ctype="text/html")
                return self._send(200, {"ok": n})

            do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tmp_path / "tls.pem"))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api(tmp_path):
    srv = Api(tmp_path)
    yield srv
    srv.close()


def client(api, server=None, proxy_url=None, environ=None, **kw):
    settings = Settings(server or "https://127.0.0.1:%d" % api.port, ca_file=api.ca, proxy_url=proxy_url)
    return Client(settings, timeout=10, environ=environ or {}, **kw)


# ---- retries ------------------------------------------------------------

def test_429_is_retried_after_retry_after(api):
    c = client(api)
    start = time.monotonic()
    assert c.request("GET", "/busy-then-ok") == {"ok": 3}
    elapsed = time.monotonic() - start
    assert api.hits["/busy-then-ok"] == 3 and c.attempts == 3
    assert 2.0 <= elapsed < 4.0  # two Retry-After: 1 waits, not backoff guesses
    # A create is retried on 429 too: the server refused it before acting.
    assert c.request("POST", "/busy-then-ok-post", body={}) == {"ok": 3}


def test_the_total_cap_bounds_the_retries(api):
    c = client(api, retry_total=2.5)
    start = time.monotonic()
    with pytest.raises(ApiError) as err:
        c.request("GET", "/always-busy")
    elapsed = time.monotonic() - start
    assert err.value.status == 429 and err.value.retry_after == 1.0
    # Tries at 0 s, 1 s, 2 s; a fourth would start after the 2.5 s cap.
    assert api.hits["/always-busy"] == 3
    assert elapsed < 3.0
    c = client(api, max_attempts=2)
    with pytest.raises(ApiError):
        c.request("GET", "/always-busy-2")
    assert api.hits["/always-busy-2"] == 2


def test_503_retried_for_idempotent_requests_only(api):
    c = client(api, backoff_base=0.1)
    assert c.request("GET", "/unavailable-get") == {"ok": 2}
    # Server-side apply is idempotent: retried.
    assert c.request("PATCH", "/unavailable-apply", body={"a": 1},
                     content_type="application/apply-patch+yaml") == {"ok": 2}
    # POST (create) and JSON patch are not: a bare 503 may follow a create
    # that happened. The error names what came back.
    for method, path, ctype in (("POST", "/unavailable-post", None),
                                ("PATCH", "/unavailable-jsonpatch", "application/json-patch+json")):
        with pytest.raises(ApiError) as err:
            c.request(method, path, body=[], content_type=ctype)
        assert api.hits[path] == 1
        msg = err.value.status_message()
        assert "503" in msg and method in msg and path in msg and "text/plain" in msg
        assert "upstream connect error" in msg


def test_connection_reset_retried_for_idempotent_requests_only(api):
    c = client(api, backoff_base=0.1)
    assert c.request("GET", "/reset-get") == {"ok": 2}
    assert api.hits["/reset-get"] == 2
    with pytest.raises(K8sConnectionError, match="not idempotent, so it is not retried"):
        c.request("POST", "/reset-post", body={})
    assert api.hits["/reset-post"] == 1


# ---- answers that are not JSON -----------------------------------------

def test_non_json_2xx_names_method_url_status_type_and_body(api):
    c = client(api)
    with pytest.raises(BadResponse) as err:
        c.request("GET", "/login-page/api/v1")
    msg = str(err.value)
    assert "GET https://127.0.0.1:%d/login-page/api/v1 answered 200" % api.port in msg
    assert "text/html; charset=utf-8" in msg and "Sign in to Corp SSO" in msg
    assert "Expecting value" not in msg
    assert isinstance(err.value, K8sConnectionError)  # modules report it like an unreachable server


def test_non_json_error_body_is_described(api):
    with pytest.raises(ApiError) as err:
        client(api).request("DELETE", "/bad-gateway/x")
    msg = err.value.status_message()
    assert msg.startswith("502 ")
    assert "DELETE https://127.0.0.1:%d/bad-gateway/x answered 502 (content type text/html)" % api.port in msg
    assert "502 Bad Gateway</h1>" in msg


# ---- proxy ----------------------------------------------------------------

def test_https_proxy_env_tunnels_through_connect(api):
    with ConnectProxy(hosts={NAME: "127.0.0.1"}) as proxy:
        server = "https://%s:%d" % (NAME, api.port)
        c = client(api, server=server, environ={"HTTPS_PROXY": proxy.url.replace("http://", "")})
        assert c.proxy.source == "HTTPS_PROXY"
        assert c.request("GET", "/via-env") == {"ok": 1}
        c.request("GET", "/via-env")  # keep-alive: the same tunnel
        assert proxy.connects == ["%s:%d" % (NAME, api.port)]


def test_no_proxy_bypasses_the_proxy(api):
    with ConnectProxy(hosts={NAME: "127.0.0.1"}) as proxy:
        server = "https://%s:%d" % (NAME, api.port)
        for no_proxy in ("proxy-test.invalid", ".invalid", "*", "%s:%d" % (NAME, api.port)):
            c = client(api, server=server, environ={"https_proxy": proxy.url, "no_proxy": no_proxy})
            assert c.proxy.url is None
            # Direct: only the proxy could resolve the name.
            with pytest.raises(K8sConnectionError) as err:
                c.request("GET", "/direct")
            assert "via proxy" not in str(err.value)
        assert proxy.connects == []


def test_kubeconfig_proxy_url_beats_the_environment(api, tmp_path):
    with ConnectProxy() as env_proxy, ConnectProxy(auth=("u", "p w")) as kube_proxy:
        cfg = tmp_path / "config"
        cfg.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {
                "server": "https://127.0.0.1:%d" % api.port, "certificate-authority": api.ca,
                "proxy-url": "http://u:p%%20w@127.0.0.1:%d" % kube_proxy.port}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
        env = {"HTTPS_PROXY": env_proxy.url, "NO_PROXY": "*"}
        c = Client(settings_from_params({"kubeconfig": str(cfg)}, environ=env), environ=env)
        assert c.request("GET", "/via-kubeconfig") == {"ok": 1}
        assert kube_proxy.connects == ["127.0.0.1:%d" % api.port] and kube_proxy.refused == []
        assert env_proxy.connects == []


def test_proxy_refusal_is_reported_with_the_proxy(api):
    with ConnectProxy(auth=("u", "right")) as proxy:
        c = client(api, proxy_url="http://u:wrong@127.0.0.1:%d" % proxy.port)
        with pytest.raises(K8sConnectionError) as err:
            c.request("GET", "/x")
        assert "407" in str(err.value) and "via proxy http://127.0.0.1:%d (kubeconfig proxy-url)" % proxy.port \
            in str(err.value)
        assert "wrong" not in str(err.value)


def test_plain_http_server_through_http_proxy(tmp_path):
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            seen.append((self.path, self.headers.get("Host")))
            data = b'{"plain": true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with ConnectProxy(hosts={NAME: "127.0.0.1"}) as proxy:
            server = "http://%s:%d" % (NAME, srv.server_address[1])
            # HTTPS_PROXY does not apply to an http server; HTTP_PROXY does.
            assert Client(Settings(server), environ={"HTTPS_PROXY": proxy.url}).proxy.url is None
            c = Client(Settings(server), environ={"HTTP_PROXY": proxy.url})
            assert c.request("GET", "/api") == {"plain": True}
            assert proxy.requests == ["GET %s/api" % server]
            assert seen == [("/api", "%s:%d" % (NAME, srv.server_address[1]))]
    finally:
        srv.shutdown()
        srv.server_close()


def test_unsupported_proxy_scheme_fails_naming_it(tmp_path):
    settings = Settings("https://%s:6443" % NAME, proxy_url="socks5://127.0.0.1:1080")
    with pytest.raises(UnsupportedProxy, match="scheme 'socks5'.*kubectl does"):
        Client(settings, environ={})
    # Through client_from_params (what modules call) it is a configuration error.
    cfg = tmp_path / "config"
    cfg.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://%s:6443" % NAME}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HTTPS_PROXY", "socks5h://127.0.0.1:1080")
        mp.delenv("NO_PROXY", raising=False)
        mp.delenv("no_proxy", raising=False)
        with pytest.raises(K8sConfigError, match="socks5h"):
            client_from_params({"kubeconfig": str(cfg)})
