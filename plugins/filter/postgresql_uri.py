# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
name: postgresql_uri
short_description: Build a C(postgresql://) connection URI with proper escaping
version_added: 0.1.0
author: mlops.stack contributors
description:
  - Percent-encodes the user name, password and database name so any generated or user-supplied
    password yields a valid URI (SQLAlchemy and libpq accept the result).
options:
  _input:
    description: User name.
    type: string
    required: true
  password:
    description: Password.
    type: string
    required: true
  host:
    description: Host name.
    type: string
    required: true
  port:
    description: Port.
    type: integer
    default: 5432
  dbname:
    description: Database name.
    type: string
    required: true
  scheme:
    description: URI scheme, for example C(postgresql+psycopg2).
    type: string
    default: postgresql
  params:
    description: Query parameters, for example C(sslmode) set to C(require).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: URI for the mlops-postgresql-mlflow Secret
  ansible.builtin.set_fact:
    uri: "{{ 'mlflow' | mlops.stack.postgresql_uri(pw, 'postgresql.mlops.svc', 5432, 'mlflow') }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: The URI.
  type: string
"""

from ansible.errors import AnsibleFilterError

try:
    from urllib.parse import quote, urlencode
except ImportError:  # pragma: no cover
    from urllib import quote, urlencode  # type: ignore


def postgresql_uri(user, password, host, port=5432, dbname="", scheme="postgresql", params=None):
    if not user or not host or not dbname:
        raise AnsibleFilterError("postgresql_uri: user, host and dbname are required")
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise AnsibleFilterError("postgresql_uri: port must be an integer, got %r" % (port,))
    host_part = "[%s]" % host if ":" in str(host) and not str(host).startswith("[") else host
    uri = "%s://%s:%s@%s:%d/%s" % (scheme, quote(str(user), safe=""), quote(str(password or ""), safe=""),
                                   host_part, port, quote(str(dbname), safe=""))
    if params:
        uri += "?" + urlencode(sorted((str(k), str(v)) for k, v in params.items()))
    return uri


class FilterModule(object):
    def filters(self):
        return {"postgresql_uri": postgresql_uri}
