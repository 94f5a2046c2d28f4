//! `CALL tasb_backfill('passages', 'body', 'emb')`: embeds the rows whose vector is NULL, a batch
//! per transaction (one batched model pass each), committing between batches, so a cancel or a
//! crash loses at most the batch in flight and calling it again finishes the job. Rows are locked
//! while their batch is encoded and written back only if their text is still the one encoded, so
//! no row is left with a vector of other text. Progress goes to psql as NOTICEs and to the view
//! `tasb_backfill_status`, which other sessions can query.

use super::columns::{check_dimensions, source_column, target_column};
use crate::encode::model::with_model;
use pgrx::prelude::*;
use pgrx::{pg_sys, PgRelation};

/// Checks the table's source and target columns and that the model's output fits the target;
/// raises an error naming the table and column otherwise. Loads the model.
#[pg_extern(volatile, parallel_unsafe)]
fn tasb_check_embedding_columns(relation: pg_sys::Oid, source: &str, target: &str) {
    // SAFETY: relation_open with AccessShareLock raises an ERROR if the OID is no relation; the
    // relation is closed (lock kept to transaction end) when `rel` drops.
    let rel =
        unsafe { PgRelation::with_lock(relation, pg_sys::AccessShareLock as pg_sys::LOCKMODE) };
    let table = rel.name().to_string();
    let desc = rel.tuple_desc();
    source_column(&desc, &table, source);
    let target_column = target_column(&desc, &table, target);
    let dims = with_model(|model| model.encoder.config().dimensions);
    check_dimensions(&table, target, &target_column, dims);
}

pgrx::extension_sql!(
    r#"
-- One row per table being (or last) backfilled; written in the batch's own transaction.
CREATE TABLE tasb_backfill_progress (
    relation regclass PRIMARY KEY,
    source_column name NOT NULL,
    target_column name NOT NULL,
    pid int NOT NULL,
    rows_total bigint NOT NULL,
    rows_done bigint NOT NULL,
    started_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    finished_at timestamptz
);
GRANT SELECT ON tasb_backfill_progress TO PUBLIC;

CREATE VIEW tasb_backfill_status AS
SELECT p.relation, p.source_column, p.target_column,
       CASE WHEN p.finished_at IS NOT NULL THEN 'done'
            -- The procedure's session is busy with it (not this session: it is asking).
            WHEN a.state = 'active' AND a.pid <> pg_backend_pid() AND a.query ~* 'tasb_backfill' THEN 'running'
            ELSE 'interrupted: CALL tasb_backfill again to finish' END AS state,
       p.rows_done, p.rows_total,
       round(100.0 * p.rows_done / greatest(p.rows_total, 1), 1) AS percent,
       round((p.rows_done / greatest(extract(epoch FROM p.updated_at - p.started_at), 0.001))::numeric, 1)
           AS rows_per_second,
       CASE WHEN p.finished_at IS NULL AND p.rows_done > 0 THEN
           (p.updated_at - p.started_at) * ((p.rows_total - p.rows_done)::float8 / p.rows_done) END AS eta,
       p.pid, p.started_at, p.updated_at, p.finished_at
FROM tasb_backfill_progress p
LEFT JOIN pg_stat_activity a ON a.pid = p.pid;
GRANT SELECT ON tasb_backfill_status TO PUBLIC;

-- The rows waiting for a vector: text present, vector NULL. Shared by the backfill and the
-- async worker (whose partial index has the same predicate).
CREATE FUNCTION tasb_waiting_rows(relation regclass, source_column name, target_column name)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %2$s WHERE %3$I IS NULL AND %1$I IS NOT NULL',
                   source_column, relation, target_column) INTO n;
    RETURN n;
END $$;

