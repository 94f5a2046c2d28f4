#!/usr/bin/env bash
# Upgrades: tasb installed at its oldest version from the frozen script (sql/), filled with tables,
# a tasb_ivf index, a trigger, an async registration and backfill progress, then ALTER EXTENSION
# tasb UPDATE. Everything must still work, and the upgraded extension's objects must equal a fresh
# install's. Runs in database "tasb" (the embedding worker serves it) and in tasb_upgrade_fresh.
set -uo pipefail
source "$(dirname "$0")/../scripts/env.sh"

CHECKS=upgrade
source "$(dirname "$0")/checks.sh"
oldest="$(ls "$TASB_ROOT"/sql/tasb--*.sql | sed -n 's/.*\/tasb--\([0-9.]*\)\.sql$/\1/p' | sort -V | head -1)"
current="$(tasb_version)"
q() { tasb_psql -X -q -At -d "${DB:-tasb}" -v ON_ERROR_STOP=1 -c "SET tasb.model_dir = '$TASB_HOME/models/tiny-distilbert'" -c "$1"; }

# Every member object of the extension with its definition: functions in full, relations with
# their columns, row security, policies and view text, types with their storage.
catalog() {
    DB="$1" q "
WITH members AS (
    SELECT classid, objid, objsubid FROM pg_depend
    WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
      AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tasb'))
SELECT pg_describe_object(classid, objid, objsubid) || coalesce(E'\n    ' || CASE classid
    WHEN 'pg_proc'::regclass THEN (
        SELECT CASE WHEN prokind = 'a' THEN pg_get_function_arguments(objid)
                    ELSE pg_get_functiondef(objid) END FROM pg_proc WHERE oid = objid)
    WHEN 'pg_class'::regclass THEN (
        SELECT relkind::text || ' rls=' || relrowsecurity || ' ' || coalesce(array_to_string(reloptions, ','), '') || ' ('
               || (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod)
                                     || CASE WHEN attnotnull THEN ' not null' ELSE '' END
                                     || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY attnum)
                   FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                   WHERE attrelid = objid AND attnum > 0 AND NOT attisdropped) || ')'
               || coalesce(' policies: ' || (SELECT string_agg(polname || ' ' || polcmd::text || ' ' || polroles::text || ' '
                                                              || coalesce(pg_get_expr(polqual, polrelid), '') || ' '
                                                              || coalesce(pg_get_expr(polwithcheck, polrelid), ''), '; ' ORDER BY polname)
                                             FROM pg_policy WHERE polrelid = objid), '')
               || coalesce(' view: ' || CASE WHEN relkind = 'v' THEN pg_get_viewdef(objid) END, '')
               || coalesce(' acl: ' || relacl::text, '')
        FROM pg_class WHERE oid = objid)
    WHEN 'pg_type'::regclass THEN (
        SELECT typtype::text || ' ' || typstorage::text || ' ' || typalign::text || ' ' || typlen FROM pg_type WHERE oid = objid)
    END, '')
FROM members ORDER BY 1"
}

tasb_psql -q -d postgres -c "ALTER SYSTEM SET tasb.model_dir = '$TASB_HOME/models/tiny-distilbert'" \
    -c "SELECT pg_reload_conf()" >/dev/null
tasb_psql -q -d tasb -v ON_ERROR_STOP=1 <<SQL >/dev/null || { echo "upgrade: 0 passed, 1 failed (setup at $oldest)"; exit 1; }
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tasb CASCADE;
DROP TABLE IF EXISTS upgrade_docs, upgrade_queue;
CREATE EXTENSION tasb VERSION '$oldest';
SET tasb.model_dir = '$TASB_HOME/models/tiny-distilbert';
CREATE TABLE upgrade_docs (id int PRIMARY KEY, body text, emb tasbvec(16));
INSERT INTO upgrade_docs SELECT i, 'upgrade passage ' || i || ' about topic ' || i % 7 FROM generate_series(1, 300) i;
CALL tasb_backfill('upgrade_docs', 'body', 'emb');
CREATE INDEX upgrade_docs_emb ON upgrade_docs USING tasb_ivf (emb);
CREATE TRIGGER embed BEFORE INSERT OR UPDATE OF body ON upgrade_docs
    FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger('body', 'emb');
