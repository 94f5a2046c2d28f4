#!/usr/bin/env bash
# Search benchmarks: `bench/search.sh exact [args]` (exact_search.py: exact top-10, tasb's types vs
# pgvector's) or `bench/search.sh index [args]` (index.py: tasb_ivf vs pgvector HNSW and IVFFlat and
# VectorChord vchordrq). Builds and installs tasb, starts the local cluster, preloads VectorChord
# where it is installed, and compares with pgvector and VectorChord when their
# `CREATE EXTENSION` works there (skipped otherwise).
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
bash "$TASB_ROOT/scripts/setup.sh"
bash "$TASB_ROOT/scripts/install.sh"
bash "$TASB_ROOT/scripts/cluster.sh" start
# VectorChord loads only from shared_preload_libraries: add vchord to the list (tasb stays, it
# serves the embedding worker) and restart, once; ALTER SYSTEM keeps it across restarts.
if [ -f "$("$PG_CONFIG" --pkglibdir)/vchord.so" ]; then
    preload="$(tasb_psql -d postgres -Atc "SHOW shared_preload_libraries" | tr -d ' ')"
    case ",$preload," in
    *,vchord,*) ;;
    *)
        case ",$preload," in *,tasb,*) ;; *) preload="tasb${preload:+,$preload}" ;; esac
        log "adding vchord to shared_preload_libraries and restarting the cluster"
        # One quoted name per library: a single 'tasb,vchord' would name one file "tasb,vchord".
        tasb_psql -q -d postgres -c "ALTER SYSTEM SET shared_preload_libraries = $(
            printf '%s,vchord' "$preload" | sed "s/[^,]*/'&'/g; s/,/, /g")"
        bash "$TASB_ROOT/scripts/cluster.sh" restart
        ;;
    esac
fi
venv="$TASB_HOME/bench-venv"
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install -q numpy "psycopg[binary]"
if [ "$(tasb_psql -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'tasb_bench'")" != 1 ]; then
    tasb_psql -q -d postgres -c "CREATE DATABASE tasb_bench"
fi
case "${1:-}" in
exact) script=exact_search.py ;;
index) script=index.py ;;
grow) script=grow.py ;;
*) die "usage: bench/search.sh exact|index|grow [options; --help lists them]" ;;
esac
shift
"$venv/bin/python" "$TASB_ROOT/bench/$script" "$@"
