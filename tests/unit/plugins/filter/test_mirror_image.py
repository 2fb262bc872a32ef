import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.stack.plugins.filter.mirror_image import FilterModule


def test_filter_is_registered_and_rewrites():
    f = FilterModule().filters()["mirror_image"]
    assert f("nginx:1.27", "m.corp") == "m.corp/library/nginx:1.27"


def test_filter_wraps_errors_as_ansible_errors():
    f = FilterModule().filters()["mirror_image"]
    with pytest.raises(AnsibleFilterError, match="mirror_image: invalid"):
        f("UPPER:1", "m.corp")
