# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""SCRAM-SHA-256 verifiers: build one from a password (so the password is never
sent in clear SQL) and check a password against a stored verifier. Pure."""


import base64
import hashlib
import hmac
import os
import unicodedata


def _saslprep(password):
    """Approximation of SASLprep as PostgreSQL applies it (NFKC for non-ASCII)."""
    try:
        password.encode("ascii")
        return password.encode("utf-8")
    except UnicodeEncodeError:
        return unicodedata.normalize("NFKC", password).encode("utf-8")


def _scram_keys(password, salt, iterations):
    salted = hashlib.pbkdf2_hmac("sha256", _saslprep(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def scram_verifier(password, salt=None, iterations=4096):
    """A SCRAM-SHA-256 verifier PostgreSQL accepts in ``ALTER ROLE .. PASSWORD``.

    Sending the verifier instead of the password keeps the clear text out
    of the server's logs and of pg_stat_statements.
    """
    salt = salt if salt is not None else os.urandom(16)
    stored_key, server_key = _scram_keys(password, salt, iterations)
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (
        iterations, base64.b64encode(salt).decode("ascii"),
        base64.b64encode(stored_key).decode("ascii"), base64.b64encode(server_key).decode("ascii"))


def verify_password(password, verifier, username=None):
    """True/False when *verifier* (pg_authid.rolpassword) matches *password*.

    None when the verifier cannot be checked (unknown format).
    """
    if verifier is None:
        return False
    if verifier.startswith("SCRAM-SHA-256$"):
        try:
            head, keys = verifier[len("SCRAM-SHA-256$"):].split("$", 1)
            iterations, salt = head.split(":", 1)
            stored_b64, server_b64 = keys.split(":", 1)
            salt = base64.b64decode(salt)
            stored_key, server_key = _scram_keys(password, salt, int(iterations))
        except (ValueError, TypeError):
            return None
        return (hmac.compare_digest(base64.b64encode(stored_key).decode("ascii"), stored_b64)
                and hmac.compare_digest(base64.b64encode(server_key).decode("ascii"), server_b64))
    if verifier.startswith("md5") and len(verifier) == 35 and username is not None:
        digest = "md5" + hashlib.md5((password + username).encode("utf-8")).hexdigest()  # nosec
        return hmac.compare_digest(digest, verifier)
    return None
