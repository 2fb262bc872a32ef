"""A throwaway PostgreSQL server for tests: Debian's binaries, initdb into a
temp dir, scram-sha-256 auth, listening on 127.0.0.1 only on a free port.

    pg = start_postgres(tmp_dir)
    ... pg.host, pg.port, pg.user, pg.password, pg.dsn, pg.connect() ...
    pg.stop()
"""
import glob
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.bins import free_port, wait_for_port


def find_pg_bindir():
    """Directory with initdb/pg_ctl/postgres (newest Debian version), or None."""
    env = os.environ.get("PG_BINDIR")
    if env and os.path.exists(os.path.join(env, "initdb")):
        return env
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if cands:
        return os.path.dirname(cands[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def available_extensions(bindir=None):
    """Names of extensions whose control files are installed for this server."""
    bindir = bindir or find_pg_bindir()
    if not bindir:
        return set()
    try:
        share = subprocess.run([os.path.join(bindir, "pg_config"), "--sharedir"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        version = bindir.split("/")[4]
        share = "/usr/share/postgresql/%s" % version
    return {Path(p).stem for p in glob.glob(os.path.join(share, "extension", "*.control"))}


@dataclass
class PgServer:
    host: str
    port: int
    user: str
    password: str
    datadir: str
    sockdir: str
    bindir: str
    proc: subprocess.Popen = field(repr=False, default=None)
    owned_dir: str = None  # removed by stop() (created when running as root)

    @property
    def dsn(self):
        return "host=%s port=%d user=%s password=%s dbname=postgres" % (
            self.host, self.port, self.user, self.password)

    def uri(self, dbname="postgres", user=None, password=None, driver="postgresql"):
        return "%s://%s:%s@%s:%d/%s" % (driver, user or self.user, password or self.password,
                                        self.host, self.port, dbname)

    def connect(self, dbname="postgres", user=None, password=None, autocommit=True):
        import psycopg
        return psycopg.connect(host=self.host, port=self.port, user=user or self.user,
                               password=password or self.password, dbname=dbname,
                               autocommit=autocommit, connect_timeout=10)

    def execute(self, sql, params=None, dbname="postgres"):
        """Run one statement as superuser; return all rows (or [])."""
        with self.connect(dbname) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                # SIGINT = fast shutdown; postgres stops its children itself.
                os.killpg(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self.proc = None
        if self.owned_dir:
            shutil.rmtree(self.owned_dir, ignore_errors=True)


def start_postgres(tmp_dir, user="postgres", extra_conf=None, timeout=60):
    """initdb into tmp_dir/pgdata and start postgres on 127.0.0.1:<free port>."""
    bindir = find_pg_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries (initdb) not found; "
                                "apt-get install postgresql postgresql-contrib")
    run_as = _demote()
    if run_as:
        # pytest's tmp dirs are 0700 root: the server account could not
        # reach them, so the cluster lives in its own dir under /tmp.
        tmp = Path(tempfile.mkdtemp(prefix="mlops-pg-"))
        os.chown(tmp, *run_as)
    else:
        tmp = Path(tmp_dir)
        tmp.mkdir(parents=True, exist_ok=True)
    datadir = tmp / "pgdata"
    sockdir = tmp / "pgsock"
    sockdir.mkdir(exist_ok=True)
    password = secrets.token_urlsafe(18)
    pwfile = tmp / "pg-superuser-pw"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    if run_as:
        for p in (sockdir, pwfile):
            os.chown(p, *run_as)
    subprocess.run([os.path.join(bindir, "initdb"), "-D", str(datadir), "-U", user,
                    "--pwfile", str(pwfile), "--auth", "scram-sha-256", "-E", "UTF8",
                    "--locale", "C.UTF-8" if _has_c_utf8() else "C", "--no-sync"],
                   check=True, capture_output=True, preexec_fn=_preexec(run_as))
    pwfile.unlink()
    port = free_port()
    conf = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": "'%s'" % sockdir,
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "100",
        "shared_buffers": "32MB",
        "password_encryption": "'scram-sha-256'",
        "shared_preload_libraries": "'pg_stat_statements'",
        "log_min_messages": "warning",
    }
    conf.update(extra_conf or {})
    with open(datadir / "postgresql.auto.conf", "a") as f:
        for k, v in conf.items():
            f.write("%s = %s\n" % (k, v))
    log = open(tmp / "postgres.log", "ab")
    proc = subprocess.Popen([os.path.join(bindir, "postgres"), "-D", str(datadir)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            preexec_fn=_preexec(run_as, new_session=True))
    server = PgServer("127.0.0.1", port, user, password, str(datadir), str(sockdir), bindir, proc,
                      str(tmp) if run_as else None)
    try:
        wait_for_port(port, timeout=timeout, proc=proc)
        # the port opens slightly before the server accepts logins
        deadline = time.monotonic() + timeout
        while True:
            try:
                server.execute("SELECT 1")
                break
            except Exception:  # pylint: disable=broad-except
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
    except Exception:
        server.stop()
        raise RuntimeError("PostgreSQL did not start; log:\n%s"
                           % (tmp / "postgres.log").read_text()[-3000:])
    return server


def _has_c_utf8():
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return False
    return any(l.lower() in ("c.utf8", "c.utf-8") for l in out.split())


def _demote():
    """postgres refuses to run as root: use the 'postgres' (or 'nobody') account."""
    if os.geteuid() != 0:
        return None
    import pwd
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            continue
    raise RuntimeError("running as root and no 'postgres' user to run the server as")


def _preexec(run_as, new_session=False):
    def fn():
        if new_session:
            os.setsid()
        if run_as:
            os.setgid(run_as[1])
            os.setuid(run_as[0])
    return fn
