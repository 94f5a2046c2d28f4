#!/usr/bin/env bash
# Exact-search benchmark (see exact_search.py): builds and installs tasb, starts the local cluster,
# and compares with pgvector when `CREATE EXTENSION vector` works there (skipped otherwise).
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
bash "$TASB_ROOT/scripts/setup.sh"
bash "$TASB_ROOT/scripts/install.sh"
bash "$TASB_ROOT/scripts/cluster.sh" start
venv="$TASB_HOME/bench-venv"
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install -q numpy "psycopg[binary]"
if [ "$(tasb_psql -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'tasb_bench'")" != 1 ]; then
    tasb_psql -q -d postgres -c "CREATE DATABASE tasb_bench"
fi
"$venv/bin/python" "$TASB_ROOT/bench/exact_search.py" "$@"
