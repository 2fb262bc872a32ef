"""Pure logic of mlops.stack.s3_user: madmin encryption, policy documents, the MinIO plan, SeaweedFS identities.

The encryption is checked against data produced by the Go implementations:
the sio-go test vectors (github.com/secure-io/sio-go test_vectors.json, AES-GCM
entries with a 16/17-byte fragment size, so several fragments and an exactly
full final fragment are covered) and a ciphertext made by madmin-go v3.0.109
``EncryptData``. (During development madmin-go's Encrypt/DecryptData and this
module also decrypted each other's output for 0..40000-byte payloads and all
three algorithm ids; the integration tests prove it against a real MinIO.)
"""
import json

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ansible_collections.mlops.stack.plugins.filter.seaweedfs_s3_config import seaweedfs_s3_config
from ansible_collections.mlops.stack.plugins.module_utils.s3 import madmin_crypto as mc
from ansible_collections.mlops.stack.plugins.module_utils.s3.client import S3Error
from ansible_collections.mlops.stack.plugins.module_utils.s3.seaweedfs_identities import s3_config, user_actions
from ansible_collections.mlops.stack.plugins.module_utils.s3.users import (
    plan_minio, policy_document, same_policy, validate_user, view)

# sio-go test vectors: (key, nonce, associated data, buffer size, plaintext, ciphertext), hex.
SIO_VECTORS = [
    ("00000000000000000000000000000000", "0000000000000000", "", 16, "",
     "e0247a864e783cecb1f7996c13cd3f64"),
    ("00000000000000000000000000000001", "2000000000000000", "1000000000000000", 16,
     "00000000000000000000000000000000",
     "8501dcfa461a0860ef9933655b1e59a9e7db1ed363b6ff80f219ca986dca9ce2"),
    ("10000000000000000000000000000000", "0000000000000002", "", 16, "0000000000000000000000000000000000",
     "691deb7b9ccbee91f48d12c7ad5fe3cd4e1e5e7d394f06b91228ec9a5dd2456ac7de9502a0b4010fb1ee1db94e940458fb"),
    ("000102030405060708090a0b0c0d0e0f", "0001020304050607", "0102030405060708090a0b0c0d0e0f10", 16,
     "0000000000000000000000000000000000000000000000000000000000000000",
     "beffe57efbdadb693b5545d58454ba746c5362c6f37b65da457d85bfe6af8972"
     "cfea267b03f14aedf25e7501e88c0d79f5440d0ac49e5c4fdaab4dfac9aec4d3"),
    ("31dd758d120fd5d30063921a21f723be", "d3794fe387018e32",
     "1d838b6e861ea7576de110e08818de82a27337a99db7b95aa95c3347971ad4cfa0ef0960d6645f5a64f88c7d", 17,
     "d0ae0d85e93ed6be853ded2031643116a03215b4fda224d2986d7233039aa47e91b686f4",
     "a6fe911b94e0b25a25bf6da71f28ad6a6b6920be01589e9194226f77c164606545d5cbdb76c99415b468c54517f5a8bc"
     "8dc8ac13b1b4285fe36f37f7884d5e4bfb32ecef56b4026bf02bfb1d4fce222e01ef9db9"),
]

# madmin-go v3.0.109: EncryptData("mlops-admin-secret", '{"secretKey":"s","status":"enabled"}').
MADMIN_PASSWORD = "mlops-admin-secret"
MADMIN_PLAINTEXT = b'{"secretKey":"s","status":"enabled"}'
MADMIN_CIPHERTEXT = (
    "52cd17f0cf9a87bed9a11b3e505908d60048235935ad1702db8da406ee38263700282dcd1089412110ac750e414e48fee4"
    "61559996b69b46e7f18b8060a3a642fb8166c04d53927fa6d1feb379cdd43244ac83ca304b7bb07f3e4ce119")


