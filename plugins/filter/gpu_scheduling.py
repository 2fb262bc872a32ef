# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


# The nine gpu_* filters live in this file; each one is documented in the
# YAML file of its own name beside it (gpu_inventory.yml, gpu_tolerations.yml,
# ...), the ansible-core convention for files with several filters: the
# sidecar files are read only when this file has no DOCUMENTATION.

import re

from ansible.errors import AnsibleFilterError

GPU_RESOURCE = "nvidia.com/gpu"
PRODUCT_LABEL = "nvidia.com/gpu.product"
DEFAULT_ROLE_LABELS = {"workload-type": "inference"}
DEFAULT_TAINT = {"key": GPU_RESOURCE, "effect": "NoSchedule"}
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _positive_int(value, what):
    if isinstance(value, bool):
        raise AnsibleFilterError("%s must be a positive integer, got %r" % (what, value))
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise AnsibleFilterError("%s must be a positive integer, got %r" % (what, value))
    if number < 1:
        raise AnsibleFilterError("%s must be a positive integer, got %r" % (what, value))
    return number


def _label_value(value, what):
    if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
        raise AnsibleFilterError("%s must be a Kubernetes label value (<= 63 chars, alphanumerics, '-', '_', '.'), "
                                 "got %r" % (what, value))
    return value


def _taint(taint, what):
    if not isinstance(taint, dict) or not taint.get("key"):
        raise AnsibleFilterError("%s: a taint needs at least 'key', got %r" % (what, taint))
    effect = taint.get("effect", "NoSchedule")
    if effect not in _EFFECTS:
        raise AnsibleFilterError("%s: taint effect must be one of %s, got %r" % (what, ", ".join(_EFFECTS), effect))
    out = {"key": str(taint["key"]), "effect": effect}
    if taint.get("value") not in (None, ""):
        out["value"] = str(taint["value"])
    return out


def gpu_inventory(hosts, hostvars, default_count=1, role_labels=None, taint=None):
    """Validated records of the GPU inference nodes of an inventory group."""
    if hosts is None:
        hosts = []
    if isinstance(hosts, str) or not hasattr(hosts, "__iter__"):
        raise AnsibleFilterError("gpu_inventory expects a list of host names, got %r" % (hosts,))
    role_labels = DEFAULT_ROLE_LABELS if role_labels is None else role_labels
    taint = DEFAULT_TAINT if taint is None else taint
    records = []
    seen = set()
    for host in hosts:
        name = str(host)
        if name in seen:
            continue
        seen.add(name)
        hv = hostvars[name] if name in hostvars else {}
        count = hv.get("gpu_count", default_count)
        count = _positive_int(count, "gpu_count of GPU node %s" % name)
        product = hv.get("gpu_product")
        if product is not None and product != "":
            product = _label_value(product, "gpu_product of GPU node %s" % name)
        else:
            product = None
        labels = dict((k, _label_value(str(v), "label %s of GPU node %s" % (k, name)))
                      for k, v in (role_labels or {}).items())
        extra = hv.get("gpu_node_labels") or {}
        if not isinstance(extra, dict):
            raise AnsibleFilterError("gpu_node_labels of GPU node %s must be a dict, got %r" % (name, extra))
        for k, v in extra.items():
            labels[str(k)] = _label_value(str(v), "label %s of GPU node %s" % (k, name))
        if product:
            labels.setdefault(PRODUCT_LABEL, product)
        taints = [_taint(taint, "GPU node %s" % name)] if taint else []
        for t in hv.get("gpu_node_taints") or []:
            taints.append(_taint(t, "gpu_node_taints of GPU node %s" % name))
        records.append({"name": name, "gpu_product": product, "gpu_count": count,
                        "labels": labels, "taints": taints})
    return records


def gpu_node_labels(nodes):
    """Labels every GPU node has in common (what a nodeSelector may use)."""
    nodes = list(nodes or [])
    if not nodes:
        return {}
    common = dict(nodes[0].get("labels") or {})
    for node in nodes[1:]:
        labels = node.get("labels") or {}
        common = dict((k, v) for k, v in common.items() if labels.get(k) == v)
    return common


def gpu_node_selector(nodes, product=None):
    """nodeSelector for a GPU predictor: the role labels shared by all nodes,
    plus the GPU product when one is requested."""
    selector = dict((k, v) for k, v in gpu_node_labels(nodes).items() if k != PRODUCT_LABEL)
    if product:
        products = set(n.get("gpu_product") for n in nodes or [])
        if product not in products:
            raise AnsibleFilterError("no GPU inference node has gpu_product %r (known: %s)"
                                     % (product, ", ".join(sorted(p for p in products if p)) or "none"))
        selector[PRODUCT_LABEL] = product
    return selector


