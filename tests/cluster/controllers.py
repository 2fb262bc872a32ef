"""Real upstream controllers as local processes, playing their pods.

kwok fakes every kubelet, so the controllers our roles install never run.
``LocalPodRunner`` is the kubelet for the pods of one upstream Deployment:
when the scheduler has bound such a pod (kwok leaves it alone, see
``kwok_stages_leaving``), it starts the real binary inside the control
plane's network namespace (tests/cluster/netns.py) with the container's
args and env *read from the pod* (so from the manifest exactly as our role
applied it), the pod's service-account token and the webhook serving
certificate where controller-runtime looks for it. It gives the pod an IP on
``lo`` of that namespace, probes the container's readinessProbe, and only
then reports the pod Ready -- so ``wait: true`` on the Deployment means what
it means on a real cluster. The EndpointSlice controller then lists the pod
IP for the webhook Service and the API server (with aggregator routing)
calls the process. It also does cert-manager cainjector's job for the
webhook configurations annotated ``cert-manager.io/inject-ca-from`` with
its Certificate: their caBundle is the runner's own CA.

The processes are children of the test process, in their own process
groups, killed with PR_SET_PDEATHSIG if it dies; ``stop()`` ends them by
process group.
"""
import base64
import contextlib
import ctypes
import datetime
import ipaddress
import logging
import os
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from . import netns, pki
from .harness import _kill_group, _pdeathsig

log = logging.getLogger("mlops.cluster.controllers")

# Outside kwok's pod CIDR (10.244.0.0/16), so no simulated pod gets one.
LOCAL_POD_NET = ipaddress.ip_network("10.245.0.0/24")
CA_ANNOTATION = "cert-manager.io/inject-ca-from"
KSERVE_POD = "control-plane=kserve-controller-manager"
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18


