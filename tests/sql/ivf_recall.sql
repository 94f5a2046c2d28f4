-- tasb_ivf_recall: the index's recall@k against exact search, on sampled rows or given queries.
SELECT setseed(0.25);
CREATE TABLE rc (id int PRIMARY KEY, emb tasbvec(32), half tasbhalf(32));
INSERT INTO rc (id, emb)
SELECT i, (SELECT array_agg(sin(i * 0.37 + j * (1 + i % 13)) + (i % 7) * 0.1)::real[] FROM generate_series(1, 32) j)::tasbvec
FROM generate_series(1, 5000) i;
UPDATE rc SET half = emb;
CREATE INDEX rc_emb ON rc USING tasb_ivf (emb);
CREATE INDEX rc_half ON rc USING tasb_ivf (half);
-- Reading every list, the index is exact: recall 1 on sampled rows and on given queries.
SET tasb.probes = 100000;
SELECT measured_queries, round(recall::numeric, 3) AS recall, round(worst_recall::numeric, 3) AS worst,
       index_ms >= 0 AND exact_ms > 0 AS timed
FROM tasb_ivf_recall('rc_emb');
SELECT measured_queries, round(recall::numeric, 3) AS recall
FROM tasb_ivf_recall('rc_half', k => 5, sample => 10);
SELECT measured_queries, round(recall::numeric, 3) AS recall
FROM tasb_ivf_recall('rc_emb', 3, queries => ARRAY[(SELECT emb FROM rc WHERE id = 7), (SELECT emb FROM rc WHERE id = 8)]);
-- One list per round misses neighbours (a WARNING with a HINT says so; its figure varies).
SET tasb.probes = 1;
SET client_min_messages = error;
SELECT probes, recall < 1 AS some_missed FROM tasb_ivf_recall('rc_emb', sample => 50);
RESET client_min_messages;
-- The planner settings it toggles are restored.
SHOW enable_seqscan;
SHOW enable_indexscan;
-- Errors, each with what to do.
\set VERBOSITY default
CREATE INDEX rc_id ON rc (id);
SELECT * FROM tasb_ivf_recall('rc_id');
SELECT * FROM tasb_ivf_recall('rc_emb', k => 0);
SELECT * FROM tasb_ivf_recall('rc_emb', sample => 0);
CREATE TABLE empty_rc (emb tasbvec(3));
CREATE INDEX empty_rc_emb ON empty_rc USING tasb_ivf (emb);
SELECT * FROM tasb_ivf_recall('empty_rc_emb');
-- A plain role measures the indexes of tables it may read, and no others.
CREATE ROLE rc_reader;
SET ROLE rc_reader;
SELECT * FROM tasb_ivf_recall('rc_emb');
RESET ROLE;
GRANT SELECT ON rc TO rc_reader;
SET ROLE rc_reader;
SET tasb.probes = 100000;
SELECT measured_queries, round(recall::numeric, 3) AS recall FROM tasb_ivf_recall('rc_emb', sample => 5);
RESET ROLE;
DROP TABLE rc;
DROP ROLE rc_reader;
