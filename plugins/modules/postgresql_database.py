#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r'''
---
module: postgresql_database
short_description: Create a PostgreSQL database with its owner role, grants and extensions
version_added: 0.1.0
description:
  - Creates or drops a PostgreSQL database and, in the same task, an optional login role that
    owns it or is granted privileges on it, and the extensions the application needs.
  - Uses psycopg 3 directly. Every change is planned from read-only queries first, so check mode
    reports exactly the statements a real run would execute and changes nothing.
  - Encoding and locale are only used when the database is created. PostgreSQL cannot change
    them in place, so a task that asks for different values on an existing database fails
    with a message that says so, and nothing is changed.
  - Works with a login user that is not a superuser and has neither C(CREATEDB) nor
    C(CREATEROLE), such as the application user of a CloudNativePG cluster (its C(-rw)
    Service). When the database and role are already as requested the task reports no change;
    when a change needs a privilege the login user lacks, the task fails naming the privilege.
  - Settings that are not given are not managed. Extensions, privileges and roles that are not
    listed are left alone (nothing is revoked or dropped except by O(state=absent)).
  - Names (database, role, owner, schema, extensions, template) must be plain identifiers
    (letters, digits, V(_), V($) and V(-), starting with a letter or V(_), at most 63 bytes);
    anything else is refused before connecting.
author:
  - mlops.stack contributors (@mlops-stack)
requirements:
  - psycopg >= 3.1 (C(pip install 'psycopg[binary]'))
extends_documentation_fragment:
  - mlops.stack.k8s_access
attributes:
  check_mode:
    support: full
    description: Runs only read-only queries and returns the statements a real run would execute.
  diff_mode:
    support: full
    description: Shows the database (owner, encoding, locales, connection limit, extensions) and
      the role's login flag and privileges before and after.
  action_group:
    support: full
    description: Use C(group/mlops.stack.bootstrap) in C(module_defaults) to set the connection options once.
    membership:
      - mlops.stack.bootstrap