def kwok_stages_leaving(src, dst, selectors):
    """Copy kwok's stages, with pod-ready skipping pods labelled LABEL=VALUE."""
    docs = [d for d in yaml.safe_load_all(Path(src).read_text()) if d]
    for doc in docs:
        if doc.get("kind") == "Stage" and doc["metadata"]["name"] == "pod-ready":
            exprs = doc["spec"]["selector"]["matchExpressions"]
            for sel in selectors:
                key, value = sel.split("=", 1)
                exprs.append({"key": '.metadata.labels["%s"]' % key, "operator": "NotIn", "values": [value]})
    Path(dst).write_text(yaml.safe_dump_all(docs))
    return str(dst)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _own_run(path):
    """preexec_fn part: a private mount namespace where ``path`` is /run
    (/var/run links to it), so the process finds its pod's files there and
    the machine's /run stays untouched."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    os.unshare(os.CLONE_NEWNS)
    for src, dst, flags in ((None, b"/", MS_REC | MS_PRIVATE), (str(path).encode(), b"/run", MS_BIND)):
        if libc.mount(src, dst, None, flags, None) != 0:
            raise OSError(ctypes.get_errno(), "mount %s" % dst)


def _env(container, pod):
    fields = {"metadata.namespace": pod.metadata.namespace, "metadata.name": pod.metadata.name,
              "spec.serviceAccountName": pod.spec.service_account_name}
    out = {}
    for e in container.env or []:
        if e.value is not None:
            out[e.name] = e.value
        elif e.value_from and e.value_from.field_ref:
            out[e.name] = fields[e.value_from.field_ref.field_path]
    return out


class LocalPodRunner(threading.Thread):
    """Runs ``binary`` for the pods labelled ``selector`` in ``namespace``."""

    def __init__(self, cluster, binary, workdir, namespace, selector, container, manifest, interval=0.3):
        super().__init__(name="local-pods-" + namespace, daemon=True)
        from kubernetes import client
        self.cluster = cluster
        self.binary = binary
        self.dir = Path(workdir)
        self.namespace, self.selector, self.container = namespace, selector, container
        self.netns_pid = cluster.state.get("netns_pid")
        if not self.netns_pid:
            raise RuntimeError("the control plane runs without a network namespace (Cluster.up(webhooks=True))")
        api = cluster.api_client()
        self.core = client.CoreV1Api(api)
        self.adm = client.AdmissionregistrationV1Api(api)
        self.ca = pki.new_ca("mlops-tests-webhook-ca")
        self.ca_b64 = base64.b64encode(self.ca.cert_pem).decode()
        self.injected = self._webhook_configs(manifest)
        self.pods = {}  # uid -> {"proc", "ip", "ready"}
        self.errors = []
        self._ips = iter(list(LOCAL_POD_NET.hosts())[9:])
        self._halt = threading.Event()

    def _webhook_configs(self, manifest):
        """{(kind, name): services} of the webhook configurations whose CA the
        manifest's Certificate provides (what cainjector would inject)."""
        out = {}
        for doc in yaml.safe_load_all(Path(manifest).read_text()):
            ann = ((doc or {}).get("metadata") or {}).get("annotations") or {}
            if (ann.get(CA_ANNOTATION) or "").split("/")[0] == self.namespace:
                svcs = {(w["clientConfig"]["service"]["name"], w["clientConfig"]["service"]["namespace"])
                        for w in doc["webhooks"] if "service" in w["clientConfig"]}
                out[(doc["kind"], doc["metadata"]["name"])] = svcs
        return out

    # -- cainjector
    def inject_ca(self):
        """Patch missing caBundles; True when every expected configuration has ours."""
        done = 0
        for (kind, name) in self.injected:
            read, patch = ((self.adm.read_mutating_webhook_configuration, self.adm.patch_mutating_webhook_configuration)
                           if kind.startswith("Mutating") else
                           (self.adm.read_validating_webhook_configuration,
                            self.adm.patch_validating_webhook_configuration))
            try:
                obj = read(name)
            except Exception:  # noqa: BLE001 - not applied yet
                continue
            ops = [{"op": "add", "path": "/webhooks/%d/clientConfig/caBundle" % i, "value": self.ca_b64}
                   for i, w in enumerate(obj.webhooks or []) if w.client_config.ca_bundle != self.ca_b64]
            if ops:
                # The test op makes a concurrent re-apply fail the patch (retried) instead of mislabelling.
                patch(name, [{"op": "test", "path": "/metadata/resourceVersion",
                              "value": obj.metadata.resource_version}] + ops)
                log.info("injected the CA into %s %s", kind, name)
            done += 1
        return done == len(self.injected)

    # -- pods
    def _project_service_account(self, pod, pdir):
        """The service-account volume kubelet projects (token, CA, namespace);
        in-cluster config and leader election read it from /var/run/secrets,
        which _own_run maps to <pdir>/run in the process's mount namespace."""
        sa = pdir / "run" / "secrets" / "kubernetes.io" / "serviceaccount"
        sa.mkdir(parents=True, exist_ok=True)
        (sa / "token").write_text(self.core.create_namespaced_service_account_token(
            pod.spec.service_account_name, pod.metadata.namespace,
            {"spec": {"expirationSeconds": 86400}}).status.token)
        admin = yaml.safe_load(Path(self.cluster.kubeconfig).read_text())
        (sa / "ca.crt").write_bytes(base64.b64decode(admin["clusters"][0]["cluster"]["certificate-authority-data"]))
        (sa / "namespace").write_text(pod.metadata.namespace)

    def _start(self, pod):
        ip = str(next(self._ips))
        netns.ip(self.netns_pid, "addr", "add", ip + "/32", "dev", "lo")
        entry = {"ip": ip, "ready": False, "name": pod.metadata.name, "restarts": 0}
        entry["proc"] = self._spawn(pod, entry)
        return entry

    def _spawn(self, pod, entry):
        spec = next(c for c in pod.spec.containers if c.name == self.container)
        ip = entry["ip"]
        pdir = self.dir / pod.metadata.name
        certs = pdir / "tmp" / "k8s-webhook-server" / "serving-certs"
        certs.mkdir(parents=True, exist_ok=True)
        dns = [n for svc, ns in set().union(*self.injected.values()) for n in
               ("%s.%s.svc" % (svc, ns), "%s.%s.svc.cluster.local" % (svc, ns))]
        leaf = pki.issue(self.ca, dns[0] if dns else pod.metadata.name, dns=dns, ips=[ip], server=True)
        (certs / "tls.crt").write_bytes(leaf.cert_pem)
        (certs / "tls.key").write_bytes(leaf.key_pem)
        self._project_service_account(pod, pdir)
        api = urllib.parse.urlsplit(self.cluster.server)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(pdir), "TMPDIR": str(pdir / "tmp"),
               "KUBERNETES_SERVICE_HOST": api.hostname, "KUBERNETES_SERVICE_PORT": str(api.port)}
        env.update(_env(spec, pod))
        args = [self.binary] + list(spec.args or [])
        proc = self._launch(entry, args, env, pdir, self.netns_pid, "manager.log")
        entry.update(log=pdir / "manager.log", probe=spec.readiness_probe, exited=None)
        return proc

    def _launch(self, entry, argv, env, pdir, netns_pid, log_name):
        """Start the pod's process in the network namespace of ``netns_pid``,
        with <pdir>/run as its /run, in a process group of its own (``_end``
        kills the group) and killed if the test process dies."""
        enter, death = netns.entering(netns_pid), _pdeathsig(signal.SIGKILL)

        def preexec():
            enter()
            _own_run(pdir / "run")
            death()
        with open(pdir / log_name, "ab") as logf:
            proc = subprocess.Popen(argv, env=env, cwd=str(pdir), stdin=subprocess.DEVNULL, stdout=logf,
                                    stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec)
        log.info("started %s for pod %s (pid %s, ip %s): %s", self.name, entry["name"], proc.pid, entry["ip"], argv)
        return proc

    def _probe(self, entry):
        get = entry["probe"].http_get
        url = "http://%s:%s%s" % (entry["ip"], get.port, get.path or "/")

        def fetch():
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - the netns's own pod IP
                    return resp.status == 200
            except OSError:
                return False
        return netns.call_in(self.netns_pid, fetch)

    def _mark_ready(self, pod, entry):
        node = self.core.read_node(pod.spec.node_name)
        host = next((a.address for a in node.status.addresses or [] if a.type == "InternalIP"), None)
        now = _now()
        status = {"phase": "Running", "podIP": entry["ip"], "podIPs": [{"ip": entry["ip"]}], "startTime": now,
                  "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                                 for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
                  # Only the manager runs; its sidecars are simulated, as kwok would.
                  "containerStatuses": [{"name": c.name, "image": c.image, "imageID": "", "ready": True,
                                         "restartCount": entry["restarts"] if c.name == self.container else 0,
                                         "started": True, "state": {"running": {"startedAt": now}}}
                                        for c in pod.spec.containers]}
        if host:
            status.update(hostIP=host, hostIPs=[{"ip": host}])
        self.core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace, {"status": status},
                                              _content_type="application/merge-patch+json")
        entry["ready"] = True
        log.info("pod %s Ready", pod.metadata.name)

    def _end(self, uid):
        entry = self.pods.pop(uid)
        _kill_group(entry["proc"].pid, entry["name"], timeout=10)
        entry["proc"].wait(timeout=5)
        netns.ip(self.netns_pid, "addr", "del", entry["ip"] + "/32", "dev", "lo", check=False)

    def step(self):
        ca_ready = self.inject_ca()
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=self.selector).items
        live = {p.metadata.uid: p for p in pods if p.spec.node_name and not p.metadata.deletion_timestamp}
        for uid in [u for u in self.pods if u not in live]:
            self._end(uid)
        # One at a time: every process binds the same ports in the one namespace.
        for uid, pod in sorted(live.items(), key=lambda kv: kv[1].metadata.creation_timestamp)[-1:]:
            entry = self.pods.get(uid)
            if entry is None:
                for old in list(self.pods):
                    self._end(old)
                entry = self.pods[uid] = self._start(pod)
            if entry["proc"].poll() is not None:
                # restartPolicy Always, with kubelet's doubling back-off (capped
                # low: here it only waits for the CRDs to be established).
                if entry["exited"] is None:
                    entry["exited"] = time.monotonic()
                    log.info("%s for pod %s exited with %s (restart %d); see %s", self.binary, entry["name"],
                             entry["proc"].returncode, entry["restarts"] + 1, entry["log"])
                if time.monotonic() - entry["exited"] >= min(10, 2 ** entry["restarts"]):
                    entry["restarts"] += 1
                    entry["proc"] = self._spawn(pod, entry)
                continue
            if not entry["ready"] and ca_ready and self._probe(entry):
                self._mark_ready(pod, entry)

    def run(self):
        while not self._halt.is_set():
            try:
                self.step()
            except Exception as exc:  # noqa: BLE001 - kept for the test to report
                if not self.errors or str(self.errors[-1]) != str(exc):
                    log.warning("local pod runner: %s", exc)
                    self.errors.append(exc)
            self._halt.wait(0.3)

    def wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e["ready"] for e in self.pods.values()):
                return
            time.sleep(0.2)
        raise TimeoutError("no local %s pod became ready: %s" % (self.selector, self.errors[-3:]))

    def stop(self):
        self._halt.set()
        self.join(timeout=10)
        for uid in list(self.pods):
            self._end(uid)

    def logs(self):
        return "\n".join(e["log"].read_text(errors="replace")[-4000:] for e in self.pods.values())


@contextlib.contextmanager
def running(runners):
    """The runners started, and stopped with their processes however the block
    ends (a playbook run that raises included): no controller outlives the
    fixture that needed it."""
    started = []
    try:
        for r in runners:
            r.start()
            started.append(r)
        yield runners
    finally:
        for r in started:
            r.stop()


def runner_logs(runners):
    """The processes' logs, for a failure message."""
    return "\n".join(r.logs() for r in runners)


def kserve_runner(cluster, binary, workdir, manifest):
    """The KServe controller-manager (container ``manager`` of its Deployment)."""
    return LocalPodRunner(cluster, binary, workdir, "kserve", KSERVE_POD, "manager", manifest)
