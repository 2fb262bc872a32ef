"""The brown-field install (issue #15): MLflow goes into a namespace that
already runs a CloudNativePG-style database and a LLaMA Stack server, on a new
database of that existing PostgreSQL, and must not harm any of it.

Setup, before the stack exists:

- a namespace with Pod Security labels (``enforce=restricted``) running a
  LLaMA-Stack-like Deployment (its env holds an API key of its own), a
  ConfigMap and a NetworkPolicy of its owner;
- a real PostgreSQL on 127.0.0.1 (its own server: every role on it is
  "pre-existing") holding other databases with rows and other roles, among
  them the CloudNativePG-style application user ``app`` (no CREATEDB, no
  CREATEROLE), the Secret ``pg-app`` as CloudNativePG writes it (type
  basic-auth; username, password, host, port, dbname, uri, ...) and the
  Service ``pg-rw``.

The install uses the CloudNativePG mode (``postgresql_external_cnpg_cluster:
pg``) and runs the storage, tracking and observability phases (serving needs
its controllers, covered by tests/k8s/test_serving_roles.py). Pods never run on
kwok, so the bootstrap reaches the local server through
``postgresql_bootstrap_host``/``_port``; its login still comes from ``pg-app``.

Proved:

1. a first install without the database is refused by the preflight, naming
   the missing privilege and the recipe, with no write to the API server
   (audit log) and none to PostgreSQL;
2. after the recipe (what a CloudNativePG ``Database`` resource does:
   ``CREATE DATABASE ... OWNER app``) the install works with the app user as
   the owner, MLflow reads username/password from ``pg-app`` (secretKeyRef)
   and the stack's connection Secret holds no password; MLflow's migration,
   run as the pod would with those env values, creates its tables as ``app``;
3. no pre-existing object changed (object diff ignoring status,
   resourceVersion and managedFields) except the documented OTLP env of the
   LLaMA Stack Deployment (and its rollout); other databases' rows, every
   database's owner and every role's password verifier
   (``pg_authid.rolpassword``) are byte-identical, and no role was created;
4. a second run of every phase is changed=0;
5. no secret value (the app password, the other app's API key, generated
   passwords) appears in the ``-vvv`` output;
6. after a CloudNativePG password rotation (new password in ``pg-app``) a
   re-run copies and changes nothing but rolls MLflow's pods (they read the
   password from ``pg-app`` when they start);
7. ``playbooks/teardown.yml`` leaves every pre-existing object and every CRD
   in place;
8. the other documented path, an admin Secret with CREATEDB
   (``postgresql_external_admin_secret``), creates the database owned by the
   app user, still without creating or changing any role.
"""
import base64
import copy
import json
import os
import secrets
import subprocess
import sys
import uuid

import pytest

from tests.helpers import require
from tests.k8s.llama_stack import llama_stack_deployment
from tests.k8s.site_env import ROOT, site_inventory
from tests.playbook import run_playbook
from tests.servers.mlflow import find_mlflow
from tests.servers.postgres import find_pg_bindir, start_postgres

pytestmark = [pytest.mark.k8s, pytest.mark.slow, pytest.mark.xdist_group("k8s")]

PLAYBOOKS = ROOT / "playbooks"
PHASES = ["storage.yml", "tracking.yml", "observability.yml"]
CNPG = "pg"
DATABASE = "mlflow"
APP_PASSWORD = "app-" + secrets.token_urlsafe(24)
REPORTING_PASSWORD = "rep-" + secrets.token_urlsafe(24)
LLAMA_KEY = "sk-llama-" + uuid.uuid4().hex
#: The env the observability phase documents for LLaMA Stack (roles/otel_collector).
OTEL_ENV = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SERVICE_NAME", "TELEMETRY_SINKS"}
#: Kinds whose objects follow from others' activity, not from anyone's spec.
VOLATILE = {"events", "events.events.k8s.io", "leases.coordination.k8s.io", "endpoints",
            "endpointslices.discovery.k8s.io"}


