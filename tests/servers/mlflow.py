"""A real `mlflow server` for tests: PostgreSQL backend store, artifacts
proxied to S3 (or a local dir), optional basic-auth, on 127.0.0.1.

    srv = start_mlflow(tmp_dir, pg, s3=s3_server, auth=True)
    ... srv.tracking_uri, srv.username, srv.password ...
    srv.stop()
"""
import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.bins import free_port

_counter = [0]


def find_mlflow():
    """Path of the `mlflow` CLI of this venv (or on PATH), or None."""
    cand = Path(sys.executable).parent / "mlflow"
    if cand.exists():
        return str(cand)
    return shutil.which("mlflow")


@dataclass
class MlflowServer:
    tracking_uri: str
    host: str
    port: int
    dbname: str
    backend_store_uri: str
    artifacts_destination: str
    username: str = None
    password: str = None
    log_path: str = None
    proc: subprocess.Popen = field(repr=False, default=None)

    @property
    def auth(self):
        return self.username is not None

    def api(self, method, path, body=None, username=None, password=None, timeout=30):
        """Call the REST API (path like 'experiments/get-by-name'); return (status, json)."""
        url = "%s/api/2.0/mlflow/%s" % (self.tracking_uri, path.lstrip("/"))
        data = None
        if method == "GET" and body:
            from urllib.parse import urlencode
            url += "?" + urlencode(body)
        elif body is not None:
            data = json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        user = username or self.username
        if user:
            pw = password if password is not None else self.password
            req.add_header("Authorization", "Basic " + base64.b64encode(
                ("%s:%s" % (user, pw)).encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback)
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, {"raw": raw.decode(errors="replace")}

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


def start_mlflow(tmp_dir, pg, s3=None, auth=False, workers=1, timeout=180, bucket=None):
    """Start `mlflow server` against PgServer `pg` (a fresh database on it).

    s3: an S3Server (tests/servers/s3.py); artifacts then go to
    s3://<bucket>/artifacts (the bucket is created with boto3 when missing).
    auth: run `--app-name basic-auth` with a random admin password.
    """
    mlflow_bin = find_mlflow()
    if mlflow_bin is None:
        raise FileNotFoundError("mlflow CLI not found; pip install 'mlflow>=3.17,<3.18'")
    _counter[0] += 1
    suffix = "%d_%d_%s" % (os.getpid(), _counter[0], secrets.token_hex(3))
    tmp = Path(tmp_dir) / ("mlflow-" + suffix)
    tmp.mkdir(parents=True, exist_ok=True)
    dbname = "mlflow_" + suffix
    pg.execute('CREATE DATABASE "%s"' % dbname)
    backend = pg.uri(dbname, driver="postgresql+psycopg")
    env = dict(os.environ)
    # never let a developer's settings leak in
    for k in list(env):
        if k.startswith(("MLFLOW_", "AWS_")):
            del env[k]
    env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = secrets.token_hex(16)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    if s3 is not None:
        bucket = bucket or "mlflow-artifacts"
        _ensure_bucket(s3, bucket)
        dest = "s3://%s/artifacts-%s" % (bucket, suffix.replace("_", "-"))
        env.update({
            "MLFLOW_S3_ENDPOINT_URL": s3.endpoint_url,
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "AWS_DEFAULT_REGION": getattr(s3, "region", None) or "us-east-1",
        })
    else:
        (tmp / "artifacts").mkdir(exist_ok=True)
        dest = str(tmp / "artifacts")
    port = free_port()
    cmd = [mlflow_bin, "server", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--backend-store-uri", backend,
           "--serve-artifacts", "--artifacts-destination", dest]
    username = password = None
    if auth:
        username = "admin"
        password = secrets.token_urlsafe(16)
        authdb = dbname + "_auth"
        pg.execute('CREATE DATABASE "%s"' % authdb)
        ini = tmp / "basic_auth.ini"
        ini.write_text(
            "[mlflow]\n"
            "default_permission = READ\n"
            "database_uri = %s\n"
            "admin_username = %s\n"
            "admin_password = %s\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            % (pg.uri(authdb, driver="postgresql+psycopg"), username, password))
        ini.chmod(0o600)
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(ini)
        cmd += ["--app-name", "basic-auth"]
    log_path = tmp / "mlflow.log"
    log = open(log_path, "ab")
    proc = subprocess.Popen(cmd, cwd=str(tmp), env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    srv = MlflowServer("http://127.0.0.1:%d" % port, "127.0.0.1", port, dbname, backend, dest,
                       username, password, str(log_path), proc)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            srv.stop()
            raise RuntimeError("mlflow server exited (%s); log:\n%s"
                               % (proc.returncode, log_path.read_text()[-4000:]))
        try:
            with urllib.request.urlopen(srv.tracking_uri + "/health", timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    break
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            srv.stop()
            raise TimeoutError("mlflow server not healthy after %ss; log:\n%s"
                               % (timeout, log_path.read_text()[-4000:]))
        time.sleep(0.5)
    return srv


def _ensure_bucket(s3, bucket):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
    client = boto3.client("s3", endpoint_url=s3.endpoint_url, aws_access_key_id=s3.access_key,
                          aws_secret_access_key=s3.secret_key,
                          region_name=getattr(s3, "region", None) or "us-east-1",
                          config=Config(s3={"addressing_style": "path"}))
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError:
        client.create_bucket(Bucket=bucket)
