import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.stack.plugins.filter.s3_bucket_specs import s3_bucket_specs


def test_names_become_entries_with_versioning():
    assert s3_bucket_specs(["mlflow", "models"], ["models"]) == [
        {"name": "mlflow"}, {"name": "models", "versioning": True}]


def test_dict_entries_are_kept():
    entry = {"name": "logs", "versioning": False, "tags": {"a": "b"}}
    out = s3_bucket_specs([entry], ["logs"])
    assert out == [entry] and out[0] is not entry


@pytest.mark.parametrize("bad", ["", None, 3])
def test_bad_names(bad):
    with pytest.raises(AnsibleFilterError):
        s3_bucket_specs([bad])