# -- the brown field -------------------------------------------------------

def _llama_stack(ns):
    return llama_stack_deployment(ns, [
        {"name": "INFERENCE_MODEL", "value": "llama3.2:3b"},
        {"name": "LLAMA_API_KEY", "value": LLAMA_KEY},
        {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "%s-app" % CNPG, "key": "password"}}}])


def _cnpg_objects(ns, password, port):
    """The Secret and Service a CloudNativePG Cluster named `pg` has (no operator: the data only)."""
    host = "%s-rw.%s" % (CNPG, ns)
    data = {"username": "app", "password": password, "host": "%s-rw" % CNPG, "port": "5432",
            "dbname": "app", "user": "app",
            "uri": "postgresql://app:%s@%s:5432/app" % (password, host),
            "jdbc-uri": "jdbc:postgresql://%s:5432/app?password=%s&user=app" % (host, password),
            "pgpass": "%s:5432:app:app:%s\n" % (host, password)}
    labels = {"cnpg.io/cluster": CNPG, "cnpg.io/reload": "true"}
    return [
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
         "metadata": {"name": "%s-app" % CNPG, "namespace": ns, "labels": labels},
         "stringData": data},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "%s-rw" % CNPG, "namespace": ns, "labels": labels},
         "spec": {"selector": {"cnpg.io/cluster": CNPG, "cnpg.io/instanceRole": "primary"},
                  "ports": [{"name": "postgres", "port": 5432, "targetPort": 5432}]}},
    ]


def _neighbours(ns):
    return [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "llama-stack-config", "namespace": ns},
         "data": {"run.yaml": "telemetry:\n  provider: meta-reference\n"}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "llama-stack", "namespace": ns},
         "spec": {"podSelector": {"matchLabels": {"app": "llama-stack"}}, "policyTypes": ["Ingress"],
                  "ingress": [{"ports": [{"port": 8321}]}]}},
    ]


def _seed_database(pg):
    """Other databases with rows, other roles, the CNPG app user (no CREATEDB/CREATEROLE)."""
    pg.execute("CREATE ROLE app LOGIN NOCREATEDB NOCREATEROLE PASSWORD '%s'" % APP_PASSWORD)
    pg.execute("CREATE ROLE reporting LOGIN PASSWORD '%s'" % REPORTING_PASSWORD)
    pg.execute("CREATE ROLE readers NOLOGIN")
    pg.execute("CREATE DATABASE app OWNER app")
    pg.execute("CREATE DATABASE inventory OWNER reporting")
    with pg.connect("app", user="app", password=APP_PASSWORD) as conn:
        conn.execute("CREATE TABLE documents (id int PRIMARY KEY, body text, embedding_hint text)")
        conn.execute("INSERT INTO documents SELECT i, 'doc ' || i, md5(i::text) FROM generate_series(1, 50) i")
    with pg.connect("inventory", user="reporting", password=REPORTING_PASSWORD) as conn:
        conn.execute("CREATE TABLE items (sku text PRIMARY KEY, qty int)")
        conn.execute("INSERT INTO items SELECT 'sku-' || i, i * 3 FROM generate_series(1, 20) i")
        conn.execute("GRANT SELECT ON items TO readers")


def _pg_state(pg):
    """Roles with their password verifiers, databases with owners, the other databases' rows."""
    return {
        "roles": pg.execute("SELECT rolname, rolpassword, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin "
                            "FROM pg_authid ORDER BY rolname"),
        "databases": pg.execute("SELECT datname, pg_get_userbyid(datdba) FROM pg_database ORDER BY datname"),
        "app.documents": pg.execute("SELECT * FROM documents ORDER BY id", dbname="app"),
        "inventory.items": pg.execute("SELECT * FROM items ORDER BY sku", dbname="inventory"),
        "inventory.acl": pg.execute("SELECT relacl::text FROM pg_class WHERE relname = 'items'", dbname="inventory"),
    }


