"""What stands in for each image the roles deploy, and how it differs.

An image is its software plus a few facts the pod inherits from it: the
entrypoint/cmd used when a manifest sets none, its ENV, its users
(/etc/passwd), its workdir. The software is a venv built by
tools/images/build.py (PyPI, pinned from the same files the roles pin), a
Go binary built by tools/testbins, or Debian's PostgreSQL. Every known
difference between image and test software is listed in `differences` and
printed by the tests that run it.
"""
import importlib.util
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import require
from tests.servers.bins import find_bin
from tests.servers.postgres import find_pg_bindir

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("mlops_image_build", ROOT / "tools" / "images" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PY_IMAGE_DIFF = ("Python: Debian's %s; the image's is python:3.11-slim-bookworm's 3.11.x"
                 % build.PYTHON)


@dataclass
class Image:
    ref: str
    entrypoint: list = field(default_factory=list)
    cmd: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)     # uid -> (name, home)
    user: int = 0
    workdir: str = "/"
    binds: dict = field(default_factory=dict)     # path in the pod -> host path (read-only)
    software: list = field(default_factory=list)  # host paths the pod must be able to read
    differences: list = field(default_factory=list)


def _venv(name):
    """(venv dir, differences) of a built image venv; skip/fail when missing."""
    try:
        path = build.image_dir(name)
    except (OSError, ValueError) as exc:
        require(False, "image venv %s: %s" % (name, exc))
    require((path / ".complete").is_file(),
            "image venv %s not built (%s): run scripts/build-runtime-images.sh" % (name, path))
    return path


def _python_software(venv):
    # The venv's interpreter is a symlink to the base Python, which must be
    # visible to the pod's user as well.
    base = os.path.realpath(venv / "bin" / "python")
    return [str(venv), str(Path(base).parents[1])]


def mlflow_full():
    venv = _venv("mlflow-full")
    return Image(
        ref="ghcr.io/mlflow/mlflow:v%s-full" % build.mlflow_version(),
        env={"PATH": "%s/bin:%s" % (venv, BASE_PATH), "LANG": "C.UTF-8"},
        software=_python_software(venv),
        differences=[PY_IMAGE_DIFF,
                     "software: pip install %s (upstream docker/Dockerfile.full), resolved today, "
                     "not the image's frozen set" % " ".join(build.specs()["mlflow-full"]),
                     "mlflow is on PATH from the venv's bin, the image's from /usr/local/bin"])


def mlflow_slim(ref="registry.test/mlops/mlflow:slim"):
    """The image roles/mlflow/files/Dockerfile builds, its facts parsed from the file."""
    venv = _venv("mlflow-slim")
    facts = dockerfile_facts(ROOT / "roles/mlflow/files/Dockerfile")
    env = dict(facts["env"], PATH="%s/bin:%s" % (venv, BASE_PATH), LANG="C.UTF-8")
    uid = int(facts["user"].split(":")[0])
    return Image(
        ref=ref, cmd=facts["cmd"], env=env, users={uid: ("mlflow", env.get("HOME", "/tmp"))},
        user=uid, software=_python_software(venv),
        differences=[PY_IMAGE_DIFF,
                     "software: pip install %s (the base image's mlflow plus the Dockerfile's "
                     "pip install line, parsed)" % " ".join(build.specs()["mlflow-slim"])])


def dockerfile_facts(path):
    text = re.sub(r"\\\n", " ", Path(path).read_text())
    env, user, cmd = {}, "0", []
    for line in text.splitlines():
        m = re.match(r"\s*(ENV|USER|CMD)\s+(.*)", line)
        if not m:
            continue
        if m.group(1) == "ENV":
            for k, v in re.findall(r"(\w+)=(\S+)", m.group(2)):
                env[k] = v
        elif m.group(1) == "USER":
            user = m.group(2).strip()
        else:
            cmd = json.loads(m.group(2))
    return {"env": env, "user": user, "cmd": cmd}


