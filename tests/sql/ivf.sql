-- tasb_ivf: recall against exact (sequential-scan) results at default settings, after a build,
-- after inserts, after deletes plus VACUUM and after REINDEX; filtered queries; planner choices;
-- NULLs, errors and edge cases. Data: 40 topics in 64 dimensions, norms 8 to 12 (like TAS-B's).
SELECT setseed(0.42);
CREATE TABLE topics AS
    SELECT t, array(SELECT random() * 2 - 1 FROM generate_series(1, 64) WHERE t > 0) AS c
    FROM generate_series(1, 40) t;
CREATE FUNCTION noisy(topic float8[], noise float8, norm float8) RETURNS tasbvec
LANGUAGE plpgsql AS $$
DECLARE
    v float8[];
    s float8 := 0;
BEGIN
    FOR i IN 1..array_length(topic, 1) LOOP
        v[i] := topic[i] + noise * (random() * 2 - 1);
        s := s + v[i] * v[i];
    END LOOP;
    FOR i IN 1..array_length(topic, 1) LOOP
        v[i] := v[i] * norm / sqrt(s);
    END LOOP;
    RETURN v::float4[]::tasbvec;
END $$;
CREATE TABLE docs (id int PRIMARY KEY, category int, emb tasbvec(64));
-- category is independent of the topic, as a tenant or a date would be.
INSERT INTO docs SELECT i, (i / 40) % 20, noisy(c, 0.8, 8 + 4 * random())
    FROM generate_series(1, 8000) i JOIN topics ON t = 1 + i % 40;
CREATE TABLE queries AS
    SELECT q, noisy(c, 0.8, 10) AS v FROM generate_series(1, 30) q JOIN topics ON t = 1 + (q * 7) % 40;

-- The ten best ids for a query (index or sequential scan, as the planner settings say), and the
-- mean recall@10 of the index against a sequential scan for every query.
CREATE FUNCTION top10(query tasbvec, only_category int DEFAULT NULL) RETURNS int[]
LANGUAGE sql AS $$
    SELECT array_agg(id) FROM (
        SELECT id FROM docs WHERE only_category IS NULL OR category = only_category
        ORDER BY emb <#> query LIMIT 10) s
$$;
CREATE FUNCTION recall(only_category int DEFAULT NULL) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
    found float8 := 0;
    total float8 := 0;
    exact int[];
    approx int[];
    r record;
BEGIN
    FOR r IN SELECT v FROM queries LOOP
        SET LOCAL enable_indexscan = off;
        exact := top10(r.v, only_category);
        SET LOCAL enable_indexscan = on;
        SET LOCAL enable_seqscan = off;
        approx := top10(r.v, only_category);
        RESET enable_seqscan;
        found := found + (SELECT count(*) FROM unnest(approx) a WHERE a = ANY (exact));
        total := total + coalesce(array_length(exact, 1), 0);
    END LOOP;
    RETURN found / total;
END $$;

-- Build, then query.
CREATE INDEX docs_emb ON docs USING tasb_ivf (emb tasbvec_ip_ops);
SELECT recall() >= 0.95 AS build_recall_ok;
-- The build chose its default probes from the data: some lists, not all.
SELECT dims, lists, default_probes BETWEEN 1 AND lists / 2 AS probes_chosen, probes_now = default_probes AS in_use
    FROM tasb_ivf_stats('docs_emb'::regclass);
SET tasb.probes = 3;
SELECT probes_now FROM tasb_ivf_stats('docs_emb'::regclass);
RESET tasb.probes;
SELECT * FROM tasb_ivf_stats('docs'::regclass);
-- The planner uses the index for ORDER BY <#> ... LIMIT, and not where it cannot help.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY emb <#> (SELECT v FROM queries WHERE q = 1) LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY emb <-> (SELECT v FROM queries WHERE q = 1) LIMIT 10;
EXPLAIN (COSTS OFF) SELECT count(*) FROM docs WHERE emb IS NOT NULL;
-- Results come out best first: scores never increase along the scan.
SELECT bool_and(d >= lag_d) AS ordered FROM (
    SELECT emb <#> (SELECT v FROM queries WHERE q = 2) AS d,
           lag(emb <#> (SELECT v FROM queries WHERE q = 2)) OVER () AS lag_d
    FROM (SELECT emb FROM docs ORDER BY emb <#> (SELECT v FROM queries WHERE q = 2) LIMIT 50) s) s;
RESET enable_seqscan;

-- Filtered queries return LIMIT rows whenever that many match, also when few rows match.
SELECT recall(3) >= 0.95 AS filtered_recall_ok;
SET enable_seqscan = off;
SELECT count(*) AS rows_for_category_3 FROM (
    SELECT id FROM docs WHERE category = 3 ORDER BY emb <#> (SELECT v FROM queries WHERE q = 3) LIMIT 10) s;
-- A filter tied to the content (category 3 lives in two topics far from the query) still gets
-- its ten rows.
SELECT count(*) AS rows_far_from_query FROM (
    SELECT id FROM docs WHERE id % 40 = 3 ORDER BY emb <#> (SELECT v FROM queries WHERE q = 3) LIMIT 10) s;
SELECT count(*) AS rows_for_8_matches FROM (
    SELECT id FROM docs WHERE id % 1000 = 7 ORDER BY emb <#> (SELECT v FROM queries WHERE q = 3) LIMIT 10) s;
SELECT count(*) AS every_row FROM (
    SELECT id FROM docs ORDER BY emb <#> (SELECT v FROM queries WHERE q = 4)) s;
RESET enable_seqscan;

-- Inserts after the build (the centroids stay; new rows go to their nearest lists).
INSERT INTO docs SELECT i, (i / 40) % 20, noisy(c, 0.8, 8 + 4 * random())
    FROM generate_series(8001, 12000) i JOIN topics ON t = 1 + i % 40;
SELECT recall() >= 0.95 AS insert_recall_ok;
-- This session's earlier scans cached the list heads: the inserts' new head pages must show.
SET enable_seqscan = off;
SELECT count(*) AS every_row_after_inserts FROM (
    SELECT id FROM docs ORDER BY emb <#> (SELECT v FROM queries WHERE q = 4)) s;
RESET enable_seqscan;

-- Deletes plus VACUUM: entries of deleted rows go, recall stays, the index counts the live rows.
DELETE FROM docs WHERE id % 3 = 0;
VACUUM docs;
SELECT reltuples = (SELECT count(*) FROM docs) AS index_counts_live_rows FROM pg_class WHERE relname = 'docs_emb';
SELECT recall() >= 0.95 AS vacuum_recall_ok;
SET enable_seqscan = off;
SELECT count(*) = (SELECT count(*) FROM docs) AS scan_sees_every_live_row FROM (
    SELECT id FROM docs ORDER BY emb <#> (SELECT v FROM queries WHERE q = 5)) s;
-- New rows refill the blocks VACUUM emptied on the lists' head pages: each row still once.
INSERT INTO docs SELECT i, (i / 40) % 20, noisy(c, 0.8, 8 + 4 * random())
    FROM generate_series(12001, 13000) i JOIN topics ON t = 1 + i % 40;
SELECT count(*) = (SELECT count(*) FROM docs) AND count(DISTINCT id) = count(*)
    AS every_live_row_once_after_refill FROM (
    SELECT id FROM docs ORDER BY emb <#> (SELECT v FROM queries WHERE q = 5)) s;
RESET enable_seqscan;

-- REINDEX retrains the lists on the current rows.
REINDEX INDEX docs_emb;
SELECT recall() >= 0.95 AS reindex_recall_ok;

-- NULL vectors are not indexed and never returned by the index.
INSERT INTO docs VALUES (100001, 1, NULL);
SET enable_seqscan = off;
SELECT count(*) AS null_rows_returned FROM (
    SELECT id FROM docs ORDER BY emb <#> (SELECT v FROM queries WHERE q = 1) LIMIT 100000) s WHERE id = 100001;
RESET enable_seqscan;

-- Errors name the problem and say what to do.
CREATE TABLE loose (id int, emb tasbvec);
CREATE INDEX ON loose USING tasb_ivf (emb);
INSERT INTO loose VALUES (1, '[1,2,3]');
INSERT INTO loose VALUES (2, '[1,2,3,4]');
SET enable_seqscan = off;
SELECT id FROM loose ORDER BY emb <#> '[1,2]' LIMIT 1;
RESET enable_seqscan;
CREATE INDEX ON docs USING tasb_ivf (emb) WITH (lists = -1);
CREATE INDEX ON docs USING tasb_ivf (emb) WITH (probes = 3);
CREATE INDEX ON docs USING tasb_ivf (id);

-- An index built on an empty table works from its first insert (one list, until rows arrive:
-- ivf_grow tests its lists splitting as they do).
CREATE TABLE later (id int, emb tasbvec(3));
CREATE INDEX later_emb ON later USING tasb_ivf (emb);
INSERT INTO later VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0,0,2]'), (4, '[1,1,1]');
SET enable_seqscan = off;
SELECT id FROM later ORDER BY emb <#> '[0,0,1]' LIMIT 2;
RESET enable_seqscan;
-- More lists than rows: the build says so and uses one list per row.
CREATE INDEX ON later USING tasb_ivf (emb) WITH (lists = 10);

-- tasbhalf columns, queried with tasbvec or tasbhalf; an unlogged table.
CREATE UNLOGGED TABLE halves AS SELECT id, category, emb::tasbhalf AS emb FROM docs WHERE emb IS NOT NULL;
CREATE INDEX halves_emb ON halves USING tasb_ivf (emb tasbhalf_ip_ops) WITH (lists = 40);
SET enable_seqscan = off;
SELECT (SELECT array_agg(id) FROM (SELECT id FROM halves ORDER BY emb <#> (SELECT v FROM queries WHERE q = 6) LIMIT 5) s)
     = (SELECT array_agg(id) FROM (SELECT id FROM halves ORDER BY emb <#> (SELECT v::tasbhalf FROM queries WHERE q = 6) LIMIT 5) s)
    AS half_and_full_queries_agree;
EXPLAIN (COSTS OFF) SELECT id FROM halves ORDER BY emb <#> (SELECT v FROM queries WHERE q = 6) LIMIT 5;
RESET enable_seqscan;

-- Wide vectors (2,000-d tasbhalf) pack 16 entries per block instead of 32 and take the scalar
-- scoring path: with every list probed the index returns the exact order, also after inserts
-- into partly filled blocks and after VACUUM moves entries inside blocks.
CREATE TABLE wide (id int, emb tasbhalf(2000));
INSERT INTO wide SELECT i, array(SELECT random() * 2 - 1 + 0 * i FROM generate_series(1, 2000))::float4[]::tasbhalf
    FROM generate_series(1, 150) i;
CREATE INDEX wide_emb ON wide USING tasb_ivf (emb) WITH (lists = 3);
INSERT INTO wide SELECT i, array(SELECT random() * 2 - 1 + 0 * i FROM generate_series(1, 2000))::float4[]::tasbhalf
    FROM generate_series(151, 200) i;
DELETE FROM wide WHERE id % 4 = 0;
VACUUM wide;
CREATE TABLE wide_queries AS
    SELECT q, array(SELECT random() * 2 - 1 + 0 * q FROM generate_series(1, 2000))::float4[]::tasbhalf AS v
    FROM generate_series(1, 5) q;
SET tasb.probes = 3;
SET enable_seqscan = off;
CREATE TABLE wide_index_order AS SELECT q, array(
    SELECT id FROM wide ORDER BY emb <#> v LIMIT 20) AS ids FROM wide_queries;
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT count(*) AS wide_queries_in_exact_order FROM wide_index_order o JOIN wide_queries w USING (q)
    WHERE o.ids = array(SELECT id FROM wide ORDER BY emb <#> w.v LIMIT 20);
RESET enable_indexscan;
RESET tasb.probes;