# -- object snapshots ------------------------------------------------------

def _kinds(cluster):
    out = {}
    for namespaced in ("true", "false"):
        names = cluster.kubectl("api-resources", "--verbs=list,get", "--namespaced=%s" % namespaced,
                                "-o", "name").stdout.split()
        out[namespaced == "true"] = [n for n in names if n not in VOLATILE]
    return out


def _normalized(obj):
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    meta = obj.get("metadata", {})
    for key in ("resourceVersion", "managedFields"):
        meta.pop(key, None)
    return obj


def _snapshot(cluster, ns, kinds):
    """{(resource, namespace, name): normalized object} of the namespace and every cluster-scoped object."""
    snap = {}
    for namespaced, names in kinds.items():
        args = ["get", ",".join(names), "-o", "json", "--ignore-not-found"]
        args += ["-n", ns] if namespaced else []
        for obj in json.loads(cluster.kubectl(*args, timeout=300).stdout or '{"items": []}')["items"]:
            key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            snap[key] = _normalized(obj)
    return snap


def _rollout_of(obj, ns):
    """True for the ReplicaSets and Pods of the patched LLaMA Stack Deployment (its rollout)."""
    if obj["metadata"].get("namespace") != ns or obj["kind"] not in ("ReplicaSet", "Pod"):
        return False
    return obj["metadata"].get("labels", {}).get("app") == "llama-stack"


