#!/usr/bin/env bash
# Regenerate tests/sanity/ignore-<ver>.txt. The collection is Apache-2.0
# licensed; validate-modules expects GPLv3 headers in modules, which is the
# one check we deliberately ignore.
set -euo pipefail
cd "$(dirname "$0")/../.."
for ver in 2.19 2.20 2.21; do
  for m in plugins/modules/*.py; do
    echo "$m validate-modules:missing-gplv3-license"
  done > "tests/sanity/ignore-$ver.txt"
done
