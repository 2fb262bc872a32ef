# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Ensure a Kubernetes Secret holds a set of keys, generating missing ones.

Used by ``mlops.stack.k8s_generated_secret``. The planning part
(:func:`plan_secret`) is pure and unit-tested with plain dicts; only
:class:`SecretClient` talks to the API server through the collection's REST
client (``k8s/client.py``).

Rules (the Secret contract of docs/CONVENTIONS.md):

* a key listed in ``generate`` that exists is never rotated;
* a missing one gets a random value (``secrets`` module, CSPRNG);
* a key given in ``values`` is set to exactly that value (user-supplied
  credentials win, which is also how a user rotates one on purpose);
* labels and annotations are merged (desired ones win, others are kept);
* nothing else in the Secret is touched.
"""


import base64
import secrets
import string

from ansible_collections.mlops.stack.plugins.module_utils.k8s.client import client_from_params, describe_config
from ansible_collections.mlops.stack.plugins.module_utils.k8s.errors import (
    ApiError,
    K8sConfigError,
    K8sConnectionError,
)

CHARSETS = {
    # Safe in URLs, connection strings, shell and INI files without quoting.
    "alphanumeric": string.ascii_letters + string.digits,
    "hex": "0123456789abcdef",
    "lower_alphanumeric": string.ascii_lowercase + string.digits,
}

MIN_LENGTH = 8
MAX_LENGTH = 256

#: What the diff shows instead of a value.
HIDDEN = "<hidden>"


STACK_NAMESPACE_LABELS = {"app.kubernetes.io/part-of": "mlops-stack", "app.kubernetes.io/managed-by": "mlops.stack"}


class SecretError(Exception):
    """An expected failure; the message names the Secret and the fix."""


# --------------------------------------------------------------------------
# Pure logic
# --------------------------------------------------------------------------

def generate_value(length=32, charset="alphanumeric"):
    """A random string of *length* characters drawn from *charset*."""
    if charset not in CHARSETS:
        raise SecretError("unknown charset %r; use one of %s" % (charset, ", ".join(sorted(CHARSETS))))
    length = int(length)
    if length < MIN_LENGTH or length > MAX_LENGTH:
        raise SecretError("length must be between %d and %d, got %d" % (MIN_LENGTH, MAX_LENGTH, length))
    alphabet = CHARSETS[charset]
    if charset in ("alphanumeric", "lower_alphanumeric"):
        # Start with a letter: some consumers (user names, env parsing)
        # dislike a leading digit.
        letters = string.ascii_letters if charset == "alphanumeric" else string.ascii_lowercase
        return secrets.choice(letters) + "".join(secrets.choice(alphabet) for dummy in range(length - 1))
    return "".join(secrets.choice(alphabet) for dummy in range(length))


def normalize_generate(items, default_length=32, default_charset="alphanumeric"):
    """Turn the ``generate`` option (strings or dicts) into a list of dicts.

    Each result has ``name``, ``length`` and ``charset``. Raises
    :class:`SecretError` for malformed entries or duplicates.
    """
    out = []
    seen = set()
    for item in items or []:
        if isinstance(item, str):
            spec = {"name": item}
        elif isinstance(item, dict):
            unknown = set(item) - {"name", "length", "charset"}
            if unknown:
                raise SecretError("generate entry %r has unknown field(s): %s; allowed: name, length, charset"
                                  % (item, ", ".join(sorted(unknown))))
            spec = dict(item)
        else:
            raise SecretError("generate entries must be key names or dicts with name/length/charset, got %r" % (item,))
        name = spec.get("name")
        if not name or not isinstance(name, str):
            raise SecretError("generate entry %r has no key name" % (item,))
        validate_key(name)
        if name in seen:
            raise SecretError("key %r is listed twice in generate" % name)
        seen.add(name)
        charset = spec.get("charset") or default_charset
        if charset not in CHARSETS:
            raise SecretError("generate entry %r: unknown charset %r; use one of %s"
                              % (name, charset, ", ".join(sorted(CHARSETS))))
        try:
            length = int(spec.get("length") or default_length)
        except (TypeError, ValueError):
            raise SecretError("generate entry %r: length must be an integer" % name)
        if length < MIN_LENGTH or length > MAX_LENGTH:
            raise SecretError("generate entry %r: length must be between %d and %d, got %d"
                              % (name, MIN_LENGTH, MAX_LENGTH, length))
        out.append({"name": name, "length": length, "charset": charset})
    return out


def validate_key(name):
    """Secret keys: [-._a-zA-Z0-9]+, at most 253 characters."""
    allowed = set(string.ascii_letters + string.digits + "-._")
    if not name or len(name) > 253 or any(c not in allowed for c in name):
        raise SecretError("invalid Secret key %r: use letters, digits, '-', '_' or '.' (max 253)" % (name,))


def decode_data(data):
    """Base64 ``data`` of a Secret -> dict of text values."""
    out = {}
    for key, value in (data or {}).items():
        raw = base64.b64decode(value or "")
        try:
            out[key] = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretError("key %r holds binary data; this module only manages text values" % key)
    return out


def encode_value(value):
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


def plan_secret(existing, generate, values, labels=None, annotations=None, generator=generate_value):
    """Compute what to write.

    *existing* is None (no Secret) or a dict with ``data`` (decoded text
    values), ``labels`` and ``annotations``. *generate* comes from
    :func:`normalize_generate`; *values* maps keys to enforced values.

    Returns a dict with ``data`` (full resulting text values), ``changes``
    (key -> ``generated``/``updated``/``unchanged``), ``patch_data`` (only
    keys to write), ``labels``/``annotations`` to write (None when
    unchanged) and ``changed``.
    """
    current = dict((existing or {}).get("data") or {})
    result = dict(current)
    changes = {}
    patch_data = {}
    values = dict((k, "" if v is None else str(v)) for k, v in (values or {}).items())
    for key in values:
        validate_key(key)
    for spec in generate:
        key = spec["name"]
        if key in values:
            continue  # user-supplied value wins
        if key in current and current[key] != "":
            changes[key] = "unchanged"
            continue
        result[key] = generator(spec["length"], spec["charset"])
        patch_data[key] = result[key]
        changes[key] = "generated"
    for key, value in values.items():
        if key in current and current[key] == value:
            changes[key] = "unchanged"
            continue
        result[key] = value
        patch_data[key] = value
        changes[key] = "updated" if key in current else "added"

    def merged(kind, desired):
        have = dict((existing or {}).get(kind) or {})
        want = dict((k, str(v)) for k, v in (desired or {}).items())
        if all(have.get(k) == v for k, v in want.items()):
            return None, have
        have.update(want)
        return want, have

    label_patch, all_labels = merged("labels", labels)
    annotation_patch, all_annotations = merged("annotations", annotations)
    changed = existing is None or bool(patch_data) or label_patch is not None or annotation_patch is not None
    return {
        "data": result,
        "changes": changes,
        "patch_data": patch_data,
        "labels": label_patch,
        "annotations": annotation_patch,
        "all_labels": all_labels,
        "all_annotations": all_annotations,
        "create": existing is None,
        "changed": changed,
    }


def masked_state(name, namespace, data, labels=None, annotations=None, changes=None):
    """What ``--diff`` shows: key names and a status, never a value."""
    keys = {}
    for key in sorted(data or {}):
        status = (changes or {}).get(key)
        keys[key] = HIDDEN if status in (None, "unchanged") else "%s (%s)" % (HIDDEN, status)
    state = {"name": name, "namespace": namespace, "keys": keys}
    if labels:
        state["labels"] = dict(labels)
    if annotations:
        state["annotations"] = dict(annotations)
    return state


# --------------------------------------------------------------------------
# API access
# --------------------------------------------------------------------------

def api_client_from_params(params):
    """The REST client for kubeconfig/context or host/api_key."""
    try:
        return client_from_params(params)
    except K8sConfigError as exc:
        raise SecretError("cannot load the Kubernetes configuration (%s): %s. Set kubeconfig/context (or "
                          "K8S_AUTH_KUBECONFIG/K8S_AUTH_CONTEXT) to a reachable cluster." % (describe_config(params), exc))


class SecretClient(object):
    """Read, create and patch one Secret.

    Error messages name the Secret, the API server, the configuration
    (*config*, from :func:`describe_config`) and the fix; never a value.
    """

    def __init__(self, api_client, config=None):
        self.api = api_client
        self.host = api_client.host
        self.config = config or "kubeconfig/context"

    def _fail(self, action, namespace, name, exc):
        status = getattr(exc, "status", None)
        hint = ""
        if isinstance(exc, K8sConnectionError):
            hint = (" Is the API server up, and do kubeconfig/context (%s; K8S_AUTH_KUBECONFIG/K8S_AUTH_CONTEXT)"
                    " point at the right cluster?" % self.config)
        elif status == 401:
            hint = " The credentials of %s were rejected; refresh them." % self.config
        elif status == 403:
            hint = " The user needs get/create/patch on secrets in namespace %s." % namespace
        elif status == 404 and action == "create":
            hint = " Does namespace %s exist? Create it first." % namespace
        elif status == 409:
            hint = " The Secret changed while this task ran; run it again."
        detail = exc.status_message() if isinstance(exc, ApiError) else str(exc)
        error = SecretError("cannot %s Secret %s/%s on %s: %s.%s"
                            % (action, namespace, name, self.host, detail.rstrip(". "), hint))
        error.status = status
        return error

    @staticmethod
    def _path(namespace, name=None):
        path = "/api/v1/namespaces/%s/secrets" % namespace
        return path + "/" + name if name else path

    def read(self, name, namespace):
        """None when absent, else dict(data, labels, annotations, type, resource_version)."""
        try:
            obj = self.api.request("GET", self._path(namespace, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise self._fail("read", namespace, name, exc)
        except K8sConnectionError as exc:
            raise self._fail("read", namespace, name, exc)
        meta = obj.get("metadata") or {}
        return {
            "data": decode_data(obj.get("data")),
            "labels": dict(meta.get("labels") or {}),
            "annotations": dict(meta.get("annotations") or {}),
            "type": obj.get("type"),
            "resource_version": meta.get("resourceVersion"),
        }

    def create_namespace(self, namespace):
        """Create the Namespace, labelled as the stack's (so later runs know it
        created it); False when it already exists."""
        try:
            self.api.request("POST", "/api/v1/namespaces",
                             body={"apiVersion": "v1", "kind": "Namespace",
                                   "metadata": {"name": namespace, "labels": dict(STACK_NAMESPACE_LABELS)}})
            return True
        except ApiError as exc:
            if exc.status == 409:
                return False
            raise self._fail("create the namespace of", namespace, "-", exc)
        except K8sConnectionError as exc:
            raise self._fail("create the namespace of", namespace, "-", exc)

    def create(self, name, namespace, data, labels, annotations, secret_type, create_namespace=False):
        """Create the Secret; with *create_namespace*, its namespace too when
        missing. Returns whether the namespace was created."""
        try:
            self._create(name, namespace, data, labels, annotations, secret_type)
            return False
        except SecretError as exc:
            if not (create_namespace and getattr(exc, "status", None) == 404):
                raise
        created = self.create_namespace(namespace)
        self._create(name, namespace, data, labels, annotations, secret_type)
        return created

    def _create(self, name, namespace, data, labels, annotations, secret_type):
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "type": secret_type,
            "data": dict((k, encode_value(v)) for k, v in data.items()),
        }
        if labels:
            body["metadata"]["labels"] = labels
        if annotations:
            body["metadata"]["annotations"] = annotations
        try:
            self.api.request("POST", self._path(namespace), body=body)
        except (ApiError, K8sConnectionError) as exc:
            raise self._fail("create", namespace, name, exc)

    def patch(self, name, namespace, resource_version, patch_data, labels, annotations):
        # A merge patch carrying resourceVersion: the API server rejects it
        # with 409 when the Secret changed since it was read.
        body = {"metadata": {"resourceVersion": resource_version}}
        if labels:
            body["metadata"]["labels"] = labels
        if annotations:
            body["metadata"]["annotations"] = annotations
        if patch_data:
            body["data"] = dict((k, encode_value(v)) for k, v in patch_data.items())
        try:
            self.api.request("PATCH", self._path(namespace, name), body=body,
                             content_type="application/merge-patch+json")
        except (ApiError, K8sConnectionError) as exc:
            raise self._fail("update", namespace, name, exc)
