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

# The worker runs a table's work as its owner, never as superuser: a plain role's trigger that
# tries to make its owner a superuser when it runs as someone else (issue 13's reproduction)
# finds itself running as the owner, and its attempt fails.
tasb_psql -q -d tasb -v ON_ERROR_STOP=1 <<'SQL' >/dev/null 2>&1 || echo "        (escalation setup failed)"
SET client_min_messages = warning;
DROP TABLE IF EXISTS alice_docs, alice_log;
DROP ROLE IF EXISTS tasb_alice;
CREATE ROLE tasb_alice;
GRANT CREATE ON SCHEMA public TO tasb_alice;
SET ROLE tasb_alice;
CREATE TABLE alice_log (who name, escalated bool);
CREATE TABLE alice_docs (id int PRIMARY KEY, body text, emb tasbvec(16));
CREATE OR REPLACE FUNCTION alice_escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE 'ALTER ROLE tasb_alice SUPERUSER';
        INSERT INTO public.alice_log VALUES (current_user, true);
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO public.alice_log VALUES (current_user, false);
    END;
    RETURN NEW;
END $$;
CREATE TRIGGER z BEFORE UPDATE ON alice_docs FOR EACH ROW EXECUTE FUNCTION alice_escalate();
RESET ROLE;
SELECT tasb_embed_async('alice_docs', 'body', 'emb');
INSERT INTO alice_docs VALUES (1, 'alice wants to be a superuser');
SQL
for _ in $(seq 60); do
    [ "$(q "SELECT count(*) FROM alice_docs WHERE emb IS NOT NULL")" = 1 ] && break
    sleep 0.5
done
check "a plain role's table is embedded by the worker" 1 "$(q "SELECT count(*) FROM alice_docs WHERE emb IS NOT NULL")"
check "its trigger ran as the table's owner" "tasb_alice|false" "$(q "SELECT who || '|' || escalated FROM alice_log")"
check "the owner did not become a superuser" f "$(q "SELECT rolsuper FROM pg_roles WHERE rolname = 'tasb_alice'")"

# A row that always fails is set aside after tasb.worker_max_attempts tries, with its error, and
# the table's other rows keep flowing.
tasb_psql -q -d tasb -v ON_ERROR_STOP=1 <<'SQL' >/dev/null 2>&1 || echo "        (poison setup failed)"
SET client_min_messages = warning;
DROP TABLE IF EXISTS poisoned;
CREATE TABLE poisoned (id int PRIMARY KEY, body text, emb tasbvec(16));
CREATE OR REPLACE FUNCTION poison_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.emb IS NOT NULL AND NEW.body LIKE 'poison%' THEN RAISE EXCEPTION 'poisoned row %', NEW.id; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER poison BEFORE UPDATE ON poisoned FOR EACH ROW EXECUTE FUNCTION poison_check();
SELECT tasb_embed_async('poisoned', 'body', 'emb');
INSERT INTO poisoned SELECT i, CASE WHEN i IN (7, 300) THEN 'poison ' || i ELSE 'fine ' || i END
FROM generate_series(1, 600) i;
SQL
for _ in $(seq 120); do
    [ "$(q "SELECT pending || '|' || rows_set_aside FROM tasb_embed_async_status WHERE relation = 'poisoned'::regclass")" = "2|2" ] && break
    sleep 0.5
done
check "poisoned rows are set aside, the rest embedded" "2|2|598" \
    "$(q "SELECT s.pending || '|' || s.rows_set_aside || '|' || (SELECT count(*) FROM poisoned WHERE emb IS NOT NULL) FROM tasb_embed_async_status s WHERE relation = 'poisoned'::regclass")"
check "the set-aside rows carry their error" "2" \
    "$(q "SELECT count(*) FROM tasb_embed_async_failures WHERE relation = 'poisoned'::regclass AND last_error LIKE 'poisoned row %'")"
q "UPDATE poisoned SET body = 'fine now' WHERE id = 7" >/dev/null
for _ in $(seq 60); do
    [ "$(q "SELECT count(*) FROM poisoned WHERE id = 7 AND emb IS NOT NULL")" = 1 ] && break
    sleep 0.5
done
check "a set-aside row whose text changes is embedded" 1 "$(q "SELECT count(*) FROM poisoned WHERE id = 7 AND emb IS NOT NULL")"

# DROP TABLE of a registered table: the status view keeps working, the registration goes.
q "DROP TABLE poisoned" >/dev/null
check "the status view works after DROP TABLE" 0 "$(q "SELECT count(*) FROM tasb_embed_async_status WHERE relation::oid NOT IN (SELECT oid FROM pg_class)")"

# A backfill that meets rows locked by another transaction waits for them instead of reporting
# done with rows left.
q "DROP TABLE IF EXISTS locked_rows; CREATE TABLE locked_rows (id int PRIMARY KEY, body text, emb tasbvec(16));
   INSERT INTO locked_rows SELECT i, 'locked ' || i FROM generate_series(1, 50) i" >/dev/null
( tasb_psql -X -q -d tasb -c "BEGIN; SELECT * FROM locked_rows WHERE id <= 5 FOR UPDATE; SELECT pg_sleep(3); COMMIT;" >/dev/null 2>&1 ) &
locker=$!
sleep 1
tasb_psql -X -q -d tasb -c "SET client_min_messages = warning" -c "CALL tasb_backfill('locked_rows', 'body', 'emb', 10)" >/dev/null
wait $locker
check "a backfill waits for rows others hold" "0|done" \
    "$(q "SELECT (SELECT count(*) FROM locked_rows WHERE emb IS NULL) || '|' || state FROM tasb_backfill_status WHERE relation = 'locked_rows'::regclass")"
q "DROP TABLE locked_rows; DROP TABLE alice_docs, alice_log; DROP FUNCTION alice_escalate(); DROP FUNCTION poison_check(); REVOKE CREATE ON SCHEMA public FROM tasb_alice; DROP ROLE tasb_alice" >/dev/null

tasb_psql -q -d postgres -c "ALTER SYSTEM RESET tasb.model_dir" -c "SELECT pg_reload_conf()" >/dev/null
report_checks
