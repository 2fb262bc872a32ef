# shellcheck shell=bash
# Shared settings for the project scripts. Sourced, not executed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Everything slow to build lives outside the clone, keyed by content or
# version, so a fresh clone on the same machine is warm in seconds.
MLOPS_CACHE="${MLOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-stack}"
export MLOPS_CACHE
VENV="$ROOT/.venv"

log() { printf '\n==> %s\n' "$*" >&2; }

find_python() {
  # The newest interpreter the pinned ansible-core supports. pyenv shims are
  # skipped on purpose: their python3.13 shim breaks interpreter discovery.
  local cand
  for cand in "${MLOPS_PYTHON:-}" \
      "$HOME/.pyenv/versions/3.12"*/bin/python3.12 \
      /usr/bin/python3.12 /usr/local/bin/python3.12 \
      "$HOME/.pyenv/versions/3.13"*/bin/python3.13 /usr/bin/python3.13; do
    [ -n "$cand" ] && [ -x "$cand" ] && { echo "$cand"; return 0; }
  done
  echo "error: need Python 3.12 or 3.13 (set MLOPS_PYTHON=/path/to/python3.12)" >&2
  return 1
}
