"""The consumers table of the object store and SeaweedFS's users: checked before any
write (s3_consumer_problems), rendered into the identity file from the roles'
mapping form (seaweedfs_s3_config users={...}), and read back for the consumers
(seaweedfs_user_keys). The seaweedfs role's default follows object_store's."""
import json
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.stack.plugins.filter.s3_consumer_problems import s3_consumer_problems
from ansible_collections.mlops.stack.plugins.filter.seaweedfs_s3_config import seaweedfs_s3_config
from ansible_collections.mlops.stack.plugins.filter.seaweedfs_user_keys import seaweedfs_user_keys

ROOT = Path(__file__).resolve().parents[4]
CONSUMERS = {
    "mlflow": {"secret": "mlops-s3", "buckets_rw": ["mlflow-artifacts"], "buckets_ro": []},
    "kserve": {"secret": "mlops-s3-kserve", "buckets_rw": [], "buckets_ro": ["mlflow-artifacts", "models"]},
}
KEYS = {"mlflow": {"access_key": "mlflowkey0123", "secret_key": "m" * 40},
        "kserve": {"access_key": "kservekey0123", "secret_key": "k" * 40}}


def test_valid_table_has_no_problems():
    assert s3_consumer_problems(CONSUMERS, buckets=["mlflow-artifacts", "models"], secret_required=True) == []
    # seaweedfs_users: no secret needed, buckets not checked.
    assert s3_consumer_problems({"mlflow": {"buckets_rw": ["x-bucket"]}}, variable="seaweedfs_users") == []


@pytest.mark.parametrize("table, kwargs, expected", [
    ([], {}, "object_store_consumers must be a mapping"),
    ({"MLflow": {"buckets_rw": ["abc"]}}, {}, "object_store_consumers.MLflow: the name must be"),
    ({"mlflow": ["abc"]}, {}, "expected a mapping with buckets_rw/buckets_ro, got list"),
    ({"mlflow": {"buckets_rw": ["abc"], "bucket_ro": ["x"]}}, {}, "unknown keys bucket_ro"),
    ({"mlflow": {"buckets_rw": ["abc"]}}, {"secret_required": True}, "secret (the Secret the consumer reads) is required"),
    ({"mlflow": {"buckets_rw": ["abc"], "secret": "Bad_Name"}}, {}, "is not a valid Secret name"),
    ({"mlflow": {"buckets_rw": "abc"}}, {}, "object_store_consumers.mlflow.buckets_rw must be a list"),
    ({"mlflow": {"buckets_ro": ["Not_A_Bucket"]}}, {}, "'Not_A_Bucket' is not a bucket name"),
    ({"mlflow": {"buckets_rw": [], "buckets_ro": []}}, {}, "grants no bucket"),
    ({"mlflow": {"buckets_rw": ["abc", "missing-one"]}}, {"buckets": ["abc"]},
     "bucket missing-one is not in object_store_buckets"),
])
def test_problems_name_the_entry(table, kwargs, expected):
    problems = s3_consumer_problems(table, **kwargs)
    assert any(expected in p for p in problems), problems


def test_identity_file_from_the_mapping_and_back():
    text = seaweedfs_s3_config("adminkey", "adminsecret", users=CONSUMERS, user_keys=KEYS)
    doc = json.loads(text)
    by_name = {i["name"]: i for i in doc["identities"]}
    assert sorted(by_name) == ["kserve", "mlflow", "mlops"]
    assert by_name["mlflow"]["credentials"] == [{"accessKey": "mlflowkey0123", "secretKey": "m" * 40}]
    assert sorted(by_name["kserve"]["actions"]) == ["List:mlflow-artifacts", "List:models",
                                                    "Read:mlflow-artifacts", "Read:models"]
    # Stable: the same input renders the same text (the pod's checksum annotation).
    assert text == seaweedfs_s3_config("adminkey", "adminsecret", users=dict(reversed(list(CONSUMERS.items()))),
                                       user_keys=KEYS)
    assert seaweedfs_user_keys(text, ["mlflow", "kserve"]) == KEYS
    assert seaweedfs_user_keys(doc, ["kserve"]) == {"kserve": KEYS["kserve"]}


def test_mapping_without_keys_or_with_typos_is_refused():
    with pytest.raises(AnsibleFilterError, match="user kserve: no keys given"):
        seaweedfs_s3_config("a", "b", users=CONSUMERS, user_keys={"mlflow": KEYS["mlflow"]})
    with pytest.raises(AnsibleFilterError, match="unknown keys buckets"):
        seaweedfs_s3_config("a", "b", users={"x": {"buckets": ["abc"]}}, user_keys={"x": KEYS["mlflow"]})
    with pytest.raises(AnsibleFilterError, match="users must be a list or a dict"):
        seaweedfs_s3_config("a", "b", users="mlflow")


def test_missing_user_names_the_user_never_a_key():
    only_mlflow = [dict(name="mlflow", buckets_rw=["abc"], **KEYS["mlflow"])]
    text = seaweedfs_s3_config("adminkey", "adminsecret", users=only_mlflow)
    with pytest.raises(AnsibleFilterError) as err:
        seaweedfs_user_keys(text, ["mlflow", "kserve"])
    assert "has no user kserve" in str(err.value)
    assert "adminsecret" not in str(err.value) and "m" * 40 not in str(err.value)
    with pytest.raises(AnsibleFilterError, match="not JSON"):
        seaweedfs_user_keys("{", ["mlflow"])


def _seaweedfs_users_fallback():
    """The literal the seaweedfs role falls back to when object_store_consumers is not set."""
    defaults = yaml.safe_load((ROOT / "roles/seaweedfs/defaults/main.yml").read_text())
    expr = defaults["seaweedfs_users"]
    inner = expr[expr.index("default(") + len("default("):expr.rindex(")")]
    return inner


def test_seaweedfs_default_users_follow_object_store_consumers():
    """Both defaults are the same table (the seaweedfs role cannot see object_store's default)."""
    from jinja2 import Environment
    object_store = yaml.safe_load((ROOT / "roles/object_store/defaults/main.yml").read_text())
    env = Environment()
    render = {"object_store_secret_name": "mlops-s3"}
    consumers = {name: {k: [env.from_string(b).render(render) for b in v] if isinstance(v, list)
                        else env.from_string(v).render(render)
                        for k, v in entry.items()}
                 for name, entry in object_store["object_store_consumers"].items()}
    fallback = env.compile_expression(_seaweedfs_users_fallback())()
    assert fallback == {name: {k: v for k, v in entry.items() if k != "secret"} for name, entry in consumers.items()}
    # And the argument spec documents that default.
    spec = yaml.safe_load((ROOT / "roles/seaweedfs/meta/argument_specs.yml").read_text())
    assert spec["argument_specs"]["main"]["options"]["seaweedfs_users"]["default"] == fallback
