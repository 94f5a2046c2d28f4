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
    require_select(relation);
    // SAFETY: relation_open with AccessShareLock raises an ERROR if the OID is no relation; the
    // relation is closed (lock kept to transaction end) when `rel` drops.
    let rel =
        unsafe { PgRelation::with_lock(relation, pg_sys::AccessShareLock as pg_sys::LOCKMODE) };
    let table = rel.name().to_string();
    let desc = rel.tuple_desc();
    source_column(&desc, &table, source);
    let target_column = target_column(&desc, &table, target);
    let dims = crate::service::client::dimensions()
        .unwrap_or_else(|| with_model(|model| model.encoder.config().dimensions));
    check_dimensions(&table, target, &target_column, dims);
}

/// Raises "permission denied" unless the current user may read the table (some column of it),
/// checked before any lock is taken, so a role cannot queue behind or block others' work on
/// tables it may not read.
fn require_select(relation: pg_sys::Oid) {
    // SAFETY: pg_class_aclcheck and pg_attribute_aclcheck_all read the catalogs for any OID; an
    // OID that is no relation raises an ERROR ("relation with OID ... does not exist").
    let allowed = unsafe {
        let user = pg_sys::GetUserId();
        pg_sys::pg_class_aclcheck(relation, user, pg_sys::ACL_SELECT as pg_sys::AclMode)
            == pg_sys::AclResult::ACLCHECK_OK
            || pg_sys::pg_attribute_aclcheck_all(
                relation,
                user,
                pg_sys::ACL_SELECT as pg_sys::AclMode,
                pg_sys::AclMaskHow::ACLMASK_ANY,
            ) == pg_sys::AclResult::ACLCHECK_OK
    };
    if !allowed {
        crate::errors::raise(
            pgrx::PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("permission denied for table {}", relation_name(relation)),
            None,
            Some("Embedding a table needs SELECT on it (and UPDATE to write vectors)."),
        );
    }
}

