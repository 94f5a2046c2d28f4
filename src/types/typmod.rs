//! `tasbvec(n)` / `tasbhalf(n)`: the dimension count as a type modifier, enforced on input,
//! casts and assignment.

use crate::errors::raise;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::ffi::CStr;
use tasb_vecmath::MAX_DIM;

/// Parses the modifier list of `tasbvec(768)`.
pub fn parse_typmod(type_name: &str, list: Array<&CStr>) -> i32 {
    let items: Vec<Option<&CStr>> = list.iter().collect();
    let hint = Some("Write the number of dimensions, e.g. tasbvec(768) for TAS-B.");
    let [Some(item)] = items.as_slice() else {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("invalid type modifier for {type_name}"),
            Some(format!(
                "Expected exactly one dimension count, got {} values.",
                items.len()
            )),
            hint,
        );
    };
    let text = item.to_string_lossy();
    let dims: i64 = match text.trim().parse() {
        Ok(d) => d,
        Err(_) => raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("invalid type modifier for {type_name}: \"{text}\""),
            None,
            hint,
        ),
    };
    if dims < 1 {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("dimensions for type {type_name} must be at least 1"),
            None,
            hint,
        );
    }
    if dims > MAX_DIM as i64 {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("dimensions for type {type_name} cannot exceed {MAX_DIM}"),
            None,
            None,
        );
    }
    dims as i32
}

/// Raises the error for a value whose length differs from its column's `tasbvec(n)`.
pub fn check_typmod(type_name: &str, dims: usize, typmod: i32) {
    if typmod > 0 && dims != typmod as usize {
        raise(
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            format!("expected {typmod} dimensions, not {dims}"),
            Some(format!("The target is {type_name}({typmod}).")),
            Some("Use a vector from a model with the same output size as the column."),
        );
    }
}

#[pg_extern(immutable, parallel_safe, strict, requires = ["shell_types"])]
fn tasbvec_typmod_in(list: Array<&CStr>) -> i32 {
    parse_typmod("tasbvec", list)
}

#[pg_extern(immutable, parallel_safe, strict, requires = ["shell_types"])]
fn tasbhalf_typmod_in(list: Array<&CStr>) -> i32 {
    parse_typmod("tasbhalf", list)
}
