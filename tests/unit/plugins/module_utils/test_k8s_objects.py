"""Unit tests for plugins/module_utils/k8s/objects.py: object comparison and field-manager change detection."""
from ansible_collections.mlops.stack.plugins.module_utils.k8s.objects import apply_changed, strip_volatile


def test_apply_changed_logic():
    mf = [{"manager": "mlops-stack", "operation": "Apply", "time": "t1", "fieldsV1": {"f:data": {}}}]
    before = {"resourceVersion": "1", "managedFields": mf}
    assert apply_changed(None, before, "mlops-stack")
    assert not apply_changed(before, dict(before), "mlops-stack")
    # someone else bumped the object, our entry did not move
    assert not apply_changed(before, {"resourceVersion": "2", "managedFields": mf}, "mlops-stack")
    moved = [dict(mf[0], time="t2")]
    assert apply_changed(before, {"resourceVersion": "2", "managedFields": moved}, "mlops-stack")


def test_strip_volatile():
    obj = {"kind": "X", "status": {"a": 1}, "metadata": {"name": "n", "resourceVersion": "5", "managedFields": [],
                                                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}}}
    assert strip_volatile(obj) == {"kind": "X", "metadata": {"name": "n"}}
