#!/usr/bin/env bash
# The Gateway API CRDs (standard channel) from the sigs.k8s.io/gateway-api Go
# module, which ships them under config/crd/standard/: the test control plane
# installs them so that HTTPRoutes and Gateways are checked by the real API
# server with the real schemas (and CEL rules). Nothing is built; the files
# are copied to $MLOPS_CACHE/bin/gateway-api-<version>/crds/ and the
# directory is linked as $MLOPS_CACHE/bin/gateway-api-crds.
# Env: GATEWAY_API_VERSION, MLOPS_CACHE.
source "$(dirname "$0")/../../../scripts/lib.sh"
GATEWAY_API_VERSION="${GATEWAY_API_VERSION:-v1.6.3}"
DEST="$MLOPS_CACHE/bin/gateway-api-$GATEWAY_API_VERSION/crds"

if [ -s "$DEST/gateway.networking.k8s.io_httproutes.yaml" ]; then
  ln -sfn "gateway-api-$GATEWAY_API_VERSION/crds" "$MLOPS_CACHE/bin/gateway-api-crds"; exit 0
fi
command -v go >/dev/null 2>&1 || {
  if [ -x "$VENV/bin/go" ]; then PATH="$VENV/bin:$PATH"; else
    echo "error: no Go toolchain to fetch sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" >&2; exit 1
  fi
}
src="$(go env GOMODCACHE)/sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION/config/crd/standard"
[ -d "$src" ] || (cd /tmp && GOFLAGS=-mod=mod go mod download "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")
mkdir -p "$DEST.tmp"
# The ValidatingAdmissionPolicy guards upgrades between channels; the tests
# only need the CRDs.
find "$src" -name 'gateway.networking.k8s.io_*.yaml' ! -name '*_vap_*' -exec cp {} "$DEST.tmp/" \;
chmod -R u+w "$DEST.tmp"
rm -rf "$DEST" && mv "$DEST.tmp" "$DEST"
ln -sfn "gateway-api-$GATEWAY_API_VERSION/crds" "$MLOPS_CACHE/bin/gateway-api-crds"
