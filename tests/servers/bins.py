"""Locate test server binaries built by scripts/build-testbins.sh."""
import os
import shutil
import socket
import time
from pathlib import Path

CACHE = Path(os.environ.get("MLOPS_CACHE") or
             Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlops-stack")
BIN_DIR = CACHE / "bin"


def find_bin(name):
    """Path of a Go-built test binary, or of one on PATH, or None."""
    p = BIN_DIR / name
    if p.exists() and os.access(p, os.X_OK):
        return str(p)
    return shutil.which(name)


def free_port():
    return free_ports(1)[0]


def free_ports(count):
    """*count* distinct free ports on 127.0.0.1: the sockets stay bound until
    all are chosen, so the kernel cannot hand one port out twice."""
    socks = []
    try:
        for dummy in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_for_port(port, host="127.0.0.1", timeout=60.0, proc=None):
    """Wait until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with code %s before listening on %s:%s"
                               % (proc.returncode, host, port))
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("nothing listens on %s:%s after %ss" % (host, port, timeout))
