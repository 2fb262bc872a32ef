# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Container image reference parsing shared by filters and modules."""


import re

DEFAULT_DOMAIN = "docker.io"
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


class ImageRefError(ValueError):
    """Raised for a string that is not a valid image reference."""


def parse_image(ref):
    """Split an image reference into (domain, path, tag, digest).

    Follows the distribution reference grammar: the first component is a
    registry domain only if it contains '.' or ':' or is 'localhost';
    Docker Hub's single-component names live under 'library/'.
    """
    if not isinstance(ref, str) or not ref or ref != ref.strip():
        raise ImageRefError("image reference must be a non-empty string without spaces, got %r" % (ref,))
    rest, digest = ref, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise ImageRefError("invalid digest in image reference %r" % ref)
    tag = None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, tag = rest.rsplit(":", 1)
        if not _TAG.match(tag):
            raise ImageRefError("invalid tag %r in image reference %r" % (tag, ref))
    parts = rest.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        domain, path_parts = parts[0], parts[1:]
    else:
        domain, path_parts = DEFAULT_DOMAIN, parts
    if domain == DEFAULT_DOMAIN and len(path_parts) == 1:
        path_parts = ["library"] + path_parts
    for comp in path_parts:
        if not _PATH_COMPONENT.match(comp):
            raise ImageRefError("invalid repository component %r in image reference %r" % (comp, ref))
    return domain, "/".join(path_parts), tag, digest


def format_image(domain, path, tag=None, digest=None):
    out = "%s/%s" % (domain, path) if domain else path
    if tag:
        out += ":" + tag
    if digest:
        out += "@" + digest
    return out


def mirror_image(ref, registry, keep_domain=False):
    """Rewrite ``ref`` to pull from ``registry`` (no-op when it is empty)."""
    if not registry:
        return ref
    registry = registry.rstrip("/")
    if not registry or "://" in registry:
        raise ImageRefError("registry mirror must look like 'host[:port][/prefix]', got %r" % (registry,))
    domain, path, tag, digest = parse_image(ref)
    if keep_domain:
        path = "%s/%s" % (domain, path)
    return format_image(registry, path, tag, digest)
