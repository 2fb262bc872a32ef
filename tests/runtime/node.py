"""A network namespace that stands in for the cluster network.

Workloads bind the addresses their manifests declare (0.0.0.0, fixed ports)
without clashing with anything on the machine, Service names resolve to
loopback addresses through a hosts file the pods get bind-mounted at
/etc/hosts, and the test talks to them from a thread that joins the
namespace (setns is per thread), so all traffic stays on loopback.
"""
import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path


class Node:
    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.hosts_file = self.workdir / "hosts"
        self._hosts = {}
        self._next_ip = 2
        # The holder process keeps the namespace alive; pods join it by path.
        self._holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "infinity"],
                                        start_new_session=True, stdin=subprocess.DEVNULL)
        self.netns = "/proc/%d/ns/net" % self._holder.pid
        deadline = time.monotonic() + 10
        while os.readlink(self.netns) == os.readlink("/proc/self/ns/net"):
            if time.monotonic() > deadline:
                raise RuntimeError("unshare --net did not create a network namespace")
            time.sleep(0.02)
        subprocess.run(["nsenter", "--net=" + self.netns, "ip", "link", "set", "lo", "up"], check=True)
        self._write_hosts()

    def pod_ip(self, *service_names):
        """A fresh loopback address for one pod, with its Service names."""
        ip = "127.0.0.%d" % self._next_ip
        self._next_ip += 1
        for name in service_names:
            self._hosts[name] = ip
            # What the cluster DNS answers for the fully qualified name too.
            if name.endswith(".svc"):
                self._hosts[name + ".cluster.local"] = ip
        self._write_hosts()
        return ip

    def resolve(self, name):
        return self._hosts[name]

    def _write_hosts(self):
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
        lines += ["%s %s" % (ip, name) for name, ip in sorted(self._hosts.items())]
        # Rewritten in place: pods have the file bind-mounted, a rename
        # would leave them with the old inode.
        with open(self.hosts_file, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        self.hosts_file.chmod(0o644)

    def call(self, fn, *args, **kwargs):
        """Run fn inside the namespace (in a thread that joined it)."""
        box = {}

        def run():
            try:
                fd = os.open(self.netns, os.O_RDONLY)
                try:
                    os.setns(fd, os.CLONE_NEWNET)
                finally:
                    os.close(fd)
                box["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # pylint: disable=broad-except
                box["error"] = exc

        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join()
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def http(self, method, ip, port, path, body=None, headers=None, timeout=10):
        """(status, body bytes) of one request to ip:port inside the namespace."""
        def req():
            conn = http.client.HTTPConnection(ip, port, timeout=timeout)
            try:
                conn.request(method, path, body=body, headers=headers or {})
                resp = conn.getresponse()
                return resp.status, resp.read()
            finally:
                conn.close()
        return self.call(req)

    def tcp_open(self, ip, port, timeout=2):
        def probe():
            with socket.create_connection((ip, port), timeout=timeout):
                return True
        try:
            return self.call(probe)
        except OSError:
            return False

    def stop(self):
        if self._holder.poll() is None:
            os.killpg(self._holder.pid, signal.SIGKILL)
            self._holder.wait(timeout=10)
