"""module_utils/k8s/proxy.py: the proxy decision kubectl makes (Go's
httpproxy rules), pure. Through real proxies: tests/integration/
test_k8s_transport.py and tests/k8s/test_k8s_proxy.py."""
import pytest

from ansible_collections.mlops.stack.plugins.module_utils.k8s import proxy as kp


@pytest.mark.parametrize("host,port,no_proxy,entry", [
    ("api.corp.example", 443, "*", "*"),
    ("api.corp.example", 443, "corp.example", "corp.example"),         # domain and its subdomains
    ("corp.example", 443, "corp.example", "corp.example"),
    ("corp.example", 443, ".corp.example", None),                      # leading dot: subdomains only
    ("api.corp.example", 443, ".corp.example", ".corp.example"),
    ("api.corp.example", 443, "*.corp.example", "*.corp.example"),
    ("notcorp.example", 443, "corp.example", None),                    # a suffix, not a label suffix
    ("API.Corp.Example", 443, " other.example , CORP.example ", "CORP.example"),
    ("api.corp.example", 6443, "corp.example:6443", "corp.example:6443"),
    ("api.corp.example", 443, "corp.example:6443", None),
    ("10.96.0.1", 443, "10.0.0.0/8", "10.0.0.0/8"),                    # CIDR
    ("10.96.0.1", 443, "192.168.0.0/16,10.96.0.1", "10.96.0.1"),
    ("10.96.0.1", 443, "10.96.0.1:6443", None),
    ("10.96.0.1", 6443, "10.96.0.1:6443", "10.96.0.1:6443"),
    ("fd00::1", 443, "fd00::/8", "fd00::/8"),
    ("fd00::1", 443, "fd00::1", "fd00::1"),
    ("fd00::1", 443, "[fd00::1]:443", "[fd00::1]:443"),
    ("10.96.0.1", 443, "10.0.0.0/33,bogus/cidr", None),                # malformed entries are ignored
    ("kubernetes.default.svc", 443, ".svc,.cluster.local", ".svc"),
    ("api.corp.example", 443, "", None),
    ("api.corp.example", 443, ",,", None),
])
def test_no_proxy_match(host, port, no_proxy, entry):
    assert kp.no_proxy_match(host, port, no_proxy) == entry


def test_environment_choice_like_kubectl():
    env = {"HTTPS_PROXY": "proxy.corp:3128", "https_proxy": "http://lower:1", "HTTP_PROXY": "http://plain:8080"}
    p = kp.proxy_for("https://api.corp.example:6443", environ=env)
    # Upper case first; no scheme means http://.
    assert (p.url, p.host, p.port, p.source) == ("http://proxy.corp:3128", "proxy.corp", 3128, "HTTPS_PROXY")
    assert kp.proxy_for("https://api.corp.example", environ={"https_proxy": "http://lower:1"}).source == "https_proxy"
    # An https server never falls back to HTTP_PROXY; an http server uses it.
    assert kp.proxy_for("https://api.corp.example", environ={"HTTP_PROXY": "http://plain:8080"}).url is None
    assert kp.proxy_for("http://api.corp.example", environ=env).url == "http://plain:8080"
    # Loopback and localhost are never proxied from the environment.
    for server in ("https://127.0.0.1:6443", "https://localhost:6443", "https://[::1]:6443", "https://127.0.0.2"):
        assert kp.proxy_for(server, environ=env).url is None, server
    # NO_PROXY (upper case first) names the entry that matched.
    p = kp.proxy_for("https://kubernetes.default.svc", environ=dict(env, NO_PROXY=".svc", no_proxy=""))
    assert p.url is None and p.source == "NO_PROXY entry '.svc'"
    assert kp.proxy_for("https://api.corp.example", environ=dict(env, no_proxy="corp.example")).url is None
    assert kp.proxy_for("https://api.corp.example", environ={}).url is None


def test_kubeconfig_proxy_url_wins_over_everything():
    env = {"HTTPS_PROXY": "http://env:3128", "NO_PROXY": "*"}
    p = kp.proxy_for("https://127.0.0.1:6443", "http://user:p%40ss@kube-proxy:8888", environ=env)
    assert (p.host, p.port, p.source) == ("kube-proxy", 8888, "kubeconfig proxy-url")
    assert p.auth_header() == "Basic dXNlcjpwQHNz"  # user:p@ss
    assert "p@ss" not in p.display and "user" not in p.display


@pytest.mark.parametrize("url", ["socks5://127.0.0.1:1080", "socks5h://p:1080", "https://p:443"])
def test_unsupported_schemes_are_named(url):
    with pytest.raises(kp.UnsupportedProxy, match=url.split(":")[0]):
        kp.proxy_for("https://api.corp.example", url, environ={})
    with pytest.raises(kp.UnsupportedProxy, match=url.split(":")[0]):
        kp.proxy_for("https://api.corp.example", environ={"HTTPS_PROXY": url})
    # Not used, not refused: a loopback server goes direct whatever the variable says.
    assert kp.proxy_for("https://127.0.0.1", environ={"HTTPS_PROXY": url}).url is None


class Cfg:
    proxy = "http://from-the-library:1"
    no_proxy = None
    proxy_headers = None


def test_library_configuration_is_pinned_to_the_decision():
    cfg = kp.configure_library_proxy(Cfg(), kp.proxy_for("https://127.0.0.1", "http://u:pw@127.0.0.1:3128", {}))
    assert cfg.proxy == "http://127.0.0.1:3128" and cfg.proxy_headers == {"proxy-authorization": "Basic dTpwdw=="}
    assert kp.no_proxy_match("127.0.0.1", 443, cfg.no_proxy) is None
    cfg = kp.configure_library_proxy(Cfg(), kp.proxy_for("https://127.0.0.1", None, {"HTTPS_PROXY": "http://p:1"}))
    assert cfg.no_proxy == "*" and cfg.proxy_headers is None
    from requests.utils import should_bypass_proxies  # what the library's REST client asks
    assert should_bypass_proxies("https://127.0.0.1:6443", no_proxy=cfg.no_proxy)
    assert should_bypass_proxies("https://api.corp.example:6443", no_proxy=cfg.no_proxy)
