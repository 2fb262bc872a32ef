"""cert-manager's real controller, webhook and cainjector as local pods.

``CertManagerPodRunner`` is ``controllers.LocalPodRunner`` (the kubelet for
the pods of one upstream Deployment) for the three Deployments of
cert-manager's release manifest, all played by one binary with subcommands
(tools/testbins/cert-manager, ``$MLOPS_CACHE/bin/cert-manager``):

* each pod gets a network namespace of its own (tests/cluster/podnet.py):
  the three processes all serve metrics on ``:9402``;
* the container's args and env are read from the pod, i.e. from the
  manifest as the certmanager role applied it, and ``$(POD_NAMESPACE)``
  references in the args are expanded from the env as kubelet does;
* probes as kubelet sends them (named ports; a container without a
  readinessProbe is ready once its process runs, as the controller and
  cainjector are on a real cluster);
* nothing of cainjector's job is done here: the webhook issues its own
  serving certificate from a CA it keeps in the Secret
  ``cert-manager-webhook-ca`` (``--dynamic-serving-*`` flags), and the real
  cainjector copies that CA into the ``caBundle`` of the webhook
  configurations annotated ``cert-manager.io/inject-ca-from-secret``.
"""
import itertools
import logging
import os
import re
import signal
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path


from . import netns
from .controllers import LOCAL_POD_NET, LocalPodRunner, _own_run
from .harness import _kill_group, _pdeathsig
from .podnet import PodNetwork

log = logging.getLogger("mlops.cluster.certmanager")

NAMESPACE = "cert-manager"
#: kwok leaves every pod of the release alone (one label shared by the three).
LOCAL_PODS = ["app.kubernetes.io/instance=cert-manager"]
#: component -> (pod selector, container name); the subcommand is the component.
COMPONENTS = {
    "controller": ("app.kubernetes.io/instance=cert-manager,app.kubernetes.io/component=controller",
                   "cert-manager-controller"),
    "webhook": ("app.kubernetes.io/instance=cert-manager,app.kubernetes.io/component=webhook",
                "cert-manager-webhook"),
    "cainjector": ("app.kubernetes.io/instance=cert-manager,app.kubernetes.io/component=cainjector",
                   "cert-manager-cainjector"),
}
# KServe's runner takes addresses from .10 up, Knative's from .100 up.
_IPS = itertools.count(200)
_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(value, env):
    """Kubernetes' $(VAR) expansion of command/args: defined variables are
    replaced, undefined references kept, ``$$`` is a literal ``$``."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _REF.sub(sub, value)


def _field(pod, path, ip):
    return {"metadata.namespace": pod.metadata.namespace, "metadata.name": pod.metadata.name,
            "metadata.uid": pod.metadata.uid, "spec.serviceAccountName": pod.spec.service_account_name,
            "spec.nodeName": pod.spec.node_name, "status.podIP": ip}[path]


class CertManagerPodRunner(LocalPodRunner):
    """Runs one cert-manager component (``controller``, ``webhook``, ``cainjector``)."""

    def __init__(self, cluster, component, binary, workdir, manifest):
        selector, container = COMPONENTS[component]
        super().__init__(cluster, binary, Path(workdir) / component, NAMESPACE, selector, container, manifest)
        self.component = component
        self.name = "cert-manager-" + component
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
        env = {}
        for e in spec.env or []:
            if e.value is not None:
                env[e.name] = expand(e.value, env)
            elif e.value_from and e.value_from.field_ref:
                env[e.name] = _field(pod, e.value_from.field_ref.field_path, entry["ip"])
        args = [expand(a, env) for a in list(spec.command or [])[1:] + list(spec.args or [])]
        argv = [self.binary, self.component] + args
        env.update({"PATH": os.environ.get("PATH", ""), "HOME": str(pdir), "TMPDIR": str(pdir / "tmp"),
                    "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.api_port)})
        enter, death = netns.entering(entry["net"].pid), _pdeathsig(signal.SIGKILL)

        def preexec():
            enter()
            _own_run(pdir / "run")
            death()
        logf = open(pdir / "process.log", "ab")
        proc = subprocess.Popen(argv, env=env, cwd=str(pdir), stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec)
        logf.close()
        log.info("started %s for pod %s (pid %s, ip %s): %s", self.name, pod.metadata.name, proc.pid,
                 entry["ip"], argv)
        entry.update(log=pdir / "process.log", probe=spec.readiness_probe, ports=spec.ports or [], exited=None,
                     argv=argv)
        return proc

    def _probe(self, entry):
        probe = entry["probe"]
        if probe is None:
            return True  # kubelet: no readinessProbe, ready once the container runs
        get = probe.http_get
        port = get.port
        if isinstance(port, str) and not port.isdigit():
            port = next(p.container_port for p in entry["ports"] if p.name == port)
        url = "%s://%s:%s%s" % ((get.scheme or "HTTP").lower(), entry["ip"], port, get.path or "/")

        def fetch():
            req = urllib.request.Request(url, headers={"User-Agent": "kube-probe/1.36"})
            try:
                with urllib.request.urlopen(req, timeout=2) as resp:  # noqa: S310 - the pod's own IP
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


def runners(cluster, binary, workdir, manifest, components=("webhook", "cainjector", "controller")):
    """One runner per cert-manager Deployment, all running ``binary``."""
    return [CertManagerPodRunner(cluster, c, binary, workdir, manifest) for c in components]
