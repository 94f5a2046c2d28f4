-- tasb_chunk: long documents split into passages that fit the model's input, by its tokenizer.
-- The fixture model takes 64 tokens: 62 of text besides [CLS] and [SEP].
\getenv tasb_home TASB_HOME
SELECT set_config('tasb.model_dir', :'tasb_home' || '/models/tiny-distilbert', false) <> '' AS model_set;
CREATE TABLE docs (id int PRIMARY KEY, body text);
-- 60 sentences in paragraphs of 5: about 1,100 tokens.
INSERT INTO docs
SELECT 1, string_agg(format('Sentence %s says that REINDEX CONCURRENTLY rebuilds index number %s without blocking writes.', i, i * 7),
                     CASE WHEN i % 5 = 0 THEN E'\n' ELSE ' ' END ORDER BY i)
FROM generate_series(1, 60) i;
INSERT INTO docs VALUES (2, 'A short one.'), (3, ''), (4, E'  \n\t '), (5, NULL),
    (6, repeat('xqz', 33));   -- one word of more tokens than the model takes
-- Every passage fits; passages are exactly the document's text at start_char; numbered from 1.
SELECT id, count(*) AS passages, max(tokens) AS most_tokens, min(tokens) AS fewest_tokens,
       bool_and(substr(body, start_char, length(passage)) = passage) AS at_start_char,
       bool_and(passage = btrim(passage, E' \n\t')) AS trimmed,
       max(ordinal) = count(*) AS numbered
FROM docs, tasb_chunk(body) GROUP BY id ORDER BY id;
-- Without overlap no text is lost: the passages joined are the document, up to whitespace.
SELECT id, regexp_replace(body, '\s+', ' ', 'g')
           = (SELECT string_agg(passage, ' ' ORDER BY ordinal) FROM tasb_chunk(body, 20)) AS whole
FROM docs WHERE id IN (1, 2, 6) ORDER BY id;
-- Passages end at sentence ends when a sentence fits.
SELECT count(*) AS passages, count(*) FILTER (WHERE passage LIKE '%.') AS ending_a_sentence
FROM docs, tasb_chunk(body, 40) WHERE id = 1;
-- With overlap, each passage starts with words from the end of the previous one.
SELECT ordinal, tokens, start_char, left(passage, 40) AS starts_with
FROM docs, tasb_chunk(body, 16, 4) WHERE id = 1 AND ordinal <= 4;
-- Each passage can be encoded as it is.
SELECT count(*) AS encoded FROM docs, tasb_chunk(body) c WHERE id = 1 AND vector_dims(tasb_encode(c.passage)) = 16;
-- Named arguments; NULL overlap means none.
SELECT count(*) FROM tasb_chunk(document => 'one two three four five', max_tokens => 2, overlap => NULL);
-- A long document can be cancelled (here by statement_timeout), and the session goes on.
-- Tokenized whole, this 20 MB text took about 20 s; cancel must come within a few.
CREATE FUNCTION seconds_until_cancelled() RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE started timestamptz := clock_timestamp();
BEGIN
    PERFORM count(*) FROM tasb_chunk(repeat('word ', 4000000));
    RETURN NULL;
EXCEPTION WHEN query_canceled THEN
    RETURN clock_timestamp() - started < interval '3 seconds';
END $$;
SET statement_timeout = '300ms';
SELECT seconds_until_cancelled() AS cancelled_quickly;
RESET statement_timeout;
SELECT count(*) AS after_cancel FROM tasb_chunk('Still working. Yes.', 3);
-- Limits: each an ERROR with a HINT.
\set VERBOSITY default
SELECT * FROM tasb_chunk('text', 0);
SELECT * FROM tasb_chunk('text', 63);
SELECT * FROM tasb_chunk('text', 10, 10);
SELECT * FROM tasb_chunk('text', 10, -1);
-- An ordinary role may split text.
CREATE ROLE tasb_chunk_reader LOGIN;
SET ROLE tasb_chunk_reader;
SELECT ordinal, passage FROM tasb_chunk('First sentence. Second sentence.', 3);
RESET ROLE;
DROP ROLE tasb_chunk_reader;
