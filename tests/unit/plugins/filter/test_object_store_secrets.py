"""The consumers' S3 Secrets of the object_store role (plugins/filter/object_store_secrets.py)."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.stack.plugins.filter.object_store_secrets import object_store_secrets

KEYS = {"access_key": "ak", "secret_key": "sk-secret"}
SHARED = {"mlflow": "mlops-s3", "kserve": "mlops-s3"}
CONTRACT = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "S3_USE_HTTPS",
            "S3_VERIFY_SSL"}


def test_consumers_sharing_a_secret_get_one_secret_with_the_contract_keys():
    out = object_store_secrets({"mlflow": KEYS, "kserve": KEYS}, SHARED, endpoint_url="http://minio.mlops.svc:9000")
    assert list(out) == ["mlops-s3"]
    assert set(out["mlops-s3"]) == CONTRACT
    assert out["mlops-s3"] == {"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "sk-secret",
                               "AWS_ENDPOINT_URL": "http://minio.mlops.svc:9000", "AWS_DEFAULT_REGION": "us-east-1",
                               "S3_USE_HTTPS": "0", "S3_VERIFY_SSL": "0"}


@pytest.mark.parametrize("url,verify,https,verify_out", [
    ("https://s3.example.com", True, "1", "1"),
    ("https://s3.example.com", False, "1", "0"),
    ("https://s3.example.com", "False", "1", "0"),
    ("http://s3.example.com", True, "0", "0"),
])
def test_tls_flags_follow_the_endpoint(url, verify, https, verify_out):
    data = object_store_secrets({"mlflow": KEYS}, {"mlflow": "s3"}, endpoint_url=url, region="eu-central-1",
                                verify_ssl=verify)["s3"]
    assert (data["S3_USE_HTTPS"], data["S3_VERIFY_SSL"], data["AWS_DEFAULT_REGION"]) == (https, verify_out,
                                                                                         "eu-central-1")


def test_each_consumer_may_have_its_own_secret_and_keys():
    other = {"access_key": "ro", "secret_key": "ro-secret"}
    out = object_store_secrets({"mlflow": KEYS, "kserve": other}, {"mlflow": "mlops-s3", "kserve": "mlops-s3-ro"},
                               endpoint_url="http://seaweedfs.mlops.svc:8333")
    assert out["mlops-s3"]["AWS_ACCESS_KEY_ID"] == "ak" and out["mlops-s3-ro"]["AWS_ACCESS_KEY_ID"] == "ro"


def test_a_shared_secret_needs_the_same_keys_and_never_shows_them():
    with pytest.raises(AnsibleFilterError) as err:
        object_store_secrets({"mlflow": KEYS, "kserve": {"access_key": "ro", "secret_key": "other-secret"}}, SHARED,
                             endpoint_url="http://minio:9000")
    assert "share Secret mlops-s3" in str(err.value)
    assert "sk-secret" not in str(err.value) and "other-secret" not in str(err.value)


@pytest.mark.parametrize("creds,message", [
    ({"mlflow": KEYS}, "no S3 keys for consumer kserve"),
    ({"mlflow": KEYS, "kserve": {"access_key": "", "secret_key": ""}}, "empty access or secret key"),
])
def test_missing_keys_fail_naming_the_consumer(creds, message):
    with pytest.raises(AnsibleFilterError, match=message):
        object_store_secrets(creds, SHARED, endpoint_url="http://minio:9000")


def test_check_mode_accepts_keys_not_known_yet():
    empty = {"access_key": "", "secret_key": ""}
    out = object_store_secrets({"mlflow": empty, "kserve": empty}, SHARED, endpoint_url="http://minio:9000",
                               allow_empty=True)
    assert out["mlops-s3"]["AWS_ACCESS_KEY_ID"] == ""


@pytest.mark.parametrize("url", ["", "s3.example.com", None])
def test_the_endpoint_must_be_a_url(url):
    with pytest.raises(AnsibleFilterError, match="endpoint_url"):
        object_store_secrets({"mlflow": KEYS}, {"mlflow": "s3"}, endpoint_url=url)
