//! The asynchronous path: `tasb_embed_async('passages', 'body', 'emb')` installs a trigger that
//! only clears the vector of a new or changed row (so no vector ever belongs to other text), and a
//! background worker, started when the library is in `shared_preload_libraries` and
//! `tasb.worker_database` names a database, embeds the pending rows in large batches with one
//! loaded model. The queue is the table itself (rows whose vector is NULL and text is not, found
//! through a small partial index), so nothing is lost on a restart; writes are guarded by the text,
//! so delivery is at least once and never stale. `tasb_embed_async_status` shows pending, done and
//! failed rows and the last error.

use super::as_owner::{in_subtransaction, RunAsOwner};
use crate::encode::settings::text_setting;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;
use std::time::Duration;

pub static WORKER_DATABASE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static WORKER_BATCH: GucSetting<i32> = GucSetting::<i32>::new(256);
pub static WORKER_MAX_ATTEMPTS: GucSetting<i32> = GucSetting::<i32>::new(3);

/// Registers the worker's settings, and the worker itself when loaded at server start.
pub fn register() {
    GucRegistry::define_string_guc(
        c"tasb.worker_database",
        c"Database whose tables registered with tasb_embed_async the background worker embeds.",
        c"Needs tasb in shared_preload_libraries; empty: no worker. Read at server start.",
        &WORKER_DATABASE,
        // Not PGC_POSTMASTER: Postgres refuses those once the server runs, and backends that load
        // the library lazily (no preload) must still be able to define it.
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"tasb.worker_batch_size",
        c"Rows per transaction for the background embedding worker.",
        c"",
        &WORKER_BATCH,
        1,
        100_000,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"tasb.worker_max_attempts",
        c"Failures after which the background worker sets a row aside (tasb_embed_async_failures).",
        c"A row whose text changes, or tasb_embed_async_retry(table), is tried again.",
        &WORKER_MAX_ATTEMPTS,
        1,
        1000,
        GucContext::Sighup,
        GucFlags::default(),
    );
    // SAFETY: reading a backend-global flag Postgres sets while loading preload libraries.
    let preloading = unsafe { pg_sys::process_shared_preload_libraries_in_progress };
    if preloading && text_setting(&WORKER_DATABASE).is_some() {
        BackgroundWorkerBuilder::new("tasb embed worker")
            .set_type("tasb embed worker")
            .set_library("tasb")
            .set_function("tasb_embed_worker_main")
            .enable_spi_access()
            .set_restart_time(Some(Duration::from_secs(5)))
            .load();
    }
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn tasb_embed_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database = text_setting(&WORKER_DATABASE).unwrap_or_else(|| "postgres".to_string());
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    log!("tasb embed worker started in database \"{database}\"");
    let mut idle = Duration::from_millis(0);
    while BackgroundWorker::wait_latch(Some(idle)) {
        if BackgroundWorker::sighup_received() {
            // SAFETY: re-reads postgresql.conf in this process, as any backend does on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        let batch = WORKER_BATCH.get().max(1);
        let Some((schema, tables)) = BackgroundWorker::transaction(registered_tables) else {
            idle = Duration::from_secs(5); // CREATE EXTENSION tasb not run there (yet)
            continue;
        };
        let mut done = 0;
        for table in &tables {
            // One transaction per table: its row locks are held only while its batch runs.
            done += BackgroundWorker::transaction(|| embed_table(&schema, table, batch));
        }
        idle = if done > 0 {
            Duration::from_millis(0) // more may be waiting
        } else {
            Duration::from_millis(500)
        };
    }
    log!("tasb embed worker stopped");
    // Exit code 1, not 0: the postmaster restarts a worker that exits non-zero (after
    // pg_terminate_backend or DROP DATABASE ... WITH (FORCE)) but forgets one that exits 0.
    // During shutdown it restarts nothing either way.
    // SAFETY: proc_exit runs the process's exit callbacks and ends it; nothing follows.
    unsafe { pg_sys::proc_exit(1) };
}

struct Registration {
    relation: pg_sys::Oid,
    owner: pg_sys::Oid,
    /// The owner may use the extension's schema and its batch function.
    owner_may_run: bool,
}

/// The extension's schema (quoted) and its registered tables with their owners; None when the
/// extension (of this version) is not installed in the worker's database. Registrations of
/// dropped tables are removed here.
fn registered_tables() -> Option<(String, Vec<Registration>)> {
    // The worker's own statements: only pg_catalog on the path; extension objects by schema.
    Spi::run("SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)").ok()?;
    let schema = Spi::get_one::<String>(
        "SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'tasb'
           AND to_regprocedure(quote_ident(n.nspname) || '.tasb_embed_async_batch(regclass, integer, tid[], text[])') IS NOT NULL",
    )
    .ok()
    .flatten()?;
    Spi::run(&format!(
        "DELETE FROM {schema}.tasb_embed_async_tables t WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = t.relation);
         DELETE FROM {schema}.tasb_embed_async_failures f WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = f.relation)"
    ))
    .ok()?;
    let query = format!(
        "SELECT t.relation::oid, c.relowner,
                has_schema_privilege(c.relowner, e.extnamespace, 'USAGE')
                AND has_function_privilege(c.relowner, '{schema}.tasb_embed_async_batch(regclass, integer, tid[], text[])', 'EXECUTE')
         FROM {schema}.tasb_embed_async_tables t
         JOIN pg_class c ON c.oid = t.relation
         CROSS JOIN pg_extension e WHERE e.extname = 'tasb'
         ORDER BY t.relation::oid"
    );
    let tables = Spi::connect(|client| {
        let rows = client.select(&query, None, &[])?;
        let mut tables = Vec::new();
        for row in rows {
            let (Some(relation), Some(owner)) =
                (row.get::<pg_sys::Oid>(1)?, row.get::<pg_sys::Oid>(2)?)
            else {
                continue;
            };
            tables.push(Registration {
                relation,
                owner,
                owner_may_run: row.get::<bool>(3)?.unwrap_or(false),
            });
        }
        Ok::<_, pgrx::spi::Error>(tables)
    })
    .ok()?;
    Some((schema, tables))
}

