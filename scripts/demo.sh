#!/usr/bin/env bash
# The main job: install what is missing, build and install tasb, start a local cluster on its own
# port, create the extension and answer a ranking query. Safe to run again.
set -euo pipefail
source "$(dirname "$0")/env.sh"

bash "$TASB_ROOT/scripts/setup.sh"
bash "$TASB_ROOT/scripts/install.sh"
bash "$TASB_ROOT/scripts/cluster.sh" start

if [ "$(tasb_psql -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'tasb'")" != 1 ]; then
    tasb_psql -q -d postgres -c "CREATE DATABASE tasb"
fi

log "ranking 20,000 passages of 768 dimensions by dot product (ORDER BY emb <#> q LIMIT 5)"
tasb_psql -q -d tasb -v ON_ERROR_STOP=1 <<'SQL'
-- Recreate: a rebuilt library of the same version may have changed its SQL definitions.
DROP EXTENSION IF EXISTS tasb CASCADE;
CREATE EXTENSION tasb;
-- Until the encoder lands, the demo uses deterministic synthetic vectors with TAS-B-like norms.
DROP TABLE IF EXISTS demo_passages;
CREATE TABLE demo_passages (id int PRIMARY KEY, emb tasbvec(768));
INSERT INTO demo_passages
SELECT i, array_agg(((x - floor(x) - 0.5) * (1 + (i % 5) * 0.1))::real ORDER BY j)::tasbvec(768)
FROM generate_series(1, 20000) i, generate_series(1, 768) j,
     LATERAL (SELECT sin(i * 12.9898 + j * 78.233) * 43758.5453 AS x) r
GROUP BY i;
ANALYZE demo_passages;
\timing on
SELECT id, round((-(emb <#> (SELECT emb FROM demo_passages WHERE id = 42)))::numeric, 3) AS dot_product
FROM demo_passages
ORDER BY emb <#> (SELECT emb FROM demo_passages WHERE id = 42)
LIMIT 5;
\timing off
SELECT tasb_simd_kernel() AS simd_kernel,
       pg_size_pretty(pg_table_size('demo_passages')) AS table_size;
SQL
log "done. Connect with: scripts/cluster.sh psql -d tasb   Stop with: scripts/cluster.sh stop"
log "data directory: $TASB_PGDATA (log: $TASB_PGDATA/log)"
