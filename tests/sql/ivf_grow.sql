-- tasb_ivf follows its table: built on an empty table (or a small part of it), its lists split
-- as rows arrive, VACUUM chooses the default probes again for the lists it has now, and every
-- row stays in the index exactly once. References are exact searches by sequential scan.
-- (jit off: the cost of a scan with enable_seqscan off would make every query compile.)
SET jit = off;
SELECT setseed(0.125);
-- 60 topics around a shared direction, norms varying by about 10% (not normalised, like TAS-B).
CREATE TABLE grow_topics AS
SELECT t, array(SELECT random() - 0.5 + 0 * t FROM generate_series(1, 24))::real[] AS dir
FROM generate_series(1, 60) t;
CREATE FUNCTION grow_row(i int) RETURNS tasbvec LANGUAGE sql AS $$
    SELECT array_agg((1.0 + 2.0 * d.dir[j] + 0.3 * (random() - 0.5)) * (0.95 + 0.1 * ((i * 7919) % 101) / 100.0)
                     ORDER BY j)::real[]::tasbvec
    FROM grow_topics d, generate_series(1, 24) j WHERE d.t = 1 + (i * 37) % 60
$$;
CREATE TABLE grow (id int PRIMARY KEY, emb tasbvec(24));
CREATE INDEX grow_emb ON grow USING tasb_ivf (emb);
SELECT lists FROM tasb_ivf_stats('grow_emb'::regclass);
INSERT INTO grow SELECT i, grow_row(i) FROM generate_series(1, 8000) i;
-- The one list of the empty index has split into many.
SELECT lists >= 40 AS lists_split, default_probes FROM tasb_ivf_stats('grow_emb'::regclass);
SET enable_seqscan = off;
-- Reading every list, the index returns every row exactly once, in exact order.
SET tasb.probes = 100000;
SELECT count(*) AS returned, count(DISTINCT id) AS distinct_rows
FROM (SELECT id FROM grow ORDER BY emb <#> grow_row(5) LIMIT 100000) s;
CREATE TABLE grow_queries AS SELECT q, grow_row(100000 + q) AS v FROM generate_series(1, 10) q;
-- grow_top reads the index; grow_exact_top orders by an expression no index has, so it sorts a
-- sequential scan.
CREATE FUNCTION grow_top(q tasbvec, k int) RETURNS int[] LANGUAGE sql AS
    $$ SELECT array_agg(id) FROM (SELECT id FROM grow ORDER BY emb <#> q LIMIT k) s $$;
CREATE FUNCTION grow_exact_top(q tasbvec, k int) RETURNS int[] LANGUAGE sql AS
    $$ SELECT array_agg(id) FROM (SELECT id FROM grow ORDER BY (emb <#> q) + 0 LIMIT k) s $$;
EXPLAIN (COSTS OFF) SELECT id FROM grow ORDER BY emb <#> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' LIMIT 10;
SELECT count(*) FILTER (WHERE grow_top(v, 10) = grow_exact_top(v, 10)) AS exact_orders FROM grow_queries;
RESET tasb.probes;
-- VACUUM chooses the default probes for the grown lists; at that default the index finds what
-- exact search finds.
VACUUM grow;
SELECT default_probes > 0 AS tuned, default_probes < lists AS not_a_full_scan, estimated_recall >= 0.9 AS estimate_high
FROM tasb_ivf_stats('grow_emb'::regclass);
SELECT sum(cardinality(ARRAY(SELECT unnest(grow_top(v, 10)) INTERSECT SELECT unnest(grow_exact_top(v, 10)))))::float / 100 >= 0.9
       AS recall_at_default
FROM grow_queries;
-- Deleting half and vacuuming keeps every live row exactly once and no dead one.
DELETE FROM grow WHERE id % 2 = 0;
VACUUM grow;
SET tasb.probes = 100000;
SELECT count(*) AS returned, count(DISTINCT id) AS distinct_rows, count(*) FILTER (WHERE id % 2 = 0) AS deleted_returned
FROM (SELECT id FROM grow ORDER BY emb <#> grow_row(7) LIMIT 100000) s;
RESET tasb.probes;
-- VACUUM reclaims what rows that came and went leave behind (their vectors, and the list pages
-- splits replaced): under a steady load of inserts and deletes the index stops growing. Each
-- round replaces half the rows; a VACUUM frees what the one before it flagged.
CREATE TABLE churn (id int PRIMARY KEY, emb tasbvec(256));
CREATE INDEX churn_emb ON churn USING tasb_ivf (emb);
CREATE FUNCTION churn_round(r int) RETURNS void LANGUAGE sql AS $$
    DELETE FROM churn WHERE id <= r * 1500;
    INSERT INTO churn SELECT i, array(SELECT random() + 0 * i FROM generate_series(1, 256))::real[]::tasbvec
    FROM generate_series(3000 + (r - 1) * 1500 + 1, 3000 + r * 1500) i;
$$;
INSERT INTO churn SELECT i, array(SELECT random() + 0 * i FROM generate_series(1, 256))::real[]::tasbvec
FROM generate_series(1, 3000) i;
CREATE TEMP TABLE churn_sizes (round int, pages bigint);
SELECT churn_round(1);
VACUUM churn;
SELECT churn_round(2);
VACUUM churn;
INSERT INTO churn_sizes SELECT 2, pg_relation_size('churn_emb') / 8192;
SELECT churn_round(3);
VACUUM churn;
SELECT churn_round(4);
VACUUM churn;
SELECT churn_round(5);
VACUUM churn;
SELECT churn_round(6);
VACUUM churn;
INSERT INTO churn_sizes SELECT 6, pg_relation_size('churn_emb') / 8192;
-- Four more rounds wrote 6,000 vectors (of 256 floats: 750 pages of them alone).
SELECT (SELECT pages FROM churn_sizes WHERE round = 6) < 1.1 * (SELECT pages FROM churn_sizes WHERE round = 2)
       AS size_stopped_growing;
SET tasb.probes = 100000;
SELECT count(*) AS returned, count(DISTINCT id) AS distinct_rows, min(id) > 9000 AS only_live_rows
FROM (SELECT id FROM churn ORDER BY emb <#> (SELECT emb FROM churn WHERE id = 9001) LIMIT 100000) s;
RESET tasb.probes;
-- Built on a tenth of the rows, then the rest inserted by a plain role that owns nothing but
-- may insert: its inserts split lists too.
CREATE TABLE grow_later (id int PRIMARY KEY, emb tasbvec(24));
INSERT INTO grow_later SELECT i, grow_row(i) FROM generate_series(1, 800) i;
CREATE INDEX grow_later_emb ON grow_later USING tasb_ivf (emb);
CREATE TEMP TABLE built AS SELECT lists FROM tasb_ivf_stats('grow_later_emb'::regclass);
CREATE ROLE grow_writer;
GRANT INSERT, SELECT ON grow_later TO grow_writer;
GRANT SELECT ON grow_topics TO grow_writer;
SET ROLE grow_writer;
INSERT INTO grow_later SELECT i, grow_row(i) FROM generate_series(801, 8000) i;
RESET ROLE;
SELECT s.lists > 2 * b.lists AS lists_split FROM tasb_ivf_stats('grow_later_emb'::regclass) s, built b;
SET tasb.probes = 100000;
SELECT count(*) AS returned, count(DISTINCT id) AS distinct_rows
FROM (SELECT id FROM grow_later ORDER BY emb <#> grow_row(9) LIMIT 100000) s;
RESET tasb.probes;
RESET enable_seqscan;
DROP TABLE grow, grow_later, grow_queries, grow_topics, churn;
DROP FUNCTION churn_round(int);
DROP FUNCTION grow_row(int), grow_top(tasbvec, int), grow_exact_top(tasbvec, int);
DROP ROLE grow_writer;
