"""The collection's Kubernetes client and its port-forward path make the proxy
decision kubectl makes, against the real kube-apiserver through a real
CONNECT proxy on 127.0.0.1 (tests/servers/connect_proxy.py).

The API server is addressed as ``kubernetes.default.svc`` (a name its
certificate carries) that only the proxy resolves (to 127.0.0.1): a request
that succeeds went through the proxy, one that goes direct fails to resolve.
kubectl runs with the same kubeconfig and environment next to our client.
"""
import os
import subprocess
from urllib.parse import urlparse

import pytest
import yaml

from ansible_collections.mlops.stack.plugins.module_utils.k8s import port_forward
from ansible_collections.mlops.stack.plugins.module_utils.k8s.client import client_from_params
from ansible_collections.mlops.stack.plugins.module_utils.k8s.config import settings_from_params
from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import K8sAccessError, K8sConnectionError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.transport import Client
from tests.servers.connect_proxy import ConnectProxy

pytestmark = [pytest.mark.k8s, pytest.mark.xdist_group("k8s")]

NAME = "kubernetes.default.svc"
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


def kubeconfig(cluster, path, server=None, proxy_url=None):
    doc = yaml.safe_load(open(cluster.kubeconfig))
    entry = doc["clusters"][0]["cluster"]
    if server:
        entry["server"] = server
    if proxy_url:
        entry["proxy-url"] = proxy_url
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def assert_reached_the_api_server(error):
    """The websocket got through TLS and authentication (the library's
    credentials come from the client's settings): the API server answered
    that the pod does not exist."""
    chain = []
    while error is not None:
        chain.append(str(error))
        error = error.__context__
    assert any("404 Not Found" in text and "no-such-pod" in text for text in chain), chain


def named_server(cluster):
    return "https://%s:%d" % (NAME, urlparse(yaml.safe_load(open(cluster.kubeconfig))["clusters"][0]["cluster"]
                                             ["server"]).port)


def env_with(**proxy_env):
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS and k != "KUBECONFIG"}
    env.update(proxy_env)
    return env


def ours(cfg, env):
    """GET /version with the collection's client; the answer or the error."""
    try:
        client = Client(settings_from_params({"kubeconfig": cfg}, environ=env), timeout=10, environ=env,
                        retry_total=0)
        return client.request("GET", "/version")
    except K8sConnectionError as exc:
        return exc


def kubectl(cluster, cfg, env):
    return subprocess.run([cluster.kubectl_path(), "--kubeconfig", cfg, "--request-timeout=10s",
                           "get", "--raw", "/version"], env=env, capture_output=True, text=True, check=False,
                          timeout=60)


def test_environment_proxy_and_no_proxy_like_kubectl(k8s_cluster, tmp_path):
    with ConnectProxy(hosts={NAME: "127.0.0.1"}) as proxy:
        cfg = kubeconfig(k8s_cluster, tmp_path / "named", server=named_server(k8s_cluster))
        target = NAME + ":" + named_server(k8s_cluster).rsplit(":", 1)[1]

        env = env_with(HTTPS_PROXY=proxy.url)
        answer = ours(cfg, env)
        assert isinstance(answer, dict) and answer.get("gitVersion"), answer
        assert proxy.connects == [target]
        res = kubectl(k8s_cluster, cfg, env)
        assert res.returncode == 0, res.stderr
        assert proxy.connects == [target, target]

        # NO_PROXY (host, domain suffix, *): both go direct, where the name does not resolve.
        for no_proxy in (NAME, ".svc", "default.svc", "*"):
            env = env_with(https_proxy=proxy.url, no_proxy=no_proxy)
            answer = ours(cfg, env)
            assert isinstance(answer, K8sConnectionError) and "via proxy" not in str(answer), answer
            assert kubectl(k8s_cluster, cfg, env).returncode != 0
        assert proxy.connects == [target, target]

        # A loopback server is never proxied from the environment, by either.
        env = env_with(HTTPS_PROXY=proxy.url)
        assert isinstance(ours(k8s_cluster.kubeconfig, env), dict)
        assert kubectl(k8s_cluster, k8s_cluster.kubeconfig, env).returncode == 0
        assert proxy.connects == [target, target]


def test_kubeconfig_proxy_url_wins_for_client_kubectl_and_port_forward(k8s_cluster, k8s_namespace, tmp_path,
                                                                       monkeypatch):
    hosts = {NAME: "127.0.0.1"}
    with ConnectProxy(hosts=hosts) as kube_proxy, ConnectProxy(hosts=hosts) as env_proxy:
        cfg = kubeconfig(k8s_cluster, tmp_path / "proxied", server=named_server(k8s_cluster),
                         proxy_url=kube_proxy.url)
        env = env_with(HTTPS_PROXY=env_proxy.url, NO_PROXY=".svc")
        assert isinstance(ours(cfg, env), dict)
        assert kubectl(k8s_cluster, cfg, env).returncode == 0
        assert len(kube_proxy.connects) == 2 and env_proxy.connects == []

        # The port-forward path (reads: the same client; the websocket: the library) in the same environment.
        for key in PROXY_VARS:
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", env_proxy.url)
        monkeypatch.setenv("NO_PROXY", ".svc")
        k8s_cluster.kubectl("-n", k8s_namespace, "create", "service", "clusterip", "db", "--tcp=5432:5432")
        ks = {"name": "db", "namespace": k8s_namespace, "kubeconfig": cfg, "timeout": 10}
        api = port_forward.connect(ks)
        with pytest.raises(K8sAccessError, match="no Ready pod"):
            port_forward.find_target(api, ks)  # read Service + list pods: REST
        rest = len(kube_proxy.connects)
        assert rest >= 3
        tunnel = port_forward.PortForwardTunnel(api, k8s_namespace, "no-such-pod", 5432)
        try:
            with pytest.raises(K8sAccessError, match="port-forward") as failure:
                tunnel.check()  # the pods/portforward websocket
        finally:
            tunnel.close()
        assert_reached_the_api_server(failure.value)
        assert len(kube_proxy.connects) > rest
        assert env_proxy.connects == []


def test_port_forward_goes_direct_when_the_client_does(k8s_cluster, k8s_namespace, monkeypatch):
    """A loopback API server with HTTPS_PROXY set: the client goes direct, and
    so must the library the port-forward uses (it would read HTTPS_PROXY)."""
    with ConnectProxy() as env_proxy:
        for key in PROXY_VARS:
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", env_proxy.url)
        monkeypatch.setenv("https_proxy", env_proxy.url)
        assert client_from_params({"kubeconfig": k8s_cluster.kubeconfig}).proxy.url is None
        k8s_cluster.kubectl("-n", k8s_namespace, "create", "service", "clusterip", "db", "--tcp=5432:5432")
        ks = {"name": "db", "namespace": k8s_namespace, "kubeconfig": k8s_cluster.kubeconfig, "timeout": 10}
        api = port_forward.connect(ks)
        with pytest.raises(K8sAccessError, match="no Ready pod"):
            port_forward.find_target(api, ks)
        tunnel = port_forward.PortForwardTunnel(api, k8s_namespace, "no-such-pod", 5432)
        try:
            with pytest.raises(K8sAccessError, match="port-forward") as failure:
                tunnel.check()
        finally:
            tunnel.close()
        assert_reached_the_api_server(failure.value)
        assert env_proxy.connects == []