def _env_names(dep):
    return {e["name"] for c in dep["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])}


def _without_otel_env(dep):
    dep = copy.deepcopy(dep)
    for c in dep["spec"]["template"]["spec"]["containers"]:
        c["env"] = [e for e in c.get("env", []) if e["name"] not in OTEL_ENV]
    dep["metadata"].pop("generation", None)
    dep["metadata"].get("annotations", {}).pop("deployment.kubernetes.io/revision", None)
    if not dep["metadata"].get("annotations"):
        dep["metadata"].pop("annotations", None)
    return dep


def _changed_objects(before, after, ns):
    """Pre-existing objects that are gone or differ, except the documented patch and its rollout."""
    problems = []
    for key, old in before.items():
        if _rollout_of(old, ns):
            continue
        new = after.get(key)
        if new is None:
            problems.append("%s %s/%s was deleted" % key)
            continue
        if key == ("Deployment", ns, "llama-stack"):
            old, new = _without_otel_env(old), _without_otel_env(new)
        if old != new:
            problems.append("%s %s/%s changed:\n  before %s\n  after  %s" % (
                key + (json.dumps(old, sort_keys=True)[:1500], json.dumps(new, sort_keys=True)[:1500])))
    return problems


# -- runs ------------------------------------------------------------------

def _run_phases(inv, verbose=False):
    results = {}
    for phase in PHASES:
        res = run_playbook(PLAYBOOKS / phase, inventory=inv, timeout=1200,
                           extra_args=("-vvv",) if verbose else ())
        assert res.rc == 0, "%s: %s" % (phase, res.explain())
        results[phase] = res
    return results


def _secret(cluster, ns, name):
    data = json.loads(cluster.kubectl("-n", ns, "get", "secret", name, "-o", "json").stdout)["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def _wait_available(cluster, ns, name):
    cluster.kubectl("-n", ns, "rollout", "status", "deployment/%s" % name, "--timeout=180s", timeout=200)


@pytest.fixture(scope="module")
def field(k8s_cluster, tmp_path_factory):
    """The brown field, its snapshots, the refused first install and the two runs."""
    require(find_pg_bindir() is not None, "PostgreSQL server not installed")
    pg = start_postgres(tmp_path_factory.mktemp("bf-pg"))
    ns = "bf-%s" % uuid.uuid4().hex[:8]
    try:
        _seed_database(pg)
        k8s_cluster.kubectl("create", "namespace", ns)
        k8s_cluster.kubectl("label", "namespace", ns, "team=llm", "pod-security.kubernetes.io/enforce=restricted",
                            "pod-security.kubernetes.io/enforce-version=latest",
                            "pod-security.kubernetes.io/warn=restricted")
        k8s_cluster.apply_server_side(_cnpg_objects(ns, APP_PASSWORD, pg.port), field_manager="cloudnative-pg")
        k8s_cluster.apply_server_side(_neighbours(ns), field_manager="llama-owner")
        k8s_cluster.apply_server_side(_llama_stack(ns), field_manager="llama-owner")
        _wait_available(k8s_cluster, ns, "llama-stack")
        inv = site_inventory(tmp_path_factory.mktemp("bf-inv") / "hosts.yml", k8s_cluster, extra={
            "mlops_namespace": ns,
            "mlops_exposure": "none",
            "mlops_gateway_create": False,
            "postgresql_mode": "external",
            "postgresql_external_cnpg_cluster": CNPG,
            # Pods do not run on kwok: the bootstrap talks to the local server
            # directly; its login is still the app user of pg-app.
            "postgresql_bootstrap_enabled": True,
            "postgresql_bootstrap_host": pg.host,
            "postgresql_bootstrap_port": pg.port,
            "postgresql_database": DATABASE,
            "mlflow_bootstrap_enabled": False,
            "otel_collector_experiment_id": "1",
            "otel_collector_llama_stack_enabled": True,
            "otel_collector_llama_stack_telemetry_sinks": "console,otel_trace",
        })
        kinds = _kinds(k8s_cluster)
        crds_before = set(k8s_cluster.kubectl("get", "crd", "-o", "name").stdout.split())
        before = _snapshot(k8s_cluster, ns, kinds)
        pg_before = _pg_state(pg)

        # 1. No database yet and app may not create one: refused before any write.
        mark = k8s_cluster.audit_mark()
        refused = run_playbook(PLAYBOOKS / "tracking.yml", inventory=inv, timeout=900)
        refused_writes = [(e["verb"], e["objectRef"].get("resource"), e["objectRef"].get("name"))
                          for e in k8s_cluster.audit_writes(mark)
                          if e["verb"] not in ("get", "list", "watch")
                          and not (e["objectRef"].get("resource") == "pods"
                                   and e["objectRef"].get("subresource") == "portforward")]
        pg_after_refusal = _pg_state(pg)

        # The recipe, as a CloudNativePG Database resource (or a DBA) does it.
        pg.execute("CREATE DATABASE %s OWNER app" % DATABASE)
        pg_recipe = _pg_state(pg)
        first = _run_phases(inv, verbose=True)
        after_first = _snapshot(k8s_cluster, ns, kinds)
        second = _run_phases(inv)
        yield dict(ns=ns, pg=pg, inv=inv, kinds=kinds, crds_before=crds_before, before=before,
                   pg_before=pg_before, refused=refused, refused_writes=refused_writes,
                   pg_after_refusal=pg_after_refusal, pg_recipe=pg_recipe, first=first, second=second,
                   after_first=after_first)
    finally:
        k8s_cluster.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)
        pg.stop()


def test_first_install_without_the_database_is_refused_before_any_write(field):
    res = field["refused"]
    assert res.rc != 0
    msg = " ".join(res.failure_messages())
    assert "may not create database %s (needs CREATEDB)" % DATABASE in msg, msg
    assert "CREATE DATABASE %s OWNER app" % DATABASE in msg and "Database resource" in msg, msg
    assert "Nothing was changed" in msg
    assert field["refused_writes"] == [], field["refused_writes"]
    assert field["pg_after_refusal"] == field["pg_before"]
    assert APP_PASSWORD not in res.stdout + res.stderr


def test_mlflow_reads_the_app_users_own_secret(field, k8s_cluster):
    ns = field["ns"]
    contract = _secret(k8s_cluster, ns, "mlops-postgresql-mlflow")
    assert contract == {"host": "%s-rw.%s.svc" % (CNPG, ns), "port": "5432", "dbname": DATABASE,
                        "uri": "postgresql://%s-rw.%s.svc:5432/%s" % (CNPG, ns, DATABASE),
                        "credentials_secret": "%s-app" % CNPG}
    for kind, name in (("deployment", "mlflow"), ("job", None)):
        if name:
            objs = [json.loads(k8s_cluster.kubectl("-n", ns, "get", kind, name, "-o", "json").stdout)]
        else:
            objs = json.loads(k8s_cluster.kubectl("-n", ns, "get", "jobs", "-l",
                                                  "app.kubernetes.io/instance=mlflow-migration",
                                                  "-o", "json").stdout)["items"]
        assert objs
        for obj in objs:
            env = {e["name"]: e for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]}
            assert env["PGUSER"]["valueFrom"]["secretKeyRef"] == {"name": "%s-app" % CNPG, "key": "username"}
            assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "%s-app" % CNPG, "key": "password"}
            assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"]["key"] == "uri"
    # The database is app's, nothing else was created or granted.
    pg = field["pg"]
    assert ("mlflow", "app") in pg.execute("SELECT datname, pg_get_userbyid(datdba) FROM pg_database")


