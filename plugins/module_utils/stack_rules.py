# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""Rules between inventory variables (the preflight's cross-field checks).

``values`` maps variable names to values that already passed their own
checks (:mod:`inventory_rules`); a rule whose inputs are missing (role not
enabled, value rejected earlier) is skipped. Each rule yields
``(variable, problem)`` pairs so the message names what to change.
"""


from ansible.module_utils.compat.version import LooseVersion

from ansible_collections.mlops.stack.plugins.module_utils.s3.consumers import consumer_problems


def _get(values, *names):
    return [values.get(n) for n in names]


def _has(values, *names):
    return all(n in values for n in names)


def _ingress_hosts(values):
    for role in ("mlflow", "minio", "seaweedfs"):
        enabled, host = "%s_ingress_enabled" % role, "%s_ingress_host" % role
        if _has(values, enabled, host) and values[enabled] and not values[host]:
            yield host, "must be set when %s is true (the Ingress needs a host name)" % enabled
    if _has(values, "minio_console_enabled", "minio_ingress_enabled", "minio_console_ingress_host"):
        if values["minio_console_enabled"] and values["minio_ingress_enabled"] and not values["minio_console_ingress_host"]:
            yield "minio_console_ingress_host", "must be set when minio_console_enabled and minio_ingress_enabled are true"


def _mlflow(values):
    if _has(values, "mlflow_artifacts_backend", "mlflow_replicas", "mlflow_artifacts_pvc_access_mode"):
        backend, replicas, mode = _get(values, "mlflow_artifacts_backend", "mlflow_replicas",
                                       "mlflow_artifacts_pvc_access_mode")
        if backend == "pvc" and replicas > 1 and mode != "ReadWriteMany":
            yield ("mlflow_artifacts_pvc_access_mode",
                   "must be ReadWriteMany when mlflow_artifacts_backend=pvc and mlflow_replicas > 1, got %r" % mode)
    for index, exp in enumerate(values.get("mlflow_experiments") or []):
        if not isinstance(exp, dict) or not exp.get("name"):
            yield "mlflow_experiments", "item %d needs a name, got %r" % (index, exp)
    if values.get("mlflow_auth_enabled") and "mlflow_auth_username" in values and not values["mlflow_auth_username"]:
        yield "mlflow_auth_username", "must be set when mlflow_auth_enabled is true"
    password = values.get("mlflow_auth_password")
    if password and len(password) < 12:
        yield "mlflow_auth_password", "must have at least 12 characters (or be empty to generate one)"
    store = values.get("mlops_object_store")
    bucket = values.get("mlflow_artifacts_bucket")
    if values.get("mlflow_artifacts_backend") == "s3" and store == "none":
        yield ("mlflow_artifacts_backend", "must be pvc when mlops_object_store=none (there is no S3 store for "
               "the artifacts)")
    if values.get("mlflow_artifacts_backend") == "s3" and store in ("minio", "seaweedfs", "external") and bucket:
        buckets = values.get("object_store_buckets")
        names = [b.get("name") if isinstance(b, dict) else b for b in buckets or []]
        if buckets is not None and bucket not in names:
            yield ("mlflow_artifacts_bucket",
                   "%r is not one of the buckets the object store creates (object_store_buckets: %s)"
                   % (bucket, ", ".join(map(str, names))))


def _object_store(values):
    versioned, buckets = values.get("object_store_versioned_buckets"), values.get("object_store_buckets")
    if versioned and buckets is not None:
        extra = [b for b in versioned if b not in buckets]
        if extra:
            yield "object_store_versioned_buckets", "must be a subset of object_store_buckets; not there: %s" % (
                ", ".join(map(str, extra)))
    if values.get("mlops_object_store") == "external" and "object_store_external_endpoint_url" in values:
        if not values["object_store_external_endpoint_url"]:
            yield "object_store_external_endpoint_url", "must be set when mlops_object_store=external"
    if _has(values, "object_store_external_access_key", "object_store_external_secret_key"):
        if bool(values["object_store_external_access_key"]) != bool(values["object_store_external_secret_key"]):
            yield ("object_store_external_secret_key",
                   "set both object_store_external_access_key and object_store_external_secret_key, or neither")
    store = values.get("mlops_object_store")
    consumers = values.get("object_store_consumers")
    if consumers is not None and store in ("minio", "seaweedfs", "external"):
        # The buckets the bootstrap creates must include every consumer's (without it they are the operator's).
        created = buckets if values.get("object_store_bootstrap_enabled", True) else None
        for problem in consumer_problems(consumers, buckets=created, secret_required=True):
            yield "object_store_consumers", problem
    if values.get("seaweedfs_users") is not None and store == "seaweedfs":
        for problem in consumer_problems(values["seaweedfs_users"], variable="seaweedfs_users"):
            yield "seaweedfs_users", problem
    for key, minimum in (("minio_root_user", 3), ("minio_root_password", 8), ("seaweedfs_access_key", 3),
                         ("seaweedfs_secret_key", 8)):
        secret = values.get(key)
        if secret and len(secret) < minimum:
            yield key, "must have at least %d characters (or be empty to generate one)" % minimum


# Variables that moved to another role: old name -> new name. The preflight
# refuses the old name, so a setting never silently stops working.
RENAMED = dict(
    [("minio_external_%s" % k, "object_store_external_%s" % k)
     for k in ("endpoint_url", "access_key", "secret_key", "credentials_secret", "access_key_key",
               "secret_key_key", "verify_ssl")]
    + [("%s_bootstrap_%s" % (r, k), "object_store_bootstrap_%s" % k)
       for r in ("minio", "seaweedfs") for k in ("enabled", "endpoint_url", "access_key", "secret_key",
                                                 "validate_certs")]
    + [("%s_%s" % (r, k), "object_store_%s" % k)
       for r in ("minio", "seaweedfs") for k in ("buckets", "versioned_buckets", "s3_secret_name")]
    + [("minio_external_region", "object_store_region"), ("seaweedfs_region", "object_store_region"),
       ("minio_mode", "mlops_object_store"), ("minio_bootstrap_service", "object_store_server_name")])


def renamed(names):
    """(old variable, problem) for each variable of ``names`` that was renamed."""
    for old in sorted(set(names) & set(RENAMED)):
        new = RENAMED[old]
        hint = (" (minio_mode: external is now mlops_object_store: external)" if old == "minio_mode" else
                "; the object store contract (mlops-s3 Secret, buckets) moved from the minio/seaweedfs roles to "
                "the object_store role")
        yield old, "is no longer read: rename it to %s%s" % (new, hint)


def _postgresql(values):
    if values.get("postgresql_mode") == "external":
        if "postgresql_external_host" in values and not values["postgresql_external_host"]:
            yield ("postgresql_external_host",
                   "must be set when postgresql_mode=external (or set postgresql_external_cnpg_cluster)")
        if _has(values, "postgresql_external_admin_secret", "postgresql_bootstrap_admin_password") and \
                not values["postgresql_external_admin_secret"] and not values["postgresql_bootstrap_admin_password"]:
            yield ("postgresql_external_admin_secret",
                   "must be set when postgresql_mode=external (or give postgresql_bootstrap_admin_user/password)")
    for index, ext in enumerate(values.get("postgresql_extensions") or []):
        if not isinstance(ext, str) or not ext.replace("_", "a").isalnum() or not ext[:1].isalpha() \
                or ext != ext.lower():
            yield "postgresql_extensions", "item %d must be an extension name (lowercase, letters, digits, _), got %r" % (
                index, ext)


def _otel(values):
    version = values.get("otel_collector_mlflow_version")
    if version is not None:
        try:
            too_old = LooseVersion(str(version)) < LooseVersion("3.6.0")
        except TypeError:
            too_old = True
        if too_old:
            yield "otel_collector_mlflow_version", "must be an MLflow version >= 3.6 (/v1/traces), got %r" % (version,)
        elif values.get("otel_collector_compression") == "gzip" and LooseVersion(str(version)) < LooseVersion("3.7.0"):
            yield "otel_collector_compression", "gzip needs otel_collector_mlflow_version >= 3.7, got %r" % (version,)


def _certmanager(values):
    if values.get("certmanager_acme_enabled") and "certmanager_acme_email" in values \
            and not values["certmanager_acme_email"]:
        yield "certmanager_acme_email", "must be set when certmanager_acme_enabled is true"
    if values.get("certmanager_acme_enabled") and values.get("certmanager_acme_exposure") == "none":
        yield ("certmanager_acme_exposure", "cannot be none when certmanager_acme_enabled is true: the HTTP-01 "
               "challenge must be reachable (use gateway or ingress)")
    if values.get("certmanager_acme_enabled") and values.get("certmanager_acme_exposure") == "ingress" \
            and "certmanager_acme_ingress_class" in values and not values["certmanager_acme_ingress_class"]:
        yield "certmanager_acme_ingress_class", "must name an IngressClass for the HTTP-01 solver"


def exposed_roles(values):
    """Roles that publish a component outside the cluster with these values."""
    roles = [role for role in ("mlflow", "minio", "seaweedfs") if values.get("%s_ingress_enabled" % role)]
    if values.get("kserve_deployment_mode") in ("Standard", "RawDeployment"):
        roles.append("kserve")
    return roles


def route_namespaces(values):
    """Namespaces whose HTTPRoutes (or Ingresses) the exposed roles create."""
    names = {"mlflow": "mlflow_namespace", "minio": "minio_namespace", "seaweedfs": "seaweedfs_namespace",
             "kserve": "kserve_serving_namespace"}
    return sorted(set(values[names[r]] for r in exposed_roles(values) if values.get(names[r])))


def _stack(values):
    if values.get("mlops_tls_enabled") and "mlops_cluster_issuer" in values and not values["mlops_cluster_issuer"]:
        yield "mlops_cluster_issuer", "must be set when mlops_tls_enabled is true"
    exposure = values.get("mlops_exposure")
    exposed = exposed_roles(values)
    if exposure == "ingress" and exposed and not values.get("mlops_ingress_class"):
        yield ("mlops_ingress_class", "must name your IngressClass when mlops_exposure is ingress (%s exposed; "
               "kubectl get ingressclass lists them); ingress-nginx is retired, so there is no default"
               % ", ".join(exposed))
    if exposure == "gateway" and values.get("mlops_gateway_create") and not values.get("mlops_gateway_class"):
        yield "mlops_gateway_class", "must name a GatewayClass when mlops_gateway_create is true (kubectl get gatewayclass)"
    if exposure == "gateway" and "mlops_gateway_name" in values and not values["mlops_gateway_name"]:
        yield "mlops_gateway_name", "must name the Gateway the routes attach to when mlops_exposure is gateway"


def _network_policies(values):
    for role in ("minio", "mlflow", "seaweedfs"):
        enabled, peers = "%s_network_policy_enabled" % role, "%s_network_policy_from" % role
        if _has(values, enabled, peers) and values[enabled] and values[peers] == []:
            yield peers, ("must not be empty: an empty `from` in a NetworkPolicy admits every peer, not none. List "
                          "the peers ([{namespaceSelector: {}}] for every namespace) or set %s: false" % enabled)


RULES = (_ingress_hosts, _mlflow, _network_policies, _object_store, _postgresql, _otel, _certmanager, _stack)


def cross_field(values, names=()):
    """Every (variable, problem) pair the rules find; ``names``: the variables the inventory sets."""
    found = list(renamed(names))
    for rule in RULES:
        found.extend(rule(values))
    return found


def exposure_warnings(values):
    """Settings that work but publish more than a user may expect."""
    found = []
    if values.get("mlops_exposure") in ("gateway", "ingress") and values.get("mlflow_ingress_enabled") \
            and values.get("mlflow_auth_enabled") is False:
        found.append("MLflow is published at %s (mlops_exposure=%s) without authentication: anyone who reaches it "
                     "can read and change experiments, models and artifacts. Set mlflow_auth_enabled=true, put an "
                     "authenticating proxy in front, or mlflow_ingress_enabled=false / mlops_exposure=none"
                     % (values.get("mlflow_ingress_host") or "its host", values.get("mlops_exposure")))
    return found
