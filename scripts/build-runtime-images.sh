#!/usr/bin/env bash
# Build the Python software of the images tests/runtime stands in for (MLflow
# -full and slim, MLServer, KServe's storage initializer) as venvs cached
# under $MLOPS_CACHE/images/<name>-<key>/ (tools/images/build.py). PyPI only;
# the images build side by side, a warm run takes a second.
# Usage: scripts/build-runtime-images.sh [--list] [name...]
source "$(dirname "$0")/lib.sh"
py="${MLOPS_IMAGE_PYTHON:-/usr/bin/python3.11}"
if ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  # The images are python:3.11 based; Debian's python3.11 stands in (it lives
  # in /usr, where the pods' non-root users can read it).
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian's python3.11-venv for the runtime image venvs"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11-venv >/dev/null
  else
    echo "error: $py with venv/ensurepip needed: sudo apt-get install python3.11-venv" >&2; exit 1
  fi
fi
if ! command -v ip >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  # tests/runtime brings up loopback in its network namespaces with ip(8).
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null
fi
exec "$VENV/bin/python" "$ROOT/tools/images/build.py" "$@"
