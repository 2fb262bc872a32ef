"""A small HTTP proxy on 127.0.0.1 for tests: CONNECT tunnels (https
targets) and absolute-form requests (http targets), with a log of what it
was asked for.

    with ConnectProxy(hosts={"kubernetes.default.svc": "127.0.0.1"}) as proxy:
        ... HTTPS_PROXY=proxy.url ...
        assert proxy.connects == ["kubernetes.default.svc:6443"]

``hosts`` maps names to addresses the way a proxy's resolver would; a name
that only the proxy can resolve proves a client went through it. Targets
outside 127.0.0.0/8 are refused (403): tests never leave the machine.
``auth=("user", "password")`` demands Basic Proxy-Authorization (407).
"""
import base64
import ipaddress
import socket
import threading

from tests.cluster.netns import pump


class ConnectProxy:
    def __init__(self, hosts=None, auth=None):
        self.hosts = dict(hosts or {})
        self.auth = auth
        self.connects = []  # "host:port" of every CONNECT, in order
        self.requests = []  # absolute-form request lines (plain http)
        self.refused = []  # (target, status) the proxy refused
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="connect-proxy", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()

    def _accept(self):
        while True:
            try:
                conn = self._listener.accept()[0]
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _resolve(self, host):
        addr = self.hosts.get(host.strip("[]"), host.strip("[]"))
        try:
            if not ipaddress.ip_address(addr).is_loopback:
                return None
        except ValueError:
            return None  # a name nobody mapped: this proxy resolves nothing else
        return addr

    def _authorized(self, head):
        if not self.auth:
            return True
        want = "Basic " + base64.b64encode(("%s:%s" % self.auth).encode()).decode()
        for line in head.split("\r\n")[1:]:
            name, dummy, value = line.partition(":")
            if name.strip().lower() == "proxy-authorization" and value.strip() == want:
                return True
        return False

    def _refuse(self, conn, target, status):
        with self._lock:
            self.refused.append((target, status))
        conn.sendall(("HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" % status).encode())
        conn.close()

    def _serve(self, conn):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(65536)
            if not chunk:
                conn.close()
                return
            head += chunk
        raw_head, rest = head.split(b"\r\n\r\n", 1)
        text = raw_head.decode("latin-1")
        method, target, _version = text.split("\r\n", 1)[0].split(" ", 2)
        if not self._authorized(text):
            self._refuse(conn, target, "407 Proxy Authentication Required")
            return
        if method == "CONNECT":
            host, dummy, port = target.rpartition(":")
            with self._lock:
                self.connects.append(target)
            addr = self._resolve(host)
            if addr is None:
                self._refuse(conn, target, "403 Forbidden")
                return
            try:
                upstream = socket.create_connection((addr, int(port)), timeout=10)
            except OSError:
                self._refuse(conn, target, "502 Bad Gateway")
                return
            upstream.settimeout(None)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
        else:
            # Absolute-form: GET http://host:port/path HTTP/1.1
            with self._lock:
                self.requests.append("%s %s" % (method, target))
            hostport = target.split("://", 1)[1].split("/", 1)[0]
            host, dummy, port = hostport.rpartition(":")
            addr = self._resolve(host)
            if addr is None:
                self._refuse(conn, target, "403 Forbidden")
                return
            path = "/" + target.split("://", 1)[1].split("/", 1)[1] if "/" in target.split("://", 1)[1] else "/"
            lines = text.split("\r\n")
            first = "%s %s %s" % (method, path, _version)
            kept = [l for l in lines[1:] if not l.lower().startswith("proxy-")]
            upstream = socket.create_connection((addr, int(port or 80)), timeout=10)
            upstream.settimeout(None)
            upstream.sendall(("\r\n".join([first] + kept) + "\r\n\r\n").encode("latin-1") + rest)
        back = threading.Thread(target=pump, args=(upstream, conn), daemon=True)
        back.start()
        pump(conn, upstream)
        back.join(timeout=5)
        for s in (conn, upstream):
            s.close()
