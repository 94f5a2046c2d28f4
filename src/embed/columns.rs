//! The source (text) and target (vector) columns that embedding writes, resolved by name and
//! checked once per call, with errors that name the table and the column.

use crate::errors::raise;
use crate::types::oids::{base_type, extension_types};
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
    /// The column's domain, when it is a domain over tasbvec or tasbhalf: its constraints are
    /// checked on what the trigger writes.
    pub domain: Option<pg_sys::Oid>,
}

/// The name Postgres shows for a type (schema-qualified when it is not on the search path), for
/// messages only: types are identified by OID.
fn type_name(oid: pg_sys::Oid) -> String {
    // SAFETY: format_type_be accepts any OID (unknown ones print as "???") and returns a palloc'd
    // NUL-terminated string.
    unsafe { CStr::from_ptr(pg_sys::format_type_be_qualified(oid)) }
        .to_string_lossy()
        .into_owned()
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

/// The text column to embed: text or varchar, or a domain over them.
pub fn source_column(desc: &PgTupleDesc, table: &str, column: &str) -> NonZeroUsize {
    let att = attribute(desc, table, column);
    let (base, _) = base_type(att.atttypid, att.atttypmod);
    if base != pg_sys::TEXTOID && base != pg_sys::VARCHAROID {
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

/// The vector column to write: the extension's own tasbvec or tasbhalf (by OID, never by name),
/// or a domain over one of them.
pub fn target_column(desc: &PgTupleDesc, table: &str, column: &str) -> TargetColumn {
    let att = attribute(desc, table, column);
    let (base, typmod) = base_type(att.atttypid, att.atttypmod);
    let types = extension_types();
    let kind = if base == types.tasbvec {
        VectorKind::F32
    } else if base == types.tasbhalf {
        VectorKind::F16
    } else {
        raise(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!(
                "column \"{column}\" of table \"{table}\" is {}, not tasbvec or tasbhalf",
                type_name(att.atttypid)
            ),
            None,
            Some("The target column holds the model's vectors: ALTER TABLE ... ADD COLUMN emb tasbvec(768)."),
        )
    };
    TargetColumn {
        attno: attno(att),
        kind,
        typmod,
        domain: (att.atttypid != base).then_some(att.atttypid),
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
