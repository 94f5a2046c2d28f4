#!/usr/bin/env bash
# The encoder service end to end, in the local cluster (tasb preloaded): its vectors equal the
# session path's; 16 concurrent sessions each get their own texts' vectors; a cancel while
# waiting, kill -9 of the service process with sessions waiting, a model change on reload, the
# service turned off, a model that cannot load, and a plain role.
set -uo pipefail
source "$(dirname "$0")/../scripts/env.sh"

CHECKS=service
source "$(dirname "$0")/checks.sh"
DB=tasb_service_test
q() { tasb_psql -X -q -At -d "$DB" -v ON_ERROR_STOP=1 -c "$1"; }
stat() { q "SELECT $1 FROM tasb_service_stats()"; }
reload() { tasb_psql -q -d postgres -c "$1" -c "SELECT pg_reload_conf()" >/dev/null; }
wait_state() {  # wait_state STATE: until the service reports it, at most 30 s
    for _ in $(seq 300); do
        [ "$(stat state)" = "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
tiny="$TASB_HOME/models/tiny-distilbert"
# A second model whose vectors differ visibly: the fixture, L2-normalised (norm 1).
unit="$TASB_HOME/models/tiny-distilbert-unit"
as_root rm -rf "$unit"
as_root cp -r "$tiny" "$unit"
echo '[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Normalize","type":"sentence_transformers.models.Normalize"}]' |
    as_root tee "$unit/modules.json" >/dev/null
as_root chmod -R a+rX "$unit"

bash "$TASB_ROOT/scripts/cluster.sh" start >/dev/null 2>&1
if ! tasb_psql -d postgres -Atc "SHOW shared_preload_libraries" | grep -q tasb; then
    bash "$TASB_ROOT/scripts/cluster.sh" restart
fi
reload "ALTER SYSTEM SET tasb.model_dir = '$tiny'"
tasb_psql -q -d postgres -c "ALTER SYSTEM RESET tasb.service" -c "ALTER SYSTEM RESET tasb.service_threads" -c "SELECT pg_reload_conf()" >/dev/null
tasb_psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" 2>/dev/null
q "CREATE EXTENSION tasb"
wait_state ready; check "the service is ready with the configured model" "ready|$tiny|cpu" "$(stat "state, model_dir, device" | tr -d ' ')"

# --- vectors equal the session path's (the fixture's reference vectors are checked there) ---
q "CREATE TABLE texts AS SELECT i, CASE i % 7 WHEN 0 THEN '' ELSE 'passage ' || i || repeat(' about things', i % 30) END AS body FROM generate_series(1, 300) i"
q "CREATE TABLE reference AS SELECT i, body, v FROM texts, LATERAL (SELECT tasb_encode_batch(ARRAY[body])) AS r(vs), LATERAL unnest(r.vs) v" 2>/dev/null
tasb_psql -X -q -d "$DB" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
DROP TABLE reference;
SET tasb.service = off;
CREATE TABLE reference AS SELECT i, body, tasb_encode(body) AS v FROM texts;
SQL
check "the reference came from the session's own model" "0|t" "$(tasb_psql -X -q -At -d "$DB" -c "SET tasb.service = off" -c "SELECT tasb_encode('x') IS NOT NULL" -c "SELECT service_calls, model_dir IS NOT NULL FROM tasb_stats()" | tail -1 | tr -d ' ')"
differ() {  # rows of table $1 whose vector differs from the reference by 1e-5 or more
    q "SELECT count(*) FROM $1 r JOIN reference USING (i) WHERE r.v <-> reference.v >= 1e-5 OR r.v IS NULL"
}
q "CREATE TABLE single AS SELECT i, tasb_encode(body) AS v FROM texts"
check "tasb_encode through the service equals the session path (300 texts)" 0 "$(differ single)"
q "CREATE TABLE batched AS SELECT t.i, b.v FROM (SELECT array_agg(body ORDER BY i) AS bodies, array_agg(i ORDER BY i) AS ids FROM texts) a, LATERAL unnest(a.ids, tasb_encode_batch(a.bodies)) AS b(i, v) JOIN texts t ON t.i = b.i"
check "tasb_encode_batch through the service equals it too" 0 "$(differ batched)"
check "those calls went to the service, no model in the session" "t|f" "$(tasb_psql -X -q -At -d "$DB" -c "SELECT tasb_encode('fresh') IS NOT NULL" -c "SELECT service_texts > 0, model_dir IS NOT NULL FROM tasb_stats()" | tail -1 | tr -d ' ')"
check "a 1 MB text encodes as in the session path" t "$(q "SELECT tasb_encode(repeat('lorem ipsum ', 90000)) <-> (SELECT tasb_encode(repeat('lorem ipsum ', 90000)) FROM (SELECT set_config('tasb.service', 'off', true)) s) < 1e-5")"
check "tasb_score and tasb_rerank through the service" t "$(q "SELECT abs(tasb_score('q', 'p') - (SELECT (tasb_encode('q') <#> tasb_encode('p')) * -1)) < 1e-4 AND (SELECT count(*) FROM tasb_rerank('q', ARRAY['a', NULL, 'b'])) = 3")"

# The fixture's reference vectors (PyTorch), independent of tasb, through the service.
ref_sql="$(python3 - "$tiny/reference.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rows = ["(%s, '[%s]')" % ("'" + t["text"].replace("'", "''") + "'", ",".join(map(str, t["cls"]))) for t in r["texts"]]
print("SELECT count(*) FILTER (WHERE tasb_encode(t) <-> v::tasbvec < 1e-4) || '/' || count(*) FROM (VALUES %s) AS x(t, v)" % ", ".join(rows))
PY
)"
check "the service's vectors match the fixture's PyTorch reference" t "$(q "$ref_sql" | awk -F/ '{print ($1 == $2 && $2 > 0) ? "t" : $0}')"

# --- 16 concurrent sessions, each its own texts, singles and batches ---
q "CREATE TABLE concurrent (session int, i int, v tasbvec)"
for s in $(seq 1 16); do
    tasb_psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "
        INSERT INTO concurrent SELECT $s, i, tasb_encode(body) FROM texts WHERE i % 16 = $s - 1 AND i <= 150;
        INSERT INTO concurrent SELECT $s, b.i, b.v FROM (SELECT array_agg(body ORDER BY i) bodies, array_agg(i ORDER BY i) ids FROM texts WHERE i % 16 = $s - 1 AND i > 150) a, LATERAL unnest(a.ids, tasb_encode_batch(a.bodies)) AS b(i, v);" >/dev/null &
done
wait
check "16 sessions: every text answered once, to the session that sent it" "300|300" "$(q "SELECT count(*), count(DISTINCT i) FILTER (WHERE i % 16 = session - 1) FROM concurrent")"
check "16 sessions: each got its own texts' vectors" 0 "$(q "SELECT count(*) FROM concurrent c JOIN reference r USING (i) WHERE c.v <-> r.v >= 1e-5")"
check "texts from different sessions shared model calls" t "$(stat "max_texts_per_batch > 1")"
check "no slot left in use" 0 "$(stat slots_in_use)"

# --- a cancel while waiting leaves the service healthy ---
pid="$(stat pid)"
kill -STOP "$pid"
out="$(tasb_psql -X -q -At -d "$DB" -c "SET statement_timeout = '300ms'" -c "SELECT tasb_encode('waits for a stopped service')" 2>&1)"
check "statement_timeout ends a wait on the service" 1 "$(grep -c 'canceling statement due to statement timeout' <<<"$out")"
kill -CONT "$pid"
check "the service answers after the cancel" t "$(q "SELECT tasb_encode('after the cancel') <-> (SELECT tasb_encode('after the cancel') FROM (SELECT set_config('tasb.service', 'off', true)) s) < 1e-5")"
sleep 0.3; check "the cancelled request's slot was freed" 0 "$(stat slots_in_use)"

# --- kill -9 of the service process while sessions wait ---
restarts="$(stat restarts)"
kill -STOP "$pid"
tmp="$(mktemp -d)"
for s in 1 2 3 4; do
    ( tasb_psql -X -q -At -d "$DB" -c "SELECT tasb_encode('waiting $s')" >"$tmp/$s.out" 2>&1; date +%s.%N >"$tmp/$s.end" ) &
done
sleep 1
killed_at="$(date +%s.%N)"
kill -9 "$pid"
wait
errors=0; slow=0
for s in 1 2 3 4; do
    grep -q "killed by signal 9" "$tmp/$s.out" && grep -q "HINT:" "$tmp/$s.out" && errors=$((errors + 1))
    awk -v a="$(cat "$tmp/$s.end")" -v b="$killed_at" 'BEGIN { exit !(a - b > 1.0) }' && slow=$((slow + 1))
done
rm -rf "$tmp"
check "every waiting session got an ERROR with a HINT" 4 "$errors"
check "within a second of the kill" 0 "$slow"
wait_state ready; check "the service is restarted (and counted)" "$((restarts + 1))" "$(stat restarts)"
check "the next call works" t "$(q "SELECT tasb_encode('after the kill') <-> (SELECT v FROM reference LIMIT 0) IS NULL AND tasb_encode('after the kill') IS NOT NULL")"
check "the server itself did not restart" t "$(q "SELECT pg_postmaster_start_time() < now() - interval '1 second'")"

# --- a model change on reload while requests wait ---
pid="$(stat pid)"
kill -STOP "$pid"
tmp="$(mktemp -d)"
for s in 1 2 3; do
    tasb_psql -X -q -At -d "$DB" -c "SELECT round(sqrt(-(v <#> v))::numeric, 3) = 1, v <-> (SELECT v FROM reference WHERE i = $s) < 1e-5 FROM (SELECT tasb_encode(body) v FROM texts WHERE i = $s) x" >"$tmp/$s.out" 2>&1 &
done
sleep 0.5
reload "ALTER SYSTEM SET tasb.model_dir = '$unit'"
sleep 0.3
kill -CONT "$pid"
wait
answered_by_sent_model=0
for s in 1 2 3; do
    # Sent for the fixture: answered by it (not unit length), or failed clearly.
    { grep -qx 'f|t' "$tmp/$s.out" || grep -q 'changed its model' "$tmp/$s.out"; } && answered_by_sent_model=$((answered_by_sent_model + 1))
done
rm -rf "$tmp"
check "requests in flight at a model change: answered by the model they were sent to" 3 "$answered_by_sent_model"
wait_state ready; check "the service now serves the new model" "$unit" "$(stat model_dir)"
check "a new session gets the new model's vectors from the service" "1.000|t" "$(tasb_psql -X -q -At -d "$DB" -c "SELECT round(sqrt(-(tasb_encode('x') <#> tasb_encode('x')))::numeric, 3)" -c "SELECT service_calls > 0 FROM tasb_stats()" | paste -sd'|')"
check "a session that names another model runs it itself" "f|0" "$(tasb_psql -X -q -At -d "$DB" -c "SET tasb.model_dir = '$tiny'" -c "SELECT round(sqrt(-(tasb_encode('x') <#> tasb_encode('x')))::numeric, 3) = 1" -c "SELECT service_calls FROM tasb_stats()" | paste -sd'|')"
reload "ALTER SYSTEM SET tasb.model_dir = '$tiny'"
wait_state ready

# --- a model that cannot be loaded: every caller is told why, nobody hangs ---
reload "ALTER SYSTEM SET tasb.model_dir = '/nonexistent/model'"
wait_state failed; check "the service reports the load failure" t "$(stat "last_error LIKE '%cannot load its model%'")"
out="$(tasb_psql -X -q -At -d "$DB" -c "SELECT tasb_encode('x')" 2>&1)"
check "a caller gets the load error at once" 1 "$(grep -c 'cannot load its model' <<<"$out")"
reload "ALTER SYSTEM SET tasb.model_dir = '$tiny'"
wait_state ready; check "fixing the setting and reloading recovers" t "$(q "SELECT tasb_encode('x') IS NOT NULL")"

# --- the service turned off: sessions run their own model ---
reload "ALTER SYSTEM SET tasb.service = off"
wait_state off; check "tasb.service = off stops the service" off "$(stat state)"
sleep 0.5
check "sessions then encode in their own backend" "t|0|t" "$(tasb_psql -X -q -At -d "$DB" -c "SELECT tasb_encode('x') IS NOT NULL" -c "SELECT service_calls, model_dir IS NOT NULL FROM tasb_stats()" | paste -sd'|' | tr -d ' ')"
check "no service process is left" 0 "$(pgrep -cf 'tasb encoder service' | awk '{print ($1 > 1) ? $1 - 1 : 0}')"
reload "ALTER SYSTEM RESET tasb.service"
wait_state ready

# --- a plain role uses the service and cannot opt its session out of it ---
q "DROP ROLE IF EXISTS tasb_service_plain; CREATE ROLE tasb_service_plain LOGIN; GRANT SELECT ON texts, reference TO tasb_service_plain"
check "a plain role's vectors come from the service and are right" "0|t" "$(tasb_psql -X -q -At -U tasb_service_plain -d "$DB" -c "SELECT count(*) FROM texts JOIN reference USING (i) WHERE i <= 20 AND tasb_encode(texts.body) <-> reference.v >= 1e-5" -c "SELECT service_calls > 0 FROM tasb_stats()" | paste -sd'|')"
check "a plain role cannot turn the service off for its session" 1 "$(tasb_psql -X -q -At -U tasb_service_plain -d "$DB" -c "SET tasb.service = off" 2>&1 | grep -c 'permission denied')"
check "nor point it at another model" 1 "$(tasb_psql -X -q -At -U tasb_service_plain -d "$DB" -c "SET tasb.model_dir = '/tmp'" 2>&1 | grep -c 'permission denied')"

tasb_psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "DROP ROLE IF EXISTS tasb_service_plain" >/dev/null 2>&1
report_checks
