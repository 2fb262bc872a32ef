# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Logic of mlops.stack.mlflow_experiment: the MLflow REST API (2.0) over
``ansible.module_utils.urls.open_url``, so the control node needs no mlflow
package.

Pure parts (validation, response mapping, planning, error messages) are
unit-tested without a server; :class:`MlflowApi` does the HTTP.
"""


import base64
import json
import re

from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit

from ansible.module_utils.urls import open_url

from ansible_collections.mlops.stack.plugins.module_utils.common import endpoint_error

MAX_NAME_LENGTH = 500
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 20000
_TAG_KEY_RE = re.compile(r"^[/\w.\- :]+$", re.UNICODE)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
#: Tags MLflow itself maintains; never purged.
SYSTEM_TAG_PREFIX = "mlflow."


class MlflowError(Exception):
    """An expected failure; the message names the endpoint and the fix."""


# ---------------------------------------------------------------------------
# Validation (pure)
# ---------------------------------------------------------------------------

def normalize_tracking_uri(uri):
    """``http(s)://host[:port][/prefix]`` without a trailing slash."""
    if not uri or not isinstance(uri, str):
        raise MlflowError("tracking_uri is required (for example http://mlflow.mlops.svc:5000); "
                          "set it or MLFLOW_TRACKING_URI.")
    parts = urlsplit(uri.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MlflowError("invalid tracking_uri %r: use an http:// or https:// URL of the MLflow "
                          "server (file:, databricks and sqlite URIs are not supported)." % uri)
    if parts.username or parts.password:
        raise MlflowError("invalid tracking_uri: do not put credentials in the URL; use the "
                          "username/password or token options.")
    return uri.strip().rstrip("/")


def validate_name(name):
    if not isinstance(name, str) or not name.strip():
        raise MlflowError("invalid experiment name %r: it must not be empty." % (name,))
    if name != name.strip():
        raise MlflowError("invalid experiment name %r: leading or trailing whitespace." % name)
    if len(name) > MAX_NAME_LENGTH:
        raise MlflowError("invalid experiment name: longer than %d characters." % MAX_NAME_LENGTH)
    if _CONTROL_RE.search(name):
        raise MlflowError("invalid experiment name %r: control characters (newline, NUL, ...) are "
                          "not allowed." % name)
    return name


def normalize_tags(tags):
    """Tags as a str -> str dict, validated like MLflow does."""
    out = {}
    for key, value in (tags or {}).items():
        key = str(key)
        if not _TAG_KEY_RE.match(key) or len(key) > MAX_TAG_KEY_LENGTH:
            raise MlflowError("invalid tag key %r: use letters, digits, '_', '-', '.', ' ', ':' and "
                              "'/', at most %d characters." % (key, MAX_TAG_KEY_LENGTH))
        if value is None:
            raise MlflowError("tag %r has no value; remove it from tags (with purge_tags=true to "
                              "delete it)." % key)
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            value = json.dumps(value, sort_keys=True)
        value = str(value)
        if len(value) > MAX_TAG_VALUE_LENGTH:
            raise MlflowError("tag %r: value longer than %d characters." % (key, MAX_TAG_VALUE_LENGTH))
        out[key] = value
    return out


# ---------------------------------------------------------------------------
# Response mapping and planning (pure)
# ---------------------------------------------------------------------------

def experiment_view(exp):
    """The REST ``Experiment`` message as a flat dict with tags as a dict."""
    if not exp:
        return None
    return dict(
        experiment_id=str(exp.get("experiment_id")),
        name=exp.get("name"),
        artifact_location=exp.get("artifact_location"),
        lifecycle_stage=exp.get("lifecycle_stage", "active"),
        tags=dict((t.get("key"), t.get("value", "")) for t in exp.get("tags") or []),
        creation_time=exp.get("creation_time"),
        last_update_time=exp.get("last_update_time"),
    )


def diff_view(view):
    """What --diff shows: no timestamps (they change without a task)."""
    if not view:
        return {}
    return dict(name=view["name"], experiment_id=view.get("experiment_id"),
                lifecycle_stage=view["lifecycle_stage"],
                artifact_location=view.get("artifact_location"), tags=dict(view.get("tags") or {}))


def plan(current, desired):
    """Actions (dicts: op, ... ) that bring *current* (experiment_view or None) to *desired*.

    Returns (actions, warnings).
    """
    actions = []
    warnings = []
    if desired["state"] == "absent":
        if current is not None and current["lifecycle_stage"] != "deleted":
            actions.append(dict(op="delete"))
        return actions, warnings
    tags = desired["tags"]
    if current is None:
        actions.append(dict(op="create", artifact_location=desired.get("artifact_location"),
                            tags=tags or {}))
        return actions, warnings
    if current["lifecycle_stage"] == "deleted":
        actions.append(dict(op="restore"))
    want_loc = desired.get("artifact_location")
    if want_loc and current.get("artifact_location") and \
            want_loc.rstrip("/") != current["artifact_location"].rstrip("/"):
        warnings.append(
            "experiment %r keeps its artifact_location %s: MLflow cannot change it after creation "
            "(asked for %s). Create a new experiment (or delete this one and remove it from the "
            "backend store with `mlflow gc`) to use another location."
            % (current["name"], current["artifact_location"], want_loc))
    if tags is not None:
        have = current.get("tags") or {}
        for key in sorted(tags):
            if have.get(key) != tags[key]:
                actions.append(dict(op="set_tag", key=key, value=tags[key]))
        if desired.get("purge_tags"):
            for key in sorted(have):
                if key not in tags and not key.startswith(SYSTEM_TAG_PREFIX):
                    actions.append(dict(op="delete_tag", key=key))
    return actions, warnings


def predicted_view(current, desired, actions):
    """*current* after *actions* (for check mode and --diff)."""
    if desired["state"] == "absent":
        if current is None:
            return None
        view = dict(current)
        view["lifecycle_stage"] = "deleted"
        return view
    if current is None:
        return dict(experiment_id=None, name=desired["name"],
                    artifact_location=desired.get("artifact_location"), lifecycle_stage="active",
                    tags=dict(desired["tags"] or {}), creation_time=None, last_update_time=None)
    view = dict(current)
    view["tags"] = dict(current.get("tags") or {})
    for a in actions:
        if a["op"] == "restore":
            view["lifecycle_stage"] = "active"
        elif a["op"] == "set_tag":
            view["tags"][a["key"]] = a["value"]
        elif a["op"] == "delete_tag":
            view["tags"].pop(a["key"], None)
    return view


def describe_action(a, name):
    if a["op"] == "create":
        return "create experiment %s" % name
    if a["op"] == "restore":
        return "restore deleted experiment %s" % name
    if a["op"] == "delete":
        return "delete experiment %s" % name
    if a["op"] == "set_tag":
        return "set tag %s" % a["key"]
    return "delete tag %s" % a["key"]


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

def _server_message(body):
    if isinstance(body, dict):
        msg = body.get("message") or body.get("error") or body.get("detail") or body.get("raw")
        code = body.get("error_code")
        if msg and code:
            return "%s: %s" % (code, msg)
        if msg:
            return str(msg)
    return str(body)[:300] if body else ""


def http_error_message(endpoint, what, status, body, auth_kind):
    """One actionable line for an HTTP error status from MLflow."""
    detail = "HTTP %s %s" % (status, _server_message(body)[:300])
    detail = detail.strip()
    if status == 401:
        fix = ("check username/password (MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD)"
               if auth_kind == "basic" else
               "check the token (MLFLOW_TRACKING_TOKEN)" if auth_kind == "token" else
               "the server requires authentication: set username/password (basic-auth) or token")
        return endpoint_error(endpoint, "authentication failed, cannot %s" % what, detail, fix)
    if status == 403:
        text = _server_message(body).lower()
        if "host" in text and ("invalid" in text or "not allowed" in text):
            return endpoint_error(endpoint, "the server rejected the Host header, cannot %s" % what,
                                  detail, "add this host name to the server's --allowed-hosts "
                                  "(MLflow >= 3.5), or use kubernetes_service")
        return endpoint_error(endpoint, "permission denied, cannot %s" % what, detail,
                              "use an account with EDIT/MANAGE permission on experiments (or the "
                              "admin account) in username/password")
    if status == 404:
        return endpoint_error(endpoint, "the MLflow REST API was not found, cannot %s" % what, detail,
                              "point tracking_uri at the MLflow server's base URL (including any "
                              "--static-prefix), not at a UI page or another service")
    if status is not None and status >= 500:
        return endpoint_error(endpoint, "server error, cannot %s" % what, detail,
                              "check the MLflow server's log (backend store reachable? schema "
                              "migrated with `mlflow db upgrade`?)")
    return endpoint_error(endpoint, "cannot %s" % what, detail)


def url_error_message(endpoint, what, reason):
    text = str(getattr(reason, "reason", reason))
    low = text.lower()
    if "certificate" in low or "ssl" in low:
        fix = "set ca_path to the CA that signed the server certificate, or validate_certs=false"
    else:
        fix = ("check tracking_uri and that the MLflow server runs and is reachable from the host "
               "running the module (inside a cluster use kubernetes_service to port-forward to the "
               "Service)")
    return endpoint_error(endpoint, "cannot reach MLflow to %s" % what, text, fix)


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

class MlflowApi(object):
    """Minimal client for /api/2.0/mlflow/experiments/*."""

    def __init__(self, base_url, username=None, password=None, token=None, validate_certs=True,
                 ca_path=None, timeout=30, opener=None):
        self.base_url = base_url.rstrip("/")
        self.endpoint = self.base_url
        self.headers = {"Content-Type": "application/json", "Accept": "application/json",
                        "User-Agent": "mlops.stack.mlflow_experiment"}
        self.auth_kind = None
        if token:
            self.headers["Authorization"] = "Bearer %s" % token
            self.auth_kind = "token"
        elif username:
            raw = ("%s:%s" % (username, password or "")).encode("utf-8")
            self.headers["Authorization"] = "Basic %s" % base64.b64encode(raw).decode("ascii")
            self.auth_kind = "basic"
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self._open = opener or open_url

    def call(self, method, path, what, body=None, not_found_ok=False):
        url = "%s/api/2.0/mlflow/%s" % (self.base_url, path)
        data = None
        if method == "GET" and body:
            url += "?" + urlencode(body)
        elif body is not None:
            data = json.dumps(body)
        try:
            resp = self._open(url, data=data, method=method, headers=self.headers,
                              validate_certs=self.validate_certs, ca_path=self.ca_path,
                              timeout=self.timeout, follow_redirects="safe", use_proxy=True,
                              force_basic_auth=False)
            raw = resp.read()
        except HTTPError as exc:
            try:
                raw = exc.read()
            except Exception:  # pylint: disable=broad-except
                raw = b""
            payload = _parse(raw)
            if not_found_ok and _is_not_found(exc.code, payload):
                return None
            raise MlflowError(http_error_message(self.endpoint, what, exc.code, payload, self.auth_kind))
        except URLError as exc:
            raise MlflowError(url_error_message(self.endpoint, what, exc))
        except Exception as exc:  # pylint: disable=broad-except
            # socket.timeout, ConnectionResetError and friends are not URLError
            raise MlflowError(url_error_message(self.endpoint, what, exc))
        payload = _parse(raw)
        if not isinstance(payload, dict) or "raw" in payload:
            raise MlflowError(endpoint_error(
                self.endpoint, "the answer to %s is not MLflow's JSON" % what, repr(raw[:120]),
                "point tracking_uri at the MLflow server (not a proxy login page or another service)"))
        return payload

    def get_by_name(self, name):
        payload = self.call("GET", "experiments/get-by-name", "read experiment %r" % name,
                            {"experiment_name": name}, not_found_ok=True)
        if payload is None:
            return None
        return experiment_view(payload.get("experiment"))

    def get(self, experiment_id):
        payload = self.call("GET", "experiments/get", "read experiment %s" % experiment_id,
                            {"experiment_id": experiment_id})
        return experiment_view(payload.get("experiment"))

    def create(self, name, artifact_location=None, tags=None):
        body = {"name": name}
        if artifact_location:
            body["artifact_location"] = artifact_location
        if tags:
            body["tags"] = [{"key": k, "value": v} for k, v in sorted(tags.items())]
        payload = self.call("POST", "experiments/create", "create experiment %r" % name, body)
        return str(payload.get("experiment_id"))

    def restore(self, experiment_id):
        self.call("POST", "experiments/restore", "restore experiment %s" % experiment_id,
                  {"experiment_id": experiment_id})

    def delete(self, experiment_id):
        self.call("POST", "experiments/delete", "delete experiment %s" % experiment_id,
                  {"experiment_id": experiment_id})

    def set_tag(self, experiment_id, key, value):
        self.call("POST", "experiments/set-experiment-tag", "set tag %r on experiment %s"
                  % (key, experiment_id), {"experiment_id": experiment_id, "key": key, "value": value})

    def delete_tag(self, experiment_id, key):
        self.call("POST", "experiments/delete-experiment-tag", "delete tag %r of experiment %s"
                  % (key, experiment_id), {"experiment_id": experiment_id, "key": key})


def _is_not_found(status, payload):
    """MLflow says "does not exist" with 404 RESOURCE_DOES_NOT_EXIST, except for
    registry aliases: 400 INVALID_PARAMETER_VALUE "... alias X not found"."""
    if not isinstance(payload, dict):
        return False
    code = payload.get("error_code")
    if status == 404 and code == "RESOURCE_DOES_NOT_EXIST":
        return True
    return status == 400 and code == "INVALID_PARAMETER_VALUE" \
        and "not found" in str(payload.get("message", "")).lower()


def _parse(raw):
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return {"raw": raw.strip()[:300]} if raw.strip() else {}


# ---------------------------------------------------------------------------
# The module's run
# ---------------------------------------------------------------------------

def desired_from_params(params):
    return dict(
        name=validate_name(params["name"]),
        state=params.get("state") or "present",
        tags=None if params.get("tags") is None else normalize_tags(params["tags"]),
        purge_tags=bool(params.get("purge_tags")),
        artifact_location=params.get("artifact_location") or None,
    )


class NewServer(object):
    """Stands in for an MLflow server that has no experiment yet.

    Used in check mode when the server is not running yet
    (``check_mode.server_pending``): :func:`ensure_experiment` then plans
    against it (reads only; check mode never writes).
    """

    def __init__(self, endpoint):
        self.endpoint = endpoint

    def get_by_name(self, name):
        return None


def ensure_experiment(api, desired, check_mode=False):
    """Read, plan and (unless check_mode) apply; returns the module result dict."""
    current = api.get_by_name(desired["name"])
    actions, warnings = plan(current, desired)
    before = diff_view(current)
    predicted = predicted_view(current, desired, actions)
    exp_id = current["experiment_id"] if current else None
    if not check_mode:
        for a in actions:
            if a["op"] == "create":
                exp_id = api.create(desired["name"], a.get("artifact_location"), a.get("tags"))
            elif a["op"] == "restore":
                api.restore(exp_id)
            elif a["op"] == "delete":
                api.delete(exp_id)
            elif a["op"] == "set_tag":
                api.set_tag(exp_id, a["key"], a["value"])
            elif a["op"] == "delete_tag":
                api.delete_tag(exp_id, a["key"])
        if actions and exp_id is not None:
            final = api.get(exp_id)
        else:
            final = current
    else:
        final = predicted
    after = diff_view(predicted if check_mode else final)
    if desired["state"] == "absent":
        after = {} if not before else dict(after, lifecycle_stage="deleted")
    result = dict(
        changed=bool(actions),
        experiment_id=exp_id,
        experiment=final or {},
        actions=[describe_action(a, desired["name"]) for a in actions],
        diff=dict(before=before, after=after, before_header="experiment %s" % desired["name"],
                  after_header="experiment %s" % desired["name"]),
        warnings=warnings,
    )
    return result
