"""module_utils/model_deploy.resolve_model against a real MLflow server with
basic auth: versions, aliases and the errors a user sees for each mistake."""
import pytest

from ansible_collections.mlops.stack.plugins.module_utils.mlflow import MlflowApi, MlflowError
from ansible_collections.mlops.stack.plugins.module_utils.model_deploy import ModelDeployError, resolve_model

pytestmark = [pytest.mark.integration]

MODEL = "registry-resolve"


@pytest.fixture(scope="module")
def registered(mlflow_auth_server):
    srv = mlflow_auth_server
    status, body = srv.api("POST", "registered-models/create", {"name": MODEL})
    assert status == 200, body
    for n in (1, 2):
        status, body = srv.api("POST", "model-versions/create",
                               {"name": MODEL, "source": "s3://models/%s/%d" % (MODEL, n), "run_id": ""})
        assert status == 200, body
    status, body = srv.api("POST", "registered-models/alias", {"name": MODEL, "alias": "champion", "version": "2"})
    assert status == 200, body
    return srv


def _api(srv, password=None):
    return MlflowApi(srv.tracking_uri, srv.username, password or srv.password)


def test_version_and_alias_resolve_to_the_storage_location(registered):
    api = _api(registered)
    assert resolve_model(api, MODEL, version="1") == {
        "version": "1", "status": "READY", "run_id": "", "artifact_uri": "s3://models/%s/1" % MODEL}
    assert resolve_model(api, MODEL, alias="champion")["artifact_uri"] == "s3://models/%s/2" % MODEL


@pytest.mark.parametrize("kw,match", [
    ({"alias": "nope"}, "has no alias 'nope'.*set_registered_model_alias"),
    ({"version": "9"}, "has no version 9"),
])
def test_missing_alias_or_version_names_the_fix(registered, kw, match):
    with pytest.raises(ModelDeployError, match=match):
        resolve_model(_api(registered), MODEL, **kw)


@pytest.mark.parametrize("kw", [{"alias": "champion"}, {"version": "1"}])
def test_missing_model(registered, kw):
    with pytest.raises(ModelDeployError, match="'no-such-model' has no"):
        resolve_model(_api(registered), "no-such-model", **kw)


def test_wrong_password_is_an_authentication_error(registered):
    with pytest.raises(MlflowError, match="authentication failed"):
        resolve_model(_api(registered, password="wrong"), MODEL, version="1")