def postgres(ref):
    bindir = find_pg_bindir()
    require(bindir is not None, "PostgreSQL server binaries not found: apt-get install postgresql")
    image_major = re.search(r":(\d+)", ref).group(1)
    local_major = bindir.split("/")[4]
    return Image(
        ref=ref,
        entrypoint=["docker-entrypoint.sh"], cmd=["postgres"],
        env={"PATH": "/usr/lib/postgresql/%s/bin:%s" % (local_major, BASE_PATH),
             "PGDATA": "/var/lib/postgresql/data", "LANG": "C.UTF-8"},
        users={999: ("postgres", "/var/lib/postgresql")},
        binds={"/usr/local/bin/docker-entrypoint.sh": str(HERE / "pg_entrypoint.sh")},
        differences=[
            "PostgreSQL: Debian's server %s (%s), the image runs %s" % (local_major, bindir, image_major),
            "docker-entrypoint.sh: tests/runtime/pg_entrypoint.sh, a stand-in for the official "
            "image's script (initdb from POSTGRES_*, /docker-entrypoint-initdb.d/*.sh on a "
            "socket-only server, then exec postgres)"])


def go_binary(ref, name, pod_path, uid, entrypoint=None, env=None):
    path = find_bin(name) if name != "weed" else _weed()
    require(path is not None, "%s binary not found: run scripts/build-testbins.sh" % name)
    real = os.path.realpath(path)
    return Image(ref=ref, entrypoint=entrypoint or [], users={uid: ("nonroot", "/home/nonroot")},
                 user=uid, env=dict({"PATH": BASE_PATH}, **(env or {})), binds={pod_path: real},
                 differences=["%s: %s (Go build from the module proxy / PyPI) mounted at %s"
                              % (name, real, pod_path)])


def _weed():
    cand = Path(sys.executable).parent / "weed"
    return str(cand) if cand.exists() else None


def mlserver(ref):
    venv = _venv("mlserver")
    return Image(
        ref=ref,
        # The image's CMD is bash -c '. conda.sh && source ./hack/activate-env.sh
        # $MLSERVER_ENV_TARBALL && mlserver start $MLSERVER_MODELS_DIR'; the model
        # carries no environment.tar.gz, so activate-env.sh does nothing.
        cmd=["/bin/bash", "-c", "mlserver start $MLSERVER_MODELS_DIR"],
        env={"MLSERVER_MODELS_DIR": "/mnt/models",
             "MLSERVER_ENV_TARBALL": "/mnt/models/environment.tar.gz",
             "MLSERVER_PATH": "/opt/mlserver",
             "PATH": "/opt/mlserver/.local/bin:%s/bin:%s" % (venv, BASE_PATH)},
        users={1000: ("mlserver", "/opt/mlserver")}, user=1000, workdir="/opt/mlserver",
        software=_python_software(venv),
        differences=[
            "Python: Debian's %s; the image's is conda's 3.10" % build.PYTHON,
            "software: pip install %s; uvloop 0.21 because 0.23 breaks MLServer 1.7.1 "
            "(the image pins its own via MLServer's constraints)" % " ".join(build.specs()["mlserver"]),
            "CMD without conda activation and activate-env.sh (no environment.tar.gz)"])


def storage_initializer(ref):
    venv = _venv("kserve-storage")
    return Image(
        ref=ref,
        # The image's entrypoint script is not on PyPI; this one does what it
        # does: Storage.download_files(src_uris, dest_paths) from argv pairs.
        entrypoint=["python3", "-c",
                    "import sys; from kserve_storage import Storage, configure_logging; "
                    "configure_logging(); a = sys.argv[1:]; "
                    "Storage.download_files(a[0::2], a[1::2])"],
        env={"PATH": "%s/bin:%s" % (venv, BASE_PATH)},
        users={1000: ("kserve", "/home/kserve")}, user=1000, workdir="/work",
        software=_python_software(venv),
        differences=[PY_IMAGE_DIFF,
                     "software: pip install %s" % " ".join(build.specs()["kserve-storage"]),
                     "entrypoint: python3 -c calling Storage.download_files like the image's "
                     "initializer-entrypoint script"])
