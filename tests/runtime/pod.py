"""Run one rendered container as its pod would, as a local process.

    pod = run_container(node, image, pod_spec, container, secrets=..., configmaps=...,
                        pvcs={"data": dir}, pod_ip=node.pod_ip("svc.ns.svc"))
    pod.wait_started(); pod.probe("readinessProbe"); pod.stop()

The process gets exactly the container's command/args (the image's
entrypoint/cmd where the manifest sets none, `$(VAR)` expanded like the
kubelet does), its env with secretKeyRef/configMapKeyRef/fieldRef resolved
from the given objects (a missing key fails like CreateContainerConfigError),
the volumes at their mount paths (emptyDir: a tmpfs; configMap/secret: files,
read-only; PVC: a directory of the test), the image's /etc/passwd users, the
manifest's uid/gid/fsGroup, no capabilities, no_new_privs, and a read-only
root when readOnlyRootFilesystem says so (else a throwaway writable layer).

How: `nsenter --net` (the Node's namespace), `unshare --mount` (a private
mount namespace), an overlay of / with a tmpfs upper layer as the pod's root
(mount points and /etc/passwd are created there, never on the machine), /root
hidden behind an empty tmpfs with only the image's software bound back,
`chroot` and `setpriv`. Same PID namespace as the machine (not isolated).
"""
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

SETPRIV = "/usr/bin/setpriv"


class ContainerConfigError(RuntimeError):
    """What the kubelet reports as CreateContainerConfigError."""


def expand(text, env):
    """Kubernetes $(VAR) expansion: unknown references stay, $$ escapes."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", sub, text)


def resolve_env(container, secrets, configmaps, pod_ip, pod_name, base_env):
    env = dict(base_env)
    for item in container.get("env", []):
        name = item["name"]
        if "value" in item:
            env[name] = expand(str(item["value"]), env)
            continue
        src = item.get("valueFrom", {})
        if "secretKeyRef" in src or "configMapKeyRef" in src:
            kind = "secretKeyRef" if "secretKeyRef" in src else "configMapKeyRef"
            ref = src[kind]
            store = secrets if kind == "secretKeyRef" else configmaps
            data = store.get(ref["name"])
            if data is None or ref["key"] not in data:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError("env %s: %s %s has no key %r" % (
                    name, "Secret" if kind == "secretKeyRef" else "ConfigMap", ref["name"], ref["key"]))
            env[name] = data[ref["key"]]
        elif "fieldRef" in src:
            path = src["fieldRef"]["fieldPath"]
            env[name] = {"status.podIP": pod_ip, "metadata.name": pod_name,
                         "metadata.namespace": "mlops"}.get(path, "")
        else:
            raise ContainerConfigError("env %s: unsupported source %r" % (name, src))
    return env


class Pod:
    def __init__(self, node, name, proc, log_path, ip, container, env, uid, gid):
        self.node, self.name, self.proc, self.log_path = node, name, proc, Path(log_path)
        self.ip, self.container, self.env, self.uid, self.gid = ip, container, env, uid, gid

    def log(self, n=6000):
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def port(self, ref):
        """A probe's port: a number or the name of a declared container port."""
        if isinstance(ref, int) or str(ref).isdigit():
            return int(ref)
        for p in self.container.get("ports", []):
            if p.get("name") == ref:
                return int(p["containerPort"])
        raise AssertionError("container %s declares no port named %r" % (self.container["name"], ref))

    def probe(self, kind):
        """(ok, detail) of one run of the container's declared probe `kind`."""
        spec = self.container.get(kind)
        assert spec, "container %s declares no %s" % (self.container["name"], kind)
        timeout = spec.get("timeoutSeconds", 1)
        if "httpGet" in spec:
            get = spec["httpGet"]
            port = self.port(get["port"])
            try:
                status, body = self.node.http("GET", get.get("host") or self.ip, port, get.get("path", "/"),
                                              timeout=max(timeout, 2))
            except OSError as exc:
                return False, "GET %s:%s%s: %s" % (self.ip, port, get.get("path", "/"), exc)
            return 200 <= status < 400, "GET %s:%s%s -> %s %s" % (
                self.ip, port, get.get("path", "/"), status, body[:200])
        if "tcpSocket" in spec:
            port = self.port(spec["tcpSocket"]["port"])
            ok = self.node.tcp_open(self.ip, port, timeout=max(timeout, 2))
            return ok, "TCP %s:%s %s" % (self.ip, port, "open" if ok else "refused")
        if "exec" in spec:
            res = self.exec(spec["exec"]["command"], timeout=max(timeout, 5))
            return res.returncode == 0, "exec %s -> rc %s %s" % (
                spec["exec"]["command"], res.returncode, (res.stdout + res.stderr)[-300:])
        raise AssertionError("unsupported probe %r" % spec)

    def exec(self, argv, timeout=30):
        """Run argv in the container (its mount and network namespace, root, uid, env)."""
        cmd = ["nsenter", "--target", str(self.proc.pid), "--mount", "--net", "--root", "--wd",
               SETPRIV, "--reuid=%d" % self.uid, "--regid=%d" % self.gid, "--clear-groups",
               "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"] + list(argv)
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def wait_started(self, timeout=None):
        """Wait like the kubelet: the startup probe (or readiness) within its budget."""
        kind = "startupProbe" if "startupProbe" in self.container else "readinessProbe"
        spec = self.container.get(kind)
        if spec is None:
            raise AssertionError("container %s declares no startup/readiness probe" % self.container["name"])
        budget = timeout or spec.get("periodSeconds", 10) * spec.get("failureThreshold", 3)
        deadline = time.monotonic() + budget
        detail = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %s before its %s passed (%s); log:\n%s"
                                     % (self.name, self.proc.returncode, kind, detail, self.log()))
            ok, detail = self.probe(kind)
            if ok:
                return detail
            time.sleep(0.5)
        raise AssertionError("%s: %s still failing after %ss: %s; log:\n%s"
                             % (self.name, kind, budget, detail, self.log()))

    def wait_probe(self, kind, timeout):
        """Wait until probe `kind` passes (e.g. readiness after startup)."""
        deadline = time.monotonic() + timeout
        ok, detail = self.probe(kind)
        while not ok and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
            ok, detail = self.probe(kind)
        if not ok and self.proc.poll() is not None:
            raise AssertionError("%s exited with %s before its %s passed (%s); log:\n%s"
                                 % (self.name, self.proc.returncode, kind, detail, self.log()))
        assert ok, "%s: %s still failing after %ss: %s; log:\n%s" % (self.name, kind, timeout, detail, self.log())

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s still running after %ss; log:\n%s" % (self.name, timeout, self.log()))

    def stop(self, grace=20):
        if self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


