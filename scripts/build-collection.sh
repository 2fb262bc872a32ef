#!/usr/bin/env bash
# Build the collection tarball and prove it installs offline into a temp path.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
out="$ROOT/build/dist"
rm -rf "$out" && mkdir -p "$out"
ansible-galaxy collection build --force --output-path "$out" .
tarball="$(ls "$out"/mlops-stack-*.tar.gz)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# --no-deps: kubernetes.core comes from PyPI's `ansible` package here; Galaxy
# is not reachable. Users with Galaxy access drop the flag.
ANSIBLE_COLLECTIONS_PATH="$tmp" ansible-galaxy collection install --no-deps -p "$tmp" "$tarball"
test -f "$tmp/ansible_collections/mlops/stack/MANIFEST.json"
ANSIBLE_COLLECTIONS_PATH="$tmp" ansible-doc -t module mlops.stack.s3_bucket >/dev/null 2>&1 \
  || ANSIBLE_COLLECTIONS_PATH="$tmp" ansible-doc -t filter mlops.stack.mirror_image >/dev/null
echo "built and installed $(basename "$tarball") ($(du -h "$tarball" | cut -f1))"
