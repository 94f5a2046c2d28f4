#!/usr/bin/env bash
# tasb_ivf under concurrency and crashes, in the local cluster (scripts/cluster.sh):
#  1. six pgbench clients insert, delete and query at once while VACUUM runs in a loop;
#  2. kill -9 of every server process during concurrent inserts (after a checkpoint, so the
#     index must come back from WAL), then restart;
#  3. statement_timeout during a build and a scan; kill -9 during CREATE INDEX (its progress is
#     visible in pg_stat_progress_create_index);
#  4. an index built on the empty table whose lists split under concurrent inserts, deletes,
#     scans and VACUUM, then kill -9 while inserts split lists.
# After each, the index must match the table: a full index scan returns every live row once,
# and recall@10 against exact search stays >= 0.95.
set -uo pipefail
source "$(dirname "$0")/../scripts/env.sh"
DB=tasb_ivf_stress
bindir="$(pg_bindir)"

CHECKS=ivf
source "$(dirname "$0")/checks.sh"
q() { PGOPTIONS="-c client_min_messages=warning -c jit=off" tasb_psql -X -q -At -d "$DB" -v ON_ERROR_STOP=1 -c "$1"; }

# Every live row exactly once through the index, and recall@10 against sequential scans.
check_index() {  # check_index LABEL
    check "$1: index scan returns each live row once" "$(q "SELECT count(*) FROM docs")" \
        "$(q "SET enable_seqscan = off; SELECT count(DISTINCT id) || '/' || count(*) FROM (SELECT id FROM docs ORDER BY emb <#> (SELECT rv())) s" | cut -d/ -f1)"
    check "$1: no row twice" 0 \
        "$(q "SET enable_seqscan = off; SELECT count(*) - count(DISTINCT id) FROM (SELECT id FROM docs ORDER BY emb <#> (SELECT rv())) s")"
    check "$1: recall@10 >= 0.95" t "$(q "SELECT recall() >= 0.95")"
}

kill_server() {
    local pm kids p state alive
    pm="$(head -1 "$TASB_PGDATA/postmaster.pid")"
    kids="$(pgrep -P "$pm" | tr '\n' ' ')"
    # The postmaster and all its children at once, like a power cut for the processes (dirty
    # shared buffers are lost; only WAL brings the index back).
    as_root kill -9 "$pm" $kids 2>/dev/null
    for _ in $(seq 100); do
        alive=0
        for p in $pm $kids; do
            state="$(ps -o stat= -p "$p" 2>/dev/null)"
            case "$state" in "" | Z*) ;; *) alive=1 ;; esac
        done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    # A killed postmaster cannot remove its lock files, and where nothing reaps it (containers
    # without an init) its zombie keeps the pid "alive", so a new postmaster would refuse to start.
    as_root rm -f "$TASB_PGDATA/postmaster.pid" "$TASB_SOCKET_DIR/.s.PGSQL.$TASB_PORT.lock"
}

bash "$TASB_ROOT/scripts/cluster.sh" start >/dev/null 2>&1
tasb_psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
q "$(cat <<'SQL'
CREATE EXTENSION tasb;
SELECT setseed(0.7);
CREATE TABLE topics AS
    SELECT t, array(SELECT random() * 2 - 1 FROM generate_series(1, 64) WHERE t > 0) AS c
    FROM generate_series(1, 20) t;
-- A random vector near a random topic, norm 8 to 12.
CREATE FUNCTION rv() RETURNS tasbvec LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    k int := 1 + floor(random() * 20)::int;
    c float8[] := (SELECT topics.c FROM topics WHERE t = k);
    v float8[];
    s float8 := 0;
    norm float8 := 8 + 4 * random();
BEGIN
    FOR i IN 1..64 LOOP v[i] := c[i] + 0.8 * (random() * 2 - 1); s := s + v[i] * v[i]; END LOOP;
    FOR i IN 1..64 LOOP v[i] := v[i] * norm / sqrt(s); END LOOP;
    RETURN v::float4[]::tasbvec;
END $$;
CREATE TABLE queries AS SELECT q, rv() AS v FROM generate_series(1, 20) q;
CREATE FUNCTION recall() RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    found float8 := 0;
    exact int[];
    approx int[];
    r record;
