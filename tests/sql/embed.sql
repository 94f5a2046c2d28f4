-- Embedding on write: the row trigger and the resumable backfill, on the tiny fixture model
-- (16 dimensions). Vectors are checked against tasb_encode of the same text, computed separately.
\getenv tasb_home TASB_HOME
SELECT set_config('tasb.model_dir', :'tasb_home' || '/models/tiny-distilbert', false) <> '' AS model_set;
CREATE TABLE passages (id int PRIMARY KEY, body text, emb tasbvec(16));
CREATE TRIGGER embed BEFORE INSERT OR UPDATE OF body ON passages
    FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger('body', 'emb');
-- INSERT ... VALUES, NULL text, the empty string.
INSERT INTO passages VALUES (1, 'what is the transformers library'), (2, NULL), (3, '');
-- INSERT ... SELECT and COPY.
INSERT INTO passages SELECT i, 'passage number ' || i FROM generate_series(4, 6) i;
COPY passages (id, body) FROM stdin;
7	copied passage about fleas
8	\N
\.
-- Every vector equals tasb_encode(body); NULL text has a NULL vector.
SELECT id, emb IS NULL AS no_vector, coalesce(emb <-> tasb_encode(body) < 1e-5, true) AS matches
FROM passages ORDER BY id;
-- UPDATE of the text re-encodes; an UPDATE that leaves the text alone keeps the vector; NULL clears it.
SELECT tasb_stats.texts + tasb_stats.service_texts AS texts_before FROM tasb_stats() \gset
UPDATE passages SET body = 'the flea life cycle' WHERE id = 1;
UPDATE passages SET body = body WHERE id = 4;
UPDATE passages SET id = 40 WHERE id = 4;   -- not "OF body": the trigger does not fire
UPDATE passages SET body = NULL WHERE id = 5;
SELECT texts + service_texts - :texts_before AS texts_encoded_by_updates FROM tasb_stats();
SELECT id, emb IS NULL AS no_vector, coalesce(emb <-> tasb_encode(body) < 1e-5, true) AS matches
FROM passages WHERE id IN (1, 5, 40) ORDER BY id;
-- A vector written by hand is replaced by the text's encoding.
UPDATE passages SET body = 'hand written', emb = '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' WHERE id = 6;
SELECT emb <-> tasb_encode('hand written') < 1e-5 AS encoded FROM passages WHERE id = 6;
-- tasbhalf targets work too.
CREATE TABLE halves (body text, emb tasbhalf(16));
CREATE TRIGGER embed BEFORE INSERT ON halves FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger('body', 'emb');
INSERT INTO halves VALUES ('what is the transformers library');
SELECT emb::tasbvec <-> tasb_encode(body) < 1e-2 AS close_in_fp16 FROM halves;
-- Wrong arguments and columns are reported when the trigger fires, naming table and column;
-- the failed statement stores nothing.
CREATE TABLE wrong (id int, body text, n int, emb tasbvec(768));
CREATE TRIGGER t1 BEFORE INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger('body');
INSERT INTO wrong (id, body) VALUES (1, 'x');
DROP TRIGGER t1 ON wrong;
CREATE TRIGGER t2 BEFORE INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger('text', 'emb');
INSERT INTO wrong (id, body) VALUES (1, 'x');
DROP TRIGGER t2 ON wrong;
CREATE TRIGGER t3 BEFORE INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger('n', 'emb');
INSERT INTO wrong (id, body) VALUES (1, 'x');
DROP TRIGGER t3 ON wrong;
CREATE TRIGGER t4 BEFORE INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger('body', 'n');
INSERT INTO wrong (id, body) VALUES (1, 'x');
DROP TRIGGER t4 ON wrong;
CREATE TRIGGER t5 BEFORE INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger('body', 'emb');
INSERT INTO wrong (id, body) VALUES (1, 'x'), (2, 'y');
DROP TRIGGER t5 ON wrong;
CREATE TRIGGER t6 AFTER INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger('body', 'emb');
INSERT INTO wrong (id, body) VALUES (1, 'x');
DROP TRIGGER t6 ON wrong;
CREATE TRIGGER t7 BEFORE INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger('body', 'emb', 'later');
INSERT INTO wrong (id, body) VALUES (1, 'x');
DROP TRIGGER t7 ON wrong;
SELECT count(*) AS rows_stored FROM wrong;
-- An encoding failure (no model) fails the statement; nothing of it is stored.
SET tasb.model_dir = '/nonexistent/model';
INSERT INTO passages VALUES (100, 'never stored');
SELECT count(*) AS stored FROM passages WHERE id = 100;
SELECT set_config('tasb.model_dir', :'tasb_home' || '/models/tiny-distilbert', false) <> '' AS model_set;

