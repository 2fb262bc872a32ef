"""module_utils/k8s/library.py: the kubernetes library connected the way the
collection's own client is, from the same Settings (the port-forward does not
read the kubeconfig a second time). A stand-in Configuration class keeps the
library's 1 s import out of these tests; tests/k8s/test_k8s_proxy.py opens the
websocket against a real API server."""
import os
import stat

from ansible_collections.mlops.stack.plugins.module_utils.k8s import library
from ansible_collections.mlops.stack.plugins.module_utils.k8s.config import Settings
from ansible_collections.mlops.stack.plugins.module_utils.k8s.proxy import Proxy


class Configuration:
    """The attributes library_configuration sets, as kubernetes.client.Configuration has them."""

    def __init__(self):
        self.host = "http://localhost"
        self.verify_ssl = True
        self.ssl_ca_cert = self.cert_file = self.key_file = self.tls_server_name = None
        self.api_key = {}
        self.proxy = self.no_proxy = self.proxy_headers = None


class ApiClient:
    def __init__(self, configuration):
        self.configuration = configuration


class FakeKubernetesClient:
    Configuration = Configuration
    ApiClient = ApiClient


def test_settings_with_pem_data_become_private_files(tmp_path):
    settings = Settings("https://k:6443/prefix/", ca_data="CA", cert_data="CERT", key_data="KEY", token="t",
                        tls_server_name="api.internal", insecure=False)
    cfg = library.library_configuration(Configuration, settings, Proxy(None), str(tmp_path))
    assert cfg.host == "https://k:6443/prefix"
    assert (cfg.verify_ssl, cfg.tls_server_name) == (True, "api.internal")
    assert cfg.api_key == {"authorization": "Bearer t"}
    for path, text in ((cfg.ssl_ca_cert, "CA"), (cfg.cert_file, "CERT"), (cfg.key_file, "KEY")):
        assert os.path.dirname(path) == str(tmp_path) and open(path).read() == text
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # "direct": a proxy that is never contacted with no_proxy "*" (see configure_library_proxy)
    assert cfg.no_proxy == "*"


def test_files_basic_auth_insecure_and_proxy(tmp_path):
    settings = Settings("https://k", ca_file="/ca.pem", cert_file="/c.pem", key_file="/k.pem", username="u",
                        password="p", insecure=True)
    cfg = library.library_configuration(Configuration, settings, Proxy("http://user:pw@proxy:3128", "test"),
                                        str(tmp_path))
    assert (cfg.ssl_ca_cert, cfg.cert_file, cfg.key_file, cfg.verify_ssl) == ("/ca.pem", "/c.pem", "/k.pem", False)
    assert cfg.api_key == {"authorization": "Basic dTpw"}
    assert cfg.proxy == "http://proxy:3128" and cfg.proxy_headers == {"proxy-authorization": "Basic dXNlcjpwdw=="}
    assert os.listdir(str(tmp_path)) == []


class RestClient:
    """What LibraryApi reads of a transport.Client."""

    def __init__(self, settings, proxy):
        self.settings, self.proxy = settings, proxy


def test_library_api_from_the_rest_clients_settings_removes_its_files():
    api = library.LibraryApi(RestClient(Settings("https://k", cert_data="C", key_data="K"), Proxy(None)),
                             FakeKubernetesClient)
    cert = api.api.configuration.cert_file
    assert os.path.exists(cert)
    api.close()
    assert not os.path.exists(os.path.dirname(cert))
    api.close()  # twice is harmless


def test_library_api_reuses_a_library_client():
    client = library.LibraryClient.__new__(library.LibraryClient)
    client.api = object()
    api = library.LibraryApi(client, FakeKubernetesClient)
    assert api.api is client.api
    api.close()
