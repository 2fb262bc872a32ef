# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
name: postgresql_conf
short_description: Render a dict of settings as C(postgresql.conf) lines
version_added: 0.1.0
author: mlops.stack contributors
description:
  - One C(name = value) line per setting, sorted by name. Numbers and booleans are written bare,
    strings are single-quoted with quotes escaped, so values such as C(256MB) or C(*) are safe.
  - Setting names must be lower-case identifiers (C([a-z_.]+)); anything else fails.
options:
  _input:
    description: Settings.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Tuning ConfigMap content
  ansible.builtin.debug:
    msg: "{{ {'max_connections': 200, 'shared_buffers': '256MB'} | mlops.stack.postgresql_conf }}"
"""

RETURN = r"""
_value:
  description: The configuration text, ending with a newline.
  type: string
"""

import re

from ansible.errors import AnsibleFilterError

_NAME = re.compile(r"^[a-z_][a-z0-9_.]*$")


def _value(value):
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return str(value)
    return "'%s'" % str(value).replace("\\", "\\\\").replace("'", "''")


def postgresql_conf(settings):
    if not isinstance(settings, dict):
        raise AnsibleFilterError("postgresql_conf: expected a dict of settings, got %r" % type(settings).__name__)
    lines = []
    for name in sorted(settings):
        if not _NAME.match(str(name)):
            raise AnsibleFilterError("postgresql_conf: invalid setting name %r" % (name,))
        value = settings[name]
        if value is None:
            continue
        if "\n" in str(value):
            raise AnsibleFilterError("postgresql_conf: value of %s contains a newline" % name)
        lines.append("%s = %s" % (name, _value(value)))
    return "\n".join(lines) + "\n"


class FilterModule(object):
    def filters(self):
        return {"postgresql_conf": postgresql_conf}