def _volume_files(vol, store, workdir):
    """Write a configMap/secret volume's files into a host dir; return it."""
    kind = "configMap" if "configMap" in vol else "secret"
    src = vol[kind]
    name = src.get("name") or src.get("secretName")
    data = store.get(name)
    if data is None:
        raise ContainerConfigError("volume %s: %s %s not found" % (vol["name"], kind, name))
    mode = src.get("defaultMode", 0o644)
    items = src.get("items") or [{"key": k, "path": k} for k in data]
    out = Path(workdir) / ("vol-" + vol["name"])
    out.mkdir(parents=True, exist_ok=True)
    for item in items:
        if item["key"] not in data:
            raise ContainerConfigError("volume %s: %s %s has no key %r" % (vol["name"], kind, name, item["key"]))
        f = out / item["path"]
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(data[item["key"]])
        f.chmod(item.get("mode", mode))
    out.chmod(0o755)
    return out


def run_container(node, image, pod_spec, container, *, name, workdir, secrets=None, configmaps=None,
                  pvcs=None, pod_ip, extra_env=None):
    """Start `container` of `pod_spec` in the node; return a Pod (see the module doc)."""
    secrets, configmaps, pvcs = secrets or {}, configmaps or {}, pvcs or {}
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    psc = pod_spec.get("securityContext", {})
    csc = container.get("securityContext", {})
    uid = csc.get("runAsUser", psc.get("runAsUser", image.user))
    gid = csc.get("runAsGroup", psc.get("runAsGroup", uid))
    fs_group = psc.get("fsGroup")
    if csc.get("runAsNonRoot", psc.get("runAsNonRoot")) and uid == 0:
        raise ContainerConfigError("container has runAsNonRoot and image will run as root")
    base_env = {"HOSTNAME": name}
    base_env.update(image.env)
    container = dict(container, env=list(container.get("env", [])) + list(extra_env or []))
    env = resolve_env(container, secrets, configmaps, pod_ip, name, base_env)
    if container.get("command"):
        argv = container["command"] + container.get("args", [])
    else:
        argv = image.entrypoint + (container["args"] if "args" in container else image.cmd)
    argv = [expand(a, env) for a in argv]

    vols = {v["name"]: v for v in pod_spec.get("volumes", [])}
    w = workdir / "mnt"
    w.mkdir(exist_ok=True)
    r = "%s/root" % w
    q = shlex.quote
    sh = ["set -eu",
          "mount -t tmpfs -o mode=0755 tmpfs %s" % q(str(w)),
          "mkdir %s/up %s/work %s" % (q(str(w)), q(str(w)), q(r)),
          "mount -t overlay overlay -o lowerdir=/,upperdir=%s/up,workdir=%s/work %s" % (q(str(w)), q(str(w)), q(r)),
          # The image's users, not the machine's.
          "printf '%%s\\n' %s > %s/etc/passwd" % (" ".join(q(l) for l in _passwd(image)), q(r)),
          "printf '%%s\\n' %s > %s/etc/group" % (" ".join(q(l) for l in _group(image)), q(r)),
          "mount -t tmpfs -o mode=0755 tmpfs %s/root" % q(r),
          "mount --rbind /proc %s/proc" % q(r), "mount --rbind /dev %s/dev" % q(r),
          "mount --rbind /sys %s/sys" % q(r),
          "mount -t tmpfs -o mode=1777,size=64m shm %s/dev/shm" % q(r)]
    # The image's software, read-only, at its path (under /root for the venvs).
    for path in image.software:
        sh += ["mkdir -p %s%s" % (q(r), q(path)), "mount --bind -o ro %s %s%s" % (q(path), q(r), q(path))]
    for dest, src in image.binds.items():
        dest = _host_view(dest)
        sh += ["mkdir -p %s%s" % (q(r), q(os.path.dirname(dest))), "touch %s%s" % (q(r), q(dest)),
               "mount --bind -o ro %s %s%s" % (q(src), q(r), q(dest))]
    if image.workdir != "/":
        sh += ["mkdir -p %s%s" % (q(r), q(image.workdir)),
               "chown %d:0 %s%s" % (image.user, q(r), q(image.workdir)),
               "chmod 0775 %s%s" % (q(r), q(image.workdir))]
    # What the image has at /tmp (empty), not the machine's /tmp.
    sh += ["mount -t tmpfs -o mode=1777 tmpfs %s/tmp" % q(r)]
    for vm in container.get("volumeMounts", []):
        vol = vols.get(vm["name"])
        target = "%s%s" % (q(r), q(_host_view(vm["mountPath"])))
        ro = ",ro" if vm.get("readOnly") else ""
        sh.append("mkdir -p %s" % target)
        if vol is None:  # a volumeClaimTemplate
            src = pvcs[vm["name"]]
            sh.append("mount --bind %s %s" % (q(str(src)), target))
        elif "emptyDir" in vol:
            size = vol["emptyDir"].get("sizeLimit")
            opts = "mode=0777" + (",size=%s" % size.replace("Mi", "m").replace("Gi", "g") if size else "")
            sh.append("mount -t tmpfs -o %s tmpfs %s" % (opts, target))
            if fs_group is not None:
                sh.append("chgrp %d %s && chmod 2777 %s" % (fs_group, target, target))
        elif "configMap" in vol or "secret" in vol:
            store = configmaps if "configMap" in vol else secrets
            src = _volume_files(vol, store, workdir)
            sh.append("mount --bind -o ro %s %s" % (q(str(src)), target))
            sh.append("mount -o remount,bind,ro %s" % target)
        elif "persistentVolumeClaim" in vol:
            src = pvcs[vol["persistentVolumeClaim"]["claimName"]]
            sh.append("mount --bind %s %s" % (q(str(src)), target))
        else:
            raise ContainerConfigError("volume %s: unsupported %r" % (vm["name"], vol))
        if ro and ("emptyDir" in (vol or {}) or vol is None or "persistentVolumeClaim" in (vol or {})):
            sh.append("mount -o remount,bind,ro %s" % target)
    sh += ["mkdir -p %s/etc" % q(r), "touch %s/etc/hosts" % q(r),
           "mount --bind -o ro %s %s/etc/hosts" % (q(str(node.hosts_file)), q(r))]
    if csc.get("readOnlyRootFilesystem"):
        sh.append("mount -o remount,ro %s" % q(r))
    groups = "--groups=%d" % fs_group if fs_group is not None else "--clear-groups"
    # No capabilities at all: the pods run as non-root users, and dropping the
    # bounding set also covers an image that runs as root.
    sh.append("cd %s && exec /usr/sbin/chroot %s %s --reuid=%d --regid=%d %s --no-new-privs "
              "--inh-caps=-all --bounding-set=-all -- /bin/sh -c 'cd \"$0\" && exec \"$@\"' %s %s"
              % (q(r), q(r), SETPRIV, uid, gid, groups, q(image.workdir),
                 " ".join(q(a) for a in argv)))
    script = "\n".join(sh)
    (workdir / "sandbox.sh").write_text(script + "\n")
    log_path = workdir / "container.log"
    log = open(log_path, "ab")
    try:
        proc = subprocess.Popen(["nsenter", "--net=" + node.netns, "--", "unshare", "--mount",
                                 "--propagation", "private", "--", "/bin/sh", "-c", script],
                                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    finally:
        log.close()
    return Pod(node, name, proc, log_path, pod_ip, container, env, uid, gid)


def _host_view(path):
    """`path` with its symlinks resolved: the pod's root is an overlay of the
    machine's /, and an absolute symlink such as /var/run -> /run would
    otherwise lead a mount out of the pod's root."""
    return os.path.realpath(path)


def _passwd(image):
    lines = ["root:x:0:0:root:/root:/bin/sh"]
    for u, (uname, home) in sorted(image.users.items()):
        lines.append("%s:x:%d:%d::%s:/bin/sh" % (uname, u, u, home))
    return lines


def _group(image):
    return ["root:x:0:"] + ["%s:x:%d:" % (uname, u) for u, (uname, _home) in sorted(image.users.items()) if u]
