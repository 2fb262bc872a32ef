"""module_utils/k8s/service_target.py and k8s/port_forward.py: Service port,
targetPort, Ready pod, and the local tunnel."""
import socket
import threading

import pytest
import yaml

from ansible_collections.mlops.stack.plugins.module_utils.k8s import port_forward as pf
from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import ApiError, K8sAccessError, K8sConnectionError
from ansible_collections.mlops.stack.plugins.module_utils.k8s.port_forward import service_endpoint
from ansible_collections.mlops.stack.plugins.module_utils.k8s.service_target import (
    local_url, pod_is_ready, resolve_service_port, resolve_target_port, select_pod)


def svc(ports, selector=None, name="minio", ns="mlops", **spec):
    spec.update({"ports": ports})
    if selector is not False:
        spec["selector"] = selector if selector is not None else {"app": "minio"}
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def pod(name, ready=True, phase="Running", labels=None, ports=None, deleting=False):
    meta = {"name": name, "labels": labels if labels is not None else {"app": "minio"}}
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "c", "ports": ports or []}]},
        "status": {"phase": phase,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


API = {"name": "api", "port": 9000, "targetPort": "s3", "protocol": "TCP"}
CONSOLE = {"name": "console", "port": 9001, "targetPort": 9091}


class TestServicePort:
    def test_single_port_default(self):
        assert resolve_service_port(svc([API])) is API

    def test_several_ports_need_choice(self):
        with pytest.raises(K8sAccessError, match="several ports.*9000 \\(api\\), 9001 \\(console\\)"):
            resolve_service_port(svc([API, CONSOLE]))

    @pytest.mark.parametrize("port", [9001, "9001", "console"])
    def test_by_number_or_name(self, port):
        assert resolve_service_port(svc([API, CONSOLE]), port) is CONSOLE

    def test_unknown_port(self):
        with pytest.raises(K8sAccessError, match="Service mlops/minio has no port '80'"):
            resolve_service_port(svc([API, CONSOLE]), "80")

    def test_no_ports(self):
        with pytest.raises(K8sAccessError, match="has no ports"):
            resolve_service_port(svc([]))


class TestTargetPort:
    def test_numeric(self):
        assert resolve_target_port(CONSOLE, pod("p")) == 9091

    def test_numeric_string(self):
        assert resolve_target_port({"port": 80, "targetPort": "8080"}, pod("p")) == 8080

    def test_absent_equals_port(self):
        assert resolve_target_port({"port": 5432}, pod("p")) == 5432

    def test_named(self):
        p = pod("p", ports=[{"name": "metrics", "containerPort": 9100},
                            {"name": "s3", "containerPort": 9333}])
        assert resolve_target_port(API, p) == 9333

    def test_named_missing(self):
        assert resolve_target_port(API, pod("p", ports=[{"name": "x", "containerPort": 1}])) is None

    def test_named_udp_ignored(self):
        p = pod("p", ports=[{"name": "s3", "containerPort": 9333, "protocol": "UDP"}])
        assert resolve_target_port(API, p) is None


class TestReady:
    def test_ready(self):
        assert pod_is_ready(pod("a"))

    @pytest.mark.parametrize("kw", [dict(ready=False), dict(phase="Pending"), dict(deleting=True)])
    def test_not_ready(self, kw):
        assert not pod_is_ready(pod("a", **kw))

    def test_no_conditions(self):
        assert not pod_is_ready({"metadata": {"name": "a"}, "status": {"phase": "Running"}})


class TestSelectPod:
    PORTS = [{"name": "s3", "containerPort": 9333}]

    def test_picks_first_ready_matching_by_name(self):
        pods = [pod("minio-c", ports=self.PORTS), pod("minio-a", ready=False, ports=self.PORTS),
                pod("minio-b", ports=self.PORTS), pod("other", labels={"app": "x"}, ports=self.PORTS)]
        assert select_pod(svc([API]), pods) == ("minio-b", 9333)

    def test_selector_subset_match(self):
        s = svc([CONSOLE], selector={"app": "minio", "tier": "db"})
        pods = [pod("a", labels={"app": "minio"}), pod("b", labels={"app": "minio", "tier": "db", "x": "y"})]
        assert select_pod(s, pods, "console") == ("b", 9091)

    def test_no_ready_pod_names_service(self):
        with pytest.raises(K8sAccessError) as err:
            select_pod(svc([API]), [pod("a", ready=False)])
        msg = str(err.value)
        assert "Service mlops/minio has no Ready pod" in msg
        assert "1 matching pod(s)" in msg and "app=minio" in msg

    def test_no_pods(self):
        with pytest.raises(K8sAccessError, match="0 matching"):
            select_pod(svc([API]), [])

    def test_skips_pod_without_named_port(self):
        pods = [pod("a", ports=[]), pod("b", ports=self.PORTS)]
        assert select_pod(svc([API]), pods) == ("b", 9333)

    def test_named_port_nowhere(self):
        with pytest.raises(K8sAccessError, match="targetPort 's3' does not name"):
            select_pod(svc([API]), [pod("a")])

    def test_no_selector(self):
        with pytest.raises(K8sAccessError, match="no pod selector"):
            select_pod(svc([API], selector=False), [pod("a")])

    def test_external_name(self):
        s = svc([API], type="ExternalName", externalName="s3.example.com")
        with pytest.raises(K8sAccessError, match="ExternalName.*s3.example.com"):
            select_pod(s, [])

    def test_udp_port(self):
        with pytest.raises(K8sAccessError, match="only TCP"):
            select_pod(svc([{"port": 53, "protocol": "UDP"}]), [pod("a")])


class TestLocalUrl:
    @pytest.mark.parametrize("url,expected", [
        ("http://minio.mlops.svc:9000", "http://127.0.0.1:4711"),
        ("https://s3.example.com/prefix?x=1", "https://127.0.0.1:4711/prefix?x=1"),
        ("postgresql://u:p@db.mlops:5432/mlflow", "postgresql://u:p@127.0.0.1:4711/mlflow"),
        (None, "http://127.0.0.1:4711"),
        ("", "http://127.0.0.1:4711"),
        ("not a url", "http://127.0.0.1:4711"),
    ])
    def test_rewrite(self, url, expected):
        assert local_url(url, 4711) == expected


class FakeModule:
    def __init__(self, params):
        self.params = params
        self.failed = None

    def fail_json(self, **kw):
        self.failed = kw
        raise SystemExit(1)


class TestServiceEndpoint:
    def test_direct_url_unchanged(self):
        with service_endpoint({"kubernetes_service": None}, "http://s3:9000") as url:
            assert url == "http://s3:9000"
        with service_endpoint(FakeModule({}), "http://x") as url:
            assert url == "http://x"

    def test_missing_library_fails_naming_service(self, monkeypatch):
        monkeypatch.setattr(pf, "HAS_KUBERNETES", False)
        monkeypatch.setattr(pf, "K8S_IMPORT_ERROR", "ImportError: No module named 'kubernetes'")
        mod = FakeModule({"kubernetes_service": {"name": "minio", "namespace": "mlops"}})
        with pytest.raises(SystemExit):
            with service_endpoint(mod, "http://s3:9000"):
                pass
        assert "kubernetes" in mod.failed["msg"] and "mlops/minio" in mod.failed["msg"]

    def test_tunnel_through_fake_stream(self, monkeypatch):
        """The local listener pumps bytes to whatever open_stream returns."""
        ks = {"name": "minio", "namespace": "mlops", "port": None, "local_port": 0}
        monkeypatch.setattr(pf, "connect", lambda ks: object())
        monkeypatch.setattr(pf, "find_target", lambda api, ks: ("minio-0", 9000))
        peers = []

        class FakePF:
            def close(self):
                pass

        def open_stream(self):
            a, b = socket.socketpair()
            peers.append(b)
            return FakePF(), a

        monkeypatch.setattr(pf.PortForwardTunnel, "open_stream", open_stream)
        with service_endpoint({"kubernetes_service": ks}, "http://minio:9000/x") as url:
            assert url.startswith("http://127.0.0.1:") and url.endswith("/x")
            port = int(url.split(":")[2].split("/")[0])
            echo_done = threading.Event()

            def echo():
                while len(peers) < 2:
                    threading.Event().wait(0.05)
                data = peers[1].recv(100)
                peers[1].sendall(data.upper())
                echo_done.set()

            threading.Thread(target=echo, daemon=True).start()
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                c.sendall(b"ping")
                assert c.recv(100) == b"PING"
            assert echo_done.wait(5)
        # closed after the block
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1)


