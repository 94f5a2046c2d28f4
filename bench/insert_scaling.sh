#!/usr/bin/env bash
# Insert throughput with 1, 2 and 8 concurrent writers (pgbench, 15 s each): single-row INSERTs of
# 768-d vectors into a table with a tasb_ivf index (built on 20,000 rows), next to the same table
# with pgvector's HNSW (when pgvector is installed) and with no vector index, in one run.
# Usage: bench/insert_scaling.sh [seconds per run]
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
seconds="${1:-15}"
db=tasb_bench
bindir="$(pg_bindir)"
q() { PGOPTIONS="-c client_min_messages=warning" tasb_psql -X -q -At -d "$db" -v ON_ERROR_STOP=1 -c "$1"; }
bash "$TASB_ROOT/scripts/cluster.sh" start >/dev/null 2>&1
if [ "$(tasb_psql -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
    tasb_psql -q -d postgres -c "CREATE DATABASE $db"
fi
q "CREATE EXTENSION IF NOT EXISTS tasb"
peers=(none tasb_ivf)
if q "CREATE EXTENSION IF NOT EXISTS vector" 2>/dev/null; then peers+=(hnsw); fi
if [ "$(q "SELECT count(*) FROM pg_class WHERE relname = 'ins_source'")" = 0 ]; then
    # 40,000 rows: a shared direction plus noise, norms varying (not normalised).
    q "SELECT setseed(0.4); CREATE TABLE ins_source AS SELECT i AS id, array(SELECT (0.5 + random()) * (0.9 + 0.2 * (i % 10) / 10.0) + 0 * i FROM generate_series(1, 768))::real[] AS v FROM generate_series(0, 39999) i"
fi
q "CREATE UNIQUE INDEX IF NOT EXISTS ins_source_id ON ins_source (id)"
work="$(mktemp -d)"
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
printf '\\set id random(20000, 39999)\nINSERT INTO ins_t (emb) SELECT v FROM ins_source WHERE id = :id;\n' >"$work/insert.sql"
chmod 644 "$work/insert.sql"
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) ($(grep -q avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2)), $(nproc) cores; load $(cut -d' ' -f1 /proc/loadavg) at the start"
echo
echo "| index | writers | inserts/s | scaling vs 1 writer |"
echo "|---|---|---|---|"
for peer in "${peers[@]}"; do
    base=""
    for clients in 1 2 8; do
        case "$peer" in
        none) q "DROP TABLE IF EXISTS ins_t; CREATE TABLE ins_t (id bigserial, emb tasbvec(768)); INSERT INTO ins_t (emb) SELECT v FROM ins_source WHERE id < 20000" ;;
        tasb_ivf) q "DROP TABLE IF EXISTS ins_t; CREATE TABLE ins_t (id bigserial, emb tasbvec(768)); INSERT INTO ins_t (emb) SELECT v FROM ins_source WHERE id < 20000; CREATE INDEX ON ins_t USING tasb_ivf (emb)" ;;
        hnsw) q "DROP TABLE IF EXISTS ins_t; CREATE TABLE ins_t (id bigserial, emb vector(768)); INSERT INTO ins_t (emb) SELECT v FROM ins_source WHERE id < 20000; SET maintenance_work_mem = '1GB'; CREATE INDEX ON ins_t USING hnsw (emb vector_ip_ops)" ;;
        esac
        q "CHECKPOINT"
        # synchronous_commit off: otherwise every run measures the WAL flush of each commit.
        tps="$(PGOPTIONS="-c synchronous_commit=off" as_pg "$bindir/pgbench" -n -h "$TASB_SOCKET_DIR" -p "$TASB_PORT" -U postgres -c "$clients" -j "$clients" \
            -T "$seconds" -f "$work/insert.sql" "$db" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p')"
        base="${base:-$tps}"
        printf '| %s | %s | %.0f | %.2fx |\n' "$peer" "$clients" "$tps" "$(echo "$tps / $base" | bc -l)"
    done
done
q "DROP TABLE IF EXISTS ins_t"
echo
echo "load $(cut -d' ' -f1 /proc/loadavg) at the end"
