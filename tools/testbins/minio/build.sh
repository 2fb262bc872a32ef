#!/usr/bin/env bash
# Build MinIO (community edition, source-only since Oct 2025) from its Go
# module for the S3 integration tests. Idempotent: the binary goes to
# $MLOPS_CACHE/bin/minio-<version>/minio and is linked as $MLOPS_CACHE/bin/minio;
# a warm run only re-links and never invokes go.
#
# Version: the newest commit the Go module proxy serves. It postdates
# RELEASE.2025-10-15T17-29-55Z, the release with the CVE-2025-62506 fix
# (the proxy has no newer semver tags, only old +incompatible ones, so a
# pseudo-version of the master commit is used). github.com/minio/minio's
# go.mod has no replace directives, so plain `go install mod@version` works.
# Override with MINIO_VERSION=<pseudo-version or tag>.
source "$(dirname "$0")/../../../scripts/lib.sh"

MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
dest="$MLOPS_CACHE/bin/minio-$MINIO_VERSION"
link="$MLOPS_CACHE/bin/minio"

if [ ! -x "$dest/minio" ]; then
  command -v go >/dev/null 2>&1 || { echo "error: go not found on PATH" >&2; exit 1; }
  log "building github.com/minio/minio@$MINIO_VERSION (slow: ~10-20 min on 2 cores)"
  tmp="$dest.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  # CGO off: a static binary that does not depend on the build host's libc.
  CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS="-trimpath -buildvcs=false" \
    GOTOOLCHAIN="${GOTOOLCHAIN:-local}" \
    go install -ldflags "-s -w" "github.com/minio/minio@$MINIO_VERSION"
  "$tmp/minio" --version >/dev/null
  rm -rf "$dest"
  mv "$tmp" "$dest"
  trap - EXIT
fi
ln -sfn "minio-$MINIO_VERSION/minio" "$link"
echo "minio: $link -> $dest/minio" >&2
