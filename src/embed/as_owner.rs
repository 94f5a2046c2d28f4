//! Running a table's work as the table's owner, the way autovacuum and REFRESH MATERIALIZED VIEW
//! do: the owner's user ID with SECURITY_RESTRICTED_OPERATION (no SET ROLE, no temporary
//! objects, nothing that outlives the operation) and a search_path of only pg_catalog and
//! pg_temp, so the table's triggers, rules, policies and index expressions never run with the
//! background worker's superuser rights. And a subtransaction that contains one table's errors.

use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::PgTryBuilder;
use std::panic::UnwindSafe;

/// While alive, the backend acts as `owner`; dropping it (also while unwinding from an ERROR)
/// restores the previous user, security context and settings.
pub struct RunAsOwner {
    saved_user: pg_sys::Oid,
    saved_context: i32,
    guc_level: i32,
}

impl RunAsOwner {
    pub fn enter(owner: pg_sys::Oid) -> Self {
        let mut saved_user = pg_sys::InvalidOid;
        let mut saved_context = 0;
        // SAFETY: Get/SetUserIdAndSecContext only read and write backend globals; the previous
        // values are restored by Drop. NewGUCNestLevel opens a GUC nesting level that Drop
        // closes with AtEOXact_GUC, so the search_path set here (GUC_ACTION_SAVE) is undone
        // then, as in RefreshMatViewByOid. Both names and values are NUL-terminated constants.
        unsafe {
            pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
            pg_sys::SetUserIdAndSecContext(
                owner,
                saved_context
                    | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                    | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
            );
            let guc_level = pg_sys::NewGUCNestLevel();
            pg_sys::set_config_option(
                c"search_path".as_ptr(),
                c"pg_catalog, pg_temp".as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
            RunAsOwner {
                saved_user,
                saved_context,
                guc_level,
            }
        }
    }
}

impl Drop for RunAsOwner {
    fn drop(&mut self) {
        // SAFETY: closes the nesting level opened in enter() and restores the saved identity.
        unsafe {
            pg_sys::AtEOXact_GUC(false, self.guc_level);
            pg_sys::SetUserIdAndSecContext(self.saved_user, self.saved_context);
        }
    }
}

/// Runs `f` in a subtransaction: its ERROR rolls back only what `f` did and comes back as the
/// error's message, and the surrounding transaction goes on (as a PL/pgSQL EXCEPTION block).
pub fn in_subtransaction<T>(f: impl FnOnce() -> T + UnwindSafe) -> Result<T, String> {
    // SAFETY: the pattern of PL/pgSQL's exception blocks: remember the memory context and
    // resource owner, begin an internal subtransaction, and on success release it, on error
    // roll it back (pgrx has already copied and flushed the error state when catch_others
    // runs); then restore both, since ending a subtransaction switches them.
    unsafe {
        let context = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        let result = PgTryBuilder::new(|| Ok(f()))
            .catch_others(|e| Err(message(&e)))
            .execute();
        if result.is_ok() {
            pg_sys::ReleaseCurrentSubTransaction();
        } else {
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
        }
        pg_sys::MemoryContextSwitchTo(context);
        pg_sys::CurrentResourceOwner = owner;
        result
    }
}

fn message(error: &CaughtError) -> String {
    match error {
        CaughtError::PostgresError(report) | CaughtError::ErrorReport(report) => {
            report.message().to_string()
        }
        CaughtError::RustPanic { ereport, .. } => ereport.message().to_string(),
    }
}
