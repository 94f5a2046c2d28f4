#!/usr/bin/env bash
# Search benchmarks: `bench/search.sh exact [args]` (exact_search.py: exact top-10, tasb's types vs
# pgvector's) or `bench/search.sh index [args]` (index.py: tasb_ivf vs pgvector HNSW and IVFFlat).
# Builds and installs tasb, starts the local cluster, and compares with pgvector when
# `CREATE EXTENSION vector` works there (skipped otherwise).
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
case "${1:-}" in
exact) script=exact_search.py ;;
index) script=index.py ;;
*) die "usage: bench/search.sh exact|index [options; --help lists them]" ;;
esac
shift
"$venv/bin/python" "$TASB_ROOT/bench/$script" "$@"
