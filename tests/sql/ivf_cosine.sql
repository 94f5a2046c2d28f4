-- tasb_ivf with the cosine classes: ORDER BY emb <=> q by index scan, checked against exact
-- search (a sequential scan) on vectors whose norms vary, so cosine order differs from <#> order.
SELECT setseed(0.3);
-- 40 directions, rows around them, norms from 1 to 7.
CREATE TABLE centres AS SELECT c, array(SELECT random() * 2 - 1 + 0 * c FROM generate_series(1, 32))::real[] AS v
    FROM generate_series(1, 40) c;
CREATE TABLE docs (id int, emb tasbvec(32));
INSERT INTO docs SELECT i, array(SELECT (v[d] + 0.4 * (random() * 2 - 1)) * (1 + (i % 7))
                                 FROM generate_series(1, 32) d)::real[]::tasbvec
    FROM generate_series(1, 5000) i JOIN centres ON c = 1 + i % 40;
INSERT INTO docs VALUES (0, array_fill(0::real, ARRAY[32])::tasbvec), (-1, NULL);
CREATE INDEX docs_cos ON docs USING tasb_ivf (emb tasbvec_cosine_ops);
SELECT lists, default_probes > 0 AS has_default, estimated_recall >= 0.97 AS estimate_met, metric
    FROM tasb_ivf_stats('docs_cos'::regclass);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY emb <=> '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]' LIMIT 10;
-- Reading every list, the index's top 10 is the exact top 10 for every query row.
CREATE FUNCTION top10(q tasbvec, use_index bool) RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE ids int[];
BEGIN
    PERFORM set_config('enable_seqscan', (NOT use_index)::text, true);
    PERFORM set_config('enable_indexscan', use_index::text, true);
    SELECT array_agg(id) INTO ids FROM (SELECT id FROM docs ORDER BY emb <=> q, id LIMIT 10) s;
    RETURN ids;
END $$;
SET tasb.probes = 1000;
SELECT count(*) AS queries, count(*) FILTER (WHERE top10(emb, true) = top10(emb, false)) AS exact_matches
    FROM docs WHERE id % 250 = 1;
-- A cosine order is not an inner-product order here: the rows with the largest norms would win.
SELECT top10(emb, false) <> (SELECT array_agg(id) FROM (SELECT id FROM docs ORDER BY emb <#> d.emb LIMIT 10) s)
    AS differs_from_inner_product
    FROM docs d WHERE id = 1;
-- Every row with a direction comes out once; the zero vector and NULL are not indexed.
SELECT count(*) AS rows_from_index, count(DISTINCT id) AS distinct_rows, bool_or(id <= 0) AS zero_or_null
    FROM (SELECT id FROM docs ORDER BY emb <=> '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]') s;
RESET tasb.probes;
-- At the default probes, recall@10 against exact search (the self-check uses <=> for this index).
SELECT measured_queries, recall >= 0.9 AS recall_ok FROM tasb_ivf_recall('docs_cos', sample => 50);
-- A row inserted after the build is found by its direction, whatever its norm.
INSERT INTO docs SELECT 9999, array(SELECT 100 * v[d] FROM generate_series(1, 32) d)::real[]::tasbvec
    FROM centres WHERE c = 3;
INSERT INTO docs VALUES (10000, array_fill(0::real, ARRAY[32])::tasbvec);
SELECT id FROM docs ORDER BY emb <=> (SELECT v::tasbvec FROM centres WHERE c = 3) LIMIT 1;
-- A zero query has no cosine distance: the scan returns rows in no order (as NULL does).
SELECT count(*) FROM (SELECT id FROM docs ORDER BY emb <=> array_fill(0::real, ARRAY[32])::tasbvec LIMIT 5) s;
RESET enable_seqscan;
-- tasbhalf rows, with tasbvec and tasbhalf queries.
CREATE TABLE halves AS SELECT id, emb::tasbhalf(32) AS emb FROM docs WHERE id BETWEEN 1 AND 5000;
CREATE INDEX halves_cos ON halves USING tasb_ivf (emb tasbhalf_cosine_ops);
CREATE INDEX halves_ip ON halves USING tasb_ivf (emb);
SELECT i::regclass AS index, s.metric FROM unnest(ARRAY['halves_cos'::regclass, 'halves_ip']) i,
    tasb_ivf_stats(i) s;
DROP INDEX halves_ip;
SET enable_indexscan = off;
CREATE TEMP TABLE half_exact AS
    SELECT q.id, (SELECT array_agg(id) FROM (SELECT id FROM halves ORDER BY emb <=> q.emb, id LIMIT 5) s) AS ids
    FROM (SELECT id, emb::tasbvec AS emb FROM halves WHERE id % 500 = 2) q;
RESET enable_indexscan;
SET enable_seqscan = off;
SET tasb.probes = 1000;
SELECT count(*) AS queries, count(*) FILTER (WHERE e.ids = (
           SELECT array_agg(id) FROM (SELECT id FROM halves ORDER BY emb <=> h.emb LIMIT 5) s)) AS exact_matches
    FROM half_exact e JOIN halves h USING (id);
-- The cosine class does not answer <#>: that needs an inner-product index.
EXPLAIN (COSTS OFF) SELECT id FROM halves ORDER BY emb <#> (SELECT emb FROM halves LIMIT 1) LIMIT 3;
-- A plain role builds, queries and measures a cosine index on its own table, and may not look at
-- another's.
RESET enable_seqscan;
RESET tasb.probes;
CREATE ROLE tasb_cos_plain;
GRANT CREATE ON SCHEMA public TO tasb_cos_plain;
SET ROLE tasb_cos_plain;
CREATE TABLE mine AS SELECT i AS id,
    array(SELECT sin(i * d) * (1 + i % 5) FROM generate_series(1, 8) d)::real[]::tasbvec(8) AS emb
    FROM generate_series(1, 500) i;
CREATE INDEX mine_cos ON mine USING tasb_ivf (emb tasbvec_cosine_ops);
SET enable_indexscan = off;
CREATE TABLE mine_exact AS SELECT array_agg(id) AS ids
    FROM (SELECT id FROM mine ORDER BY emb <=> '[1,2,3,4,5,6,7,8]', id LIMIT 10) s;
RESET enable_indexscan;
SET enable_seqscan = off;
SET tasb.probes = 1000;
SELECT (SELECT array_agg(id) FROM (SELECT id FROM mine ORDER BY emb <=> '[1,2,3,4,5,6,7,8]' LIMIT 10) s)
    = (SELECT ids FROM mine_exact) AS plain_role_exact_top10;
SELECT metric FROM tasb_ivf_stats('mine_cos'::regclass);
SELECT measured_queries, recall FROM tasb_ivf_recall('mine_cos', sample => 10);
SELECT metric FROM tasb_ivf_stats('docs_cos'::regclass);
RESET ROLE;
RESET tasb.probes;
RESET enable_seqscan;
DROP OWNED BY tasb_cos_plain CASCADE;
DROP ROLE tasb_cos_plain;
