-- Exact top-10 by <#> over 3,000 vectors of 256 dimensions, checked against an independent
-- ranking computed with plain SQL arithmetic in float8; then the same under a forced parallel plan.
-- Pseudo-random elements in [-0.5, 0.5) times a per-row scale, so norms vary as in TAS-B.
CREATE TABLE items (id int PRIMARY KEY, emb tasbvec(256));
INSERT INTO items
SELECT i, array_agg(((x - floor(x) - 0.5) * (1 + (i % 7) * 0.2))::real ORDER BY j)::tasbvec(256)
FROM generate_series(1, 3000) i, generate_series(1, 256) j,
     LATERAL (SELECT sin(i * 12.9898 + j * 78.233) * 43758.5453 AS x) r
GROUP BY i;
CREATE TABLE queries (qid int PRIMARY KEY, q tasbvec(256));
INSERT INTO queries
SELECT k, array_agg((x - floor(x) - 0.5)::real ORDER BY j)::tasbvec(256)
FROM generate_series(1, 5) k, generate_series(1, 256) j,
     LATERAL (SELECT sin(k * 93.9898 + j * 67.345) * 24634.6345 AS x) r
GROUP BY k;
ANALYZE items;

CREATE TEMP TABLE scores AS
SELECT qid, id, (SELECT sum(x::float8 * y::float8) FROM unnest(emb::real[], q::real[]) u(x, y)) AS score
FROM items, queries;
CREATE TEMP TABLE tenth AS
SELECT qid, min(score) AS score FROM (
    SELECT qid, score, row_number() OVER (PARTITION BY qid ORDER BY score DESC) AS rank FROM scores
) ranked WHERE rank <= 10 GROUP BY qid;

-- A top-10 is right when it has 10 distinct rows, each scoring at least the true 10th best
-- (up to float4 rounding, so exact ties may come in either order).
CREATE FUNCTION top10_is_exact(query_id int) RETURNS boolean LANGUAGE sql AS $$
    WITH top AS (
        SELECT id FROM items ORDER BY emb <#> (SELECT q FROM queries WHERE qid = query_id) LIMIT 10
    )
    SELECT count(DISTINCT top.id) = 10 AND bool_and(s.score >= t.score - 1e-5)
    FROM top JOIN scores s ON s.id = top.id AND s.qid = query_id JOIN tenth t ON t.qid = query_id
$$;

-- Serial plan.
SET max_parallel_workers_per_gather = 0;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY emb <#> (SELECT q FROM queries WHERE qid = 1) LIMIT 10;
SELECT qid, top10_is_exact(qid) FROM queries ORDER BY qid;

-- Forced parallel plan gives exact answers too.
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY emb <#> (SELECT q FROM queries WHERE qid = 1) LIMIT 10;
SELECT qid, top10_is_exact(qid) FROM queries ORDER BY qid;
RESET ALL;

-- The check can fail: ranking by the positive inner product (worst first) is caught.
SELECT bool_and(s.score >= t.score - 1e-5) AS worst_first_passes
FROM (SELECT id FROM items ORDER BY -(emb <#> (SELECT q FROM queries WHERE qid = 1)) LIMIT 10) top
JOIN scores s ON s.id = top.id AND s.qid = 1 JOIN tenth t ON t.qid = 1;

-- The best passage first: scores are descending dot products, equal to the reference.
SELECT id, round((-(emb <#> q))::numeric, 4) AS dot, round(s.score::numeric, 4) AS reference
FROM items JOIN scores s USING (id) JOIN queries USING (qid) WHERE qid = 1 ORDER BY emb <#> q LIMIT 3;
