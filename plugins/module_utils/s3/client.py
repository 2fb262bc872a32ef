# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""The S3 connection: boto3 (optional import), the connection options shared by S3
modules, the client, and botocore exceptions turned into :class:`S3Error`
messages that name the endpoint and the fix."""


import traceback

from ansible_collections.mlops.stack.plugins.module_utils.common import endpoint_error
from ansible_collections.mlops.stack.plugins.module_utils.s3.errors import S3Error  # pylint: disable=unused-import  # re-exported


BOTO3_IMPORT_ERROR = None
try:
    import boto3
    import botocore
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError  # pylint: disable=unused-import  # BotoCoreError: re-exported
    HAS_BOTO3 = True
except ImportError:
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = traceback.format_exc()

    class BotoCoreError(Exception):  # type: ignore
        pass

    class ClientError(Exception):  # type: ignore
        pass


DEFAULT_REGION = "us-east-1"


# Parameters that configure the connection (shared with other S3 modules).
S3_CONNECTION_ARGUMENT_SPEC = dict(
    endpoint_url=dict(type="str", aliases=["aws_endpoint_url", "s3_url", "endpoint"]),
    region=dict(type="str", aliases=["aws_region"]),
    access_key=dict(type="str", aliases=["aws_access_key_id", "aws_access_key"], no_log=True),
    secret_key=dict(type="str", aliases=["aws_secret_access_key", "aws_secret_key"], no_log=True),
    session_token=dict(type="str", aliases=["aws_session_token"], no_log=True),
    validate_certs=dict(type="bool", default=True),
    ca_bundle=dict(type="path", aliases=["aws_ca_bundle"]),
    addressing_style=dict(type="str", choices=["auto", "path", "virtual"]),
    timeout=dict(type="int", default=30),
)


NOT_IMPLEMENTED_CODES = ("NotImplemented", "NotImplementedError", "XNotImplemented", "UnsupportedOperation",
                         "MethodNotAllowed")
CREDENTIAL_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
                    "InvalidSecurity", "AuthorizationHeaderMalformed", "InvalidClientTokenId",
                    "XMinioInvalidAccessKeyID", "XMinioSignatureDoesNotMatch")


def error_code(exc):
    if isinstance(exc, ClientError):
        err = getattr(exc, "response", {}).get("Error", {}) or {}
        return str(err.get("Code") or "")
    return ""


def http_status(exc):
    if isinstance(exc, ClientError):
        return getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


def error_text(exc):
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {}) or {}
        code, msg = err.get("Code"), err.get("Message")
        status = http_status(exc)
        parts = [p for p in (code, msg) if p]
        text = ": ".join(parts) if parts else str(exc)
        return "%s (HTTP %s)" % (text, status) if status else text
    return str(exc)


def is_not_implemented(exc):
    return error_code(exc) in NOT_IMPLEMENTED_CODES or http_status(exc) == 501


def is_credential_error(exc):
    return error_code(exc) in CREDENTIAL_CODES


def classify_error(endpoint, what, exc):
    """An S3Error with a message for a botocore exception raised while doing *what*."""
    if not HAS_BOTO3:  # pragma: no cover
        return S3Error(endpoint_error(endpoint, what, exc))
    exc_mod = botocore.exceptions
    if isinstance(exc, exc_mod.SSLError):
        return S3Error(endpoint_error(endpoint, what, "TLS error: %s" % exc,
                                      "set ca_bundle to the CA that signed the server certificate, "
                                      "or validate_certs=false for a test server"))
    if isinstance(exc, (exc_mod.EndpointConnectionError, exc_mod.ConnectTimeoutError,
                        exc_mod.ConnectionClosedError, exc_mod.ReadTimeoutError,
                        exc_mod.ProxyConnectionError)):
        return S3Error(endpoint_error(endpoint, what, "cannot connect: %s" % exc,
                                      "check endpoint_url (scheme, host, port) and that the S3 server "
                                      "is running and reachable from the host running the module; "
                                      "for a server inside Kubernetes use kubernetes_service or an "
                                      "Ingress URL"))
    if isinstance(exc, (exc_mod.NoCredentialsError, exc_mod.PartialCredentialsError)):
        return S3Error(endpoint_error(endpoint, what, "no credentials",
                                      "set access_key and secret_key (or AWS_ACCESS_KEY_ID and "
                                      "AWS_SECRET_ACCESS_KEY)"))
    if is_credential_error(exc):
        return S3Error(endpoint_error(endpoint, what, "the server rejected the credentials: %s" % error_text(exc),
                                      "check access_key and secret_key (and region) for this endpoint"))
    code = error_code(exc)
    if code in ("AccessDenied", "403", "Forbidden"):
        return S3Error(endpoint_error(endpoint, what, "access denied: %s" % error_text(exc),
                                      "check access_key/secret_key and that this user's policy allows the "
                                      "operation on the bucket"))
    if isinstance(exc, ClientError):
        return S3Error(endpoint_error(endpoint, what, "server error: %s" % error_text(exc)))
    if isinstance(exc, ValueError) and "Invalid endpoint" in str(exc):
        return S3Error(endpoint_error(endpoint, what, str(exc),
                                      "endpoint_url must look like https://host:port"))
    return S3Error(endpoint_error(endpoint, what, "%s: %s" % (type(exc).__name__, exc)))


def build_client(params, endpoint_url=None):
    """A boto3 S3 client for the module's connection params."""
    endpoint_url = endpoint_url if endpoint_url is not None else params.get("endpoint_url")
    style = params.get("addressing_style") or ("path" if endpoint_url else "auto")
    timeout = params.get("timeout") or 30
    cfg = Config(s3={"addressing_style": style}, connect_timeout=min(timeout, 10), read_timeout=timeout,
                 retries={"max_attempts": 2, "mode": "standard"},
                 signature_version="s3v4", user_agent_extra="mlops.stack.s3_bucket")
    verify = params.get("validate_certs", True)
    if verify and params.get("ca_bundle"):
        verify = params["ca_bundle"]
    session = boto3.session.Session(
        aws_access_key_id=params.get("access_key"), aws_secret_access_key=params.get("secret_key"),
        aws_session_token=params.get("session_token"),
        region_name=params.get("region") or None)
    return session.client("s3", endpoint_url=endpoint_url or None, verify=verify, config=cfg,
                          region_name=params.get("region") or session.region_name or DEFAULT_REGION)
