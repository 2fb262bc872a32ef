#!/usr/bin/env bash
# Run molecule the way the scenarios expect: the test venv (with molecule,
# made or reused by scripts/bootstrap.sh --test) first on PATH, because
# molecule calls ansible-config / ansible-playbook by name, from the
# repository root, where molecule finds the base config
# .config/molecule/config.yml. See molecule/_shared/README.md.
# Usage: scripts/molecule.sh [SCENARIO...]      molecule test for each (all when none)
#        scripts/molecule.sh -- ARGS...         any molecule command, e.g. -- converge -s kserve
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
"$ROOT/scripts/bootstrap.sh" --test >&2
# shellcheck disable=SC1091
source "$VENV/bin/activate"

if [ "${1:-}" = "--" ]; then
  shift
  exec molecule "$@"
fi
if [ "$#" -eq 0 ]; then
  exec molecule test --all
fi
args=()
for s in "$@"; do args+=(-s "$s"); done
exec molecule test "${args[@]}"
