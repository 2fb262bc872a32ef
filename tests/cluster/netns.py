"""A private network namespace for a control plane that calls local webhooks.

The API server calls a webhook through the endpoints of its Service
(``--enable-aggregator-routing``), and Endpoints/EndpointSlices refuse
loopback addresses. So the supervisor moves itself (and every component it
starts) into a network namespace of its own, where a pod IP can be put on
``lo`` without touching the machine's network. The admin's side keeps
working unchanged: a listener bound on the machine's 127.0.0.1 *before* the
move is forwarded to the API server on the same port inside the namespace,
so one kubeconfig URL is right on both sides.

Needs CAP_SYS_ADMIN (root) and iproute2's ``ip``; ``nsenter`` for helpers
run from the test process.
"""
import os
import shutil
import socket
import subprocess
import threading


def available():
    """Why a private network namespace cannot be made here, or '' when it can."""
    if os.geteuid() != 0:
        return "needs root (CAP_SYS_ADMIN) for a private network namespace"
    missing = [b for b in ("ip", "nsenter") if not shutil.which(b)]
    return "missing %s (iproute2, util-linux)" % ", ".join(missing) if missing else ""


def isolate():
    """Bind the machine-side listener, then move this process into a new netns.

    Call it before any thread starts: threads and children inherit the
    namespace of the thread that creates them. Returns the listener.
    """
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(128)
    os.unshare(os.CLONE_NEWNET)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    return lst


def pump(src, dst):
    """Copy src to dst until either side closes, then shut both down."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Forwarder(threading.Thread):
    """Machine 127.0.0.1:port (the listener) -> namespace 127.0.0.1:port."""

    def __init__(self, listener):
        super().__init__(name="netns-forwarder", daemon=True)
        self.listener = listener
        self.port = listener.getsockname()[1]

    def run(self):
        while True:
            try:
                conn = self.listener.accept()[0]
            except OSError:
                return  # listener closed at teardown
            try:
                inner = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                inner.settimeout(None)
            except OSError:
                conn.close()
                continue
            for a, b in ((conn, inner), (inner, conn)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    def stop(self):
        self.listener.close()


def ns_path(pid):
    return "/proc/%d/ns/net" % pid


def entering(pid):
    """preexec_fn part: move a child process into the netns of ``pid``."""
    path = ns_path(pid)

    def enter():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.setns(fd, os.CLONE_NEWNET)
        finally:
            os.close(fd)
    return enter


def ip(pid, *args, check=True):
    """Run ``ip ARGS`` inside the netns of ``pid``."""
    return subprocess.run(["nsenter", "--net=" + ns_path(pid), "ip"] + list(args),
                          capture_output=True, text=True, check=check)


def call_in(pid, fn, *args):
    """Run fn(*args) in a thread that joined the netns of ``pid`` (per-thread
    on Linux, so the caller's own sockets stay where they are)."""
    out = {}

    def run():
        try:
            entering(pid)()
            out["value"] = fn(*args)
        except Exception as exc:  # noqa: BLE001 - re-raised in the caller
            out["error"] = exc
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")