/// What one batch of a table did, as the batch function returns it (arrays in text form).
struct BatchOutcome {
    done: i32,
    failed_ctids: String,
    failed_md5: String,
    errors: String,
    table_error: Option<String>,
    stale: String,
}

/// Embeds one batch of `table`'s pending rows as the table's owner and records the outcome;
/// returns the rows embedded. No error of the table's (its triggers, constraints, a dropped
/// column) escapes: it is recorded in the registration and the other tables go on.
fn embed_table(schema: &str, table: &Registration, batch: i32) -> i64 {
    let relation = table.relation;
    if !table.owner_may_run {
        record_table_error(
            schema,
            relation,
            "the table's owner may not use the tasb extension's schema or its function tasb_embed_async_batch: GRANT USAGE ON SCHEMA (and EXECUTE) to the owner",
        );
        return 0;
    }
    let set_aside = Spi::get_two_with_args::<String, String>(
        &format!(
            "SELECT coalesce(array_agg(row_ctid), '{{}}')::text, coalesce(array_agg(text_md5), '{{}}')::text
             FROM {schema}.tasb_embed_async_failures WHERE relation = $1::regclass AND attempts >= $2"
        ),
        &[relation.into(), WORKER_MAX_ATTEMPTS.get().into()],
    );
    let (set_aside, set_aside_md5) = match set_aside {
        Ok((Some(c), Some(h))) => (c, h),
        _ => ("{}".to_string(), "{}".to_string()),
    };
    let owner = table.owner;
    let query = format!(
        "SELECT done, failed_ctids::text, failed_md5::text, errors::text, table_error, stale::text
         FROM {schema}.tasb_embed_async_batch($1::regclass, $2, $3::tid[], $4::text[])"
    );
    let outcome = in_subtransaction(|| {
        let _as_owner = RunAsOwner::enter(owner);
        Spi::connect(|client| {
            let args = [
                relation.into(),
                batch.into(),
                set_aside.as_str().into(),
                set_aside_md5.as_str().into(),
            ];
            let row = client.select(&query, Some(1), &args)?.first();
            Ok::<_, pgrx::spi::Error>(BatchOutcome {
                done: row.get::<i32>(1)?.unwrap_or(0),
                failed_ctids: row.get::<String>(2)?.unwrap_or_else(|| "{}".into()),
                failed_md5: row.get::<String>(3)?.unwrap_or_else(|| "{}".into()),
                errors: row.get::<String>(4)?.unwrap_or_else(|| "{}".into()),
                table_error: row.get::<String>(5)?,
                stale: row.get::<String>(6)?.unwrap_or_else(|| "{}".into()),
            })
        })
    });
    let outcome = match outcome {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => {
            record_table_error(schema, relation, &e.to_string());
            return 0;
        }
        Err(message) => {
            record_table_error(schema, relation, &message);
            return 0;
        }
    };
    if let Some(message) = &outcome.table_error {
        record_table_error(schema, relation, message);
    }
    // Back as the worker: record what happened. Errors here are the extension's own (its
    // tables), so they end the transaction and the worker restarts.
    let recorded = Spi::run_with_args(
        &format!(
            "WITH failed AS (
                 SELECT f.c, f.h, f.e FROM unnest($3::tid[], $4::text[], $5::text[]) f(c, h, e)
             ), recorded AS (
                 INSERT INTO {schema}.tasb_embed_async_failures AS x
                     (relation, row_ctid, text_md5, attempts, last_error, last_failed_at)
                 SELECT $1::regclass, c, h, 1, e, clock_timestamp() FROM failed
                 ON CONFLICT (relation, row_ctid) DO UPDATE
                     SET attempts = CASE WHEN x.text_md5 = excluded.text_md5 THEN x.attempts + 1 ELSE 1 END,
                         text_md5 = excluded.text_md5, last_error = excluded.last_error,
                         last_failed_at = excluded.last_failed_at
             ), cleared AS (
                 DELETE FROM {schema}.tasb_embed_async_failures
                 WHERE relation = $1::regclass AND row_ctid = ANY ($6::tid[])
             )
             UPDATE {schema}.tasb_embed_async_tables
             SET rows_done = rows_done + $2,
                 rows_failed = rows_failed + (SELECT count(*) FROM failed),
                 last_done_at = CASE WHEN $2 > 0 THEN clock_timestamp() ELSE last_done_at END,
                 last_error = coalesce((SELECT e FROM failed LIMIT 1), last_error),
                 last_error_at = CASE WHEN EXISTS (SELECT FROM failed) THEN clock_timestamp() ELSE last_error_at END
             WHERE relation = $1::regclass"
        ),
        &[
            relation.into(),
            i64::from(outcome.done).into(),
            outcome.failed_ctids.as_str().into(),
            outcome.failed_md5.as_str().into(),
            outcome.errors.as_str().into(),
            outcome.stale.as_str().into(),
        ],
    );
    if let Err(e) = recorded {
        pgrx::error!("tasb embed worker: recording the batch of table {relation:?} failed: {e}");
    }
    i64::from(outcome.done)
}

