# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""The encryption of MinIO's admin API bodies (madmin ``EncryptData`` /
``DecryptData``), in Python.

MinIO encrypts the bodies that carry secrets (add-user, list-users, the
builtin policy attach/detach) with a key derived from the *admin's* secret
key. The format, re-implemented from its public description in
github.com/minio/madmin-go (encrypt.go) and github.com/secure-io/sio-go::

    salt (32) | AEAD id (1) | nonce (8) | DARE stream of the plaintext

- key = Argon2id(password, salt, time=1, memory=64 MiB, threads=4, 32 bytes)
  for the AEAD ids 0x00 (AES-256-GCM) and 0x01 (ChaCha20-Poly1305);
  PBKDF2-SHA256(password, salt, 8192, 32 bytes) for 0x02 (AES-256-GCM, the
  FIPS build). This module always encrypts with 0x00, which every MinIO
  decrypts, and decrypts all three.
- The stream (sio): the plaintext in 16 KiB fragments, each sealed with the
  12-byte AEAD nonce ``nonce (8) | little-endian uint32 sequence number``
  (1, 2, ...) and the associated data ``flag (1) | tag (16)``, where ``tag``
  seals nothing under sequence number 0 (it binds the caller's associated
  data, empty here) and ``flag`` is 0x80 for the final fragment, 0x00 for
  the others. The final fragment holds the last 1..16384 bytes (none for
  empty plaintext), so every fragment but the last is full.

