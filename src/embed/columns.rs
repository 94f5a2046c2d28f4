//! The source (text) and target (vector) columns that embedding writes, resolved by name and
//! checked once per call, with errors that name the table and the column.

use crate::errors::raise;
use pgrx::pg_sys;
use pgrx::{PgSqlErrorCode, PgTupleDesc};
use std::ffi::CStr;
use std::num::NonZeroUsize;

/// The element type of a vector column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorKind {
    F32,
    F16,
}

#[derive(Debug, Clone, Copy)]
pub struct TargetColumn {
    pub attno: NonZeroUsize,
    pub kind: VectorKind,
    /// The column's dimensions (`tasbvec(n)`), or -1 when it has none.
    pub typmod: i32,
}

/// The name Postgres shows for a type, without a schema.
fn type_name(oid: pg_sys::Oid) -> String {
    // SAFETY: format_type_be accepts any OID (unknown ones print as "???") and returns a palloc'd
    // NUL-terminated string.
    let shown = unsafe { CStr::from_ptr(pg_sys::format_type_be(oid)) }
        .to_string_lossy()
        .into_owned();
    shown.rsplit('.').next().unwrap_or(&shown).to_string()
}

fn attribute<'a>(
    desc: &'a PgTupleDesc<'a>,
    table: &str,
    column: &str,
) -> &'a pg_sys::FormData_pg_attribute {
    desc.iter()
        .find(|a| !a.attisdropped && a.name() == column)
        .unwrap_or_else(|| {
            raise(
                PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
                format!("column \"{column}\" of table \"{table}\" does not exist"),
                None,
                Some("Name the text column to embed, then the vector column to write: tasb_embed_trigger('body', 'emb'), CALL tasb_backfill('passages', 'body', 'emb')."),
            )
        })
}

fn attno(att: &pg_sys::FormData_pg_attribute) -> NonZeroUsize {
    // A user column's attnum is >= 1; system columns are not in the tuple descriptor.
    NonZeroUsize::new(att.attnum.max(1) as usize).unwrap_or(NonZeroUsize::MIN)
}

/// The text column to embed: text or varchar.
pub fn source_column(desc: &PgTupleDesc, table: &str, column: &str) -> NonZeroUsize {
    let att = attribute(desc, table, column);
    if att.atttypid != pg_sys::TEXTOID && att.atttypid != pg_sys::VARCHAROID {
        raise(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!(
                "column \"{column}\" of table \"{table}\" is {}, not text",
                type_name(att.atttypid)
            ),
            None,
            Some("The source column must be text or varchar."),
        );
    }
    attno(att)
}

/// The vector column to write: tasbvec or tasbhalf.
pub fn target_column(desc: &PgTupleDesc, table: &str, column: &str) -> TargetColumn {
    let att = attribute(desc, table, column);
    let kind = match type_name(att.atttypid).as_str() {
        "tasbvec" => VectorKind::F32,
        "tasbhalf" => VectorKind::F16,
        other => raise(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!("column \"{column}\" of table \"{table}\" is {other}, not tasbvec or tasbhalf"),
            None,
            Some("The target column holds the model's vectors: ALTER TABLE ... ADD COLUMN emb tasbvec(768)."),
        ),
    };
    TargetColumn {
        attno: attno(att),
        kind,
        typmod: att.atttypmod,
    }
}

/// Raises the error for a model whose output size differs from the target column.
pub fn check_dimensions(table: &str, column: &str, target: &TargetColumn, dims: usize) {
    if target.typmod > 0 && target.typmod as usize != dims {
        raise(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!(
                "the model gives {dims} dimensions, but column \"{column}\" of table \"{table}\" has {}",
                target.typmod
            ),
            None,
            Some("Point tasb.model_dir at the model the column was made for, or change the column's type."),
        );
    }
}
