//! The asynchronous path: `tasb_embed_async('passages', 'body', 'emb')` installs a trigger that
//! only clears the vector of a new or changed row (so no vector ever belongs to other text), and a
//! background worker, started when the library is in `shared_preload_libraries` and
//! `tasb.worker_database` names a database, embeds the pending rows in large batches with one
//! loaded model. The queue is the table itself (rows whose vector is NULL and text is not, found
//! through a small partial index), so nothing is lost on a restart; writes are guarded by the text,
//! so delivery is at least once and never stale. `tasb_embed_async_status` shows pending, done and
//! failed rows and the last error.

use crate::encode::settings::text_setting;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;
use std::time::Duration;

pub static WORKER_DATABASE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static WORKER_BATCH: GucSetting<i32> = GucSetting::<i32>::new(256);

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
        // One batch per table per transaction; errors are caught per table inside the function.
        let done = BackgroundWorker::transaction(|| {
            // The extension's schema first on the search path, and its functions of this
            // version present (an older CREATE EXTENSION may lack them: wait, do not fail).
            let ready = Spi::get_one::<bool>(
                "SELECT set_config('search_path', quote_ident(n.nspname) || ', public', true) IS NOT NULL
                        AND to_regprocedure('tasb_embed_pending(integer)') IS NOT NULL
                 FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                 WHERE e.extname = 'tasb'",
            )
            .ok()
            .flatten()
            .unwrap_or(false);
            if !ready {
                return -1;
            }
            Spi::get_one_with_args::<i64>("SELECT tasb_embed_pending($1)", &[batch.into()])
                .ok()
                .flatten()
                .unwrap_or(0)
        });
        idle = match done {
            -1 => Duration::from_secs(5), // CREATE EXTENSION tasb not run there (yet)
            0 => Duration::from_millis(500),
            _ => Duration::from_millis(0), // more may be waiting
        };
    }
    log!("tasb embed worker stopped");
    // Exit code 1, not 0: the postmaster restarts a worker that exits non-zero (after
    // pg_terminate_backend or DROP DATABASE ... WITH (FORCE)) but forgets one that exits 0.
    // During shutdown it restarts nothing either way.
    // SAFETY: proc_exit runs the process's exit callbacks and ends it; nothing follows.
    unsafe { pg_sys::proc_exit(1) };
}

pgrx::extension_sql!(
    r#"
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
GRANT SELECT ON tasb_embed_async_tables TO PUBLIC;

-- Registers a table: checks the columns, adds a partial index over the pending rows and the
-- trigger that marks new or changed rows pending. Run it once per table.
CREATE FUNCTION tasb_embed_async(relation regclass, source_column name, target_column name)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    rel name := (SELECT relname FROM pg_class WHERE oid = relation);
BEGIN
    PERFORM tasb_check_embedding_columns(relation, source_column, target_column);
    INSERT INTO tasb_embed_async_tables (relation, source_column, target_column)
    VALUES (relation, source_column, target_column)
    ON CONFLICT ON CONSTRAINT tasb_embed_async_tables_pkey DO UPDATE
        SET source_column = excluded.source_column, target_column = excluded.target_column;
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s ((1)) WHERE %I IS NULL AND %I IS NOT NULL',
                   left(rel, 40) || '_tasb_pending', relation, target_column, source_column);
    EXECUTE format('DROP TRIGGER IF EXISTS tasb_embed_async ON %s', relation);
    EXECUTE format('CREATE TRIGGER tasb_embed_async BEFORE INSERT OR UPDATE OF %I ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger(%L, %L, %L)',
                   source_column, relation, source_column, target_column, 'async');
END $$;

-- One batch of pending rows per registered table, for the worker (or to call by hand).
CREATE FUNCTION tasb_embed_pending(batch_size int DEFAULT 256) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    t record;
    done bigint := 0;
    ctids tid[];
    texts text[];
BEGIN
    FOR t IN SELECT * FROM tasb_embed_async_tables ORDER BY relation::oid LOOP
        BEGIN
            ctids := NULL;
            SELECT * INTO ctids, texts
                FROM tasb_lock_waiting_rows(t.relation, t.source_column, t.target_column, batch_size);
            CONTINUE WHEN ctids IS NULL;
            PERFORM tasb_write_embeddings(t.relation, t.source_column, t.target_column, ctids, texts);
            UPDATE tasb_embed_async_tables
                SET rows_done = rows_done + cardinality(ctids), last_done_at = clock_timestamp()
                WHERE relation = t.relation;
            done := done + cardinality(ctids);
        EXCEPTION WHEN OTHERS THEN
            UPDATE tasb_embed_async_tables
                SET rows_failed = rows_failed + coalesce(cardinality(ctids), 0),
                    last_error = SQLERRM, last_error_at = clock_timestamp()
                WHERE relation = t.relation;
        END;
    END LOOP;
    RETURN done;
END $$;

CREATE VIEW tasb_embed_async_status AS
SELECT t.relation,
       tasb_waiting_rows(t.relation, t.source_column, t.target_column) AS pending,
       t.rows_done, t.rows_failed, t.last_error, t.last_error_at, t.last_done_at,
       EXISTS (SELECT FROM pg_stat_activity
               WHERE backend_type = 'tasb embed worker' AND datname = current_database()) AS worker_running
FROM tasb_embed_async_tables t
ORDER BY t.relation;
GRANT SELECT ON tasb_embed_async_status TO PUBLIC;
"#,
    name = "embed_async",
    requires = ["backfill", embed::trigger::tasb_embed_trigger]
);