/// A relation's name for messages (its OID when it has none).
fn relation_name(relation: pg_sys::Oid) -> String {
    // SAFETY: get_rel_name returns a palloc'd copy of the name, or NULL for no such relation.
    let name = unsafe { pg_sys::get_rel_name(relation) };
    if name.is_null() {
        return relation.to_u32().to_string();
    }
    // SAFETY: a NUL-terminated string from the catalog, valid in this memory context.
    unsafe { std::ffi::CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned()
}

pgrx::extension_sql!(
    r#"
-- One row per table being (or last) backfilled; written in the batch's own transaction. Each role
-- sees the rows of tables it may read and writes those of tables it may update (row-level
-- security), so no role can start, fake or read another's backfill; superusers see all.
CREATE TABLE tasb_backfill_progress (
    relation regclass PRIMARY KEY,
    source_column name NOT NULL,
    target_column name NOT NULL,
    pid int NOT NULL,
    rows_total bigint NOT NULL,
    rows_done bigint NOT NULL,
    started_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    finished_at timestamptz,
    rows_unwritten bigint NOT NULL DEFAULT 0
);
ALTER TABLE tasb_backfill_progress ENABLE ROW LEVEL SECURITY;
CREATE POLICY readers ON tasb_backfill_progress FOR SELECT
    USING (pg_catalog.has_table_privilege(relation, 'SELECT'));
CREATE POLICY writers ON tasb_backfill_progress FOR ALL
    USING (pg_catalog.has_table_privilege(relation, 'UPDATE'))
    WITH CHECK (pg_catalog.has_table_privilege(relation, 'UPDATE'));
GRANT SELECT, INSERT, UPDATE ON tasb_backfill_progress TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('tasb_backfill_progress', '');

CREATE VIEW tasb_backfill_status WITH (security_invoker) AS
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
       p.rows_unwritten,
       p.pid, p.started_at, p.updated_at, p.finished_at
FROM @extschema@.tasb_backfill_progress p
JOIN pg_catalog.pg_class c ON c.oid = p.relation
LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid;
GRANT SELECT ON tasb_backfill_status TO PUBLIC;

-- Every function below pins its search_path (pg_catalog first, then only pg_temp, which is never
-- searched for functions or operators) and names the extension's objects by schema, so no role
-- that can create objects in a schema on a caller's path can shadow what they call. Triggers of
-- the user's table that fire from here run with that search_path too: give trigger functions
-- their own SET search_path.

-- The rows waiting for a vector: text present, vector NULL. Shared by the backfill and the
-- async worker (whose partial index has the same predicate).
CREATE FUNCTION tasb_waiting_rows(relation regclass, source_column name, target_column name)
RETURNS bigint LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %2$s WHERE %3$I IS NULL AND %1$I IS NOT NULL',
                   source_column, relation, target_column) INTO n;
    RETURN n;
END $$;

-- Locks up to batch_size waiting rows, except those in `excluded` and those whose (ctid, md5 of
-- text) is in (`set_aside`, `set_aside_md5`), and returns their ctids and texts; NULLs when none
-- wait. With `wait`, it waits for rows other transactions hold; otherwise it skips them.
CREATE FUNCTION tasb_lock_waiting_rows(relation regclass, source_column name, target_column name,
                                       batch_size int, excluded tid[], wait bool,
                                       set_aside tid[], set_aside_md5 text[],
                                       OUT ctids tid[], OUT texts text[])
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format(
        'SELECT array_agg(ctid), array_agg(t) FROM '
        '(SELECT ctid, %1$I::text AS t FROM %2$s r WHERE %3$I IS NULL AND %1$I IS NOT NULL'
        ' AND ctid <> ALL ($2)'
        ' AND NOT EXISTS (SELECT FROM unnest($3, $4) f(c, h) WHERE f.c = r.ctid AND f.h = md5(r.%1$I::text))'
        ' LIMIT $1 FOR UPDATE %4$s) s',
        source_column, relation, target_column, CASE WHEN wait THEN '' ELSE 'SKIP LOCKED' END)
        INTO ctids, texts
        USING batch_size, coalesce(excluded, '{}'), coalesce(set_aside, '{}'), coalesce(set_aside_md5, '{}');
END $$;

-- Encodes the locked rows' texts in one batched pass and writes each vector only if the row's
-- text is still the one encoded (the rows are locked, so it is; but never a vector of other
-- text). Returns the ctids of the rows it could not write: a BEFORE UPDATE trigger that returned
-- NULL, or a row-level security policy that hides the row from the UPDATE.
CREATE FUNCTION tasb_write_embeddings(relation regclass, source_column name, target_column name,
                                      ctids tid[], texts text[])
RETURNS tid[] LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    vectors @extschema@.tasbvec[] := @extschema@.tasb_encode_batch(texts);
    write_row text := format('UPDATE %2$s SET %3$I = $1 WHERE ctid = $2 AND %1$I::text = $3',
                             source_column, relation, target_column);
    written bigint;
    unwritten tid[] := '{}';
BEGIN
    FOR i IN 1 .. cardinality(ctids) LOOP
        EXECUTE write_row USING vectors[i], ctids[i], texts[i];
        GET DIAGNOSTICS written = ROW_COUNT;
        IF written = 0 THEN
            unwritten := unwritten || ctids[i];
        END IF;
    END LOOP;
    RETURN unwritten;
END $$;

-- The state of one CALL tasb_backfill, carried between its committed batches.
CREATE TYPE tasb_backfill_run AS (
    relation regclass, source_column name, target_column name, batch_size int,
    total bigint, done bigint, unwritten tid[], wait bool, started timestamptz, finished bool
);

CREATE FUNCTION tasb_backfill_start(relation regclass, source_column name, target_column name,
                                    batch_size int)
RETURNS @extschema@.tasb_backfill_run
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    run @extschema@.tasb_backfill_run;
BEGIN
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'tasb_backfill: batch_size must be at least 1, not %', batch_size;
    END IF;
    IF relation IS NULL OR source_column IS NULL OR target_column IS NULL THEN
        RAISE EXCEPTION 'tasb_backfill: the table and both columns must be given'
            USING HINT = 'CALL tasb_backfill(''passages'', ''body'', ''emb'');';
    END IF;
    -- Checks privileges before any lock is taken on the table.
    PERFORM @extschema@.tasb_check_embedding_columns(relation, source_column, target_column);
    IF NOT has_table_privilege(relation, 'UPDATE') THEN
        RAISE EXCEPTION 'permission denied for table %', relation
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'tasb_backfill writes the vector column: it needs UPDATE on the table (and SELECT on its columns).';
    END IF;
    run := ROW(relation, source_column, target_column, batch_size,
               @extschema@.tasb_waiting_rows(relation, source_column, target_column),
               0, '{}', false, clock_timestamp(), false);
    INSERT INTO @extschema@.tasb_backfill_progress AS p VALUES
        (relation, source_column, target_column, pg_backend_pid(), run.total, 0, run.started, run.started, NULL, 0)
    ON CONFLICT ON CONSTRAINT tasb_backfill_progress_pkey DO UPDATE
        SET source_column = excluded.source_column, target_column = excluded.target_column,
            pid = excluded.pid, rows_total = excluded.rows_total, rows_done = 0,
            started_at = excluded.started_at, updated_at = excluded.updated_at, finished_at = NULL,
            rows_unwritten = 0;
    RAISE NOTICE 'tasb_backfill: % rows of % to embed, in batches of %', run.total, relation, batch_size;
    RETURN run;
END $$;

-- One batch: lock, encode, write, record progress. Rows other transactions hold are skipped
-- while others wait, then waited for, so "done" means no row waits any more (rows that could
-- not be written are counted and reported, and not tried again in this run).
CREATE FUNCTION tasb_backfill_step(run @extschema@.tasb_backfill_run)
RETURNS @extschema@.tasb_backfill_run
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ctids tid[];
    texts text[];
    unwritten tid[];
    elapsed float8;
BEGIN
    SELECT * INTO ctids, texts FROM @extschema@.tasb_lock_waiting_rows(
        run.relation, run.source_column, run.target_column, run.batch_size, run.unwritten, run.wait,
        NULL, NULL);
    IF ctids IS NULL AND NOT run.wait THEN
        -- Only rows that others hold (or none) remain: wait for them from now on.
        run.wait := true;
        RAISE NOTICE 'tasb_backfill: waiting for rows of % that other transactions hold', run.relation;
        SELECT * INTO ctids, texts FROM @extschema@.tasb_lock_waiting_rows(
            run.relation, run.source_column, run.target_column, run.batch_size, run.unwritten, true,
            NULL, NULL);
    END IF;
    IF ctids IS NULL THEN
        run.finished := true;
        UPDATE @extschema@.tasb_backfill_progress p
            SET finished_at = clock_timestamp(), updated_at = clock_timestamp(),
                rows_unwritten = cardinality(run.unwritten)
            WHERE p.relation = run.relation;
        IF cardinality(run.unwritten) > 0 THEN
            RAISE WARNING 'tasb_backfill: % rows of % were not written', cardinality(run.unwritten), run.relation
                USING DETAIL = 'Their UPDATE changed no row: a BEFORE UPDATE trigger returned NULL, or a row-level security policy hides them.',
                      HINT = 'Fix the trigger or the policy, then CALL tasb_backfill again.';
        END IF;
        RAISE NOTICE 'tasb_backfill: done, % rows in %', run.done,
            date_trunc('second', clock_timestamp() - run.started);
        RETURN run;
    END IF;
    unwritten := @extschema@.tasb_write_embeddings(
        run.relation, run.source_column, run.target_column, ctids, texts);
    run.unwritten := run.unwritten || unwritten;
    run.done := run.done + cardinality(ctids) - cardinality(unwritten);
    elapsed := greatest(extract(epoch FROM clock_timestamp() - run.started), 0.001);
    UPDATE @extschema@.tasb_backfill_progress p
        SET rows_done = run.done, updated_at = clock_timestamp(),
            rows_total = greatest(p.rows_total, run.done), rows_unwritten = cardinality(run.unwritten)
        WHERE p.relation = run.relation;
    RAISE NOTICE 'tasb_backfill: % of % rows (% %%), % rows/s, ETA %',
        run.done, greatest(run.total, run.done), round(100.0 * run.done / greatest(run.total, run.done, 1), 1),
        round((run.done / elapsed)::numeric, 1),
        date_trunc('second', make_interval(secs => greatest(run.total - run.done, 0) * elapsed / greatest(run.done, 1)));
    RETURN run;
END $$;

-- A procedure that commits cannot carry a SET clause, so its body only calls the pinned
-- functions above, by their schema.
CREATE PROCEDURE tasb_backfill(relation regclass, source_column name, target_column name,
                               batch_size int DEFAULT 256)
LANGUAGE plpgsql AS $$
DECLARE
    run @extschema@.tasb_backfill_run;
BEGIN
    run := @extschema@.tasb_backfill_start(relation, source_column, target_column, batch_size);
    COMMIT;
    LOOP
        run := @extschema@.tasb_backfill_step(run);
        COMMIT;
        EXIT WHEN run.finished;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE tasb_backfill(regclass, name, name, int) IS
    'Embeds rows whose vector column is NULL, in committed batches; resumable; progress in tasb_backfill_status. Needs UPDATE on the table.';
"#,
    name = "backfill",
    requires = [
        tasb_check_embedding_columns,
        "vector_types",
        encode::functions::tasb_encode_batch
    ]
);
