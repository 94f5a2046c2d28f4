#!/usr/bin/env bash
# tasb_ivf on damaged pages, in the local cluster (scripts/cluster.sh): with the server stopped,
# bytes of the index's file are overwritten with dd (a line pointer past the page, pd_lower past
# pd_upper, a list page's kind); after a restart, scans, inserts and VACUUM must raise
# ERRCODE_INDEX_CORRUPTED (XX002) naming the index and the block, with a HINT to REINDEX, and the
# server must stay up; REINDEX must repair the index.
set -uo pipefail
source "$(dirname "$0")/../scripts/env.sh"
DB=tasb_ivf_corrupt
CHECKS=ivf_corrupt
source "$(dirname "$0")/checks.sh"
q() { PGOPTIONS="-c client_min_messages=warning" tasb_psql -X -q -At -d "$DB" -c "$1" 2>&1; }
# The SQLSTATE and message of a statement's error (VERBOSITY verbose prints "ERROR:  XX002: ...").
err() { PGOPTIONS="-c client_min_messages=warning" tasb_psql -X -q -At -d "$DB" -v VERBOSITY=verbose -c "$1" 2>&1 | grep -E '^(ERROR|HINT)' | tr '\n' ' '; }

tasb_psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
q "CREATE EXTENSION tasb" >/dev/null
q "SELECT setseed(0.5);
   CREATE TABLE docs (id int, emb tasbvec(8));
   INSERT INTO docs SELECT i, array(SELECT random() - 0.5 + 0 * i FROM generate_series(1, 8))::float4[]::tasbvec FROM generate_series(1, 3000) i;
   CREATE INDEX docs_emb ON docs USING tasb_ivf (emb) WITH (lists = 4);
   CHECKPOINT;" >/dev/null
file="$TASB_PGDATA/$(q "SELECT pg_relation_filepath('docs_emb')")"
scan="SET enable_seqscan = off; SELECT count(*) FROM (SELECT id FROM docs ORDER BY emb <#> '[1,0,0,0,0,0,0,0]') s"
check "intact index scans every row" 3000 "$(q "$scan")"
# Blocks: 0 meta, then vector pages (built first), then list and centroid pages.
vector_block=1
list_block="$(q "SELECT (SELECT pages FROM tasb_ivf_stats('docs_emb'::regclass)) - 2")"

poke() {  # poke BLOCK OFFSET HEXBYTES: write bytes into the index file with the server stopped
    bash "$TASB_ROOT/scripts/cluster.sh" stop >/dev/null 2>&1
    printf "$(echo "$3" | sed 's/../\\x&/g')" | as_pg dd of="$file" bs=1 seek=$(($1 * 8192 + $2)) conv=notrunc status=none
    bash "$TASB_ROOT/scripts/cluster.sh" start >/dev/null 2>&1
}
expect_corrupt() {  # expect_corrupt NAME BLOCK SQL
    local out
    out="$(err "$3")"
    case "$out" in
    *"XX002: tasb_ivf index \"docs_emb\" is damaged at block $2"*"HINT:  REINDEX"*) check "$1" corrupted corrupted ;;
    # A header that breaks bufpage.h's own rules (pd_lower > pd_upper) is caught by the buffer
    # manager's check first.
    *"XX001: invalid page in block $2 of relation"*) check "$1" corrupted corrupted ;;
    *) check "$1" "XX002 at block $2 with a HINT" "$out" ;;
    esac
}
repair() {
    q "REINDEX INDEX docs_emb" >/dev/null
    q "CHECKPOINT" >/dev/null
    file="$TASB_PGDATA/$(q "SELECT pg_relation_filepath('docs_emb')")"  # REINDEX made a new file
    list_block="$(q "SELECT (SELECT pages FROM tasb_ivf_stats('docs_emb'::regclass)) - 2")"
}

# 1. The first vector item's line pointer: lp_off 0x7ff8 and lp_len 0x7fff (past the page).
poke "$vector_block" 24 "f8ffffff"
expect_corrupt "line pointer past the page: scan" "$vector_block" "$scan"
check "server still up" 1 "$(q "SELECT 1")"
repair
check "REINDEX repairs" 3000 "$(q "$scan")"

# 2. A list page's pd_lower past its pd_upper (Postgres's own page check raises XX001).
poke "$list_block" 12 "f01f"
expect_corrupt "pd_lower past pd_upper: scan" "$list_block" "$scan"
q "DELETE FROM docs WHERE id = 1" >/dev/null
expect_corrupt "pd_lower past pd_upper: VACUUM" "$list_block" "VACUUM docs"
repair

# 3. A list page's kind (special space) says vector page.
poke "$list_block" $((8192 - 4)) "0200"
expect_corrupt "wrong page kind: scan" "$list_block" "$scan"
expect_corrupt "wrong page kind: insert" "$list_block" \
    "INSERT INTO docs SELECT 9000 + i, array(SELECT random() - 0.5 + 0 * i FROM generate_series(1, 8))::float4[]::tasbvec FROM generate_series(1, 300) i"
repair

# 4. The meta page's pd_lower cut below its contents.
poke 0 12 "1800"
postmaster="$(head -1 "$TASB_PGDATA/postmaster.pid")"
expect_corrupt "meta page's pd_lower: scan" 0 "$scan"
expect_corrupt "meta page's pd_lower: insert" 0 "INSERT INTO docs VALUES (9999, '[1,2,3,4,5,6,7,8]')"
q "REINDEX INDEX docs_emb" >/dev/null
check "REINDEX repairs the meta page" "$(q "SELECT count(*) FROM docs")" "$(q "$scan")"
check "server never restarted" "$postmaster" "$(head -1 "$TASB_PGDATA/postmaster.pid")"

# 5. Not damage: a meta page as tasb 0.2.0 wrote it, 56 bytes of contents (pd_lower 80), before
# estimated_recall and the metric were added. It reads with both unknown (0: inner product) and
# the index keeps working.
repair
check "a 0.3.0 meta page has an estimated recall" t "$(q "SELECT estimated_recall > 0 FROM tasb_ivf_stats('docs_emb'::regclass)")"
poke 0 $((24 + 56)) "0000000000000000"
poke 0 12 "5000"
check "a 0.2.0 meta page: estimated_recall is NULL" t "$(q "SELECT estimated_recall IS NULL FROM tasb_ivf_stats('docs_emb'::regclass)")"
check "a 0.2.0 meta page: the index scans every row" "$(q "SELECT count(*) FROM docs")" "$(q "$scan")"
q "INSERT INTO docs VALUES (9998, '[1,0,0,0,0,0,0,0]')" >/dev/null
check "a 0.2.0 meta page: inserts work, and the scan finds them" 9998 \
    "$(q "SET enable_seqscan = off; SELECT id FROM docs ORDER BY emb <#> '[100,0,0,0,0,0,0,0]' LIMIT 1")"
check "a 0.2.0 meta page: still no estimate after the insert rewrote the meta page" t \
    "$(q "SELECT estimated_recall IS NULL FROM tasb_ivf_stats('docs_emb'::regclass)")"

tasb_psql -q -d postgres -c "DROP DATABASE $DB" >/dev/null
report_checks
