"""A network namespace per local pod, as a real pod has.

The control plane with webhooks runs in a network namespace of its own
(tests/cluster/netns.py). Several upstream controllers bind the same ports
(Knative's controller, webhook and autoscaler all serve :8008 and :9090, the
controller's probes and the autoscaler's websocket both :8080, KServe's
manager 127.0.0.1:8080), so they cannot share it. ``PodNetwork`` gives one
local pod its own namespace, inside the control plane's:

* a holder process (``sleep``) keeps the namespace alive; the pod's process
  joins it (``netns.entering(holder.pid)``);
* a veth pair: ``eth0`` in the pod with the pod IP (/32), its peer in the
  control plane's namespace with a gateway address (/32) and a host route to
  the pod IP, so the API server (and anything else there) reaches the pod IP
  directly -- what a CNI plugin does. The pod has a route to the gateway
  only: no default route, so nothing it dials outside the control plane is
  even attempted (fails with "network unreachable");
* ``127.0.0.1:<API port>`` inside the pod is forwarded to the API server
  (the kubeconfig's address), so in-cluster config
  (``KUBERNETES_SERVICE_HOST=127.0.0.1``) and TLS names stay as they are.

Everything is torn down with the holder: the kernel deletes the veth pair
with the namespace.
"""
import ipaddress
import os
import signal
import socket
import subprocess
import threading

from . import netns
from .harness import _kill_group, _pdeathsig

GATEWAY_NET = ipaddress.ip_network("10.245.1.0/24")


def _listen(port):
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen(128)
    return lst


class PodNetwork:
    """The network namespace of one local pod with IP ``ip`` (in 10.245.0.0/24)."""

    def __init__(self, cluster_netns_pid, ip, api_port):
        self.parent, self.ip, self.api_port = cluster_netns_pid, ip, api_port
        last = int(ip.split(".")[-1])
        self.gateway = str(GATEWAY_NET.network_address + last)
        self.ifname = "mlpod%d" % last
        self.holder = None
        self.listener = None

    @property
    def pid(self):
        return self.holder.pid

    def up(self):
        enter, death = netns.entering(self.parent), _pdeathsig(signal.SIGKILL)

        def preexec():
            enter()
            os.unshare(os.CLONE_NEWNET)
            death()
        self.holder = subprocess.Popen(["sleep", "infinity"], stdin=subprocess.DEVNULL, start_new_session=True,
                                       preexec_fn=preexec)
        pod = str(self.holder.pid)
        netns.ip(self.parent, "link", "del", self.ifname, check=False)  # left over by a killed run
        netns.ip(self.parent, "link", "add", self.ifname, "type", "veth", "peer", "name", "eth0", "netns", pod)
        netns.ip(self.parent, "addr", "add", self.gateway + "/32", "dev", self.ifname)
        netns.ip(self.parent, "link", "set", self.ifname, "up")
        netns.ip(self.parent, "route", "add", self.ip + "/32", "dev", self.ifname)
        netns.ip(self.pid, "link", "set", "lo", "up")
        netns.ip(self.pid, "addr", "add", self.ip + "/32", "dev", "eth0")
        netns.ip(self.pid, "link", "set", "eth0", "up")
        netns.ip(self.pid, "route", "add", self.gateway + "/32", "dev", "eth0")
        # A socket stays in the namespace it was created in; the accepting
        # thread and the upstream connections live in the test's namespace,
        # where the kubeconfig's 127.0.0.1:port leads to the API server.
        self.listener = netns.call_in(self.pid, _listen, self.api_port)
        threading.Thread(target=self._forward, name="podnet-api-" + self.ip, daemon=True).start()
        return self

    def _forward(self):
        while True:
            try:
                conn = self.listener.accept()[0]
            except OSError:
                return  # closed by down()
            try:
                upstream = socket.create_connection(("127.0.0.1", self.api_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                conn.close()
                continue
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=netns.pump, args=(a, b), daemon=True).start()

    def call(self, fn, *args):
        """fn(*args) in a thread inside the pod's namespace (probes)."""
        return netns.call_in(self.pid, fn, *args)

    def down(self):
        if self.listener is not None:
            self.listener.close()
        if self.holder is not None:
            _kill_group(self.holder.pid, "pod network " + self.ip, timeout=2)
            self.holder.wait(timeout=5)
            self.holder = None