class FakeApi:
    """The request interface of the collection's REST client, with canned answers per path."""

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def request(self, method, path, query=None, **kw):
        self.calls.append((method, path, query))
        answer = self.answers[path]
        if isinstance(answer, Exception):
            raise answer
        return answer


SVC_PATH = "/api/v1/namespaces/mlops/services/minio"
PODS_PATH = "/api/v1/namespaces/mlops/pods"


class TestFindTarget:
    """The Service and its pods are read with the collection's own client (no kubernetes library)."""

    def test_reads_service_and_pods(self):
        api = FakeApi({SVC_PATH: svc([{"port": 9000}]), PODS_PATH: {"items": [pod("minio-1"), pod("minio-0")]}})
        assert pf.find_target(api, {"name": "minio", "namespace": "mlops"}) == ("minio-0", 9000)
        assert api.calls == [("GET", SVC_PATH, None), ("GET", PODS_PATH, {"labelSelector": "app=minio"})]

    def test_missing_service(self):
        api = FakeApi({SVC_PATH: ApiError(404, "Not Found")})
        with pytest.raises(K8sAccessError, match="Service mlops/minio not found; check kubernetes_service"):
            pf.find_target(api, {"name": "minio", "namespace": "mlops"})

    def test_forbidden_and_unreachable(self):
        with pytest.raises(K8sAccessError, match="Cannot read Service mlops/minio from the Kubernetes API: 403"):
            pf.find_target(FakeApi({SVC_PATH: ApiError(403, "Forbidden")}), {"name": "minio", "namespace": "mlops"})
        with pytest.raises(K8sAccessError, match="Cannot reach the Kubernetes API to read Service mlops/minio: refused"):
            pf.find_target(FakeApi({SVC_PATH: K8sConnectionError("refused")}),
                           {"name": "minio", "namespace": "mlops"})
        api = FakeApi({SVC_PATH: svc([{"port": 9000}]), PODS_PATH: ApiError(403, "Forbidden")})
        with pytest.raises(K8sAccessError, match="Cannot list pods of Service mlops/minio"):
            pf.find_target(api, {"name": "minio", "namespace": "mlops"})


class TestConnect:
    def test_the_kubeconfig_resolution_of_every_module(self, tmp_path):
        cfg = tmp_path / "config"
        cfg.write_text(yaml.safe_dump({
            "clusters": [{"name": "c", "cluster": {"server": "https://k:6443", "proxy-url": "http://p:3128"}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "main", "context": {"cluster": "c", "user": "u"}}], "current-context": "main"}))
        api = pf.connect({"name": "minio", "kubeconfig": str(cfg), "timeout": 7})
        assert (api.settings.server, api.settings.token, api.proxy.url) == ("https://k:6443", "t", "http://p:3128")

    def test_unusable_configuration_names_the_options(self, tmp_path):
        missing = str(tmp_path / "missing")
        with pytest.raises(K8sAccessError, match=r"Cannot load the Kubernetes configuration \(kubeconfig=%s, "
                                                 r"context=other\): .*does not exist" % missing):
            pf.connect({"name": "minio", "kubeconfig": missing, "context": "other"})
