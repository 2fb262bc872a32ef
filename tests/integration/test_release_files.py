"""module_utils/release.py (mlops.stack.release_files): mirror or verified
download, against a real HTTP server on 127.0.0.1 that counts requests."""
import hashlib
import http.server
import threading

import pytest

from ansible_collections.mlops.stack.plugins.module_utils.release import ReleaseError, resolve

pytestmark = [pytest.mark.integration]

BODY = {"crds.yaml": b"kind: CustomResourceDefinition\n", "core.yaml": b"kind: Deployment\n"}
SUMS = {name: hashlib.sha256(body).hexdigest() for name, body in BODY.items()}


@pytest.fixture
def server():
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            hits.append(self.path)
            body = BODY.get(self.path.rsplit("/", 1)[-1])
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d/v1.0.0" % httpd.server_address[1], hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def spec(tmp_path, url="", **kw):
    out = {"component": "demo", "version": "v1.0.0", "files": ["crds.yaml", "core.yaml"], "url": url,
           "src_dir": "", "checksums": dict(SUMS), "allow_unverified": False, "cache_dir": str(tmp_path / "cache")}
    out.update(kw)
    return out


def test_download_is_verified_and_cached(tmp_path, server, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    url, hits = server
    first = resolve(spec(tmp_path, url))
    assert first["downloaded"] == ["crds.yaml", "core.yaml"]
    assert [f["checksum"] for f in first["files"]] == [SUMS["crds.yaml"], SUMS["core.yaml"]]
    assert open(first["files"][1]["path"], "rb").read() == BODY["core.yaml"]
    assert len(hits) == 2
    again = resolve(spec(tmp_path, url))
    assert again["downloaded"] == [] and len(hits) == 2  # no request when the cache matches
    # A corrupted cache file is fetched again.
    with open(first["files"][0]["path"], "wb") as fh:
        fh.write(b"truncated")
    assert resolve(spec(tmp_path, url))["downloaded"] == ["crds.yaml"]


def test_checksum_mismatch_writes_nothing(tmp_path, server, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    url, dummy = server
    bad = dict(SUMS, **{"core.yaml": "0" * 64})
    with pytest.raises(ReleaseError, match="checksum mismatch for .*/core.yaml: expected sha256 0000"):
        resolve(spec(tmp_path, url, checksums=bad))
    assert not (tmp_path / "cache" / "demo" / "v1.0.0" / "core.yaml").exists()


def test_unpinned_download_is_refused_unless_allowed(tmp_path, server, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    url, hits = server
    with pytest.raises(ReleaseError, match=r"No sha256 is pinned for demo v1.0.0 \(core.yaml\)"):
        resolve(spec(tmp_path, url, checksums={"crds.yaml": SUMS["crds.yaml"]}))
    assert hits == []
    got = resolve(spec(tmp_path, url, checksums={}, allow_unverified=True))
    assert got["downloaded"] == ["crds.yaml", "core.yaml"]


def test_missing_file_upstream(tmp_path, server, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    url, dummy = server
    with pytest.raises(ReleaseError, match="cannot download .*/missing.yaml: HTTP Error 404"):
        resolve(spec(tmp_path, url, files=["missing.yaml"], allow_unverified=True))


def test_mirror_needs_no_network_and_names_the_layout(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "crds.yaml").write_bytes(BODY["crds.yaml"])
    with pytest.raises(ReleaseError, match=r"core.yaml does not exist\. The mirror must be laid out as "
                                           r"<mlops_manifest_dir>/demo/v1.0.0/<file>"):
        resolve(spec(tmp_path, "http://127.0.0.1:9/unused", src_dir=str(mirror)))
    (mirror / "core.yaml").write_bytes(BODY["core.yaml"])
    got = resolve(spec(tmp_path, "", src_dir=str(mirror), checksums={}))
    assert got["downloaded"] == [] and got["files"][0]["path"] == str(mirror / "crds.yaml")