BEGIN
    FOR r IN SELECT v FROM queries LOOP
        SET LOCAL enable_indexscan = off;
        exact := (SELECT array_agg(id) FROM (SELECT id FROM docs ORDER BY emb <#> r.v LIMIT 10) s);
        SET LOCAL enable_indexscan = on;
        SET LOCAL enable_seqscan = off;
        approx := (SELECT array_agg(id) FROM (SELECT id FROM docs ORDER BY emb <#> r.v LIMIT 10) s);
        RESET enable_seqscan;
        found := found + (SELECT count(*) FROM unnest(approx) a WHERE a = ANY (exact));
    END LOOP;
    RETURN found / (10 * (SELECT count(*) FROM queries));
END $$;
CREATE TABLE docs (id bigserial PRIMARY KEY, emb tasbvec(64));
INSERT INTO docs (emb) SELECT rv() FROM generate_series(1, 4000);
CREATE INDEX docs_emb ON docs USING tasb_ivf (emb) WITH (lists = 40);
SQL
)" >/dev/null || { echo "ivf: 0 passed, 1 failed (setup)"; exit 1; }

# 1. Concurrency: inserts, deletes and index scans at once, with VACUUM in a loop.
work="$(mktemp -d)"
chmod 755 "$work"
echo "INSERT INTO docs (emb) SELECT rv();" >"$work/insert.sql"
echo "DELETE FROM docs WHERE id = 1 + floor(random() * 4000)::int;" >"$work/delete.sql"
echo "SELECT count(*) FROM (SELECT id FROM docs ORDER BY emb <#> (SELECT rv()) LIMIT 10) s;" >"$work/query.sql"
chmod 644 "$work"/*.sql
( for _ in $(seq 6); do q "VACUUM docs" >/dev/null; sleep 2; done ) &
vacuums=$!
PGOPTIONS="-c enable_seqscan=off -c jit=off" as_pg "$bindir/pgbench" -n -h "$TASB_SOCKET_DIR" -p "$TASB_PORT" -U postgres \
    -c 6 -j 2 -T 12 -f "$work/insert.sql@4" -f "$work/delete.sql@1" -f "$work/query.sql@4" "$DB" \
    >"$work/pgbench.out" 2>&1
check "concurrent inserts, deletes, scans and VACUUM: no errors" 0 $?
grep -E "^number of (failed|transactions actually processed)" "$work/pgbench.out" | sed 's/^/        /'
wait $vacuums
q "VACUUM docs" >/dev/null
check_index "after concurrency"

# 2. kill -9 during concurrent inserts, after a checkpoint.
q "CHECKPOINT" >/dev/null
before="$(q "SELECT count(*) FROM docs")"
as_pg "$bindir/pgbench" -n -h "$TASB_SOCKET_DIR" -p "$TASB_PORT" -U postgres \
    -c 4 -j 2 -T 30 -f "$work/insert.sql" "$DB" >/dev/null 2>&1 &
inserts=$!
sleep 5
kill_server
wait $inserts 2>/dev/null
bash "$TASB_ROOT/scripts/cluster.sh" start >/dev/null 2>&1
after="$(q "SELECT count(*) FROM docs")"
check "rows were inserted before the crash" t "$([ "$after" -gt "$before" ] && echo t || echo f)"
echo "        $((after - before)) rows committed during the 5 s before kill -9"
check_index "after kill -9 during inserts"
q "INSERT INTO docs (emb) SELECT rv() FROM generate_series(1, 200); DELETE FROM docs WHERE id % 7 = 0" >/dev/null &&
    q "VACUUM docs" >/dev/null
check "inserts, deletes and VACUUM work after recovery" 0 $?
check_index "after recovery, more writes and VACUUM"

# 3. kill -9 during CREATE INDEX; progress is reported while it runs. First, a build and a long
#    scan stopped by statement_timeout leave nothing behind.
q "INSERT INTO docs (emb) SELECT rv() FROM generate_series(1, 30000)" >/dev/null
cancelled="$(q "SET maintenance_work_mem = '256MB'; SET statement_timeout = '300ms'; CREATE INDEX docs_cancelled ON docs USING tasb_ivf (emb) WITH (lists = 400)" 2>&1)"
check "a build honours query cancel" "ERROR:  canceling statement due to statement timeout" "$cancelled"
check "the cancelled build left no index" 0 "$(q "SELECT count(*) FROM pg_class WHERE relname = 'docs_cancelled'")"
cancelled="$(q "SET enable_seqscan = off; SET tasb.probes = 1000; SET statement_timeout = '20ms'; SELECT count(*) FROM (SELECT id FROM docs ORDER BY emb <#> (SELECT rv()) OFFSET 1000000) s" 2>&1)"
check "a scan honours query cancel" "ERROR:  canceling statement due to statement timeout" "$cancelled"
q "SET maintenance_work_mem = '256MB'; CREATE INDEX docs_emb2 ON docs USING tasb_ivf (emb) WITH (lists = 400)" >/dev/null 2>&1 &
build=$!
phase=""
for _ in $(seq 100); do
    phase="$(q "SELECT phase FROM pg_stat_progress_create_index WHERE relid = 'docs'::regclass" 2>/dev/null)"
    case "$phase" in *"training lists"*|*"writing lists"*) break ;; esac
    sleep 0.1
done
check "pg_stat_progress_create_index shows the build's phase" t \
    "$(case "$phase" in *lists*) echo t ;; *) echo "f ($phase)" ;; esac)"
kill_server
wait $build 2>/dev/null
bash "$TASB_ROOT/scripts/cluster.sh" start >/dev/null 2>&1
check "the interrupted build left no index" 0 "$(q "SELECT count(*) FROM pg_class WHERE relname = 'docs_emb2'")"
check_index "after kill -9 during a build"
q "CREATE INDEX docs_emb2 ON docs USING tasb_ivf (emb); DROP INDEX docs_emb" >/dev/null
check "the build succeeds after recovery" 0 $?
check_index "with the rebuilt index"

# 4. Lists that split as rows arrive, under concurrency and kill -9.
q "DROP INDEX docs_emb2; TRUNCATE docs; CREATE INDEX docs_grow ON docs USING tasb_ivf (emb)" >/dev/null
echo "DELETE FROM docs WHERE id = (SELECT max(id) - floor(random() * 1000)::int FROM docs);" >"$work/delete_recent.sql"
chmod 644 "$work/delete_recent.sql"
( for _ in $(seq 5); do q "VACUUM docs" >/dev/null; sleep 2; done ) &
vacuums=$!
PGOPTIONS="-c enable_seqscan=off -c jit=off" as_pg "$bindir/pgbench" -n -h "$TASB_SOCKET_DIR" -p "$TASB_PORT" -U postgres \
    -c 6 -j 2 -T 10 -f "$work/insert.sql@6" -f "$work/delete_recent.sql@1" -f "$work/query.sql@3" "$DB" \
    >"$work/pgbench.out" 2>&1
check "inserts that split lists, deletes, scans and VACUUM at once: no errors" 0 $?
grep -E "^number of (failed|transactions actually processed)" "$work/pgbench.out" | sed 's/^/        /'
wait $vacuums
lists="$(q "SELECT lists FROM tasb_ivf_stats('docs_grow'::regclass)")"
echo "        $(q "SELECT count(*) FROM docs") rows, $lists lists grown from one"
check "the lists split under concurrent inserts" t "$([ "$lists" -ge 20 ] && echo t || echo f)"
q "VACUUM docs" >/dev/null
check_index "after splits under concurrency"
q "CHECKPOINT" >/dev/null
as_pg "$bindir/pgbench" -n -h "$TASB_SOCKET_DIR" -p "$TASB_PORT" -U postgres \
    -c 4 -j 2 -T 30 -f "$work/insert.sql" "$DB" >/dev/null 2>&1 &
inserts=$!
sleep 5
kill_server
wait $inserts 2>/dev/null
bash "$TASB_ROOT/scripts/cluster.sh" start >/dev/null 2>&1
after="$(q "SELECT lists FROM tasb_ivf_stats('docs_grow'::regclass)")"
echo "        $((after - lists)) lists split off between the checkpoint and kill -9"
check "lists split between the checkpoint and kill -9" t "$([ "$after" -gt "$lists" ] && echo t || echo f)"
check_index "after kill -9 while lists split"
q "INSERT INTO docs (emb) SELECT rv() FROM generate_series(1, 2000)" >/dev/null && q "VACUUM docs" >/dev/null
check "inserts that split lists and VACUUM work after recovery" 0 $?
check_index "after recovery, more splits and VACUUM"

rm -rf "$work"
tasb_psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null
report_checks