def gpu_node_taints(nodes):
    """Distinct taints set on the GPU nodes."""
    out = []
    for node in nodes or []:
        for taint in node.get("taints") or []:
            if taint not in out:
                out.append(taint)
    return out


def gpu_tolerations(nodes_or_taints):
    """Tolerations that match the GPU nodes' taints (or a list of taints)."""
    items = list(nodes_or_taints or [])
    taints = gpu_node_taints(items) if items and "name" in items[0] else items
    tolerations = []
    for taint in taints:
        tol = {"key": taint["key"], "effect": taint.get("effect", "NoSchedule")}
        if taint.get("value") not in (None, ""):
            tol.update(operator="Equal", value=taint["value"])
        else:
            tol["operator"] = "Exists"
        if tol not in tolerations:
            tolerations.append(tol)
    return tolerations


def gpu_node_affinity(nodes, min_count=1, pin_hostnames=False):
    """Required node affinity to the inventory's GPU nodes with at least
    *min_count* GPUs: by GPU product label when that selects exactly those
    nodes, else by node name (``matchFields metadata.name``)."""
    min_count = _positive_int(min_count, "requested GPU count")
    fitting = [n for n in nodes or [] if n.get("gpu_count", 0) >= min_count]
    if not fitting:
        raise AnsibleFilterError("no GPU inference node has %d or more GPUs (counts: %s)"
                                 % (min_count, ", ".join("%s=%s" % (n.get("name"), n.get("gpu_count"))
                                                         for n in nodes or []) or "no nodes"))
    products = set(n.get("gpu_product") for n in fitting)
    others = set(n.get("gpu_product") for n in nodes or [] if n not in fitting)
    if not pin_hostnames and None not in products and not products & others:
        term = {"matchExpressions": [{"key": PRODUCT_LABEL, "operator": "In", "values": sorted(products)}]}
    else:
        # Node names from the inventory are exact: match metadata.name, not
        # the kubernetes.io/hostname label (which may differ on clouds).
        term = {"matchFields": [{"key": "metadata.name", "operator": "In",
                                 "values": sorted(n["name"] for n in fitting)}]}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [term]}}}


def gpu_resources(gpu_count=1, requests=None, limits=None):
    """Container resources with ``nvidia.com/gpu`` in the limits (and
    requests: extended resources must have requests == limits)."""
    count = _positive_int(gpu_count, "GPU count")
    req = dict(requests or {})
    lim = dict(limits or {})
    lim[GPU_RESOURCE] = str(count)
    req[GPU_RESOURCE] = str(count)
    return {"requests": req, "limits": lim}


def gpu_pod_scheduling(nodes, gpu_count=1, product=None, runtime_class="", requests=None, limits=None,
                       affinity=True):
    """Everything a GPU predictor pod spec needs, as one dict."""
    nodes = list(nodes or [])
    if not nodes:
        raise AnsibleFilterError("no GPU inference nodes: add Kubernetes node names to the inventory group "
                                 "(gpu_inference_nodes)")
    out = {
        "nodeSelector": gpu_node_selector(nodes, product),
        "tolerations": gpu_tolerations(nodes),
        "resources": gpu_resources(gpu_count, requests, limits),
    }
    if affinity:
        out["affinity"] = gpu_node_affinity(nodes, gpu_count)
    if runtime_class:
        out["runtimeClassName"] = runtime_class
    return out


def gpu_merge_taints(existing, wanted):
    """A node's taint list with *wanted* taints added or updated (matched by
    key + effect); other taints are kept in place."""
    result = [dict(t) for t in existing or []]
    for taint in wanted or []:
        taint = _taint(taint, "wanted taint")
        for idx, cur in enumerate(result):
            if cur.get("key") == taint["key"] and cur.get("effect") == taint["effect"]:
                merged = {k: v for k, v in cur.items() if k not in ("value",)}
                merged.update(taint)
                result[idx] = merged
                break
        else:
            result.append(taint)
    return result


class FilterModule(object):
    def filters(self):
        return {
            "gpu_inventory": gpu_inventory,
            "gpu_node_labels": gpu_node_labels,
            "gpu_node_selector": gpu_node_selector,
            "gpu_node_taints": gpu_node_taints,
            "gpu_tolerations": gpu_tolerations,
            "gpu_node_affinity": gpu_node_affinity,
            "gpu_resources": gpu_resources,
            "gpu_pod_scheduling": gpu_pod_scheduling,
            "gpu_merge_taints": gpu_merge_taints,
        }