def test_migration_runs_as_the_app_user_with_the_pods_env(field, k8s_cluster):
    """MLflow's own migration (the Job's program) with the env its pod gets:
    the contract URI (the Service name resolved to the local server) and
    PGUSER/PGPASSWORD from pg-app."""
    require(find_mlflow() is not None, "mlflow not installed")
    ns, pg = field["ns"], field["pg"]
    job = json.loads(k8s_cluster.kubectl("-n", ns, "get", "jobs", "-l", "app.kubernetes.io/instance=mlflow-migration",
                                         "-o", "json").stdout)["items"][0]
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    contract = _secret(k8s_cluster, ns, "mlops-postgresql-mlflow")
    app = _secret(k8s_cluster, ns, "%s-app" % CNPG)
    uri = contract["uri"].replace("%s:%s" % (contract["host"], contract["port"]), "%s:%d" % (pg.host, pg.port))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PG"))}
    env.update({"MLFLOW_BACKEND_STORE_URI": uri, "PGUSER": app["username"], "PGPASSWORD": app["password"]})
    res = subprocess.run([sys.executable] + command[1:], env=env, capture_output=True, text=True, timeout=600,
                         check=False)
    assert res.returncode == 0, res.stderr[-4000:]
    owners = {o for (o,) in pg.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'",
                                       dbname=DATABASE)}
    assert owners == {"app"}
    # With MLflow's tables in place the tracking phase is still a no-op.
    again = run_playbook(PLAYBOOKS / "tracking.yml", inventory=field["inv"], timeout=900)
    assert again.rc == 0 and again.changed() == 0, again.explain()


def test_no_preexisting_object_changed_but_the_documented_env(field, k8s_cluster):
    ns = field["ns"]
    # The snapshot holds the neighbours' objects, cluster-scoped ones and the CRDs.
    kinds = {k[0] for k in field["before"]}
    assert {"Namespace", "Deployment", "ReplicaSet", "Pod", "Secret", "Service", "ConfigMap", "NetworkPolicy",
            "ServiceAccount", "CustomResourceDefinition", "ClusterRole"} <= kinds, kinds
    assert ("Secret", ns, "%s-app" % CNPG) in field["before"] and ("Namespace", "", ns) in field["before"]
    problems = _changed_objects(field["before"], field["after_first"], ns)
    assert problems == [], "\n".join(problems)
    llama = field["after_first"][("Deployment", ns, "llama-stack")]
    added = _env_names(llama) - _env_names(field["before"][("Deployment", ns, "llama-stack")])
    assert added == OTEL_ENV, added
    # The rollout happened under the namespace's restricted Pod Security level.
    dep = json.loads(k8s_cluster.kubectl("-n", ns, "get", "deployment", "llama-stack", "-o", "json").stdout)
    assert dep["status"].get("updatedReplicas") == 1 and dep["status"].get("availableReplicas") == 1, dep["status"]
    labels = json.loads(k8s_cluster.kubectl("get", "namespace", ns, "-o", "json").stdout)["metadata"]["labels"]
    assert "app.kubernetes.io/part-of" not in labels and labels["team"] == "llm"