Argon2id comes from ``cryptography`` (>= 44, OpenSSL >= 3.2) or, where that
build lacks it, from ``argon2-cffi``.
"""


import os
import struct
import traceback

CRYPTO_IMPORT_ERROR = None
try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
    HAS_CRYPTOGRAPHY = True
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTO_IMPORT_ERROR = traceback.format_exc()

    class InvalidTag(Exception):  # type: ignore
        pass

try:
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id as _CryptoArgon2id
except ImportError:
    _CryptoArgon2id = None

try:
    from argon2.low_level import Type as _Argon2Type, hash_secret_raw as _argon2_hash_raw
except ImportError:
    _argon2_hash_raw = None
    _Argon2Type = None


ARGON2ID_AES_GCM = 0x00
ARGON2ID_CHACHA20_POLY1305 = 0x01
PBKDF2_AES_GCM = 0x02

SALT_SIZE = 32
NONCE_SIZE = 8
HEADER_SIZE = SALT_SIZE + 1 + NONCE_SIZE
TAG_SIZE = 16
BUF_SIZE = 1 << 14

ARGON2ID_TIME = 1
ARGON2ID_MEMORY_KIB = 64 * 1024
ARGON2ID_THREADS = 4
PBKDF2_ITERATIONS = 8192
KEY_SIZE = 32

_FINAL = 0x80
_NOT_FINAL = 0x00


class MadminCryptoError(Exception):
    """Data that cannot be encrypted or decrypted (wrong password, damaged or foreign data)."""


def missing_library():
    """None when encryption works here, else what to install."""
    if not HAS_CRYPTOGRAPHY:
        return "cryptography"
    if _argon2_hash_raw is None and not _crypto_argon2_works():
        return "argon2-cffi"
    return None


_CRYPTO_ARGON2_OK = None


def _crypto_argon2_works():
    global _CRYPTO_ARGON2_OK  # pylint: disable=global-statement
    if _CRYPTO_ARGON2_OK is None:
        _CRYPTO_ARGON2_OK = False
        if _CryptoArgon2id is not None:
            try:
                _CryptoArgon2id(salt=b"\0" * 16, length=32, iterations=1, lanes=1, memory_cost=8).derive(b"x")
                _CRYPTO_ARGON2_OK = True
            except Exception:  # pylint: disable=broad-except  # UnsupportedAlgorithm on OpenSSL < 3.2
                _CRYPTO_ARGON2_OK = False
    return _CRYPTO_ARGON2_OK


def argon2id_key(password, salt):
    """The 32-byte key madmin derives with Argon2id (v1.3) from *password* and *salt*."""
    password = _bytes(password)
    if _crypto_argon2_works():
        return _CryptoArgon2id(salt=salt, length=KEY_SIZE, iterations=ARGON2ID_TIME, lanes=ARGON2ID_THREADS,
                               memory_cost=ARGON2ID_MEMORY_KIB).derive(password)
    if _argon2_hash_raw is not None:
        return _argon2_hash_raw(password, salt, time_cost=ARGON2ID_TIME, memory_cost=ARGON2ID_MEMORY_KIB,
                                parallelism=ARGON2ID_THREADS, hash_len=KEY_SIZE, type=_Argon2Type.ID)
    raise MadminCryptoError("Argon2id is not available: install argon2-cffi (or cryptography >= 44 "
                            "built with OpenSSL >= 3.2)")


def pbkdf2_key(password, salt):
    return PBKDF2HMAC(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt,
                      iterations=PBKDF2_ITERATIONS).derive(_bytes(password))


def _bytes(value):
    return value.encode("utf-8") if not isinstance(value, bytes) else value


def _aead(aead_id, key):
    if aead_id in (ARGON2ID_AES_GCM, PBKDF2_AES_GCM):
        return AESGCM(key)
    if aead_id == ARGON2ID_CHACHA20_POLY1305:
        return ChaCha20Poly1305(key)
    raise MadminCryptoError("unknown encryption algorithm id 0x%02x" % aead_id)


def _seq_nonce(nonce, seq):
    return nonce + struct.pack("<I", seq)


def _header_ad(aead, nonce, associated_data):
    """The 16-byte tag sio puts after the fragment flag in the associated data."""
    return aead.encrypt(_seq_nonce(nonce, 0), b"", associated_data or b"")


def seal_stream(aead, nonce, plaintext, associated_data=b"", buf_size=BUF_SIZE):
    """The sio (DARE 2.0) stream of *plaintext*: 16 KiB fragments, the last flagged final."""
    if len(nonce) != NONCE_SIZE:
        raise MadminCryptoError("the stream nonce must be %d bytes" % NONCE_SIZE)
    tag = _header_ad(aead, nonce, associated_data)
    out = []
    seq = 1
    pos = 0
    # Every fragment but the last is full; the last holds 1..buf_size bytes (0 for no data).
    while len(plaintext) - pos > buf_size:
        out.append(aead.encrypt(_seq_nonce(nonce, seq), plaintext[pos:pos + buf_size],
                                bytes(bytearray([_NOT_FINAL])) + tag))
        seq += 1
        pos += buf_size
    out.append(aead.encrypt(_seq_nonce(nonce, seq), plaintext[pos:], bytes(bytearray([_FINAL])) + tag))
    return b"".join(out)


def open_stream(aead, nonce, ciphertext, associated_data=b"", buf_size=BUF_SIZE):
    """The plaintext of a sio stream; :class:`MadminCryptoError` when it is not authentic."""
    tag = _header_ad(aead, nonce, associated_data)
    fragment = buf_size + TAG_SIZE
    if len(ciphertext) < TAG_SIZE:
        raise MadminCryptoError("the encrypted data is truncated")
    out = []
    seq = 1
    pos = 0
    while True:
        final = len(ciphertext) - pos <= fragment
        chunk = ciphertext[pos:] if final else ciphertext[pos:pos + fragment]
        flag = _FINAL if final else _NOT_FINAL
        try:
            out.append(aead.decrypt(_seq_nonce(nonce, seq), chunk, bytes(bytearray([flag])) + tag))
        except InvalidTag:
            raise MadminCryptoError("the encrypted data is not authentic (wrong key or damaged data)")
        if final:
            return b"".join(out)
        seq += 1
        pos += fragment


def encrypt_data(password, data, salt=None, nonce=None, aead_id=ARGON2ID_AES_GCM):
    """madmin ``EncryptData``: *data* encrypted for a server whose admin secret key is *password*.

    *salt* and *nonce* are random unless given (tests only).
    """
    salt = os.urandom(SALT_SIZE) if salt is None else salt
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    if len(salt) != SALT_SIZE or len(nonce) != NONCE_SIZE:
        raise MadminCryptoError("salt must be %d and nonce %d bytes" % (SALT_SIZE, NONCE_SIZE))
    key = pbkdf2_key(password, salt) if aead_id == PBKDF2_AES_GCM else argon2id_key(password, salt)
    header = salt + bytes(bytearray([aead_id])) + nonce
    return header + seal_stream(_aead(aead_id, key), nonce, _bytes(data))


def decrypt_data(password, data):
    """madmin ``DecryptData``: the plaintext of *data* encrypted with the secret key *password*."""
    if len(data) < HEADER_SIZE:
        raise MadminCryptoError("unexpected header: the data is not madmin-encrypted")
    salt, aead_id, nonce = data[:SALT_SIZE], bytearray(data[SALT_SIZE:SALT_SIZE + 1])[0], data[SALT_SIZE + 1:HEADER_SIZE]
    if aead_id == PBKDF2_AES_GCM:
        key = pbkdf2_key(password, salt)
    elif aead_id in (ARGON2ID_AES_GCM, ARGON2ID_CHACHA20_POLY1305):
        key = argon2id_key(password, salt)
    else:
        raise MadminCryptoError("unknown encryption algorithm id 0x%02x" % aead_id)
    return open_stream(_aead(aead_id, key), nonce, data[HEADER_SIZE:])


def is_encrypted(data):
    """madmin ``IsEncrypted``."""
    return len(data) > SALT_SIZE and bytearray(data[SALT_SIZE:SALT_SIZE + 1])[0] in (
        ARGON2ID_AES_GCM, ARGON2ID_CHACHA20_POLY1305, PBKDF2_AES_GCM)
