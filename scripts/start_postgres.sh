#!/usr/bin/env bash
# Start a PostgreSQL server on loopback for geneqn's shared studies (and the two-worker test).
# Installs Debian's postgresql if missing (needs root), starts the newest cluster, creates role
# and database `geneqn` / `geneqn_test`, and prints the SQLAlchemy URL to use (and nothing else
# on stdout, so that URL=$(bash scripts/start_postgres.sh) works).
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
pg_lsclusters -h | grep -q "^$ver main" || pg_createcluster "$ver" main >/dev/null
pg_ctlcluster "$ver" main start >/dev/null 2>&1 || pg_ctlcluster "$ver" main status >/dev/null
psql_() { su postgres -c "psql -v ON_ERROR_STOP=1 -qtAc \"$1\""; }
for _ in $(seq 30); do psql_ "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
[ "$(psql_ "SELECT 1 FROM pg_roles WHERE rolname='geneqn'")" = 1 ] || psql_ "CREATE ROLE geneqn LOGIN PASSWORD 'geneqn'" >/dev/null
[ "$(psql_ "SELECT 1 FROM pg_database WHERE datname='geneqn_test'")" = 1 ] || su postgres -c "createdb -O geneqn geneqn_test" >/dev/null
echo "postgresql://geneqn:geneqn@127.0.0.1:5432/geneqn_test"