def test_database_server_is_untouched_except_the_recipes_database(field):
    pg = field["pg"]
    now = _pg_state(pg)
    # The recipe added the database; the stack changed nothing on the server.
    assert field["pg_recipe"]["databases"] == sorted(field["pg_before"]["databases"] + [(DATABASE, "app")])
    assert now["databases"] == field["pg_recipe"]["databases"]
    assert now["roles"] == field["pg_before"]["roles"], "a role's password verifier or attributes changed"
    for key in ("app.documents", "inventory.items", "inventory.acl"):
        assert now[key] == field["pg_before"][key], key


def test_second_run_changes_nothing(field):
    for phase, res in field["second"].items():
        assert res.changed() == 0, "%s changed on the second run:\n%s" % (phase, res.explain())


def test_no_secret_value_in_verbose_output(field, k8s_cluster):
    ns = field["ns"]
    values = {APP_PASSWORD, REPORTING_PASSWORD, LLAMA_KEY, field["pg"].password}
    names = json.loads(k8s_cluster.kubectl("-n", ns, "get", "secrets", "-l",
                                           "app.kubernetes.io/part-of=mlops-stack", "-o", "json").stdout)["items"]
    assert names, "the stack wrote no Secret"
    for sec in names:
        for key, val in (sec.get("data") or {}).items():
            val = base64.b64decode(val).decode()
            if any(word in key.lower() for word in ("password", "secret", "token", "key")) and len(val) >= 8:
                values.add(val)
    assert len(values) > 4, "no generated secret value was collected"
    for phase, res in field["first"].items():
        out = res.stdout + res.stderr
        assert "config file = " in out, "%s did not run with -vvv" % phase
        leaked = [v[:4] + "..." for v in values if v in out]
        assert leaked == [], "%s printed secret values: %s" % (phase, leaked)


def _env_checksum(cluster, ns):
    dep = json.loads(cluster.kubectl("-n", ns, "get", "deployment", "mlflow", "-o", "json").stdout)
    return dep["spec"]["template"]["metadata"]["annotations"]["checksum/env-secrets"]


def test_password_rotation_reaches_mlflow_without_the_collection(field, k8s_cluster):
    """CloudNativePG rotates the app password in the Secret (and the role): the collection has nothing to
    copy or change; the re-run rolls MLflow's pods, which read the password from the Secret when they start
    (running pods keep the old one in their environment)."""
    ns, pg = field["ns"], field["pg"]
    before = _env_checksum(k8s_cluster, ns)
    rotated = "rot-" + secrets.token_urlsafe(24)
    pg.execute("ALTER ROLE app PASSWORD '%s'" % rotated)
    k8s_cluster.apply_server_side(_cnpg_objects(ns, rotated, pg.port), field_manager="cloudnative-pg")
    res = run_playbook(PLAYBOOKS / "tracking.yml", inventory=field["inv"], timeout=900)
    assert res.rc == 0, res.explain()
    changed = [t["task"]["name"] for play in res.data["plays"] for t in play["tasks"]
               if any(h.get("changed") for h in t["hosts"].values())]
    assert len(changed) == 1 and "Roll out the MLflow Deployment" in changed[0], changed
    assert _env_checksum(k8s_cluster, ns) != before
    assert rotated not in res.stdout + res.stderr
    assert "password" not in _secret(k8s_cluster, ns, "mlops-postgresql-mlflow")
    verifier = pg.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'")[0][0]
    with pg.connect(DATABASE, user="app", password=rotated) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("app",)
    assert pg.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'")[0][0] == verifier


