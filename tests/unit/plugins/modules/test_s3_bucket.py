"""The module file: documentation matches the argument spec."""
import yaml

from ansible_collections.mlops.stack.plugins.modules import s3_bucket


def _doc_options():
    doc = yaml.safe_load(s3_bucket.DOCUMENTATION)
    opts = dict(doc["options"])
    # options documented by the k8s_access doc fragment
    from ansible_collections.mlops.stack.plugins.doc_fragments.k8s_access import ModuleDocFragment
    opts.update(yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"])
    return opts


def test_every_option_documented_with_type_and_aliases():
    spec = s3_bucket.argument_spec()
    docs = _doc_options()
    assert set(spec) == set(docs)
    for name, opt in spec.items():
        assert docs[name]["type"] == opt["type"], name
        assert sorted(docs[name].get("aliases", [])) == sorted(opt.get("aliases", [])), name
        if "default" in opt:
            assert docs[name].get("default") == opt["default"], name


def test_secrets_are_no_log():
    spec = s3_bucket.argument_spec()
    for name in ("access_key", "secret_key", "session_token"):
        assert spec[name]["no_log"] is True


def test_examples_and_return_parse():
    assert yaml.safe_load(s3_bucket.EXAMPLES)
    ret = yaml.safe_load(s3_bucket.RETURN)
    assert {"bucket", "actions"} <= set(ret)