fn record_table_error(schema: &str, relation: pg_sys::Oid, message: &str) {
    let recorded = Spi::run_with_args(
        &format!(
            "UPDATE {schema}.tasb_embed_async_tables
             SET last_error = $2, last_error_at = clock_timestamp() WHERE relation = $1::regclass"
        ),
        &[relation.into(), message.into()],
    );
    if let Err(e) = recorded {
        pgrx::error!("tasb embed worker: recording an error of table {relation:?} failed: {e}");
    }
}

pgrx::extension_sql!(
    r#"
-- Registered tables. Only a table's owner (or a member of the owning role) may register it or
-- change its registration; each role sees the registrations of tables it may read. The worker
-- runs each table's work as the table's owner.
CREATE TABLE tasb_embed_async_tables (
    relation regclass PRIMARY KEY,
    source_column name NOT NULL,
    target_column name NOT NULL,
    rows_done bigint NOT NULL DEFAULT 0,
    rows_failed bigint NOT NULL DEFAULT 0,
    last_error text,
    last_error_at timestamptz,
    last_done_at timestamptz
);
ALTER TABLE tasb_embed_async_tables ENABLE ROW LEVEL SECURITY;
CREATE POLICY readers ON tasb_embed_async_tables FOR SELECT
    USING (pg_catalog.has_table_privilege(relation, 'SELECT'));
CREATE POLICY owners ON tasb_embed_async_tables FOR ALL
    USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = relation), 'USAGE'))
    WITH CHECK (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = relation), 'USAGE'));