def test_teardown_keeps_every_preexisting_object_and_crd(field, k8s_cluster):
    ns = field["ns"]
    before_teardown = _snapshot(k8s_cluster, ns, field["kinds"])
    assert ("Deployment", ns, "mlflow") in before_teardown and ("Deployment", ns, "otel-collector") in before_teardown
    res = run_playbook(PLAYBOOKS / "teardown.yml", inventory=field["inv"], timeout=1200)
    assert res.rc == 0, res.explain()
    after = _snapshot(k8s_cluster, ns, field["kinds"])
    preexisting = {k: v for k, v in before_teardown.items() if k in field["before"]}
    problems = _changed_objects(preexisting, after, ns)
    assert problems == [], "\n".join(problems)
    assert field["crds_before"] <= set(k8s_cluster.kubectl("get", "crd", "-o", "name").stdout.split())
    # The stack's own objects are gone.
    assert ("Deployment", ns, "mlflow") not in after and ("Deployment", ns, "otel-collector") not in after


def test_an_admin_with_createdb_creates_the_database_owned_by_app(field, k8s_cluster, tmp_path):
    """The other documented path: postgresql_external_admin_secret names a role
    that may create databases (here the server's superuser); the database is
    created owned by the app user, still no role is created or changed and
    MLflow still reads pg2-app."""
    pg = field["pg"]
    ns = "bf2-%s" % uuid.uuid4().hex[:8]
    k8s_cluster.kubectl("create", "namespace", ns)
    try:
        objs = _cnpg_objects(ns, APP_PASSWORD, pg.port)
        for obj in objs:
            obj["metadata"]["name"] = obj["metadata"]["name"].replace(CNPG, "pg2", 1)
        pg.execute("ALTER ROLE app PASSWORD '%s'" % APP_PASSWORD)
        objs.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
                     "metadata": {"name": "pg2-superuser", "namespace": ns},
                     "stringData": {"username": pg.user, "password": pg.password}})
        k8s_cluster.apply_server_side(objs, field_manager="cloudnative-pg")
        roles_before = _pg_state(pg)["roles"]
        inv = site_inventory(tmp_path / "hosts.yml", k8s_cluster, extra={
            "mlops_namespace": ns, "mlops_exposure": "none", "mlops_gateway_create": False,
            "mlops_object_store": "none",
            "postgresql_mode": "external", "postgresql_external_cnpg_cluster": "pg2",
            "postgresql_external_admin_secret": "pg2-superuser",
            "postgresql_bootstrap_enabled": True, "postgresql_bootstrap_host": pg.host,
            "postgresql_bootstrap_port": pg.port, "postgresql_database": "mlflow2",
            "mlflow_bootstrap_enabled": False, "mlflow_replicas": 1})
        res = run_playbook(PLAYBOOKS / "tracking.yml", inventory=inv, timeout=900)
        assert res.rc == 0, res.explain()
        assert ("mlflow2", "app") in pg.execute("SELECT datname, pg_get_userbyid(datdba) FROM pg_database")
        assert _pg_state(pg)["roles"] == roles_before
        assert pg.password not in res.stdout + res.stderr and APP_PASSWORD not in res.stdout + res.stderr
        assert _secret(k8s_cluster, ns, "mlops-postgresql-mlflow")["credentials_secret"] == "pg2-app"
        again = run_playbook(PLAYBOOKS / "tracking.yml", inventory=inv, timeout=900)
        assert again.rc == 0 and again.changed() == 0, again.explain()
    finally:
        k8s_cluster.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)
