#!/usr/bin/env bash
# tasb_ivf on a streaming-replication standby: a hot standby made with pg_basebackup from the
# local cluster (scripts/cluster.sh) replays the index's WAL (the build's full pages, then generic
# WAL for inserts and VACUUM), and its index scans must return exactly what the primary's do.
# The standby runs on the next port with its own data directory, and is removed at the end.
set -uo pipefail
source "$(dirname "$0")/../scripts/env.sh"
DB=tasb_ivf_standby
bindir="$(pg_bindir)"
STANDBY_PORT=$((TASB_PORT + 1))
STANDBY_DATA="$TASB_HOME/standby"

CHECKS=standby
source "$(dirname "$0")/checks.sh"
on_primary() { PGOPTIONS="-c client_min_messages=warning -c jit=off" tasb_psql -X -q -At -d "$DB" -v ON_ERROR_STOP=1 -c "$1"; }
on_standby() {
    PGOPTIONS="-c client_min_messages=warning -c jit=off" "$bindir/psql" -X -q -At -h "$TASB_SOCKET_DIR" \
        -p "$STANDBY_PORT" -U postgres -d "$DB" -v ON_ERROR_STOP=1 -c "$1"
}
stop_standby() {
    as_pg "$bindir/pg_ctl" -D "$STANDBY_DATA" -m immediate -w stop >/dev/null 2>&1
    as_root rm -rf "$STANDBY_DATA"
}

# Waits until the standby has replayed everything the primary has written so far.
catch_up() {
    local target
    target="$(tasb_psql -At -d postgres -c "SELECT pg_current_wal_insert_lsn()")"
    for _ in $(seq 300); do
        [ "$(on_standby "SELECT pg_last_wal_replay_lsn() >= '$target'::pg_lsn" 2>/dev/null)" = t ] && return 0
        sleep 0.1
    done
    return 1
}

# The top 10 of each query through the index, as one line per query.
QUERY_RESULTS="SET enable_seqscan = off; SELECT string_agg(ids, ';' ORDER BY q) FROM (
    SELECT q, (SELECT string_agg(id::text, ',') FROM (SELECT id FROM docs ORDER BY emb <#> v LIMIT 10) s) AS ids
    FROM queries) r"

compare() {  # compare LABEL
    check "$1: the standby has replayed the primary's WAL" 0 "$(catch_up; echo $?)"
    check "$1: same top-10s on both" "$(on_primary "$QUERY_RESULTS")" "$(on_standby "$QUERY_RESULTS")"
    check "$1: the standby's index scan reaches every row" "$(on_primary "SELECT count(*) FROM docs")" \
        "$(on_standby "SET enable_seqscan = off; SELECT count(*) FROM (SELECT id FROM docs ORDER BY emb <#> (SELECT v FROM queries LIMIT 1)) s")"
}

bash "$TASB_ROOT/scripts/cluster.sh" start >/dev/null 2>&1
stop_standby
PGOPTIONS="-c client_min_messages=warning" tasb_psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
    -c "CREATE DATABASE $DB" >/dev/null
on_primary "$(cat <<'SQL'
CREATE EXTENSION tasb;
SELECT setseed(0.3);
CREATE FUNCTION rv() RETURNS tasbvec LANGUAGE sql VOLATILE AS
    $$ SELECT array(SELECT (random() * 2 - 1) * (1 + (g % 5)) FROM generate_series(1, 48) g)::float4[]::tasbvec $$;
CREATE TABLE queries AS SELECT q, rv() AS v FROM generate_series(1, 10) q;
CREATE TABLE docs (id bigserial PRIMARY KEY, emb tasbvec(48));
INSERT INTO docs (emb) SELECT rv() FROM generate_series(1, 3000);
SQL
)" >/dev/null || { echo "standby: 0 passed, 1 failed (setup)"; exit 1; }

# The standby: a base backup of the running primary, following it by streaming replication.
as_root install -d -m 700 "$STANDBY_DATA"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$STANDBY_DATA"
as_pg "$bindir/pg_basebackup" -h "$TASB_SOCKET_DIR" -p "$TASB_PORT" -U postgres -D "$STANDBY_DATA" -R -X stream -c fast \
    >/dev/null 2>&1
check "pg_basebackup made the standby" 0 $?
# Its own port and a small memory; no background embedding worker (a standby cannot write).
printf "port = %s\nshared_buffers = '128MB'\nshared_preload_libraries = ''\nhot_standby = on\n" "$STANDBY_PORT" |
    as_pg tee -a "$STANDBY_DATA/postgresql.conf" >/dev/null
as_pg "$bindir/pg_ctl" -D "$STANDBY_DATA" -l "$STANDBY_DATA/log" -w start >/dev/null 2>&1
check "the standby started" 0 $?
check "it is in recovery" t "$(on_standby "SELECT pg_is_in_recovery()" 2>&1)"

on_primary "CREATE INDEX docs_emb ON docs USING tasb_ivf (emb) WITH (lists = 30)" >/dev/null
compare "after the build"
check "the standby plans an index scan" t \
    "$(on_standby "SET enable_seqscan = off; EXPLAIN SELECT id FROM docs ORDER BY emb <#> (SELECT v FROM queries LIMIT 1) LIMIT 10" | grep -q "Index Scan using docs_emb" && echo t || echo f)"

on_primary "INSERT INTO docs (emb) SELECT rv() FROM generate_series(1, 2000)" >/dev/null
compare "after inserts"

on_primary "DELETE FROM docs WHERE id % 3 = 0" >/dev/null
on_primary "VACUUM docs" >/dev/null
compare "after deletes and VACUUM"

on_primary "REINDEX INDEX docs_emb" >/dev/null
compare "after REINDEX"

# Built on the empty table, the index's lists split as rows arrive: the standby replays splits.
on_primary "DROP INDEX docs_emb; TRUNCATE docs; CREATE INDEX docs_emb ON docs USING tasb_ivf (emb)" >/dev/null
on_primary "INSERT INTO docs (emb) SELECT rv() FROM generate_series(1, 6000)" >/dev/null
catch_up
lists="$(on_primary "SELECT lists FROM tasb_ivf_stats('docs_emb'::regclass)")"
check "lists split on the primary" t "$([ "$lists" -ge 20 ] && echo t || echo f)"
check "the standby has the same lists" "$lists" "$(on_standby "SELECT lists FROM tasb_ivf_stats('docs_emb'::regclass)" 2>&1)"
compare "after lists split"
on_primary "DELETE FROM docs WHERE id % 4 = 0" >/dev/null
on_primary "VACUUM docs" >/dev/null
compare "after splits, deletes and VACUUM"

stop_standby
tasb_psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null
report_checks