GRANT SELECT, INSERT, UPDATE (source_column, target_column), DELETE ON tasb_embed_async_tables TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('tasb_embed_async_tables', '');

-- Rows the worker could not embed, with their last error. A row is set aside (no longer tried)
-- after tasb.worker_max_attempts failures with the same text; changing its text, or
-- tasb_embed_async_retry, tries it again. Written by the worker only.
CREATE TABLE tasb_embed_async_failures (
    relation regclass NOT NULL,
    row_ctid tid NOT NULL,
    text_md5 text NOT NULL,
    attempts int NOT NULL,
    last_error text,
    last_failed_at timestamptz NOT NULL,
    PRIMARY KEY (relation, row_ctid)
);
ALTER TABLE tasb_embed_async_failures ENABLE ROW LEVEL SECURITY;
CREATE POLICY readers ON tasb_embed_async_failures FOR SELECT
    USING (pg_catalog.has_table_privilege(relation, 'SELECT'));
CREATE POLICY owners ON tasb_embed_async_failures FOR DELETE
    USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = relation), 'USAGE'));
GRANT SELECT, DELETE ON tasb_embed_async_failures TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('tasb_embed_async_failures', '');

-- Registers a table: checks the columns, adds a partial index over the pending rows and the
-- trigger that marks new or changed rows pending. Run it once per table, as its owner.
CREATE FUNCTION tasb_embed_async(relation regclass, source_column name, target_column name)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel name := (SELECT relname FROM pg_class WHERE oid = relation);
BEGIN
    IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = relation), 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table % to embed it asynchronously', relation
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'The background worker embeds a table as its owner: ask the owner to run tasb_embed_async, or use CALL tasb_backfill (it runs as you and needs UPDATE).';
    END IF;
    PERFORM @extschema@.tasb_check_embedding_columns(relation, source_column, target_column);
    INSERT INTO @extschema@.tasb_embed_async_tables (relation, source_column, target_column)
    VALUES (relation, source_column, target_column)
    ON CONFLICT ON CONSTRAINT tasb_embed_async_tables_pkey DO UPDATE
        SET source_column = excluded.source_column, target_column = excluded.target_column;
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s ((1)) WHERE %I IS NULL AND %I IS NOT NULL',
                   left(rel, 40) || '_tasb_pending', relation, target_column, source_column);
    EXECUTE format('DROP TRIGGER IF EXISTS tasb_embed_async ON %s', relation);
    EXECUTE format('CREATE TRIGGER tasb_embed_async BEFORE INSERT OR UPDATE OF %I ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION @extschema@.tasb_embed_trigger(%L, %L, %L)',
                   source_column, relation, source_column, target_column, 'async');
END $$;

