-- tasb_ivf robustness: dimensions from the column's size or from rows that may still be live (a
-- rolled-back insert decides nothing); scans within work_mem; builds with few page images; the
-- stats function's privilege check.
SET enable_seqscan = off;

-- A rolled-back insert does not fix an unsized column's dimensions.
CREATE TABLE t (id int, emb tasbvec);
CREATE INDEX t_emb ON t USING tasb_ivf (emb);
BEGIN;
INSERT INTO t VALUES (1, '[1,2,3]');
ROLLBACK;
INSERT INTO t VALUES (2, '[1,2,3,4]');
SELECT id FROM t ORDER BY emb <#> '[1,1,1,1]' LIMIT 1;
SELECT dims, lists FROM tasb_ivf_stats('t_emb'::regclass);
-- A committed row of other dimensions still decides them.
INSERT INTO t VALUES (3, '[1,2,3]');
-- A row deleted by a committed transaction (and no other live row) does not.
DELETE FROM t;
INSERT INTO t VALUES (4, '[1,2,3]');
SELECT id FROM t ORDER BY emb <#> '[1,1,1]' LIMIT 1;
-- A row this transaction deleted still decides them (a rollback brings it back).
BEGIN;
DELETE FROM t;
INSERT INTO t VALUES (5, '[5,5]');
ROLLBACK;
SELECT id FROM t ORDER BY emb <#> '[1,1,1]' LIMIT 1;

-- A sized column gives the index its dimensions at build, also on an empty table.
CREATE TABLE sized (id int, emb tasbvec(4));
CREATE INDEX sized_emb ON sized USING tasb_ivf (emb);
SELECT dims, lists FROM tasb_ivf_stats('sized_emb'::regclass);
INSERT INTO sized VALUES (1, '[1,2,3]');
INSERT INTO sized VALUES (1, '[1,2,3,4]');
SELECT id FROM sized ORDER BY emb <#> '[1,1,1]' LIMIT 1;
CREATE UNLOGGED TABLE sized_unlogged (id int, emb tasbhalf(5));
CREATE INDEX sized_unlogged_emb ON sized_unlogged USING tasb_ivf (emb);
SELECT dims FROM tasb_ivf_stats('sized_unlogged_emb'::regclass);

-- Data for the memory bounds: 4,000 rows in 16 dimensions.
SELECT setseed(0.7);
CREATE TABLE m (id int, emb tasbvec(16));
INSERT INTO m SELECT i, array(SELECT random() * 2 - 1 + 0 * i FROM generate_series(1, 16))::float4[]::tasbvec
    FROM generate_series(1, 4000) i;
-- A build whose lists' page images do not all fit in maintenance_work_mem (1 MB: 128 pages for
-- 300 lists) writes partly filled pages and still indexes every row once.
SET maintenance_work_mem = '1MB';
CREATE INDEX m_emb ON m USING tasb_ivf (emb) WITH (lists = 300);
RESET maintenance_work_mem;
SELECT count(*) AS every_row, count(DISTINCT id) AS once FROM (
    SELECT id FROM m ORDER BY emb <#> '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]') s;
-- A filtered scan that reads the whole index within a small work_mem (64 kB: about 3,000
-- candidates, so rounds are split) returns every match, best first within each round.
SET work_mem = '64kB';
SELECT count(*) AS every_match FROM (
    SELECT id FROM m WHERE id % 2 = 0 ORDER BY emb <#> '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]') s;
SET tasb.probes = 300;
SELECT array_agg(id) = (SELECT array_agg(id) FROM (SELECT id FROM m ORDER BY emb <#> '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]', id LIMIT 5) e)
    AS top5_exact_with_every_list
    FROM (SELECT id FROM m ORDER BY emb <#> '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]' LIMIT 5) s;
RESET tasb.probes;
RESET work_mem;

-- tasb_ivf_stats checks privileges before it locks anything.
CREATE ROLE tasb_ivf_plain;
GRANT USAGE ON SCHEMA public TO tasb_ivf_plain;
CREATE TABLE secret (id int, emb tasbvec(3));
CREATE INDEX secret_emb ON secret USING tasb_ivf (emb);
CREATE TABLE shared (id int, emb tasbvec(3));
CREATE INDEX shared_emb ON shared USING tasb_ivf (emb);
GRANT SELECT ON shared TO tasb_ivf_plain;
SET ROLE tasb_ivf_plain;
SELECT dims FROM tasb_ivf_stats('shared_emb'::regclass);
SELECT dims FROM tasb_ivf_stats('secret_emb'::regclass);
-- A table or an index of another access method is not a tasb_ivf index.
SELECT dims FROM tasb_ivf_stats('shared'::regclass);
RESET ROLE;
-- A plain role cannot take a lock through it: the check comes first (no lock left behind).
BEGIN;
SET LOCAL ROLE tasb_ivf_plain;
SELECT dims FROM tasb_ivf_stats('secret_emb'::regclass);
ROLLBACK;
BEGIN;
SET LOCAL ROLE tasb_ivf_plain;
SAVEPOINT s;
SELECT dims FROM tasb_ivf_stats('secret_emb'::regclass);
ROLLBACK TO s;
SELECT count(*) AS locks_on_secret FROM pg_locks WHERE relation = 'secret_emb'::regclass AND pid = pg_backend_pid();
ROLLBACK;
CREATE INDEX shared_id ON shared (id);
SELECT dims FROM tasb_ivf_stats('shared_id'::regclass);
DROP TABLE secret, shared;
REVOKE USAGE ON SCHEMA public FROM tasb_ivf_plain;
DROP ROLE tasb_ivf_plain;
