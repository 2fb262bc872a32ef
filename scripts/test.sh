#!/usr/bin/env bash
# The whole test suite: static checks, then pytest (unit, modules against
# real servers, roles against a real local control plane).
# Usage: scripts/test.sh [static|pytest|all] [extra pytest args...]
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

stage="${1:-all}"; shift || true
"$ROOT/scripts/bootstrap.sh" --test-servers
# shellcheck disable=SC1091
source "$VENV/bin/activate"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"

failed=()
run() {  # run NAME CMD...: run a check, remember failures, go on.
  local name="$1"; shift
  log "$name"
  local t0=$SECONDS
  if "$@"; then
    echo "--- $name: ok ($((SECONDS - t0))s)"
  else
    echo "--- $name: FAILED ($((SECONDS - t0))s)"
    failed+=("$name")
  fi
}

if [ "$stage" = static ] || [ "$stage" = all ]; then
  run yamllint yamllint --strict .
  run ansible-lint ansible-lint --profile production
  run ansible-test-sanity "$ROOT/scripts/sanity.sh"
  run collection-build "$ROOT/scripts/build-collection.sh"
  run changelog-lint antsibull-changelog lint
fi

if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED static checks: ${failed[*]} (running pytest anyway)"
fi

if [ "$stage" = pytest ] || [ "$stage" = all ]; then
  # pytest runs last so its summary line closes the output.
  log "pytest"
  python -m pytest "$@" || failed+=("pytest")
fi

if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
