//! Text and binary input/output, and the CREATE TYPE statements that tie them together.

use super::typmod::check_typmod;
use super::varlena::{Element, OwnedVec, VecArg};
use crate::errors::raise;
use pgrx::prelude::*;
use pgrx::{Internal, PgSqlErrorCode};
use std::ffi::{CStr, CString};
use tasb_vecmath::binary::BinaryError;
use tasb_vecmath::text::{self, ParseError};
use tasb_vecmath::{f16, ElementError};

/// Maps an element problem to the SQLSTATE a client can branch on.
pub fn element_error_code(error: &ElementError) -> PgSqlErrorCode {
    match error {
        ElementError::TooManyDimensions { .. } => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        ElementError::OutOfRange { .. } => PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        ElementError::Empty | ElementError::NotFinite { .. } => {
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION
        }
    }
}

/// Raises an element error for a value of type `T`.
pub fn raise_element_error<T: Element>(error: &ElementError) -> ! {
    raise(
        element_error_code(error),
        format!("invalid {} value: {error}", T::TYPE_NAME),
        None,
        None,
    )
}

fn parse_text<T: Element>(input: &CStr, typmod: i32) -> OwnedVec<T> {
    // to_str's UTF-8 check has an ASCII fast path that to_string_lossy lacks (5% of a query).
    let literal = match input.to_str() {
        Ok(valid) => std::borrow::Cow::Borrowed(valid),
        Err(_) => input.to_string_lossy(),
    };
    let values = text::parse(&literal).unwrap_or_else(|e| {
        let code = match &e {
            ParseError::Element { error, .. } => element_error_code(error),
            _ => PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
        };
        let shown: String = literal.chars().take(60).collect();
        let ellipsis = if literal.chars().count() > 60 { "..." } else { "" };
        let message = if e.is_syntax() {
            format!("malformed {} literal: \"{shown}{ellipsis}\"", T::TYPE_NAME)
        } else {
            format!("invalid input for type {}: \"{shown}{ellipsis}\"", T::TYPE_NAME)
        };
        raise(
            code,
            message,
            Some(e.detail()),
            Some("A vector is written as [1,2.5,-3e-2]: finite numbers, comma-separated, in brackets."),
        )
    });
    checked_from_f32s(&values, typmod)
}

/// A new vector of `values`, after checking their count against the column's `tasbvec(n)`.
pub(super) fn checked_vector<T: Element>(values: &[T], typmod: i32) -> OwnedVec<T> {
    check_typmod(T::TYPE_NAME, values.len(), typmod);
    OwnedVec::from_slice(values)
}

/// Narrows f32 values to `T` (rejecting what `T` cannot hold), then as [`checked_vector`].
pub(crate) fn checked_from_f32s<T: Element>(values: &[f32], typmod: i32) -> OwnedVec<T> {
    let converted = T::from_f32s(values).unwrap_or_else(|e| raise_element_error::<T>(&e));
    checked_vector(&converted, typmod)
}

fn format_text<T: Element>(v: VecArg<T>) -> CString {
    let s = text::format(v.as_slice().iter().map(|e| e.to_f32()));
    // The text form has no NUL bytes.
    CString::new(s).unwrap_or_default()
}

fn receive<T: Element>(buffer: Internal, typmod: i32) -> OwnedVec<T> {
    let Some(datum) = buffer.unwrap() else {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_BINARY_REPRESENTATION,
            "no binary input buffer",
            None,
            None,
        );
    };
    // SAFETY: a receive function's first argument is the StringInfo holding the message; we read
    // bytes [cursor, len) and mark them consumed, as Postgres requires of receive functions.
    let bytes = unsafe {
        let buf = datum.cast_mut_ptr::<pg_sys::StringInfoData>();
        let start = (*buf).cursor as usize;
        let end = (*buf).len as usize;
        (*buf).cursor = (*buf).len;
        std::slice::from_raw_parts(
            ((*buf).data as *const u8).add(start),
            end.saturating_sub(start),
        )
    };
    let values = T::decode_binary(bytes).unwrap_or_else(|e| {
        let code = match &e {
            BinaryError::Element(inner) => element_error_code(inner),
            _ => PgSqlErrorCode::ERRCODE_INVALID_BINARY_REPRESENTATION,
        };
        raise(
            code,
            format!("invalid binary {} value: {e}", T::TYPE_NAME),
            None,
            Some("The binary form is int16 dimensions, int16 zero, then big-endian elements, as pgvector's."),
        )
    });
    checked_vector(&values, typmod)
}

