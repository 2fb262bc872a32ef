"""Knative Serving's real controller, webhook and autoscaler as local pods.

``KnativePodRunner`` is ``controllers.LocalPodRunner`` (the kubelet for the
pods of one upstream Deployment) with what Knative's processes need:

* each pod gets a network namespace of its own (tests/cluster/podnet.py):
  the three processes bind the same ports (8008 profiling, 9090 metrics,
  8080 probes / autoscaler websocket), as pods they never collide;
* the container's ``env`` read from the pod includes ``status.podIP``
  fieldRefs (``POD_IP``);
* probes as kubelet sends them: named ports resolved, HTTPS without
  verification (the webhook's readinessProbe), ``User-Agent: kube-probe/``
  (Knative answers a kubelet probe on the autoscaler's websocket port);
* no cainjector work: Knative's webhook issues its own serving certificate
  (Secret ``webhook-certs``) and patches ``caBundle`` and the rules of its
  webhook configurations itself.

Binaries: tools/testbins/knative/build.sh (``knative-controller``,
``knative-webhook``, ``knative-autoscaler``).
"""
import itertools
import logging
import os
import signal
import ssl
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path


from . import netns
from .controllers import LOCAL_POD_NET, LocalPodRunner, _own_run
from .harness import _kill_group, _pdeathsig
from .podnet import PodNetwork

log = logging.getLogger("mlops.cluster.knative")

NAMESPACE = "knative-serving"
#: (label selector kwok leaves alone, container, binary name); the labels
#: are unique to Knative's pods among everything the stack installs
#: (cert-manager's webhook is app=webhook too, hence role=webhook).
COMPONENTS = {
    "controller": ("app=controller", "controller", "knative-controller"),
    "webhook": ("role=webhook", "webhook", "knative-webhook"),
    "autoscaler": ("app=autoscaler", "autoscaler", "knative-autoscaler"),
}
LOCAL_PODS = [sel for sel, _c, _b in COMPONENTS.values()]
# KServe's runner takes addresses from the start of LOCAL_POD_NET.
_IPS = itertools.count(100)
KUBE_PROBE_UA = "kube-probe/1.36"


def _field(pod, path, ip):
    return {"metadata.namespace": pod.metadata.namespace, "metadata.name": pod.metadata.name,
            "metadata.uid": pod.metadata.uid, "spec.serviceAccountName": pod.spec.service_account_name,
            "spec.nodeName": pod.spec.node_name, "status.podIP": ip, "status.podIPs": ip}[path]


class KnativePodRunner(LocalPodRunner):
    """Runs one Knative component (``controller``, ``webhook``, ``autoscaler``)."""

    def __init__(self, cluster, component, binary, workdir, manifest):
        selector, container, _bin = COMPONENTS[component]
        super().__init__(cluster, binary, Path(workdir) / component, NAMESPACE, selector, container, manifest)
        self.name = "knative-" + component
        self.api_port = urllib.parse.urlsplit(cluster.server).port

    def _start(self, pod):
        ip = str(LOCAL_POD_NET.network_address + next(_IPS))
        net = PodNetwork(self.netns_pid, ip, self.api_port).up()
        entry = {"ip": ip, "net": net, "ready": False, "name": pod.metadata.name, "restarts": 0}
        entry["proc"] = self._spawn(pod, entry)
        return entry

    def _spawn(self, pod, entry):
        spec = next(c for c in pod.spec.containers if c.name == self.container)
        pdir = self.dir / pod.metadata.name
        (pdir / "tmp").mkdir(parents=True, exist_ok=True)
        self._project_service_account(pod, pdir)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(pdir), "TMPDIR": str(pdir / "tmp"),
               "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.api_port)}
        for e in spec.env or []:
            if e.value is not None:
                env[e.name] = e.value
            elif e.value_from and e.value_from.field_ref:
                env[e.name] = _field(pod, e.value_from.field_ref.field_path, entry["ip"])
        args = [self.binary] + list(spec.command[1:] if spec.command else []) + list(spec.args or [])
        enter, death = netns.entering(entry["net"].pid), _pdeathsig(signal.SIGKILL)

        def preexec():
            enter()
            _own_run(pdir / "run")
            death()
        logf = open(pdir / "process.log", "ab")
        proc = subprocess.Popen(args, env=env, cwd=str(pdir), stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec)
        logf.close()
        log.info("started %s for pod %s (pid %s, ip %s): %s", self.binary, pod.metadata.name, proc.pid,
                 entry["ip"], args)
        entry.update(log=pdir / "process.log", probe=spec.readiness_probe, ports=spec.ports or [], exited=None)
        return proc

    def _probe(self, entry):
        probe = entry["probe"]
        if probe is None:
            return True
        get = probe.http_get
        port = get.port
        if isinstance(port, str) and not port.isdigit():
            port = next(p.container_port for p in entry["ports"] if p.name == port)
        scheme = (get.scheme or "HTTP").lower()
        url = "%s://%s:%s%s" % (scheme, entry["ip"], port, get.path or "/")
        ctx = ssl._create_unverified_context() if scheme == "https" else None  # noqa: S323 - kubelet does not verify

        def fetch():
            req = urllib.request.Request(url, headers={"User-Agent": KUBE_PROBE_UA, "Accept": "*/*"})
            try:
                with urllib.request.urlopen(req, timeout=2, context=ctx) as resp:  # noqa: S310 - the pod's own IP
                    return 200 <= resp.status < 400
            except OSError:
                return False
        return entry["net"].call(fetch)

    def _end(self, uid):
        entry = self.pods.pop(uid)
        _kill_group(entry["proc"].pid, entry["name"], timeout=10)
        entry["proc"].wait(timeout=5)
        entry["net"].down()

    def logs(self, tail=4000):
        return "\n".join("--- %s\n%s" % (e["name"], e["log"].read_text(errors="replace")[-tail:])
                         for e in self.pods.values())


def runners(cluster, bindir_find, workdir, manifest, components=("webhook", "controller", "autoscaler")):
    """One runner per component; ``bindir_find(name)`` locates the binaries."""
    return [KnativePodRunner(cluster, c, bindir_find(COMPONENTS[c][2]), workdir, manifest) for c in components]