options:
  name:
    description: Name of the database.
    type: str
    required: true
    aliases: [db]
  state:
    description:
      - V(present) creates the database (and role) when missing and applies the settings.
      - V(absent) drops the database. The role is kept (it may own objects elsewhere).
        A database with active connections, or holding tables, is only dropped with O(force=true).
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - With O(state=absent), drop the database even when it holds tables, and
        terminate its sessions (C(DROP DATABASE ... WITH (FORCE)), PostgreSQL 13 or later).
    type: bool
    default: false
  owner:
    description:
      - Role that owns the database. It must exist, or be O(role.name).
      - Defaults to O(role.name) when O(role) is given; otherwise the owner is not managed
        (a new database is owned by O(login_user)).
    type: str
  encoding:
    description:
      - Character encoding, for example V(UTF8). Only used on creation; a different value on an
        existing database fails.
      - Defaults to the template's encoding.
    type: str
  lc_collate:
    description: Collation order (C(LC_COLLATE)), for example V(C.UTF-8). Creation only, like O(encoding).
    type: str
  lc_ctype:
    description: Character classification (C(LC_CTYPE)). Creation only, like O(encoding).
    type: str
  template:
    description:
      - Template database to create from. V(template0) (the default) allows any encoding and locale.
    type: str
    default: template0
  conn_limit:
    description:
      - Maximum number of concurrent connections; V(-1) means no limit. Not managed when omitted
        (a new database then has no limit).
    type: int
  extensions:
    description:
      - Extensions to create in the database (C(CREATE EXTENSION IF NOT EXISTS)), for example
        V(uuid-ossp), V(pg_stat_statements), V(vector).
      - An extension the server does not have (not in C(pg_available_extensions)) fails the task
        before anything is changed, naming the extension.
      - Untrusted extensions need a superuser login; trusted ones (such as V(uuid-ossp)) only
        C(CREATE) on the database.
    type: list
    elements: str
    default: []
  role:
    description:
      - A role to create (if missing) and grant privileges on the database to. It also becomes the
        owner unless O(owner) is set.
    type: dict
    suboptions:
      name:
        description: Role name.
        type: str
        required: true
      password:
        description:
          - Password of the role. Sent to the server as a SCRAM-SHA-256 verifier, never in clear
            text. Not managed when omitted.
          - The current password is compared without changing it (against the stored verifier
            as a superuser, else by logging in as the role), so an unchanged password does not
            report a change.
        type: str
      update_password:
        description:
          - V(always) sets the password when it differs; V(on_create) only sets it when the role is
            created.
          - V(owned) sets it when it differs only on roles this module created (it marks them with
            C(COMMENT ON ROLE ... IS 'created by mlops.stack')); for any other existing role a differing
            password fails the task and nothing is changed, so the password of someone else's role (a
            CloudNativePG application user, say) is never changed.
        type: str
        choices: [always, on_create, owned]
        default: always
      login:
        description: Whether the role may log in.
        type: bool
        default: true
      database_privileges:
        description:
          - Privileges to grant on the database, from V(CONNECT), V(CREATE), V(TEMPORARY) or V(ALL).
          - Missing privileges are granted; others are never revoked.
        type: list
        elements: str
        default: [ALL]
      schema:
        description: Schema in the database for O(role.schema_privileges).
        type: str
        default: public
      schema_privileges:
        description:
          - Privileges to grant on O(role.schema), from V(USAGE), V(CREATE) or V(ALL).
            An empty list grants nothing.
        type: list
        elements: str
        default: [USAGE, CREATE]
  login_host:
    description:
      - Host of the PostgreSQL server (name, IP, or a directory holding its Unix socket).
      - Replaced by 127.0.0.1 and a local port when O(kubernetes_service) is set.
    type: str
    default: localhost
    aliases: [host]
  login_port:
    description: Port of the PostgreSQL server.
    type: int
    default: 5432
    aliases: [port]
  login_user:
    description: Role to log in as.
    type: str
    default: postgres
    aliases: [login]
  login_password:
    description: Password of O(login_user).
    type: str
  login_db:
    description:
      - Database to connect to for the server-wide statements.
      - A CloudNativePG application user may set it to its own database.
    type: str
    default: postgres
  ssl_mode:
    description: libpq C(sslmode).
    type: str
    choices: [allow, disable, prefer, require, verify-ca, verify-full]
    default: prefer
  ca_cert:
    description: CA certificate file to verify the server with (C(sslrootcert)).
    type: path
    aliases: [ssl_rootcert]
  connect_timeout:
    description: Seconds to wait for a connection.
    type: int
    default: 10
notes:
  - Privileges are checked with C(has_database_privilege)/C(has_schema_privilege), so privileges a
    role has through ownership or membership (for example C(pg_database_owner) on the C(public)
    schema) count as granted.
seealso:
  - module: community.postgresql.postgresql_db
  - module: mlops.stack.mlflow_experiment
'''

EXAMPLES = r'''
- name: Create the MLflow database with its own login role
  mlops.stack.postgresql_database:
    login_host: 127.0.0.1
    login_password: "{{ postgres_superuser_password }}"
    name: mlflow
    encoding: UTF8
    lc_collate: C.UTF-8
    lc_ctype: C.UTF-8
    conn_limit: 50
    extensions: [uuid-ossp, pg_stat_statements]
    role:
      name: mlflow
      password: "{{ mlflow_db_password }}"
  no_log: false

- name: Check the app database of a CloudNativePG cluster as its app user (no superuser)
  mlops.stack.postgresql_database:
    login_host: mlflow-db-rw.mlops.svc
    login_user: app
    login_password: "{{ cnpg_app_password }}"
    login_db: app
    name: app
    owner: app
    kubernetes_service:
      name: mlflow-db-rw
      namespace: mlops

- name: Drop a scratch database even if clients are connected
  mlops.stack.postgresql_database:
    login_password: "{{ postgres_superuser_password }}"
    name: scratch
    state: absent
    force: true
'''

RETURN = r'''
database:
  description: The database after the task (what it would be, in check mode); empty when absent.
  returned: always
  type: dict
  sample:
    name: mlflow
    owner: mlflow
    encoding: UTF8
    lc_collate: C.UTF-8
    lc_ctype: C.UTF-8
    conn_limit: 50
    extensions: [pg_stat_statements, plpgsql, uuid-ossp]
