# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""A small client for MinIO's admin REST API (``/minio/admin/v3``): users,
canned policies and their attachment.

Requests are signed with AWS SigV4 (botocore's signer, service ``s3``, the
server's region) like the S3 API; the bodies that carry secrets are
encrypted with :mod:`.madmin_crypto` under the admin's secret key. Errors
are :class:`S3Error` messages that name the endpoint and the fix; no message
contains a secret key or a request body.
"""


import hashlib
import json

try:
    from urllib.parse import quote, urlencode, urlsplit
except ImportError:  # pragma: no cover
    from urllib import quote, urlencode  # type: ignore
    from urlparse import urlsplit  # type: ignore

from ansible_collections.mlops.stack.plugins.module_utils.common import endpoint_error
from ansible_collections.mlops.stack.plugins.module_utils.s3.client import DEFAULT_REGION, HAS_BOTO3, S3Error
from ansible_collections.mlops.stack.plugins.module_utils.s3.madmin_crypto import (
    MadminCryptoError, decrypt_data, encrypt_data)

if HAS_BOTO3:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.exceptions import BotoCoreError
    from botocore.httpsession import URLLib3Session
else:  # pragma: no cover
    class BotoCoreError(Exception):  # type: ignore
        pass

ADMIN_PREFIX = "/minio/admin/v3"
NO_SUCH_USER = ("XMinioAdminNoSuchUser",)
NO_SUCH_POLICY = ("XMinioAdminNoSuchPolicy",)


class MinioAdminError(S3Error):
    """An admin API error answer; ``code`` is MinIO's error code."""

    def __init__(self, message, code=None, status=None):
        super(MinioAdminError, self).__init__(message)
        self.code = code
        self.status = status


class MinioAdmin(object):
    """The admin API of one MinIO server, as the root (or an admin) user."""

    def __init__(self, endpoint_url, access_key, secret_key, region=None, verify=True, timeout=30,
                 session_token=None):
        if not endpoint_url:
            raise S3Error("backend=minio needs endpoint_url (the MinIO API URL, e.g. http://minio.mlops.svc:9000)")
        if not access_key or not secret_key:
            raise S3Error(endpoint_error(endpoint_url, "cannot manage MinIO users", "no admin credentials",
                                         "set access_key and secret_key to MinIO's root (or an admin) user"))
        self.endpoint = endpoint_url.rstrip("/")
        self._secret_key = secret_key
        self._credentials = Credentials(access_key, secret_key, session_token)
        self.region = region or DEFAULT_REGION
        self._http = URLLib3Session(verify=verify, timeout=(min(timeout, 10), timeout))

    # ------------------------------------------------------------ transport
    def _call(self, method, path, query=None, body=b"", what="call the admin API", ok=(200,)):
        url = "%s%s%s" % (self.endpoint, ADMIN_PREFIX, path)
        if query:
            url += "?" + urlencode(sorted(query.items()), quote_via=quote)
        body = body or b""
        headers = {"X-Amz-Content-Sha256": hashlib.sha256(body).hexdigest()}
        if body:
            headers["Content-Type"] = "application/octet-stream"
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(self._credentials, "s3", self.region).add_auth(request)
        try:
            response = self._http.send(request.prepare())
        except BotoCoreError as exc:
            raise S3Error(endpoint_error(self.endpoint, what, "cannot connect: %s" % exc,
                                         "check endpoint_url and that MinIO is running and reachable; for a "
                                         "server inside Kubernetes use kubernetes_service"))
        content = response.content or b""
        if response.status_code not in ok:
            raise self._error(response.status_code, content, what)
        return response.status_code, content

    def _error(self, status, content, what):
        code, message = None, ""
        try:
            doc = json.loads(content.decode("utf-8"))
            code, message = doc.get("Code"), doc.get("Message") or ""
        except (ValueError, AttributeError, UnicodeDecodeError):
            message = content[:200].decode("utf-8", "replace").strip()
        detail = "%s%s (HTTP %s)" % (code or "error", ": " + message if message else "", status)
        fix = None
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "XMinioInvalidAccessKeyID",
                    "XMinioSignatureDoesNotMatch", "AccessDenied", "XMinioAdminConfigBadJSON"):
            fix = ("access_key and secret_key must be MinIO's root (or an admin) user and region the server's "
                   "region; an AccessDenied user lacks admin:CreateUser/admin:CreatePolicy")
        elif status == 404 and code is None:
            fix = "endpoint_url must be a MinIO server (backend=minio); for SeaweedFS use backend=seaweedfs"
        return MinioAdminError(endpoint_error(self.endpoint, what, detail, fix), code=code, status=status)

    def _json(self, content, what):
        try:
            return json.loads(content.decode("utf-8")) if content else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise S3Error(endpoint_error(self.endpoint, what, "the answer is not JSON: %s" % exc))

    def _decrypt(self, content, what):
        try:
            return decrypt_data(self._secret_key, content)
        except MadminCryptoError as exc:
            raise S3Error(endpoint_error(self.endpoint, what, "cannot decrypt the answer: %s" % exc,
                                         "secret_key must be the secret of access_key"))

    # ------------------------------------------------------------ users
    def user_info(self, access_key):
        """``{"policyName": "a,b", "status": "enabled", ...}`` or None when there is no such user."""
        what = "cannot read user %s" % access_key
        try:
            return self._json(self._call("GET", "/user-info", {"accessKey": access_key}, what=what)[1], what)
        except MinioAdminError as exc:
            if exc.code in NO_SUCH_USER:
                return None
            raise

    def list_users(self):
        """Every user: access key -> ``{"policyName": ..., "status": ...}`` (an encrypted answer)."""
        what = "cannot list users"
        return self._json(self._decrypt(self._call("GET", "/list-users", what=what)[1], what), what)

    def add_user(self, access_key, secret_key, status="enabled"):
        """Create the user or set its secret key (the body is encrypted under the admin's secret key)."""
        body = json.dumps({"secretKey": secret_key, "status": status}).encode("utf-8")
        self._call("PUT", "/add-user", {"accessKey": access_key}, encrypt_data(self._secret_key, body),
                   what="cannot create or update user %s" % access_key)

    def remove_user(self, access_key):
        self._call("DELETE", "/remove-user", {"accessKey": access_key}, what="cannot remove user %s" % access_key)

    def set_user_status(self, access_key, status):
        self._call("PUT", "/set-user-status", {"accessKey": access_key, "status": status},
                   what="cannot set the status of user %s" % access_key)

    def set_user_policies(self, access_key, policy_names, current=()):
        """Attach exactly *policy_names* to the user (replaces its mapping; *current*: attached now).

        Uses ``set-user-or-group-policy``; a server that no longer has it
        (deprecated by MinIO) gets the builtin attach/detach calls instead.
        """
        what = "cannot attach policies %s to user %s" % (",".join(policy_names), access_key)
        try:
            self._call("PUT", "/set-user-or-group-policy",
                       {"policyName": ",".join(policy_names), "userOrGroup": access_key, "isGroup": "false"},
                       what=what)
            return
        except MinioAdminError as exc:
            if exc.status not in (400, 404, 405, 501) or exc.code in ("AccessDenied", "XMinioAdminNoSuchPolicy",
                                                                      "XMinioAdminNoSuchUser"):
                raise
        extra = sorted(set(current) - set(policy_names))
        if extra:
            self.builtin_policy("detach", access_key, extra)
        missing = sorted(set(policy_names) - set(current))
        if missing:
            self.builtin_policy("attach", access_key, missing)

    def builtin_policy(self, operation, access_key, policy_names):
        """``idp/builtin/policy/attach|detach`` (encrypted both ways); returns MinIO's answer (dict)."""
        what = "cannot %s policies %s %s user %s" % (operation, ",".join(policy_names),
                                                     "to" if operation == "attach" else "from", access_key)
        body = json.dumps({"policies": list(policy_names), "user": access_key}).encode("utf-8")
        status, content = self._call("POST", "/idp/builtin/policy/%s" % operation, None,
                                     encrypt_data(self._secret_key, body), what=what, ok=(200, 201, 204))
        if status != 200 or not content:
            return {}
        return self._json(self._decrypt(content, what), what)

    # ------------------------------------------------------------ policies
    def policy(self, name):
        """The canned policy document (dict) or None when there is none."""
        what = "cannot read policy %s" % name
        try:
            doc = self._json(self._call("GET", "/info-canned-policy", {"name": name}, what=what)[1], what)
        except MinioAdminError as exc:
            if exc.code in NO_SUCH_POLICY:
                return None
            raise
        if isinstance(doc, dict) and "Policy" in doc and "Statement" not in doc:
            return doc["Policy"]
        return doc

    def put_policy(self, name, document):
        self._call("PUT", "/add-canned-policy", {"name": name},
                   json.dumps(document, sort_keys=True).encode("utf-8"), what="cannot write policy %s" % name)

    def remove_policy(self, name):
        self._call("DELETE", "/remove-canned-policy", {"name": name}, what="cannot remove policy %s" % name)


def admin_for(params, endpoint_url):
    """A :class:`MinioAdmin` for the module's connection options."""
    verify = params.get("validate_certs", True)
    if verify and params.get("ca_bundle"):
        verify = params["ca_bundle"]
    url = endpoint_url or params.get("endpoint_url")
    if url and not urlsplit(url).scheme:
        raise S3Error("endpoint_url %r must start with http:// or https://" % url)
    return MinioAdmin(url, params.get("access_key"), params.get("secret_key"), region=params.get("region"),
                      verify=verify, timeout=params.get("timeout") or 30, session_token=params.get("session_token"))
