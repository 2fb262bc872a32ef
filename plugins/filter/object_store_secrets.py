# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)
"""The S3 Secrets the object_store role writes for the stack's consumers."""

DOCUMENTATION = r"""
name: object_store_secrets
short_description: The data of each S3 consumer Secret (mlops-s3) from the consumers' keys
version_added: "1.0.0"
description:
  - Groups the consumers by the Secret each one reads and returns, per Secret name, the contract keys
    C(AWS_ACCESS_KEY_ID), C(AWS_SECRET_ACCESS_KEY), C(AWS_ENDPOINT_URL), C(AWS_DEFAULT_REGION),
    C(S3_USE_HTTPS) and C(S3_VERIFY_SSL).
  - Consumers that share a Secret must have the same keys; a consumer without keys is an error (unless
    O(allow_empty), for check mode, where keys read from Secrets that do not exist yet are empty).
  - No key value appears in an error message.
options:
  _input:
    description: Consumer name -> C({access_key, secret_key}).
    type: dict
    required: true
  consumer_secrets:
    description: Consumer name -> name of the Secret it reads.
    type: dict
    required: true
  endpoint_url:
    description: In-cluster S3 endpoint URL; C(S3_USE_HTTPS) is derived from its scheme.
    type: str
    required: true
  region:
    description: Region clients sign with.
    type: str
    default: us-east-1
  verify_ssl:
    description: Whether clients verify the endpoint's certificate (only with https).
    type: bool
    default: true
  allow_empty:
    description: Accept empty keys (check mode).
    type: bool
    default: false
"""

EXAMPLES = r"""
secrets: >-
  {{ {'mlflow': {'access_key': 'ak', 'secret_key': 'sk'}, 'kserve': {'access_key': 'ak', 'secret_key': 'sk'}}
     | mlops.stack.object_store_secrets({'mlflow': 'mlops-s3', 'kserve': 'mlops-s3'},
                                        endpoint_url='http://minio.mlops.svc:9000') }}
# {'mlops-s3': {'AWS_ACCESS_KEY_ID': 'ak', ..., 'S3_USE_HTTPS': '0', 'S3_VERIFY_SSL': '0'}}
"""

RETURN = r"""
_value:
  description: Secret name -> its string data.
  type: dict
"""

from ansible.errors import AnsibleFilterError


def _truthy(value):
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def object_store_secrets(credentials, consumer_secrets, endpoint_url, region="us-east-1", verify_ssl=True,
                         allow_empty=False):
    if not isinstance(credentials, dict) or not isinstance(consumer_secrets, dict):
        raise AnsibleFilterError("object_store_secrets: consumer credentials and consumer_secrets must be dicts")
    endpoint_url = str(endpoint_url or "").strip()
    if not endpoint_url.startswith(("http://", "https://")):
        raise AnsibleFilterError("object_store_secrets: endpoint_url must be an http(s):// URL, got %r" % endpoint_url)
    https = endpoint_url.startswith("https://")
    common = {"AWS_ENDPOINT_URL": endpoint_url, "AWS_DEFAULT_REGION": str(region or "us-east-1"),
              "S3_USE_HTTPS": "1" if https else "0", "S3_VERIFY_SSL": "1" if https and _truthy(verify_ssl) else "0"}
    out, owner = {}, {}
    for consumer in sorted(consumer_secrets):
        name = consumer_secrets[consumer]
        if not name:
            raise AnsibleFilterError("object_store_secrets: consumer %s has no Secret name" % consumer)
        keys = credentials.get(consumer)
        if not isinstance(keys, dict):
            raise AnsibleFilterError("object_store_secrets: no S3 keys for consumer %s (Secret %s)" % (consumer, name))
        access, secret = str(keys.get("access_key") or ""), str(keys.get("secret_key") or "")
        if not (access and secret) and not _truthy(allow_empty):
            raise AnsibleFilterError("object_store_secrets: consumer %s (Secret %s) has an empty access or secret key"
                                     % (consumer, name))
        data = dict(common, AWS_ACCESS_KEY_ID=access, AWS_SECRET_ACCESS_KEY=secret)
        if name in out and out[name] != data:
            raise AnsibleFilterError("object_store_secrets: consumers %s and %s share Secret %s but not their keys; "
                                     "give each its own Secret" % (owner[name], consumer, name))
        out[name], owner[name] = data, consumer
    return out


class FilterModule(object):
    def filters(self):
        return {"object_store_secrets": object_store_secrets}
