#!/usr/bin/env bash
# Rehearse `make site` without a cluster: the project's local control plane
# (real API server, kwok-simulated nodes), site.yml with the default
# inventory, then the validate.yml table. See tests/rehearse.py.
# Usage: scripts/rehearse.sh          # start (or reuse) and deploy
#        scripts/rehearse.sh down     # stop the rehearsal's control plane
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

if [ "${1:-}" = down ]; then
  exec "$VENV/bin/python" -m tests.rehearse down
fi
# The control plane and the MinIO test server are built from the Go module
# proxy, PostgreSQL and MLflow come with the test requirements.
"$ROOT/scripts/bootstrap.sh" --test-servers
exec "$VENV/bin/python" -m tests.rehearse "$@"