class TestMadminCrypto:
    def test_decrypts_what_madmin_go_encrypted(self):
        assert mc.decrypt_data(MADMIN_PASSWORD, bytes.fromhex(MADMIN_CIPHERTEXT)) == MADMIN_PLAINTEXT

    def test_same_bytes_as_madmin_for_the_same_salt_and_nonce(self):
        data = bytes.fromhex(MADMIN_CIPHERTEXT)
        salt, nonce = data[:32], data[33:41]
        assert mc.encrypt_data(MADMIN_PASSWORD, MADMIN_PLAINTEXT, salt=salt, nonce=nonce) == data

    def test_wrong_password_is_not_authentic(self):
        with pytest.raises(mc.MadminCryptoError, match="not authentic"):
            mc.decrypt_data("other", bytes.fromhex(MADMIN_CIPHERTEXT))

    def test_tampered_data_is_not_authentic(self):
        data = bytearray(bytes.fromhex(MADMIN_CIPHERTEXT))
        data[-1] ^= 1
        with pytest.raises(mc.MadminCryptoError):
            mc.decrypt_data(MADMIN_PASSWORD, bytes(data))

    def test_truncation_is_detected(self):
        # Dropping the final fragment of a multi-fragment stream must fail, not return a prefix.
        data = mc.encrypt_data("pw", b"x" * (mc.BUF_SIZE + 10))
        with pytest.raises(mc.MadminCryptoError):
            mc.decrypt_data("pw", data[:mc.HEADER_SIZE + mc.BUF_SIZE + mc.TAG_SIZE])

    @pytest.mark.parametrize("key,nonce,ad,buf,plain,cipher", SIO_VECTORS)
    def test_sio_vectors(self, key, nonce, ad, buf, plain, cipher):
        aead = AESGCM(bytes.fromhex(key))
        sealed = mc.seal_stream(aead, bytes.fromhex(nonce), bytes.fromhex(plain), bytes.fromhex(ad), buf)
        assert sealed.hex() == cipher
        assert mc.open_stream(aead, bytes.fromhex(nonce), sealed, bytes.fromhex(ad), buf) == bytes.fromhex(plain)

    @pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 32, 33])
    def test_fragment_layout(self, size):
        """Every fragment but the last is full; the last has 1..buf bytes (0 only for empty data)."""
        aead = AESGCM(b"k" * 32)
        sealed = mc.seal_stream(aead, b"n" * 8, b"p" * size, buf_size=16)
        fragments = max(1, -(-size // 16))
        assert len(sealed) == size + 16 * fragments
        assert mc.open_stream(aead, b"n" * 8, sealed, buf_size=16) == b"p" * size

    @pytest.mark.parametrize("aead_id", [mc.ARGON2ID_AES_GCM, mc.ARGON2ID_CHACHA20_POLY1305, mc.PBKDF2_AES_GCM])
    @pytest.mark.parametrize("size", [0, mc.BUF_SIZE, mc.BUF_SIZE + 1, 3 * mc.BUF_SIZE])
    def test_round_trip(self, aead_id, size):
        data = bytes(bytearray(i % 251 for i in range(size)))
        sealed = mc.encrypt_data("secret", data, aead_id=aead_id)
        assert bytearray(sealed)[32] == aead_id and mc.is_encrypted(sealed)
        assert mc.decrypt_data("secret", sealed) == data

    def test_argon2_backends_agree(self):
        pytest.importorskip("argon2")
        salt = b"s" * 32
        key = mc.argon2id_key("pw", salt)
        from argon2.low_level import Type, hash_secret_raw
        assert key == hash_secret_raw(b"pw", salt, time_cost=1, memory_cost=65536, parallelism=4, hash_len=32,
                                      type=Type.ID)

    def test_header_errors(self):
        with pytest.raises(mc.MadminCryptoError, match="header"):
            mc.decrypt_data("pw", b"short")
        with pytest.raises(mc.MadminCryptoError, match="0x07"):
            mc.decrypt_data("pw", b"s" * 32 + b"\x07" + b"n" * 8 + b"t" * 16)


def params(**kw):
    base = {"name": "mlflow", "user_access_key": None, "user_secret_key": "s3cret-key", "update_secret": "on_create",
            "buckets_rw": ["mlflow-artifacts", "models"], "buckets_ro": [], "policy_name": None, "state": "present"}
    base.update(kw)
    return base


class TestPolicy:
    def test_read_write(self):
        doc = policy_document(["models", "mlflow-artifacts"], [])
        actions = {s["Sid"]: (sorted(s["Action"]), s["Resource"]) for s in doc["Statement"]}
        assert actions["ReadWriteObjects"] == (
            ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListMultipartUploadParts",
             "s3:PutObject"], ["arn:aws:s3:::mlflow-artifacts/*", "arn:aws:s3:::models/*"])
        assert actions["ReadWriteBuckets"][1] == ["arn:aws:s3:::mlflow-artifacts", "arn:aws:s3:::models"]
        assert "s3:ListBucket" in actions["ReadWriteBuckets"][0]

    def test_read_only_is_get_and_list(self):
        doc = policy_document([], ["models"])
        assert [(s["Action"], s["Resource"]) for s in doc["Statement"]] == [
            (["s3:ListBucket"], ["arn:aws:s3:::models"]), (["s3:GetObject"], ["arn:aws:s3:::models/*"])]

    def test_read_write_wins(self):
        doc = policy_document(["models"], ["models", "extra"])
        ro = [s for s in doc["Statement"] if s["Sid"].startswith("ReadOnly")]
        assert all(r == ["arn:aws:s3:::extra"] or r == ["arn:aws:s3:::extra/*"] for s in ro for r in [s["Resource"]])

    def test_same_policy_ignores_order_and_sid(self):
        doc = policy_document(["bk1", "bk2"], ["bk3"])
        server = json.loads(json.dumps(doc))
        for s in server["Statement"]:
            s.pop("Sid")
            s["Action"] = list(reversed(s["Action"]))
        server["Statement"].reverse()
        assert same_policy(doc, server)
        assert not same_policy(doc, policy_document(["bk1"], ["bk3"]))


class TestValidate:
    def test_bad_bucket(self):
        with pytest.raises(S3Error, match="Bad_Bucket"):
            validate_user(params(buckets_rw=["Bad_Bucket"]))

    def test_no_buckets(self):
        with pytest.raises(S3Error, match="buckets_rw"):
            validate_user(params(buckets_rw=[], buckets_ro=[]))

    def test_secret_length_not_echoed(self):
        with pytest.raises(S3Error) as info:
            validate_user(params(user_secret_key="tiny"))
        assert "tiny" not in str(info.value) and "8 to 40" in str(info.value)

    def test_access_key(self):
        with pytest.raises(S3Error, match="too short"):
            validate_user(params(name="ab"))
        with pytest.raises(S3Error, match="may not contain"):
            validate_user(params(user_access_key="a,b,c"))

    def test_absent_needs_no_buckets(self):
        validate_user(params(state="absent", buckets_rw=[], user_secret_key=None))


class TestPlanMinio:
    def test_new_user(self):
        after, actions = plan_minio(params(), None, None)
        assert actions == [("put_policy", "mlops-mlflow"), ("add_user", "mlflow"), ("attach", "mlops-mlflow")]
        assert after["policies"] == ["mlops-mlflow"] and "s3cret-key" not in json.dumps(after)

    def test_new_user_needs_secret(self):
        with pytest.raises(S3Error, match="user_secret_key"):
            plan_minio(params(user_secret_key=None), None, None)

    def test_up_to_date(self):
        p = params()
        info = {"policyName": "mlops-mlflow", "status": "enabled"}
        assert plan_minio(p, info, policy_document(p["buckets_rw"], []))[1] == []
        # The secret is not needed to keep an existing user.
        assert plan_minio(params(user_secret_key=None), info, policy_document(p["buckets_rw"], []))[1] == []

    def test_drift(self):
        p = params(update_secret="always", policy_name="custom")
        info = {"policyName": "custom,readwrite", "status": "disabled"}
        actions = plan_minio(p, info, {"Version": "2012-10-17", "Statement": []})[1]
        assert actions == [("put_policy", "custom"), ("set_secret", "mlflow"), ("enable", "mlflow"),
                           ("attach", "custom")]

    def test_absent(self):
        p = params(state="absent")
        assert plan_minio(p, {"policyName": "mlops-mlflow"}, {"Statement": []})[1] == [
            ("remove_user", "mlflow"), ("remove_policy", "mlops-mlflow")]
        assert plan_minio(p, None, None)[1] == []

    def test_view_has_no_secret(self):
        assert view("mlflow", None, "p", None) == {"access_key": "mlflow", "exists": False}


class TestSeaweedfs:
    def test_actions(self):
        assert user_actions(["a-bucket"], ["b-bucket", "a-bucket"]) == [
            "Read:a-bucket", "Write:a-bucket", "List:a-bucket", "Read:b-bucket", "List:b-bucket"]

    def test_config_without_users_is_unchanged(self):
        assert s3_config("ak", "sk") == {"identities": [{
            "name": "mlops", "credentials": [{"accessKey": "ak", "secretKey": "sk"}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}

    def test_filter_with_users(self):
        doc = json.loads(seaweedfs_s3_config("ak", "sk", users=[
            {"name": "mlflow", "secret_key": "m-secret", "buckets_rw": ["mlflow-artifacts", "models"]},
            {"name": "kserve", "access_key": "kserve-key", "secret_key": "k-secret", "buckets_ro": ["models"]}]))
        kserve = doc["identities"][2]
        assert kserve == {"name": "kserve", "credentials": [{"accessKey": "kserve-key", "secretKey": "k-secret"}],
                          "actions": ["Read:models", "List:models"]}
        assert doc["identities"][1]["credentials"][0]["accessKey"] == "mlflow"
        assert "Admin" not in json.dumps(doc["identities"][1:])

    @pytest.mark.parametrize("users,fragment", [
        ([{"name": "mlops", "secret_key": "x" * 10, "buckets_ro": ["models"]}], "used twice"),
        ([{"name": "u", "access_key": "ak", "secret_key": "x" * 10, "buckets_ro": ["models"]}], "used twice"),
        ([{"name": "u", "buckets_ro": ["models"]}], "secret_key is required"),
        ([{"name": "u", "secret_key": "x" * 10}], "buckets_rw"),
        ([{"name": "u", "secret_key": "x" * 10, "buckets_ro": "models"}], "must be a list"),
        ([{"name": "u", "secret_key": "x" * 10, "buckets_ro": ["models"], "bucket": "y"}], "unknown keys"),
    ])
    def test_bad_users(self, users, fragment):
        with pytest.raises(S3Error, match=fragment) as info:
            s3_config("ak", "sk", users=users)
        assert "x" * 10 not in str(info.value)
