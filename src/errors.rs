//! Raising Postgres errors with a DETAIL and a HINT, so every message tells the user what to do.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// Raises an ERROR (a Rust panic that pgrx turns into a Postgres error at the FFI boundary).
pub fn raise(
    code: PgSqlErrorCode,
    message: impl Into<String>,
    detail: Option<String>,
    hint: Option<&str>,
) -> ! {
    let mut report = ErrorReport::new(code, message.into(), "tasb");
    if let Some(detail) = detail {
        report = report.set_detail(detail);
    }
    if let Some(hint) = hint {
        report = report.set_hint(hint);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// The error for operands of different lengths, naming both.
pub fn dimension_mismatch(left: usize, right: usize) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
        format!("different vector dimensions {left} and {right}"),
        None,
        Some("Both operands must have the same number of dimensions; check that they come from the same model."),
    )
}
