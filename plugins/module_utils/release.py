# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Upstream release files on the controller, in one place for every release
role (certmanager, knative, kserve, gpu_serving): an offline mirror
directory, or a download into a cache verified against pinned sha256 sums.

A cached file whose sum matches is used without any HTTP request, so a
re-run costs one hash per file.
"""


import hashlib
import os
import tempfile

from ansible.module_utils.urls import open_url


#: Options of mlops.stack.release_files (its action plugin and documentation stub).
ARGUMENT_SPEC = dict(
    component=dict(type="str", required=True),
    version=dict(type="str", required=True),
    files=dict(type="list", elements="str", required=True),
    url=dict(type="str", default=""),
    src_dir=dict(type="str", default=""),
    checksums=dict(type="dict", default={}),
    allow_unverified=dict(type="bool", default=False),
    cache_dir=dict(type="str", default="~/.cache/mlops-stack/manifests"),
    timeout=dict(type="int", default=60),
)


class ReleaseError(Exception):
    """An expected failure; the message says what to change."""


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _missing_sums(spec):
    return [f for f in spec["files"] if not spec["checksums"].get(f)]


def plan(spec):
    """Where each file comes from: [(name, path, url or None, sha256 or "")]."""
    if not spec["files"]:
        raise ReleaseError("no release files listed for %s %s." % (spec["component"], spec["version"]))
    if spec.get("src_dir"):
        base = os.path.expanduser(spec["src_dir"])
        return [(f, os.path.join(base, f), None, spec["checksums"].get(f) or "") for f in spec["files"]]
    missing = _missing_sums(spec)
    if missing and not spec.get("allow_unverified"):
        raise ReleaseError(
            "No sha256 is pinned for %s %s (%s). Add them to the role's *_manifest_checksums variable "
            "({version: {file: sha256}}), use a local mirror (*_manifest_src or mlops_manifest_dir), or set "
            "*_manifest_allow_unverified: true." % (spec["component"], spec["version"], ", ".join(missing)))
    if not spec.get("url"):
        raise ReleaseError("no download URL and no mirror directory for %s %s." % (spec["component"], spec["version"]))
    cache = os.path.join(os.path.expanduser(spec["cache_dir"]), spec["component"], spec["version"])
    return [(f, os.path.join(cache, f), "%s/%s" % (spec["url"].rstrip("/"), f), spec["checksums"].get(f) or "")
            for f in spec["files"]]


def _download(url, dest, want, timeout, opener):
    """Fetch *url* into *dest* atomically, refusing a body whose sum is not *want*."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        resp = opener(url, timeout=timeout, follow_redirects="all", use_proxy=True)
        data = resp.read()
    except Exception as exc:  # pylint: disable=broad-except
        raise ReleaseError("cannot download %s: %s. Check the network or proxy settings, or use a local mirror "
                           "(mlops_manifest_dir) on air-gapped controllers." % (url, exc))
    got = hashlib.sha256(data).hexdigest()
    if want and got != want:
        raise ReleaseError("checksum mismatch for %s: expected sha256 %s, got %s. The release file changed or the "
                           "download was tampered with; nothing was written." % (url, want, got))
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def resolve(spec, timeout=60, opener=open_url):
    """The release files as local paths: dict(files=[{name, path, checksum}], downloaded=[...])."""
    files, downloaded = [], []
    for name, path, url, want in plan(spec):
        if url is None:
            if not os.path.isfile(path):
                raise ReleaseError(
                    "%s does not exist. The mirror must be laid out as <mlops_manifest_dir>/%s/%s/<file> (or point "
                    "the role's *_manifest_src at the directory holding %s)."
                    % (path, spec["component"], spec["version"], ", ".join(spec["files"])))
        elif not (os.path.isfile(path) and (not want or sha256_file(path) == want)):
            _download(url, path, want, timeout, opener)
            downloaded.append(name)
        files.append({"name": name, "path": path, "checksum": want})
    return {"files": files, "downloaded": downloaded}
