# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Checks of inventory values, used by the preflight before any write.

Two layers, both pure (no Ansible, no cluster) so they are unit tested:

* :func:`check_option` checks one value against its argument-spec entry
  (type, elements, choices), strictly: a list where a string is expected is
  an inventory mistake even if Ansible could stringify it.
* :func:`format_of` maps a variable name to a value format (Kubernetes
  name, quantity, image reference, bucket name, ...). Argument specs have no
  field for this (ansible-lint's schema forbids extra keys), so the format
  follows from the naming conventions of ``docs/CONVENTIONS.md``; the
  preflight test proves that every variable a format applies to is checked.

Each check returns a list of problem strings (empty when the value is fine).
"""


import re

from ansible_collections.mlops.stack.plugins.module_utils.image import ImageRefError, parse_image

_BOOL_STRINGS = {"yes": True, "on": True, "true": True, "1": True, "y": True,
                 "no": False, "off": False, "false": False, "0": False, "n": False}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
_QUANTITY = re.compile(r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*$")
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$")
_MEMLIMIT = re.compile(r"^[0-9]+(B|KiB|MiB|GiB|TiB)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LABEL_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                         r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")


# --------------------------------------------------------------------------- types

def _as_int(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.match(r"^\s*[+-]?[0-9]+\s*$", value):
        return int(value)
    return None


def _as_bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOL_STRINGS:
        return _BOOL_STRINGS[value.strip().lower()]
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return None


def convert(value, type_name):
    """(converted value, problem or None) for an argument-spec type."""
    if value is None or type_name in (None, "raw"):
        return value, None
    if type_name in ("str", "path"):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return value, "must be a string, not %s" % _kind(value)
        return str(value), None
    if type_name == "int":
        number = _as_int(value)
        return (number, None) if number is not None else (value, "must be an integer")
    if type_name == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value), None
        try:
            return float(value), None
        except (TypeError, ValueError):
            return value, "must be a number"
    if type_name == "bool":
        flag = _as_bool(value)
        return (flag, None) if flag is not None else (value, "must be a boolean (true/false)")
    if type_name == "list":
        return (value, None) if isinstance(value, list) else (value, "must be a list, not %s" % _kind(value))
    if type_name == "dict":
        return (value, None) if isinstance(value, dict) else (value, "must be a mapping, not %s" % _kind(value))
    return value, None


def _kind(value):
    if isinstance(value, bool):
        return "boolean %r" % value
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "%r" % (value,)


def check_option(value, option):
    """Problems of one value against its argument-spec entry; (value, problems)."""
    value, problem = convert(value, option.get("type", "str"))
    if problem:
        return value, [problem]
    problems = []
    if option.get("required") and value in (None, "", [], {}):
        problems.append("is required")
    if isinstance(value, list) and option.get("elements"):
        value = list(value)
        for index, item in enumerate(value):
            sub = dict(option, type=option["elements"])
            sub.pop("elements", None)
            sub.pop("required", None)
            item_value, item_problems = check_option(item, sub)
            problems.extend("item %d %s" % (index, p) for p in item_problems)
            if not item_problems:
                value[index] = item_value
        return value, problems
    choices = option.get("choices")
    if choices and value is not None and not isinstance(value, list):
        normalized = [str(c) for c in choices]
        if str(value) not in normalized:
            problems.append("must be one of %s" % ", ".join(repr(c) for c in choices))
    return value, problems


# --------------------------------------------------------------------------- formats

def _regex_check(pattern, rule):
    def check(value):
        if not isinstance(value, str) or not pattern.match(value):
            return ["must be %s" % rule]
        return []
    return check


def _int_at_least(minimum, rule):
    def check(value):
        number = _as_int(value)
        if number is None or number < minimum:
            return ["must be %s" % rule]
        return []
    return check


def _image(value):
    try:
        parse_image(value)
    except ImageRefError as exc:
        return ["must be an image reference like registry/name:tag (%s)" % exc]
    return []


def _quantity(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return []
    return _regex_check(_QUANTITY, "a Kubernetes quantity such as 10Gi, 500m or 2")(value)


def _resources(value):
    if not isinstance(value, dict):
        return ["must be a mapping with requests/limits"]
    problems = []
    for section, amounts in value.items():
        if section not in ("requests", "limits", "claims"):
            problems.append("has unknown key %r (allowed: requests, limits)" % section)
        elif section != "claims":
            if not isinstance(amounts, dict):
                problems.append("%s must be a mapping of resource -> quantity" % section)
                continue
            for resource, amount in amounts.items():
                problems.extend("%s.%s %s" % (section, resource, p) for p in _quantity(amount))
    return problems


def _buckets(value):
    if not isinstance(value, list):
        return ["must be a list of bucket names"]
    problems = []
    for index, item in enumerate(value):
        name = item.get("name") if isinstance(item, dict) else item
        problems.extend("item %d %s" % (index, p) for p in _BUCKET_CHECK(name))
    return problems


def _labels(value):
    if not isinstance(value, dict):
        return ["must be a mapping of label -> value"]
    problems = []
    for key, val in value.items():
        if not isinstance(key, str) or not _LABEL_NAME.match(key):
            problems.append("has an invalid label key %r" % (key,))
        if not isinstance(val, str) or not _LABEL_VALUE.match(val):
            problems.append("has an invalid label value %r for %s (<= 63 characters: alphanumerics, '-', '_', '.')"
                            % (val, key))
    return problems


_BUCKET_CHECK = _regex_check(_BUCKET, "an S3 bucket name (3-63 characters: lowercase letters, digits, '.', '-')")

FORMATS = {
    "dns_label": _regex_check(_DNS_LABEL, "a DNS-1123 label (lowercase alphanumerics and '-', <= 63 characters)"),
    "dns_1035": _regex_check(_DNS_1035, "a DNS-1035 label (lowercase, starts with a letter, <= 63 characters)"),
    "dns_subdomain": _regex_check(_DNS_SUBDOMAIN, "a DNS-1123 subdomain (lowercase alphanumerics, '-', '.')"),
    "hostname": _regex_check(_HOSTNAME, "a DNS host name (lowercase, no scheme or port)"),
    "image": _image,
    "registry": _regex_check(_REGISTRY, "a registry like host[:port][/prefix] (no scheme)"),
    "quantity": _quantity,
    "resources": _resources,
    "bucket": _BUCKET_CHECK,
    "buckets": _buckets,
    "url": _regex_check(_URL, "an http(s):// URL"),
    "duration": _regex_check(_DURATION, "a duration such as 90s, 30m or 2160h"),
    "memlimit": _regex_check(_MEMLIMIT, "a Go memory limit such as 400MiB"),
    "email": _regex_check(_EMAIL, "an e-mail address"),
    "labels": _labels,
    "replicas": _int_at_least(1, "an integer >= 1"),
    "positive": _int_at_least(1, "an integer >= 1"),
    "non_negative": _int_at_least(0, "an integer >= 0"),
    "uid": _int_at_least(1, "a non-root user id (integer >= 1)"),
    "port": lambda v: (_int_at_least(1, "a port (1-65535)")(v)
                       or ([] if _as_int(v) <= 65535 else ["must be a port (1-65535)"])),
    "digits": _regex_check(re.compile(r"^[0-9]+$"), "a numeric MLflow experiment id"),
}

# Suffix -> format, first match wins (longer, more specific suffixes first).
_SUFFIX_FORMATS = (
    ("_image_registry", "registry"),
    ("_image_pull_policy", None),
    ("_image_keep_domain", None),
    ("_image", "image"),
    ("_namespace", "dns_label"),
    ("_storage_size", "quantity"),
    ("_pvc_size", "quantity"),
    ("_resources", "resources"),
    ("_replicas", "replicas"),
    ("_workers", "positive"),
    ("_port", "port"),
    ("_versioned_buckets", "buckets"),
    ("_buckets", "buckets"),
    ("_bucket", "bucket"),
    ("_ingress_host", "hostname"),
    ("_domain", "hostname"),
    ("_secret_name", "dns_subdomain"),
    ("_credentials_secret", "dns_subdomain"),
    ("_admin_secret", "dns_subdomain"),
    ("_auth_secret", "dns_subdomain"),
    ("_service_account", "dns_subdomain"),
    ("_cnpg_cluster", "dns_label"),
    ("_cluster_issuer", "dns_subdomain"),
    ("_issuer_name", "dns_subdomain"),
    ("_runtime_class", "dns_subdomain"),
    ("_priority_class_name", "dns_subdomain"),
    ("_ingress_class", "dns_subdomain"),
    ("_storage_class", "dns_subdomain"),
    ("_runtime_name", "dns_subdomain"),
    ("_example_name", "dns_1035"),
    ("_llama_stack_name", "dns_subdomain"),
    ("_llama_stack_container", "dns_label"),
    ("_default_gpu_count", "positive"),
    ("_gpu_count", "non_negative"),
    ("_run_as_user", "uid"),
    ("_manifest_url", "url"),
    ("_endpoint_url", "url"),
    ("_tracking_uri", "url"),
    ("_mlflow_url", "url"),
    ("_acme_server", "url"),
    ("_node_labels", "labels"),
    ("_node_selector", "labels"),
    ("_ca_duration", "duration"),
    ("_export_timeout", "duration"),
    ("_gomemlimit", "memlimit"),
    ("_acme_email", "email"),
    ("_experiment_id", "digits"),
    ("_size_limit_mb", "positive"),
    ("_msg_size_mib", "positive"),
)

# The workload name of a component role (<role>_name) names its Service.
_SERVICE_NAME_ROLES = ("minio", "seaweedfs", "postgresql", "mlflow", "otel_collector")


def format_of(name, option=None):
    """The value format of variable ``name`` (a key of :data:`FORMATS`) or None."""
    option = option or {}
    if option.get("type") in ("bool", "float", "raw"):
        return None
    if name in ["%s_name" % r for r in _SERVICE_NAME_ROLES]:
        return "dns_1035"
    if name.endswith("_timeout") and option.get("type") == "int":
        return "positive"
    for suffix, fmt in _SUFFIX_FORMATS:
        if name.endswith(suffix):
            return fmt
    return None


def check_value(name, value, option, optional=False):
    """Every problem of one variable: its spec, then its format."""
    value, problems = check_option(value, option)
    if problems:
        return value, problems
    fmt = format_of(name, option)
    if fmt is None or value is None:
        return value, []
    if optional:
        return value, []
    return value, FORMATS[fmt](value)
