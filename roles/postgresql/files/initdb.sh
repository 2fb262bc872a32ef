#!/usr/bin/env bash
# Runs once, when the data directory is initialised (docker-entrypoint-initdb.d).
# Creates the application role and database and the requested extensions.
# Values come from the environment (Secrets); psql variables quote them.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v app_user="$APP_DB_USER" -v app_password="$APP_DB_PASSWORD" -v app_db="$APP_DB_NAME" <<'EOSQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'app_user', :'app_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_user') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'app_db', :'app_user')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'app_db') \gexec
EOSQL

for ext in ${APP_DB_EXTENSIONS:-}; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$APP_DB_NAME" -v ext="$ext" <<'EOSQL'
SELECT format('CREATE EXTENSION IF NOT EXISTS %I', :'ext') \gexec
EOSQL
done