-- The backfill: rows without vectors (the trigger was not there when they were loaded).
CREATE TABLE docs (id int PRIMARY KEY, body varchar, emb tasbvec(16));
INSERT INTO docs SELECT i, CASE WHEN i % 50 = 0 THEN NULL ELSE 'document ' || i || ' about retrieval' END
FROM generate_series(1, 300) i;
UPDATE docs SET emb = tasb_encode(body) WHERE id <= 10;   -- already embedded
-- (Progress NOTICEs carry timings; hidden here.)
SET client_min_messages = warning;
CALL tasb_backfill('docs', 'body', 'emb', batch_size => 100);
SELECT count(*) FILTER (WHERE emb IS NULL) AS without_vector,
       count(*) FILTER (WHERE body IS NULL) AS null_text,
       count(*) FILTER (WHERE emb <-> tasb_encode(body) < 1e-5) AS matching
FROM docs;
SELECT relation, state, rows_done, rows_total, percent FROM tasb_backfill_status;
-- Calling it again with nothing to do finishes at once.
CALL tasb_backfill('docs', 'body', 'emb');
SELECT state, rows_done, rows_total FROM tasb_backfill_status WHERE relation = 'docs'::regclass;
-- A tasbhalf target.
UPDATE halves SET emb = NULL;
CALL tasb_backfill('halves', 'body', 'emb');
SELECT count(*) FILTER (WHERE emb IS NULL) AS without_vector,
       count(*) FILTER (WHERE emb::tasbvec <-> tasb_encode(body) < 1e-2) AS close_in_fp16
FROM halves;
-- Cancelled part-way (a statement timeout, one row per batch): the committed batches stay, no
-- row has a vector of other text, the status says interrupted, and calling again finishes.
CREATE TABLE many (id int PRIMARY KEY, body text, emb tasbvec(16));
INSERT INTO many SELECT i, 'text number ' || i FROM generate_series(1, 3000) i;
SET statement_timeout = '400ms';
\set VERBOSITY terse
CALL tasb_backfill('many', 'body', 'emb', batch_size => 1);
\set VERBOSITY default
RESET statement_timeout;
SELECT count(*) FILTER (WHERE emb IS NOT NULL) > 0 AS some_done,
       count(*) FILTER (WHERE emb IS NULL) > 0 AS some_left,
       count(*) FILTER (WHERE emb IS NOT NULL AND emb <-> tasb_encode(body) >= 1e-5) AS wrong_vectors
FROM many;
SELECT state FROM tasb_backfill_status WHERE relation = 'many'::regclass;
CALL tasb_backfill('many', 'body', 'emb');
SELECT count(*) FILTER (WHERE emb IS NULL) AS left_over,
       count(*) FILTER (WHERE emb <-> tasb_encode(body) < 1e-5) AS matching
FROM many;
SELECT state, rows_done = rows_total AS complete FROM tasb_backfill_status WHERE relation = 'many'::regclass;
RESET client_min_messages;
-- Bad arguments.
CALL tasb_backfill('docs', 'body', 'emb', batch_size => 0);
CALL tasb_backfill('docs', 'title', 'emb');
CALL tasb_backfill('wrong', 'body', 'emb');
