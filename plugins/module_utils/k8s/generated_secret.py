# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""``mlops.stack.k8s_generated_secret``: read the Secret, plan which keys to
generate or update (``k8s.secret.plan_secret``), write, and build a result
that never carries a value unless ``return_values`` asks (then the action
plugin hides it)."""


from ansible_collections.mlops.stack.plugins.module_utils.k8s.client import describe_config
from ansible_collections.mlops.stack.plugins.module_utils.k8s.secret import (
    MIN_LENGTH,
    SecretClient,
    api_client_from_params,
    masked_state,
    normalize_generate,
    plan_secret,
)


def ensure(p, check_mode=False, diff=False):
    """The module's work; the result dict (raises SecretError)."""
    name, namespace = p["name"], p["namespace"]
    namespace_created = False
    generate = normalize_generate(p["generate"], p["length"], p["charset"])
    client = SecretClient(api_client_from_params(p), describe_config(p))
    existing = client.read(name, namespace)
    plan = plan_secret(existing, generate, p["values"], p["labels"], p["annotations"])
    if plan["changed"] and not check_mode:
        if plan["create"]:
            namespace_created = client.create(name, namespace, plan["data"], plan["all_labels"],
                                              plan["all_annotations"], p["type"], p["create_namespace"])
        else:
            client.patch(name, namespace, existing["resource_version"], plan["patch_data"],
                         plan["labels"], plan["annotations"])

    changes = plan["changes"]
    result = dict(
        changed=plan["changed"],
        secret=dict(name=name, namespace=namespace, keys=sorted(plan["data"])),
        generated_keys=sorted(k for k, v in changes.items() if v == "generated"),
        updated_keys=sorted(k for k, v in changes.items() if v in ("added", "updated")),
        namespace_created=namespace_created,
    )
    if diff:
        before = {}
        if existing is not None:
            before = masked_state(name, namespace, existing["data"], existing["labels"], existing["annotations"])
        after = masked_state(name, namespace, plan["data"], plan["all_labels"], plan["all_annotations"], changes)
        result["diff"] = dict(before=before, after=after)
    if p["return_values"]:
        result["secret_data"] = dict(sorted(plan["data"].items()))
    # The result never contains a value unless return_values is set (and the
    # action plugin then hides the result), so the generic no_log filter,
    # which would also mask innocuous strings such as a database name given
    # in values, is replaced by a masked invocation (see kept_no_log_values).
    masked_params = dict(p)
    masked_params["values"] = dict((k, "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER") for k in p["values"] or {})
    if masked_params.get("api_key"):
        masked_params["api_key"] = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    result["invocation"] = dict(module_args=masked_params)
    return result


def kept_no_log_values(params, no_log_values, failed=False):
    """The no_log strings to scrub from the result.

    A successful result never shows a value: RV(secret_data) comes only with
    return_values, and then the action plugin hides the whole result from
    callbacks. Masking the strings given in values would instead mangle
    innocuous text such as a database name, or every "0" in an address, so
    they are kept. A failure message never contains a value either; as a
    safety net it is scrubbed of the given values long enough to be
    credentials (short ones such as "0" or "5432" would make it unreadable).
    """
    given = set(str(v) for v in (params.get("values") or {}).values())
    keep = set(v for v in given if not failed or len(v) < MIN_LENGTH)
    return set(no_log_values) - keep


def secret_result(result):
    """Whether a result carries secret values (then the action hides it)."""
    return "secret_data" in result