role:
  description: The managed role.
  returned: when O(role) is given and O(state=present)
  type: dict
  sample: {name: mlflow, login: true, created: false, password_changed: false}
queries:
  description: Statements executed (or, in check mode, that would be). Passwords are masked.
  returned: always
  type: list
  elements: str
  sample: ['CREATE DATABASE "mlflow" OWNER "mlflow" TEMPLATE "template0"']
actions:
  description: One-line summaries of the changes made (or that would be made).
  returned: always
  type: list
  elements: str
  sample: [create database mlflow]
missing_privileges:
  description:
    - The planned changes that O(login_user) may not make, judged from its attributes and ownership (no
      C(CREATEDB), no C(CREATEROLE), not a member of the database owner's role), each naming the privilege
      it needs. Read before any change, so a check-mode run can refuse a plan that a real run would only
      half apply. Extensions and grants through a grant option are not judged.
  returned: when O(state=present)
  type: list
  elements: str
  sample: [create database mlflow (needs CREATEDB)]
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mlops.stack.plugins.module_utils.check_mode import server_pending
from ansible_collections.mlops.stack.plugins.module_utils.k8s.port_forward import K8S_SERVICE_ARGUMENT_SPEC, service_endpoint
from ansible_collections.mlops.stack.plugins.module_utils.postgres.client import (
    HAS_PSYCOPG, POSTGRES_CONNECTION_ARGUMENT_SPEC, PSYCOPG_IMPORT_ERROR, PgClient)
from ansible_collections.mlops.stack.plugins.module_utils.postgres.errors import PgError
from ansible_collections.mlops.stack.plugins.module_utils.postgres.operations import (
    ensure_database, plan_on_new_server)
from ansible_collections.mlops.stack.plugins.module_utils.postgres.plan import desired_from_params

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover
    from urlparse import urlsplit  # type: ignore


def argument_spec():
    """The module's options (secrets, login_password and role.password, are no_log)."""
    spec = dict(
        name=dict(type="str", required=True, aliases=["db"]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        force=dict(type="bool", default=False),
        owner=dict(type="str"),
        encoding=dict(type="str"),
        lc_collate=dict(type="str"),
        lc_ctype=dict(type="str"),
        template=dict(type="str", default="template0"),
        conn_limit=dict(type="int"),
        extensions=dict(type="list", elements="str", default=[]),
        role=dict(type="dict", options=dict(
            name=dict(type="str", required=True),
            password=dict(type="str", no_log=True),
            update_password=dict(type="str", default="always", choices=["always", "on_create", "owned"],
                                 no_log=False),
            login=dict(type="bool", default=True),
            database_privileges=dict(type="list", elements="str", default=["ALL"]),
            schema=dict(type="str", default="public"),
            schema_privileges=dict(type="list", elements="str", default=["USAGE", "CREATE"]),
        )),
    )
    spec.update(POSTGRES_CONNECTION_ARGUMENT_SPEC)
    spec.update(K8S_SERVICE_ARGUMENT_SPEC)
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg (3)"), exception=PSYCOPG_IMPORT_ERROR)
    p = module.params
    try:
        desired = desired_from_params(p)
    except PgError as exc:
        module.fail_json(msg=str(exc))

    direct = "postgresql://%s:%d" % (p["login_host"], p["login_port"])
    pending = server_pending(module)
    if pending:
        # Check mode before the server exists: plan against a new, empty one.
        module.warn("%s Planned against a new, empty PostgreSQL server." % pending)
        result = plan_on_new_server(desired, p["login_user"])
        if not module._diff:
            result.pop("diff", None)
        module.exit_json(**result)
    with service_endpoint(module, direct) as url:
        host, port = p["login_host"], p["login_port"]
        if url != direct:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        client = PgClient(host, port, p["login_user"], p["login_password"], p["login_db"],
                          p["ssl_mode"], p["ca_cert"], p["connect_timeout"])
        try:
            result = ensure_database(client, desired, check_mode=module.check_mode)
        except PgError as exc:
            module.fail_json(msg=str(exc), queries=list(client.executed))
        finally:
            client.close()
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
