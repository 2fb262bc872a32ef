"""Local pods that each get a network namespace of their own.

``IsolatedPodRunner`` is ``controllers.LocalPodRunner`` (the kubelet for the
pods of one upstream Deployment) for controllers whose processes bind the
same ports, so they cannot share the control plane's namespace:
cert-manager's three all serve metrics on ``:9402``, Knative's bind 8008,
9090 and 8080 each (tests/cluster/certmanager.py, knative.py). As kubelet
does, it gives each pod

* a network namespace with its own IP (tests/cluster/podnet.py);
* the container's env read from the pod, fieldRefs resolved (``POD_IP``
  included) and ``$(VAR)`` references in env and args expanded;
* readiness probes with named ports resolved, HTTPS without verification
  (Knative's webhook) and ``User-Agent: kube-probe/`` (Knative answers a
  kubelet probe on the autoscaler's websocket port); a container without a
  readinessProbe is ready once its process runs.
"""
import os
import re
import ssl
import urllib.parse
import urllib.request

from .controllers import LOCAL_POD_NET, LocalPodRunner
from .harness import _kill_group
from .podnet import PodNetwork

KUBE_PROBE_UA = "kube-probe/1.36"
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
            "spec.nodeName": pod.spec.node_name, "status.podIP": ip, "status.podIPs": ip}[path]


class IsolatedPodRunner(LocalPodRunner):
    """Runs ``binary`` for the pods of one Deployment, each pod in a network of its own."""

    #: Host numbers in LOCAL_POD_NET, one range per subclass so that runners never share an IP.
    ips = None

    def __init__(self, cluster, binary, workdir, namespace, selector, container, manifest, name):
        super().__init__(cluster, binary, workdir, namespace, selector, container, manifest)
        self.name = name
        self.api_port = urllib.parse.urlsplit(cluster.server).port

    def argv(self, args):
        """The command line for the container's (expanded) args."""
        return [self.binary] + args

    def _start(self, pod):
        ip = str(LOCAL_POD_NET.network_address + next(self.ips))
        net = PodNetwork(self.netns_pid, ip, self.api_port).up()
        entry = {"ip": ip, "net": net, "ready": False, "name": pod.metadata.name, "restarts": 0}
        entry["proc"] = self._spawn(pod, entry)
        return entry

    def _spawn(self, pod, entry):
        spec = next(c for c in pod.spec.containers if c.name == self.container)
        pdir = self.dir / pod.metadata.name
        (pdir / "tmp").mkdir(parents=True, exist_ok=True)
        self._project_service_account(pod, pdir)
        own = {}
        for e in spec.env or []:
            if e.value is not None:
                own[e.name] = expand(e.value, own)
            elif e.value_from and e.value_from.field_ref:
                own[e.name] = _field(pod, e.value_from.field_ref.field_path, entry["ip"])
        argv = self.argv([expand(a, own) for a in list(spec.command or [])[1:] + list(spec.args or [])])
        # The pod's network forwards 127.0.0.1:<API port> to the API server (podnet.py).
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(pdir), "TMPDIR": str(pdir / "tmp"),
               "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.api_port)}
        env.update(own)
        proc = self._launch(entry, argv, env, pdir, entry["net"].pid, "process.log")
        entry.update(log=pdir / "process.log", probe=spec.readiness_probe, ports=spec.ports or [], exited=None,
                     argv=argv)
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