CREATE TABLE upgrade_queue (id int PRIMARY KEY, body text, emb tasbvec(16));
SELECT tasb_embed_async('upgrade_queue', 'body', 'emb');
SQL
check "installed at $oldest" "$oldest" "$(q "SELECT extversion FROM pg_extension WHERE extname = 'tasb'")"

q "ALTER EXTENSION tasb UPDATE" >/dev/null
check "ALTER EXTENSION tasb UPDATE reaches $current" "$current" "$(q "SELECT extversion FROM pg_extension WHERE extname = 'tasb'")"

check "rows and vectors kept" "300|300" "$(q "SELECT count(*), count(emb) FROM upgrade_docs")"
check "backfill progress kept" "done" "$(q "SELECT state FROM tasb_backfill_status WHERE relation = 'upgrade_docs'::regclass")"
check "the index answers the query" t "$(q "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM upgrade_docs ORDER BY emb <#> tasb_encode('topic 3') LIMIT 5" | grep -q upgrade_docs_emb && echo t)"
# The fixture model's vectors are nearly alike: compare scores, which ties cannot reorder.
exact="$(q "SET enable_indexscan = off; SELECT string_agg(score::text, ',') FROM (SELECT -(emb <#> tasb_encode('upgrade passage 42')) AS score FROM upgrade_docs ORDER BY emb <#> tasb_encode('upgrade passage 42') LIMIT 5) s")"
through_index="$(q "SET enable_seqscan = off; SET tasb.probes = 1000; SELECT string_agg(score::text, ',') FROM (SELECT -(emb <#> tasb_encode('upgrade passage 42')) AS score FROM upgrade_docs ORDER BY emb <#> tasb_encode('upgrade passage 42') LIMIT 5) s")"
check "the index scan (all lists) equals the exact top 5" "$exact" "$through_index"
q "INSERT INTO upgrade_docs (id, body) VALUES (301, 'a row inserted after the upgrade')" >/dev/null
check "the trigger embeds new rows" t "$(q "SELECT emb <-> tasb_encode(body) < 1e-5 FROM upgrade_docs WHERE id = 301")"
check "the index finds the new row" 301 "$(q "SET enable_seqscan = off; SET tasb.probes = 1000; SELECT id FROM upgrade_docs ORDER BY emb <#> tasb_encode('a row inserted after the upgrade') LIMIT 1")"

q "INSERT INTO upgrade_queue SELECT i, 'queued passage ' || i FROM generate_series(1, 50) i" >/dev/null
drained=f
for _ in $(seq 120); do
    [ "$(q "SELECT pending FROM tasb_embed_async_status WHERE relation = 'upgrade_queue'::regclass")" = 0 ] && { drained=t; break; }
    sleep 0.5
done
check "the async registration still embeds rows" t "$drained"
check "async vectors equal tasb_encode" 0 "$(q "SELECT count(*) FROM upgrade_queue WHERE emb IS NULL OR emb <-> tasb_encode(body) >= 1e-5")"
check "tasb_chunk exists after the upgrade" 2 "$(q "SELECT count(*) FROM tasb_chunk('One sentence. Another sentence.', 3)")"

tasb_psql -q -d postgres -c "DROP DATABASE IF EXISTS tasb_upgrade_fresh" -c "CREATE DATABASE tasb_upgrade_fresh" >/dev/null
DB=tasb_upgrade_fresh q "CREATE EXTENSION tasb" >/dev/null
upgraded="$(catalog tasb)"
fresh="$(catalog tasb_upgrade_fresh)"
if [ "$(grep -c '^[^ ]' <<<"$fresh")" -lt 50 ]; then
    check "the catalog of a fresh install lists the extension's objects" "50 or more" "$(grep -c '^[^ ]' <<<"$fresh")"
elif [ "$upgraded" = "$fresh" ]; then
    check "the upgraded extension's objects equal a fresh install's ($(grep -c '^[^ ]' <<<"$fresh") objects)" same same
else
    diff <(echo "$fresh") <(echo "$upgraded") | head -40 >&2
    check "the upgraded extension's objects equal a fresh install's" same different
fi
tasb_psql -q -d postgres -c "DROP DATABASE tasb_upgrade_fresh" >/dev/null
q "DROP TABLE upgrade_docs, upgrade_queue" >/dev/null
report_checks
