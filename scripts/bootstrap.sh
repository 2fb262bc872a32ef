#!/usr/bin/env bash
# Prepare this machine: Python venv with pinned requirements (cached outside
# the clone by requirements hash), Debian packages the tests use, and, with
# --test-servers, the Go-built test servers and the runtime image venvs.
# Usage: scripts/bootstrap.sh [--test] [--test-servers]
source "$(dirname "$0")/lib.sh"

want_test=0
want_servers=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --test-servers) want_test=1; want_servers=1 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

reqs=(requirements.txt)
[ "$want_test" = 1 ] && reqs+=(requirements-test.txt)

python="$(find_python)"
key="$("$python" -c 'import sys;print("%d.%d"%sys.version_info[:2])')-$(cd "$ROOT" && cat "${reqs[@]}" | sha256sum | cut -c1-16)"
venv_dir="$MLOPS_CACHE/venv/$key"
if [ ! -x "$venv_dir/bin/ansible-playbook" ] || [ ! -f "$venv_dir/.complete" ]; then
  log "creating Python venv $venv_dir"
  rm -rf "$venv_dir"
  mkdir -p "$(dirname "$venv_dir")"
  "$python" -m venv "$venv_dir"
  "$venv_dir/bin/pip" install -q --upgrade pip
  (cd "$ROOT" && "$venv_dir/bin/pip" install -q "${reqs[@]/#/-r}")
  touch "$venv_dir/.complete"
fi
ln -sfn "$venv_dir" "$VENV"
# Let playbooks in this clone resolve mlops.stack.* (see ansible.cfg).
mkdir -p "$ROOT/build/collections/ansible_collections/mlops"
ln -sfn ../../../.. "$ROOT/build/collections/ansible_collections/mlops/stack"

if [ "$want_test" = 1 ]; then
  if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    log "installing PostgreSQL server (Debian) for the integration tests"
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >/dev/null
    else
      echo "warning: PostgreSQL server missing; run: sudo apt-get install postgresql postgresql-contrib" >&2
    fi
  fi
fi

if [ "$want_servers" = 1 ]; then
  "$ROOT/scripts/build-testbins.sh"
  "$ROOT/scripts/build-runtime-images.sh"
fi
log "environment ready: source .venv/bin/activate"