-- Locks up to batch_size waiting rows (skipping rows other sessions hold) and returns their
-- ctids and texts; NULLs when none wait.
CREATE FUNCTION tasb_lock_waiting_rows(relation regclass, source_column name, target_column name,
                                       batch_size int, OUT ctids tid[], OUT texts text[])
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'SELECT array_agg(ctid), array_agg(%1$I) FROM '
        '(SELECT ctid, %1$I FROM %2$s WHERE %3$I IS NULL AND %1$I IS NOT NULL LIMIT $1 FOR UPDATE SKIP LOCKED) s',
        source_column, relation, target_column) INTO ctids, texts USING batch_size;
END $$;

-- Encodes the locked rows' texts in one batched pass and writes each vector only if the row's
-- text is still the one encoded (the rows are locked, so it is; but never a vector of other text).
CREATE FUNCTION tasb_write_embeddings(relation regclass, source_column name, target_column name,
                                      ctids tid[], texts text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    vectors tasbvec[] := tasb_encode_batch(texts);
    write_row text := format('UPDATE %2$s SET %3$I = $1 WHERE ctid = $2 AND %1$I = $3',
                             source_column, relation, target_column);
BEGIN
    FOR i IN 1 .. cardinality(ctids) LOOP
        EXECUTE write_row USING vectors[i], ctids[i], texts[i];
    END LOOP;
END $$;

CREATE PROCEDURE tasb_backfill(relation regclass, source_column name, target_column name,
                               batch_size int DEFAULT 256)
LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
    done bigint := 0;
    started timestamptz := clock_timestamp();
    elapsed float8;
    ctids tid[];
    texts text[];
BEGIN
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'tasb_backfill: batch_size must be at least 1, not %', batch_size;
    END IF;
    PERFORM tasb_check_embedding_columns(relation, source_column, target_column);
    total := tasb_waiting_rows(relation, source_column, target_column);
    INSERT INTO tasb_backfill_progress AS p VALUES
        (relation, source_column, target_column, pg_backend_pid(), total, 0, started, started, NULL)
    ON CONFLICT ON CONSTRAINT tasb_backfill_progress_pkey DO UPDATE
        SET source_column = excluded.source_column, target_column = excluded.target_column,
            pid = excluded.pid, rows_total = excluded.rows_total, rows_done = 0,
            started_at = excluded.started_at, updated_at = excluded.updated_at, finished_at = NULL;
    RAISE NOTICE 'tasb_backfill: % rows of % to embed, in batches of %', total, relation, batch_size;
    COMMIT;
    LOOP
        SELECT * INTO ctids, texts
            FROM tasb_lock_waiting_rows(relation, source_column, target_column, batch_size);
        EXIT WHEN ctids IS NULL;
        PERFORM tasb_write_embeddings(relation, source_column, target_column, ctids, texts);
        done := done + cardinality(ctids);
        elapsed := greatest(extract(epoch FROM clock_timestamp() - started), 0.001);
        UPDATE tasb_backfill_progress p
            SET rows_done = done, updated_at = clock_timestamp(), rows_total = greatest(p.rows_total, done)
            WHERE p.relation = tasb_backfill.relation;
        RAISE NOTICE 'tasb_backfill: % of % rows (% %%), % rows/s, ETA %',
            done, greatest(total, done), round(100.0 * done / greatest(total, done, 1), 1),
            round((done / elapsed)::numeric, 1),
            date_trunc('second', make_interval(secs => greatest(total - done, 0) * elapsed / done));
        COMMIT;
    END LOOP;
    UPDATE tasb_backfill_progress p SET finished_at = clock_timestamp(), updated_at = clock_timestamp()
        WHERE p.relation = tasb_backfill.relation;
    RAISE NOTICE 'tasb_backfill: done, % rows in %', done,
        date_trunc('second', clock_timestamp() - started);
    COMMIT;
END
$$;
COMMENT ON PROCEDURE tasb_backfill(regclass, name, name, int) IS
    'Embeds rows whose vector column is NULL, in committed batches; resumable; progress in tasb_backfill_status.';
"#,
    name = "backfill",
    requires = [
        tasb_check_embedding_columns,
        "vector_types",
        encode::functions::tasb_encode_batch
    ]
);
