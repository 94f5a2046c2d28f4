#!/usr/bin/env bash
# /docker-entrypoint-initdb.d/000-tasb.sh: runs once, when the cluster is created. The new cluster
# includes tasb's settings (written by tasb-entrypoint.sh at every start), and the database
# $POSTGRES_DB gets the extension.
set -euo pipefail
conf=/var/lib/tasb/tasb.conf
grep -q "^include_if_exists = '$conf'" "$PGDATA/postgresql.conf" ||
    echo "include_if_exists = '$conf'" >>"$PGDATA/postgresql.conf"
psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --no-password \
    --dbname "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" -c "CREATE EXTENSION IF NOT EXISTS tasb"
