-- The whole SQL surface as plain roles with only the privileges the README names (USAGE on the
-- extension's schema, which public has; CREATE on a schema for their own tables), and each
-- forbidden thing an ERROR.
\getenv tasb_home TASB_HOME
SET client_min_messages = warning;
DROP ROLE IF EXISTS tasb_alice;
DROP ROLE IF EXISTS tasb_bob;
CREATE ROLE tasb_alice;
CREATE ROLE tasb_bob;
RESET client_min_messages;
GRANT CREATE ON SCHEMA public TO tasb_alice, tasb_bob;
-- The model is the server's choice (superuser); the session keeps it after SET ROLE.
SELECT set_config('tasb.model_dir', :'tasb_home' || '/models/tiny-distilbert', false) <> '' AS model_set;
SET ROLE tasb_alice;
-- Types, operators, casts.
SELECT '[1,2,3]'::tasbvec <#> '[1,1,1]' AS nip, '[1,2]'::tasbhalf::tasbvec AS half_to_vec,
       ARRAY[1, 2]::real[]::tasbvec AS from_array, vector_dims('[1,2,3]'::tasbvec) AS dims,
       '[3,4]'::tasbvec <-> '[0,0]' AS l2, '[1,0]'::tasbvec <=> '[0,1]' AS cosine;
-- The encoder.
SELECT vector_dims(tasb_encode('hello')) AS dims, cardinality(tasb_encode_batch(ARRAY['a', 'b'])) AS n,
       tasb_score('a', 'b') = -(tasb_encode('a') <#> tasb_encode('b')) AS score_is_dot,
       (SELECT count(*) FROM tasb_rerank('a', ARRAY['b', 'c'])) AS reranked,
       (SELECT model_calls + service_calls > 0 FROM tasb_stats()) AS stats;
-- The trigger on a table of one's own.
CREATE TABLE alice_docs (id int PRIMARY KEY, body text, emb tasbvec(16));
CREATE TRIGGER embed BEFORE INSERT OR UPDATE OF body ON alice_docs
    FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger('body', 'emb');
INSERT INTO alice_docs SELECT i, 'alice document ' || i FROM generate_series(1, 40) i;
SELECT count(*) FILTER (WHERE emb <-> tasb_encode(body) < 1e-5) AS encoded FROM alice_docs;
-- Backfill of one's own table, and its progress.
CREATE TABLE alice_bulk (id int PRIMARY KEY, body text, emb tasbvec(16));
INSERT INTO alice_bulk SELECT i, 'bulk ' || i FROM generate_series(1, 30) i;
SET client_min_messages = warning;
CALL tasb_backfill('alice_bulk', 'body', 'emb', 10);
RESET client_min_messages;
SELECT count(*) FILTER (WHERE emb <-> tasb_encode(body) < 1e-5) AS encoded FROM alice_bulk;
SELECT relation, state, rows_done FROM tasb_backfill_status;
-- Registration of one's own table for the worker.
CREATE TABLE alice_async (id int PRIMARY KEY, body text, emb tasbvec(16));
SELECT tasb_embed_async('alice_async', 'body', 'emb');
INSERT INTO alice_async VALUES (1, 'waits for the worker');
SELECT relation, pending FROM tasb_embed_async_status;
SELECT done, table_error FROM tasb_embed_async_batch('alice_async', 10, '{}', '{}');
SELECT emb <-> tasb_encode(body) < 1e-5 AS encoded FROM alice_async;
-- The index.
CREATE INDEX alice_idx ON alice_docs USING tasb_ivf (emb);
SET enable_seqscan = off;
SET tasb.probes = 4;
SELECT count(*) FROM (SELECT id FROM alice_docs ORDER BY emb <#> tasb_encode('alice document 7') LIMIT 5) s;
RESET enable_seqscan;
SELECT dims FROM tasb_ivf_stats('alice_idx'::regclass);
-- Settings that load code or spend the server's resources are the server's.
SET tasb.model_dir = '/tmp';
SET tasb.onnxruntime_path = '/tmp/libevil.so';
SET tasb.intra_op_threads = 64;
SET tasb.batch_size = 4096;
SET tasb.worker_database = 'postgres';

-- Another role: none of alice's tables, registrations or progress.
SET ROLE tasb_bob;
CALL tasb_backfill('alice_bulk', 'body', 'emb');
SELECT tasb_embed_async('alice_docs', 'body', 'emb');
SELECT tasb_check_embedding_columns('alice_docs'::regclass, 'body', 'emb');
SELECT * FROM tasb_ivf_stats('alice_idx'::regclass);
SELECT tasb_waiting_rows('alice_docs', 'body', 'emb');
SELECT tasb_embed_async_retry('alice_async');
SELECT done, table_error FROM tasb_embed_async_batch('alice_async', 10, '{}', '{}');
INSERT INTO tasb_embed_async_tables (relation, source_column, target_column) VALUES ('alice_docs', 'body', 'emb');
INSERT INTO tasb_backfill_progress VALUES ('alice_docs', 'body', 'emb', 1, 1, 1, now(), now(), NULL);
UPDATE tasb_embed_async_tables SET rows_done = 0;
UPDATE tasb_embed_async_tables SET source_column = 'id';
DELETE FROM tasb_embed_async_tables;
INSERT INTO tasb_embed_async_failures VALUES ('alice_async', '(0,1)', '', 1, '', now());
SELECT count(*) AS progress_seen FROM tasb_backfill_status;
SELECT count(*) AS registrations_seen FROM tasb_embed_async_status;
SELECT count(*) AS rows_seen FROM tasb_backfill_progress;
-- Bob may embed his own table.
CREATE TABLE bob_docs (id int, body text, emb tasbvec(16));
INSERT INTO bob_docs VALUES (1, 'bob');
SET client_min_messages = warning;
CALL tasb_backfill('bob_docs', 'body', 'emb');
RESET client_min_messages;
SELECT relation, state, rows_done FROM tasb_backfill_status;
-- Reading alice's table lets bob see its registration, but still not change it.
RESET ROLE;
GRANT SELECT ON alice_async TO tasb_bob;
SET ROLE tasb_bob;
SELECT relation, pending FROM tasb_embed_async_status;
SELECT tasb_embed_async('alice_async', 'body', 'emb');
DELETE FROM tasb_embed_async_tables;
SELECT count(*) AS registrations FROM tasb_embed_async_tables;
RESET ROLE;
SET client_min_messages = warning;
DROP OWNED BY tasb_alice, tasb_bob CASCADE;
DROP ROLE tasb_alice;
DROP ROLE tasb_bob;
