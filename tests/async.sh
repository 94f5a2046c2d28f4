#!/usr/bin/env bash
# The asynchronous embedding path end to end, in the local cluster (tasb in shared_preload_libraries,
# the worker serving database "tasb"): rows registered with tasb_embed_async get vectors from the
# background worker that equal tasb_encode of their text; changed text never keeps an old vector;
# rows pending when the server crashes (pg_ctl stop -m immediate) are embedded after the restart.
set -uo pipefail
source "$(dirname "$0")/../scripts/env.sh"

CHECKS=async
source "$(dirname "$0")/checks.sh"
q() { tasb_psql -X -q -At -d tasb -v ON_ERROR_STOP=1 -c "$1"; }
wait_drained() {  # until no row is pending, at most 120 s
    for _ in $(seq 240); do
        pending="$(q "SELECT pending FROM tasb_embed_async_status WHERE relation = 'async_passages'::regclass")" || return 1
        [ "$pending" = 0 ] && return 0
        sleep 0.5
    done
    q "SELECT * FROM tasb_embed_async_status" >&2
    return 1
}
wrong_vectors() {
    q "SELECT count(*) FROM async_passages WHERE body IS NOT NULL AND (emb IS NULL OR emb <-> tasb_encode(body) >= 1e-5)"
}

bash "$TASB_ROOT/scripts/cluster.sh" start >/dev/null 2>&1   # running, with database tasb
if ! tasb_psql -d postgres -Atc "SHOW shared_preload_libraries" | grep -q tasb; then
    bash "$TASB_ROOT/scripts/cluster.sh" restart
fi
tasb_psql -q -d postgres -c "ALTER SYSTEM SET tasb.model_dir = '$TASB_HOME/models/tiny-distilbert'" \
    -c "SELECT pg_reload_conf()" >/dev/null
tasb_psql -q -d tasb -v ON_ERROR_STOP=1 <<'SQL' >/dev/null || { echo "async: 0 passed, 1 failed (setup)"; exit 1; }
SET client_min_messages = warning;
-- Recreate: a rebuilt library of the same version may have changed its SQL definitions.
DROP EXTENSION IF EXISTS tasb CASCADE;
CREATE EXTENSION tasb;
DROP TABLE IF EXISTS async_passages;
CREATE TABLE async_passages (id int PRIMARY KEY, body text, emb tasbvec(16));
SELECT tasb_embed_async('async_passages', 'body', 'emb');
INSERT INTO async_passages SELECT i, CASE WHEN i % 100 = 0 THEN NULL ELSE 'async passage ' || i END
FROM generate_series(1, 500) i;
SQL
check "the worker is running" t "$(q "SELECT worker_running FROM tasb_embed_async_status")"
wait_drained; check "inserted rows drained" 0 $?
check "every vector equals tasb_encode(body)" 0 "$(wrong_vectors)"
check "NULL text stays without a vector" 5 "$(q "SELECT count(*) FROM async_passages WHERE body IS NULL AND emb IS NULL")"

q "UPDATE async_passages SET body = body || ' (edited)' WHERE id <= 50" >/dev/null
check "changed text never keeps its old vector" 0 \
    "$(q "SELECT count(*) FROM async_passages WHERE id <= 50 AND emb IS NOT NULL AND emb <-> tasb_encode(body) >= 1e-5")"
wait_drained; check "updated rows drained" 0 $?
check "updated vectors equal tasb_encode(body)" 0 "$(wrong_vectors)"

# A terminated worker comes back (the postmaster restarts it within seconds).
old_pid="$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'tasb embed worker'")"
q "SELECT pg_terminate_backend($old_pid)" >/dev/null
back=f
for _ in $(seq 40); do
    sleep 0.5
    back="$(q "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'tasb embed worker' AND pid <> $old_pid")"
    [ "$back" = t ] && break
done
check "a terminated worker is restarted" t "$back"

# Crash with rows pending: they are in the table, so they are embedded after the restart.
q "INSERT INTO async_passages SELECT i, 'passage written before a crash ' || i FROM generate_series(1001, 4000) i" >/dev/null
echo "        pending at the crash: $(q "SELECT pending FROM tasb_embed_async_status")"
as_pg "$(pg_bindir)/pg_ctl" -D "$TASB_PGDATA" -m immediate -w stop >/dev/null 2>&1
bash "$TASB_ROOT/scripts/cluster.sh" start >/dev/null 2>&1
wait_drained; check "rows pending at a crash drained after the restart" 0 $?
check "their vectors equal tasb_encode(body)" 0 "$(wrong_vectors)"
check "no failures recorded" "0|" "$(q "SELECT rows_failed || '|' || coalesce(last_error, '') FROM tasb_embed_async_status")"

tasb_psql -q -d postgres -c "ALTER SYSTEM RESET tasb.model_dir" -c "SELECT pg_reload_conf()" >/dev/null
report_checks
