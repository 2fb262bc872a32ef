#!/usr/bin/env bash
# Stand-in for the postgres image's docker-entrypoint.sh (the official image
# runs its own script; this one follows its documented contract), mounted at
# /usr/local/bin/docker-entrypoint.sh by tests/runtime/images.py:
#  - `docker-entrypoint.sh -c ...` means `postgres -c ...`;
#  - an empty $PGDATA is initialised with initdb as the current user, with
#    POSTGRES_USER/POSTGRES_PASSWORD and POSTGRES_INITDB_ARGS;
#  - /docker-entrypoint-initdb.d/*.sh run once (executed when executable,
#    sourced otherwise) against a temporary server listening on the unix
#    socket only, then that server stops;
#  - finally `exec postgres "$@"`.
set -Eeuo pipefail
if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chmod 00700 "$PGDATA"
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
  export POSTGRES_USER="${POSTGRES_USER:-postgres}"
  # shellcheck disable=SC2086
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA"
  printf 'host all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >> "$PGDATA/pg_hba.conf"
  shift
  PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@") -c listen_addresses=''" -w start
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql) psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password -f "$f" ;;
      *) ;;
    esac
  done
  PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -m fast -w stop
  set -- postgres "$@"
fi
exec "$@"
