//! One-dimensional, NULL-free numeric arrays borrowed straight from Postgres memory, for casts.

use crate::errors::raise;
use pgrx::callconv::{Arg, ArgAbi};
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::{FromDatum, PgSqlErrorCode};
use std::ptr::NonNull;

/// An array element type we accept, with the element type OID it must carry.
pub trait ArrayElement: Copy + 'static {
    const ELEMENT_OID: pg_sys::Oid;
    const SQL: &'static str;
}
impl ArrayElement for f32 {
    const ELEMENT_OID: pg_sys::Oid = pg_sys::FLOAT4OID;
    const SQL: &'static str = "real[]";
}
impl ArrayElement for f64 {
    const ELEMENT_OID: pg_sys::Oid = pg_sys::FLOAT8OID;
    const SQL: &'static str = "double precision[]";
}
impl ArrayElement for i32 {
    const ELEMENT_OID: pg_sys::Oid = pg_sys::INT4OID;
    const SQL: &'static str = "integer[]";
}

pub struct ArrayArg<'a, E: ArrayElement> {
    values: &'a [E],
}

impl<'a, E: ArrayElement> ArrayArg<'a, E> {
    pub fn as_slice(&self) -> &'a [E] {
        self.values
    }
}

impl<E: ArrayElement> FromDatum for ArrayArg<'_, E> {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: a non-null array Datum; detoasting yields a flat ArrayType in memory that lives
        // for the call. RawArray reads its header; the element OID is checked before the data is
        // viewed as `E`, and NULL-free arrays store elements densely.
        unsafe {
            let ptr = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as *mut pg_sys::ArrayType;
            let mut raw = pgrx::array::RawArray::from_ptr(NonNull::new_unchecked(ptr));
            if raw.oid() != E::ELEMENT_OID {
                raise(
                    PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                    format!("expected {}", E::SQL),
                    None,
                    None,
                );
            }
            if raw.dims().len() > 1 {
                raise(
                    PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
                    "array must be one-dimensional",
                    Some(format!("The array has {} dimensions.", raw.dims().len())),
                    None,
                );
            }
            if raw.any_nulls() {
                raise(
                    PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                    "array must not contain NULLs",
                    None,
                    Some("Replace NULL elements, e.g. with coalesce(x, 0), before casting."),
                );
            }
            let data: NonNull<[E]> = raw.data::<E>();
            Some(ArrayArg {
                values: &*data.as_ptr(),
            })
        }
    }
}

unsafe impl<'fcx, E: ArrayElement> ArgAbi<'fcx> for ArrayArg<'fcx, E> {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        // SAFETY: pgrx calls this only for arguments of this SQL type; STRICT functions never see NULL.
        match unsafe { arg.unbox_arg_using_from_datum() } {
            Some(a) => a,
            None => raise(
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                "array argument is NULL",
                None,
                None,
            ),
        }
    }
}

macro_rules! sql_array {
    ($element:ty, $sql:literal) => {
        unsafe impl SqlTranslatable for ArrayArg<'_, $element> {
            const TYPE_IDENT: &'static str = concat!("tasb::ArrayArg::", $sql);
            const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
            const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> =
                Ok(SqlMappingRef::literal($sql));
            const RETURN_SQL: Result<ReturnsRef, ReturnsError> = Err(ReturnsError::Datum);
        }
    };
}
sql_array!(f32, "real[]");
sql_array!(f64, "double precision[]");
sql_array!(i32, "integer[]");
