"""Build the Python software of the images the runtime contract tests stand
in for (tests/runtime), as venvs cached under
$MLOPS_CACHE/images/<name>-<key>/ (key: interpreter + requirements), linked
as $MLOPS_CACHE/images/<name>. PyPI only; a warm run checks markers only.

    build.py [--list] [name...]

The requirements are derived from the files that pin the images, so a
change there is a cache miss: the mlflow role's default image tag, the slim
image's Dockerfile (its `pip install` lines, parsed), the kserve role's
MLServer runtime tag and KServe version. Where the test software differs
from the image, the test that runs it says so (tests/runtime/images.py).
"""
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("MLOPS_CACHE") or
             Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlops-stack")
IMAGES = CACHE / "images"
# The images are python:3.11 based (MLflow, KServe) and the sandbox runs them
# as non-root users, who cannot reach an interpreter under /root (pyenv):
# Debian's python3.11 lives in /usr.
PYTHON = os.environ.get("MLOPS_IMAGE_PYTHON", "/usr/bin/python3.11")


def _yaml_value(path, key):
    m = re.search(r"^%s:\s*(\S+)" % re.escape(key), (ROOT / path).read_text(), re.M)
    if not m:
        raise ValueError("%s not found in %s" % (key, path))
    return m.group(1).strip("\"'")


def mlflow_version():
    """3.17.2 from the mlflow role's default image ghcr.io/mlflow/mlflow:v3.17.2-full."""
    tag = _yaml_value("roles/mlflow/defaults/main.yml", "mlflow_image").rsplit(":", 1)[1]
    return re.match(r"v?([0-9][0-9.]*)", tag).group(1)


def dockerfile_pip_installs(path):
    """(base image, [requirement, ...]) of a Dockerfile: every `pip install`
    argument of its RUN instructions with ARG defaults substituted."""
    text = re.sub(r"\\\n", " ", Path(path).read_text())
    args, base, reqs = {}, None, []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, dummy, rest = line.partition(" ")
        instr = instr.upper()
        if instr == "ARG" and "=" in rest:
            k, v = rest.split("=", 1)
            args.setdefault(k.strip(), v.strip())
        rest = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), rest)
        if instr == "FROM":
            base = rest.split()[0]
        elif instr == "RUN":
            for cmd in re.split(r"&&|;", rest):
                words = shlex.split(cmd)
                if len(words) >= 2 and words[0] in ("pip", "pip3") and words[1] == "install":
                    reqs += [w for w in words[2:] if not w.startswith("-")]
    return base, reqs


def mlserver_version():
    """1.7.1 from the kserve role's runtime image docker.io/seldonio/mlserver:1.7.1-mlflow."""
    tag = _yaml_value("roles/kserve/defaults/main.yml", "kserve_mlflow_runtime_image").rsplit(":", 1)[1]
    return tag.split("-")[0]


def kserve_version():
    return _yaml_value("roles/kserve/defaults/main.yml", "kserve_version").lstrip("v")


def specs():
    """name -> list of requirements."""
    mv = mlflow_version()
    slim_base, slim_reqs = dockerfile_pip_installs(ROOT / "roles/mlflow/files/Dockerfile")
    base_version = re.match(r"ghcr\.io/mlflow/mlflow:v([0-9.]+)$", slim_base or "")
    if not base_version:
        raise ValueError("slim Dockerfile: unexpected base image %r" % slim_base)
    sv = mlserver_version()
    return {
        # Upstream docker/Dockerfile.full.
        "mlflow-full": ["mlflow[extras,azure,db,gateway,genai,auth]==%s" % mv],
        # The slim image: its base (upstream docker/Dockerfile: pip install mlflow)
        # plus exactly what roles/mlflow/files/Dockerfile pip-installs.
        "mlflow-slim": ["mlflow==%s" % base_version.group(1)] + slim_reqs,
        "mlserver": ["mlserver==%s" % sv, "mlserver-mlflow==%s" % sv, "uvloop>=0.21,<0.22",
                     "scikit-learn"],
        "kserve-storage": ["kserve-storage==%s" % kserve_version()],
    }


def key(reqs):
    ver = subprocess.run([PYTHON, "-c", "import sys;print(sys.version)"], capture_output=True,
                         text=True, check=True).stdout.strip()
    return hashlib.sha256(("\n".join([ver] + reqs)).encode()).hexdigest()[:12]


def image_dir(name):
    """The venv of the current spec of image *name* (it may not be built yet)."""
    reqs = specs()[name]
    return IMAGES / ("%s-%s" % (name, key(reqs)))


def is_built(name):
    return (image_dir(name) / ".complete").is_file()


def build(name):
    dest = image_dir(name)
    if (dest / ".complete").is_file():
        _link(name, dest)
        return name, 0.0, "cached"
    reqs = specs()[name]
    t0 = time.monotonic()
    shutil.rmtree(dest, ignore_errors=True)
    IMAGES.mkdir(parents=True, exist_ok=True)
    log = IMAGES / (name + ".build.log")
    with open(log, "w") as fh:
        # Built in place (a venv is not relocatable); .complete marks it done.
        subprocess.run([PYTHON, "-m", "venv", str(dest)], check=True, stdout=fh, stderr=fh)
        rc = subprocess.run([str(dest / "bin/pip"), "install", "--progress-bar", "off",
                             "--disable-pip-version-check"] + reqs, stdout=fh, stderr=fh, check=False).returncode
    if rc != 0:
        raise RuntimeError("image %s: pip install failed, see %s:\n%s"
                           % (name, log, log.read_text()[-3000:]))
    (dest / "requirements.in").write_text("\n".join(reqs) + "\n")
    freeze = subprocess.run([str(dest / "bin/pip"), "freeze"], capture_output=True, text=True, check=True)
    (dest / "requirements.lock").write_text(freeze.stdout)
    # The sandbox runs the images as non-root users.
    subprocess.run(["chmod", "-R", "a+rX", str(dest)], check=True)
    (dest / ".complete").write_text("")
    _link(name, dest)
    return name, time.monotonic() - t0, "built"


def _link(name, dest):
    link = IMAGES / name
    tmp = IMAGES / (".%s.link" % name)
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(dest.name)
    os.replace(tmp, link)


def main(argv):
    names = [a for a in argv if not a.startswith("-")] or list(specs())
    if "--list" in argv:
        for n in names:
            print("%-15s %s %s" % (n, image_dir(n), " ".join(specs()[n])))
        return 0
    if not Path(PYTHON).exists():
        print("error: %s not found (apt-get install python3.11-venv, or set MLOPS_IMAGE_PYTHON)" % PYTHON,
              file=sys.stderr)
        return 1
    t0 = time.monotonic()
    # pip is mostly waiting on the network: the images build side by side.
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        futures = [pool.submit(build, n) for n in names]
    failed = 0
    for fut in futures:
        try:
            n, secs, how = fut.result()
            print("runtime image %s: %s (%.0fs) %s" % (n, how, secs, image_dir(n)), file=sys.stderr)
        except Exception as exc:  # pylint: disable=broad-except
            print(str(exc), file=sys.stderr)
            failed += 1
    print("runtime images: %.0fs" % (time.monotonic() - t0), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