-- Tries the set-aside rows of a table again (the table's owner).
CREATE FUNCTION tasb_embed_async_retry(relation regclass) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM @extschema@.tasb_embed_async_failures f WHERE f.relation = tasb_embed_async_retry.relation;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- One batch of a registered table's pending rows. The worker calls it as the table's owner,
-- under SECURITY_RESTRICTED_OPERATION; it can be called by hand too (it runs as the caller).
-- Rows in (set_aside, set_aside_md5) are skipped. If the batch fails as a whole, its rows are
-- tried one at a time, so one bad row cannot hold up the rest; the rows that still fail are
-- returned with their errors (the worker records them). Errors that concern the whole table
-- come back in table_error. stale: the set-aside rows that no longer wait with that text.
CREATE FUNCTION tasb_embed_async_batch(relation regclass, batch_size int,
                                       set_aside tid[], set_aside_md5 text[],
                                       OUT done int, OUT failed_ctids tid[], OUT failed_md5 text[],
                                       OUT errors text[], OUT table_error text, OUT stale tid[])
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t record;
    ctids tid[];
    texts text[];
    unwritten tid[];
BEGIN
    done := 0; failed_ctids := '{}'; failed_md5 := '{}'; errors := '{}'; stale := '{}';
    BEGIN
        SELECT * INTO t FROM @extschema@.tasb_embed_async_tables r WHERE r.relation = tasb_embed_async_batch.relation;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'table % is not registered with tasb_embed_async', relation;
        END IF;
        IF cardinality(set_aside) > 0 THEN
            EXECUTE format(
                'SELECT coalesce(array_agg(f.c), ''{}'') FROM unnest($1, $2) f(c, h) WHERE NOT EXISTS '
                '(SELECT FROM %2$s r WHERE r.ctid = f.c AND r.%3$I IS NULL AND md5(r.%1$I::text) = f.h)',
                t.source_column, relation, t.target_column) INTO stale USING set_aside, set_aside_md5;
        END IF;
        SELECT * INTO ctids, texts FROM @extschema@.tasb_lock_waiting_rows(
            relation, t.source_column, t.target_column, batch_size, NULL, false, set_aside, set_aside_md5);
        IF ctids IS NULL THEN
            RETURN;
        END IF;
        BEGIN
            unwritten := @extschema@.tasb_write_embeddings(relation, t.source_column, t.target_column, ctids, texts);
        EXCEPTION WHEN OTHERS THEN
            -- Find the rows that fail: each alone, in its own subtransaction.
            unwritten := '{}';
            FOR i IN 1 .. cardinality(ctids) LOOP
                BEGIN
                    unwritten := unwritten || @extschema@.tasb_write_embeddings(
                        relation, t.source_column, t.target_column, ARRAY[ctids[i]], ARRAY[texts[i]]);
                EXCEPTION WHEN OTHERS THEN
                    failed_ctids := failed_ctids || ctids[i];
                    failed_md5 := failed_md5 || md5(texts[i]);
                    errors := errors || SQLERRM;
                END;
            END LOOP;
        END;
        FOR i IN 1 .. coalesce(cardinality(unwritten), 0) LOOP
            failed_ctids := failed_ctids || unwritten[i];
            failed_md5 := failed_md5 || md5(texts[array_position(ctids, unwritten[i])]);
            errors := errors || 'the UPDATE changed no row: a BEFORE UPDATE trigger returned NULL, or a row-level security policy hides the row'::text;
        END LOOP;
        done := cardinality(ctids) - cardinality(failed_ctids);
    EXCEPTION WHEN OTHERS THEN
        table_error := SQLERRM;
    END;
END $$;

CREATE VIEW tasb_embed_async_status WITH (security_invoker) AS
SELECT t.relation,
       CASE WHEN pg_catalog.has_table_privilege(t.relation, 'SELECT') THEN
           @extschema@.tasb_waiting_rows(t.relation, t.source_column, t.target_column) END AS pending,
       t.rows_done, t.rows_failed,
       (SELECT count(*) FROM @extschema@.tasb_embed_async_failures f
        WHERE f.relation = t.relation AND f.attempts >= coalesce(nullif(pg_catalog.current_setting('tasb.worker_max_attempts', true), '')::int, 3)) AS rows_set_aside,
       t.last_error, t.last_error_at, t.last_done_at,
       EXISTS (SELECT FROM pg_catalog.pg_stat_activity
               WHERE backend_type = 'tasb embed worker' AND datname = pg_catalog.current_database()) AS worker_running
FROM @extschema@.tasb_embed_async_tables t
JOIN pg_catalog.pg_class c ON c.oid = t.relation
ORDER BY t.relation;
GRANT SELECT ON tasb_embed_async_status TO PUBLIC;
"#,
    name = "embed_async",
    requires = ["backfill", embed::trigger::tasb_embed_trigger]
);
