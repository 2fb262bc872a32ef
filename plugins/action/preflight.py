# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""mlops.stack.preflight: check the whole inventory, then the cluster
(read-only), before any play writes anything. See plugins/modules/preflight.py."""


import glob
import hashlib
import json
import os
import time

from ansible.errors import AnsibleError, AnsibleFilterError
from ansible.plugins.action import ActionBase

from ansible_collections.mlops.stack.plugins.filter.gpu_scheduling import gpu_inventory

from ansible_collections.mlops.stack.plugins.module_utils import cluster_checks
from ansible_collections.mlops.stack.plugins.module_utils.inventory_rules import check_value
from ansible_collections.mlops.stack.plugins.module_utils.schema_check import marker_path
from ansible_collections.mlops.stack.plugins.module_utils.stack_rules import (
    cross_field, exposure_warnings, route_namespaces)

COLLECTION_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STACK_SPEC = os.path.join("playbooks", "vars", "stack_argument_spec.yml")
# What a role's objects are built from, besides the variables.
OBJECT_SOURCES = ("roles/*/templates/*", "roles/*/tasks/manifests.yml", "roles/*/tasks/scheduling.yml",
                  "roles/*/tasks/validate.yml", "roles/*/vars/main.yml", "roles/*/defaults/main.yml",
                  "plugins/filter/*.py", "plugins/module_utils/schema_check.py")
DEFAULT_CACHE_DIR = "~/.cache/mlops-stack/preflight"
GPU_HOST_VARS = ("gpu_count", "gpu_product", "gpu_node_labels", "gpu_node_taints")
DEFAULT_KUBERNETES_VERSION = "1.36"
SECRET_WORDS = ("password", "secret_key", "access_key", "token")
# The role variable that lets a role label an existing namespace.
MANAGED_NAMESPACES = {
    "minio": ("minio_namespace", "minio_manage_namespace"),
    "seaweedfs": ("seaweedfs_namespace", "seaweedfs_manage_namespace"),
    "postgresql": ("postgresql_namespace", "postgresql_manage_namespace"),
    "mlflow": ("mlflow_namespace", "mlflow_manage_namespace"),
    "object_store": ("object_store_namespace", "object_store_manage_namespace"),
}


def _empty(value):
    """None, "", [], {} and 0 (how defaults say "not set")."""
    if isinstance(value, bool):
        return False
    return value is None or value == 0 or (hasattr(value, "__len__") and len(value) == 0)


def _shown(name, value):
    if any(word in name for word in SECRET_WORDS):
        return "(hidden)"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("roles", "cluster", "kubeconfig", "context", "gpu_group", "cache_dir"))

    def _load(self, *parts):
        path = os.path.join(COLLECTION_ROOT, *parts)
        if not os.path.exists(path):
            return {}
        return self._loader.load_from_file(path, trusted_as_template=True) or {}

    def _specs(self, roles):
        """[(owner, options, raw defaults)]: the stack-wide spec, then each role's."""
        stack = (self._load(STACK_SPEC).get("argument_specs") or {}).get("main", {}).get("options") or {}
        out = [("stack", stack, {k: v.get("default") for k, v in stack.items()})]
        for role in roles:
            spec = self._load("roles", role, "meta", "argument_specs.yml").get("argument_specs") or {}
            if not spec:
                raise AnsibleError("role %s has no meta/argument_specs.yml under %s" % (role, COLLECTION_ROOT))
            out.append((role, spec["main"].get("options") or {}, self._load("roles", role, "defaults", "main.yml")))
        return out

    def _check_variables(self, specs, task_vars):
        variables = {}
        for _owner, _options, defaults in specs:
            variables.update(defaults)
        variables.update(task_vars)
        templar = self._templar.copy_with_new_env(available_variables=variables)
        # An empty value is fine where the role's own default is empty.
        defaults_templar = self._templar.copy_with_new_env(
            available_variables=dict((k, v) for _o, _s, d in specs for k, v in d.items()))
        values, problems = {}, []
        for owner, options, defaults in specs:
            for name, option in options.items():
                if name not in variables:
                    if option.get("required"):
                        problems.append({"variable": name, "role": owner, "problem": "is required"})
                    continue
                try:
                    value = templar.template(variables[name])
                except AnsibleError as exc:
                    problems.append({"variable": name, "role": owner,
                                     "problem": "cannot be evaluated: %s" % str(exc).splitlines()[0]})
                    continue
                optional = _empty(value) and self._empty_default(defaults_templar, defaults, name)
                value, found = check_value(name, value, option, optional=optional)
                if found:
                    # A default built from other variables (minio_namespace from
                    # mlops_namespace) is fixed where it comes from.
                    hint = "" if name in task_vars else " (this is the role default, built from other variables)"
                    problems.extend({"variable": name, "role": owner, "value": _shown(name, value), "problem": p + hint}
                                    for p in found)
                else:
                    values[name] = value
        return values, problems

    @staticmethod
    def _empty_default(templar, defaults, name):
        try:
            return _empty(templar.template(defaults.get(name)))
        except AnsibleError:
            return False

    @staticmethod
    def _check_gpu_group(group, task_vars, values):
        hosts = list((task_vars.get("groups") or {}).get(group) or [])
        try:
            gpu_inventory(hosts, task_vars.get("hostvars") or {}, default_count=values.get("gpu_serving_default_gpu_count", 1))
        except AnsibleFilterError as exc:
            return hosts, [{"variable": "inventory group %s" % group, "role": "gpu_serving", "problem": str(exc)}]
        return hosts, []

    @staticmethod
    def _objects_key(roles, values, gpu_hosts, task_vars, kubernetes_version):
        """Digest of everything the roles' objects are built from, so that a
        run with the same inputs as a validated one skips building them."""
        digest = hashlib.sha256()
        hostvars = task_vars.get("hostvars") or {}
        gpu = dict((h, dict((k, (hostvars[h] if h in hostvars else {}).get(k)) for k in GPU_HOST_VARS))
                   for h in gpu_hosts)
        digest.update(json.dumps([roles, values, gpu, kubernetes_version], sort_keys=True, default=str).encode())
        for pattern in OBJECT_SOURCES:
            for path in sorted(glob.glob(os.path.join(COLLECTION_ROOT, pattern))):
                with open(path, "rb") as fh:
                    digest.update(path[len(COLLECTION_ROOT):].encode() + b"\0" + fh.read())
        return digest.hexdigest()[:32]

    def _check_cluster(self, args, roles, values, gpu_hosts):
        params = {"kubeconfig": args.get("kubeconfig") or None, "context": args.get("context") or None}
        try:
            client, version = cluster_checks.connect(params)
        except cluster_checks.ClusterUnavailable as exc:
            return [str(exc)], []
        self._server_version = "%s.%s" % (version.get("major", ""), version.get("minor", "").rstrip("+"))
        try:
            found = cluster_checks.version_problems(version)
            found += cluster_checks.gpu_node_problems(client, values.get("gpu_serving_node_group"), gpu_hosts)
            found += cluster_checks.crd_problems(client, roles)
            found += cluster_checks.issuer_problems(client, roles, values.get("mlops_cluster_issuer"),
                                                    values.get("mlops_tls_enabled"))
            if values.get("mlops_exposure") == "gateway":
                found += cluster_checks.gateway_problems(
                    client, {"name": values.get("mlops_gateway_name"),
                             "namespace": values.get("mlops_gateway_namespace") or values.get("mlops_namespace"),
                             "section_name": values.get("mlops_gateway_section_name")},
                    route_namespaces(values), create="gateway" in roles, gateway_class=values.get("mlops_gateway_class"))
            managed = dict((values[ns], role) for role, (ns, flag) in MANAGED_NAMESPACES.items()
                           if role in roles and values.get(flag) and ns in values)
            self._foreign, warnings = cluster_checks.foreign_namespaces(client, managed,
                                                                        values.get("mlops_adopt_namespaces"))
            return found, warnings
        except (cluster_checks.ApiError, cluster_checks.K8sConnectionError) as exc:
            return ["reading the cluster failed (%s): %s" % (cluster_checks.where(params), exc)], []
        finally:
            client.close()

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        started = time.monotonic()
        task_vars = task_vars or {}
        args = self._task.args
        roles = list(args.get("roles") or [])
        specs = self._specs(roles)
        values, problems = self._check_variables(specs, task_vars)
        problems.extend({"variable": var, "role": "cross-field",
                         "value": _shown(var, values[var] if var in values else task_vars.get(var, "")),
                         "problem": text} for var, text in cross_field(values, task_vars))
        gpu_hosts = []
        if "gpu_serving" in roles:
            group = args.get("gpu_group") or values.get("gpu_serving_node_group") or "gpu_inference_nodes"
            gpu_hosts, found = self._check_gpu_group(group, task_vars, values)
            problems.extend(found)
        warnings = []
        if args.get("cluster", True):
            found, warnings = self._check_cluster(args, roles, values, gpu_hosts)
            problems = [{"variable": "cluster", "role": "cluster", "problem": text} for text in found] + problems
        result["checked_roles"] = roles
        result["kubernetes_version"] = getattr(self, "_server_version", None) or DEFAULT_KUBERNETES_VERSION
        result["objects_key"] = self._objects_key(roles, values, gpu_hosts, task_vars, result["kubernetes_version"])
        result["objects_valid"] = os.path.exists(marker_path(args.get("cache_dir") or DEFAULT_CACHE_DIR,
                                                             result["objects_key"]))
        # The collector's experiment comes from MLflow later in the run; its
        # objects are checked with the inventory's id or a placeholder.
        result["otel_experiment_id"] = str(values.get("otel_collector_experiment_id") or "0")
        result["preflight_seconds"] = round(time.monotonic() - started, 3)
        warnings = warnings + exposure_warnings(values)
        if warnings:
            result["warnings"] = warnings
        if problems:
            lines = ["%s%s: %s%s" % (p["variable"], "=" + p["value"] if "value" in p else "", p["problem"],
                                     "" if p["role"] in ("stack", "cross-field", "cluster") else " (role %s)" % p["role"])
                     for p in problems]
            result.update(failed=True, problems=problems, msg=(
                "Preflight found %d problem(s); nothing was changed in the cluster. Fix each one (inventory "
                "variables: group_vars, host_vars or -e) and run again:\n- %s" % (len(lines), "\n- ".join(lines))))
            return result
        # The roles leave out the Namespace object of these (templates). A
        # plain result, set as a variable by preflight.yml: returned as
        # ansible_facts, every template that reads it warned that top-level
        # facts are deprecated (INJECT_FACTS_AS_VARS).
        result["foreign_namespaces"] = getattr(self, "_foreign", [])
        result["msg"] = "inventory and cluster look fine (%d roles checked)" % len(roles)
        return result
