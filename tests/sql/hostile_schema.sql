-- A hostile tenant's schema: look-alike types, shadowing operators and functions, and tasb
-- installed in a schema that is not on the caller's search_path.
\getenv tasb_home TASB_HOME
SET client_min_messages = warning;
DROP EXTENSION tasb CASCADE;
CREATE SCHEMA tasbx;
CREATE EXTENSION tasb SCHEMA tasbx;
RESET client_min_messages;
SELECT set_config('tasb.model_dir', :'tasb_home' || '/models/tiny-distilbert', false) <> '' AS model_set;
-- tasb's schema is not on the path: everything still works through qualified names.
SHOW search_path;
SELECT tasbx.vector_dims(tasbx.tasb_encode('hello')) AS dims;
SELECT pg_typeof(tasbx.tasb_encode_batch(ARRAY['a', NULL, 'b'])) AS batch_type,
       cardinality(tasbx.tasb_encode_batch(ARRAY['a', NULL, 'b'])) AS n;

-- Look-alike types in another schema, earlier on the path: a domain over int8 named tasbvec
-- and one over text named tasbhalf. The trigger must not write a vector into them.
CREATE SCHEMA s;
CREATE DOMAIN s.tasbvec AS int8;
CREATE DOMAIN s.tasbhalf AS text;
SET search_path = s, public;
CREATE TABLE s.t (body text, emb s.tasbvec);
CREATE TRIGGER embed BEFORE INSERT ON s.t FOR EACH ROW EXECUTE FUNCTION tasbx.tasb_embed_trigger('body', 'emb');
INSERT INTO s.t VALUES ('x');
CREATE TABLE s.t2 (body text, emb s.tasbhalf);
CREATE TRIGGER embed BEFORE INSERT ON s.t2 FOR EACH ROW EXECUTE FUNCTION tasbx.tasb_embed_trigger('body', 'emb');
INSERT INTO s.t2 VALUES ('x');
SELECT (SELECT count(*) FROM s.t) + (SELECT count(*) FROM s.t2) AS rows_stored;
-- tasb_encode_batch's array is an array of tasbx.tasbvec, whatever tasbvec the path shows first.
SELECT pg_typeof(tasbx.tasb_encode_batch(ARRAY['a'])) AS batch_type;
SELECT (tasbx.tasb_encode_batch(ARRAY['a']))[1] OPERATOR(tasbx.<->) tasbx.tasb_encode('a') < 1e-5 AS same_vector;
RESET search_path;

-- A domain over the real tasbvec is accepted, and its constraints hold on what the trigger writes.
CREATE DOMAIN s.unit_vec AS tasbx.tasbvec(16) CHECK (tasbx.vector_norm(VALUE) < 1000);
CREATE DOMAIN s.tiny_vec AS tasbx.tasbvec(16) CHECK (tasbx.vector_norm(VALUE) < 1e-6);
CREATE TABLE s.d (body text, emb s.unit_vec, emb2 s.tiny_vec);
CREATE TRIGGER embed BEFORE INSERT ON s.d FOR EACH ROW EXECUTE FUNCTION tasbx.tasb_embed_trigger('body', 'emb');
INSERT INTO s.d VALUES ('domain over tasbvec');
SELECT emb OPERATOR(tasbx.<->) tasbx.tasb_encode(body) < 1e-5 AS encoded FROM s.d;
DROP TRIGGER embed ON s.d;
CREATE TRIGGER embed BEFORE INSERT ON s.d FOR EACH ROW EXECUTE FUNCTION tasbx.tasb_embed_trigger('body', 'emb2');
INSERT INTO s.d VALUES ('violates the domain');
SELECT count(*) AS rows_stored FROM s.d;

-- Shadowing: a role that can create in a schema on the caller's path defines an exact-match
-- '=' for (varchar, text) and functions that tasb's SQL calls; backfill and registration must
-- not run them.
CREATE FUNCTION s.trap_eq(varchar, text) RETURNS bool LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'shadowing operator ran'; END $$;
CREATE OPERATOR s.= (LEFTARG = varchar, RIGHTARG = text, FUNCTION = s.trap_eq);
CREATE FUNCTION s.cardinality(tid[]) RETURNS int LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'shadowing cardinality ran'; END $$;
CREATE FUNCTION s.md5(text) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'shadowing md5 ran'; END $$;
CREATE FUNCTION s.array_agg(tid) RETURNS tid[] LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'shadowing array_agg ran'; END $$;
CREATE TEMP TABLE tasb_backfill_progress (x int);
CREATE TABLE public.docs (id int PRIMARY KEY, body varchar, emb tasbx.tasbvec(16));
INSERT INTO public.docs SELECT i, 'document ' || i FROM generate_series(1, 30) i;
SET search_path = s, public;
SET client_min_messages = warning;
CALL tasbx.tasb_backfill('public.docs', 'body', 'emb', 8);
RESET client_min_messages;
SELECT count(*) FILTER (WHERE emb IS NULL) AS without_vector FROM public.docs;
SELECT relation, state, rows_done FROM tasbx.tasb_backfill_status;
SELECT tasbx.tasb_embed_async('public.docs', 'body', 'emb');
UPDATE public.docs SET body = 'changed' WHERE id = 1;
SELECT emb IS NULL AS pending FROM public.docs WHERE id = 1;
SELECT * FROM tasbx.tasb_embed_async_batch('public.docs', 10, '{}', '{}');
SELECT emb IS NOT NULL AS embedded FROM public.docs WHERE id = 1;
SELECT relation, pending, rows_set_aside FROM tasbx.tasb_embed_async_status;
RESET search_path;

-- A user trigger that suppresses the UPDATE (returns NULL) does not make the backfill loop: the
-- rows are reported as not written and the backfill ends.
CREATE TABLE public.stuck (id int, body text, emb tasbx.tasbvec(16));
INSERT INTO public.stuck SELECT i, 'stuck ' || i FROM generate_series(1, 5) i;
CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN IF NEW.id % 2 = 0 THEN RETURN NULL; END IF; RETURN NEW; END $$;
CREATE TRIGGER refuse BEFORE UPDATE ON public.stuck FOR EACH ROW EXECUTE FUNCTION public.refuse();
SET client_min_messages = warning;
CALL tasbx.tasb_backfill('public.stuck', 'body', 'emb', 2);
RESET client_min_messages;
SELECT id, emb IS NOT NULL AS embedded FROM public.stuck ORDER BY id;
SELECT state, rows_done, rows_unwritten FROM tasbx.tasb_backfill_status WHERE relation = 'public.stuck'::regclass;
-- DROP TABLE of a registered table leaves the status view working.
DROP TABLE public.docs;
SELECT count(*) AS registrations FROM tasbx.tasb_embed_async_status;
-- The registration and progress tables are dumped by pg_dump.
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) AS t(oid) JOIN pg_class c ON c.oid = t.oid
WHERE e.extname = 'tasb' ORDER BY 1;
-- Every function tasb defines in SQL pins its search_path (the procedure cannot: it commits,
-- so it only calls pinned functions by their schema).
SELECT p.proname FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
JOIN pg_extension e ON d.refobjid = e.oid AND e.extname = 'tasb'
JOIN pg_language l ON l.oid = p.prolang
WHERE l.lanname IN ('plpgsql', 'sql') AND NOT coalesce(p.proconfig::text LIKE '%search_path=pg_catalog, pg_temp%', false)
ORDER BY 1;