#[pg_extern(immutable, parallel_safe, strict, requires = ["shell_types"])]
fn tasbvec_in(input: &CStr, _type_oid: pg_sys::Oid, typmod: i32) -> OwnedVec<f32> {
    parse_text(input, typmod)
}

#[pg_extern(immutable, parallel_safe, strict, requires = ["shell_types"])]
fn tasbvec_out(v: VecArg<f32>) -> CString {
    format_text(v)
}

#[pg_extern(immutable, parallel_safe, strict, requires = ["shell_types"])]
pub(crate) fn tasbvec_recv(buffer: Internal, _type_oid: pg_sys::Oid, typmod: i32) -> OwnedVec<f32> {
    receive(buffer, typmod)
}

#[pg_extern(immutable, parallel_safe, strict, requires = ["shell_types"])]
fn tasbvec_send(v: VecArg<f32>) -> Vec<u8> {
    f32::encode_binary(v.as_slice())
}

#[pg_extern(immutable, parallel_safe, strict, requires = ["shell_types"])]
fn tasbhalf_in(input: &CStr, _type_oid: pg_sys::Oid, typmod: i32) -> OwnedVec<f16> {
    parse_text(input, typmod)
}

#[pg_extern(immutable, parallel_safe, strict, requires = ["shell_types"])]
fn tasbhalf_out(v: VecArg<f16>) -> CString {
    format_text(v)
}

#[pg_extern(immutable, parallel_safe, strict, requires = ["shell_types"])]
pub(crate) fn tasbhalf_recv(
    buffer: Internal,
    _type_oid: pg_sys::Oid,
    typmod: i32,
) -> OwnedVec<f16> {
    receive(buffer, typmod)
}

#[pg_extern(immutable, parallel_safe, strict, requires = ["shell_types"])]
fn tasbhalf_send(v: VecArg<f16>) -> Vec<u8> {
    f16::encode_binary(v.as_slice())
}

// STORAGE = main keeps a 768-d vector (3,080 bytes) inside the heap row: pgvector's default
// (external) moves it to TOAST, which makes exact scans several times slower and blocks
// parallel workers. Vectors too large for a page still go out of line as a last resort.
pgrx::extension_sql!(
    r#"
CREATE TYPE tasbvec (
    INPUT = tasbvec_in, OUTPUT = tasbvec_out,
    RECEIVE = tasbvec_recv, SEND = tasbvec_send,
    TYPMOD_IN = tasbvec_typmod_in,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = int4, STORAGE = main
);
COMMENT ON TYPE tasbvec IS 'dense vector of float4, at most 16000 dimensions; tasbvec(n) fixes n';
CREATE TYPE tasbhalf (
    INPUT = tasbhalf_in, OUTPUT = tasbhalf_out,
    RECEIVE = tasbhalf_recv, SEND = tasbhalf_send,
    TYPMOD_IN = tasbhalf_typmod_in,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = int4, STORAGE = main
);
COMMENT ON TYPE tasbhalf IS 'dense vector of IEEE half-precision floats (arithmetic in float4), at most 16000 dimensions';
"#,
    name = "vector_types",
    requires = [
        tasbvec_in,
        tasbvec_out,
        tasbvec_recv,
        tasbvec_send,
        tasbhalf_in,
        tasbhalf_out,
        tasbhalf_recv,
        tasbhalf_send,
        types::typmod::tasbvec_typmod_in,
        types::typmod::tasbhalf_typmod_in
    ]
);
