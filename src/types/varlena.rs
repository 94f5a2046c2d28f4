//! On-disk and in-memory layout of both vector types, and their Datum conversions.
//!
//! ```text
//! offset 0  u32  varlena header (total size, set by SET_VARSIZE)
//! offset 4  u16  dimensions (1..=16000)
//! offset 6  u16  reserved, 0: a future layout version can claim it
//! offset 8  elements: f32 (tasbvec) or f16 (tasbhalf), native byte order
//! ```
//! The same as pgvector's `vector`/`halfvec`, so the data is easy to reason about and convert.

use super::oids::{extension_types, ExtensionTypes};
use crate::errors::raise;
use pgrx::callconv::{Arg, ArgAbi, BoxRet, FcInfo};
use pgrx::datum::Datum;
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::{FromDatum, IntoDatum, PgSqlErrorCode};
use std::marker::PhantomData;
use std::ptr::NonNull;
use tasb_vecmath::binary::{self, BinaryError};
use tasb_vecmath::distance::Elements;
use tasb_vecmath::{f16, half_conv, ElementError};

pub const HEADER_SIZE: usize = 8;

#[repr(C)]
struct Header {
    varlena_header: u32,
    dims: u16,
    reserved: u16,
}

/// An element type that a vector type stores.
pub trait Element: Copy + 'static {
    /// SQL name of the vector type.
    const TYPE_NAME: &'static str;
    /// This type's OID in the extension's schema.
    fn type_oid(types: &ExtensionTypes) -> pg_sys::Oid;
    fn elements(slice: &[Self]) -> Elements<'_>;
    fn to_f32(self) -> f32;
    /// Narrows checked f32 values to this element type (f16 rejects overflow).
    fn from_f32s(values: &[f32]) -> Result<Vec<Self>, ElementError>;
    fn from_f64s(values: &[f64]) -> Result<Vec<Self>, ElementError>;
    fn decode_binary(bytes: &[u8]) -> Result<Vec<Self>, BinaryError>;
    fn encode_binary(values: &[Self]) -> Vec<u8>;
}

impl Element for f32 {
    const TYPE_NAME: &'static str = "tasbvec";
    fn type_oid(types: &ExtensionTypes) -> pg_sys::Oid {
        types.tasbvec
    }
    fn elements(slice: &[f32]) -> Elements<'_> {
        Elements::F32(slice)
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32s(values: &[f32]) -> Result<Vec<f32>, ElementError> {
        tasb_vecmath::check_elements(values)?;
        Ok(values.to_vec())
    }
    fn from_f64s(values: &[f64]) -> Result<Vec<f32>, ElementError> {
        let narrowed: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        // A finite f64 beyond f32's range becomes infinite here and is reported as out of range.
        if let Some(index) = narrowed
            .iter()
            .zip(values)
            .position(|(n, v)| v.is_finite() && !n.is_finite())
        {
            return Err(ElementError::OutOfRange {
                index,
                value: values[index],
                max_text: "3.4028235e38",
            });
        }
        tasb_vecmath::check_elements(&narrowed)?;
        Ok(narrowed)
    }
    fn decode_binary(bytes: &[u8]) -> Result<Vec<f32>, BinaryError> {
        binary::decode_f32(bytes)
    }
    fn encode_binary(values: &[f32]) -> Vec<u8> {
        binary::encode_f32(values)
    }
}

impl Element for f16 {
    const TYPE_NAME: &'static str = "tasbhalf";
    fn type_oid(types: &ExtensionTypes) -> pg_sys::Oid {
        types.tasbhalf
    }
    fn elements(slice: &[f16]) -> Elements<'_> {
        Elements::F16(slice)
    }
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    fn from_f32s(values: &[f32]) -> Result<Vec<f16>, ElementError> {
        tasb_vecmath::check_dims(values.len())?;
        half_conv::f32_to_f16_checked(values)
    }
    fn from_f64s(values: &[f64]) -> Result<Vec<f16>, ElementError> {
        tasb_vecmath::check_dims(values.len())?;
        half_conv::f64_to_f16_checked(values)
    }
    fn decode_binary(bytes: &[u8]) -> Result<Vec<f16>, BinaryError> {
        binary::decode_f16(bytes)
    }
    fn encode_binary(values: &[f16]) -> Vec<u8> {
        binary::encode_f16(values)
    }
}

/// A vector argument borrowed from Postgres memory for the length of one function call.
pub struct VecArg<'a, T: Element> {
    elements: &'a [T],
}

impl<'a, T: Element> VecArg<'a, T> {
    pub fn as_slice(&self) -> &'a [T] {
        self.elements
    }
    pub fn dims(&self) -> usize {
        self.elements.len()
    }
    pub fn elements(&self) -> Elements<'a> {
        T::elements(self.elements)
    }

    /// # Safety
    /// `datum` must be a non-null Datum of the vector type whose element type is `T`, and the
    /// result must not outlive the current function call.
    pub unsafe fn from_datum_unchecked(datum: pg_sys::Datum) -> Self {
        // SAFETY: a valid varlena Datum. The usual case, an inline value with a plain 4-byte
        // header, is used in place; anything else (compressed, out of line, short header) is
        // detoasted into a palloc'd copy in the current memory context, which outlives this call.
        // Either way the result has a 4-byte header, so the elements start 8 bytes into an
        // int-aligned (on disk) or MAXALIGNed (palloc) address. Skipping the FFI call for the
        // common case matters: this runs once per row in exact scans.
        let raw = datum.cast_mut_ptr::<pg_sys::varlena>();
        let ptr = if unsafe { pgrx::varlena::varatt_is_4b_u(raw) } {
            raw
        } else {
            unsafe { pg_sys::pg_detoast_datum(raw) }
        };
        let total = unsafe { pgrx::varsize_any(ptr) };
        let (dims, reserved) = if total >= HEADER_SIZE {
            // SAFETY: at least HEADER_SIZE bytes, 4-byte aligned (see above).
            let header = unsafe { &*(ptr as *const Header) };
            (header.dims as usize, header.reserved)
        } else {
            (0, 0)
        };
        if total < HEADER_SIZE
            || reserved != 0
            || total < HEADER_SIZE + dims * std::mem::size_of::<T>()
        {
            raise(
                PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                format!("corrupt {} value", T::TYPE_NAME),
                Some(format!("size {total}, dimensions {dims}, reserved field {reserved}")),
                Some("The value was written by a newer tasb or is damaged; reinstall the matching tasb version."),
            );
        }
        // SAFETY: bounds checked against the varlena size just above; alignment as explained.
        let elements = unsafe {
            std::slice::from_raw_parts((ptr as *const u8).add(HEADER_SIZE) as *const T, dims)
        };
        VecArg { elements }
    }
}

impl<T: Element> FromDatum for VecArg<'_, T> {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            None
        } else {
            // SAFETY: the caller passes a non-null Datum of this SQL type.
            Some(unsafe { Self::from_datum_unchecked(datum) })
        }
    }
}

unsafe impl<'fcx, T: Element> ArgAbi<'fcx> for VecArg<'fcx, T> {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        // SAFETY: pgrx calls this only for arguments declared with this SQL type.
        match unsafe { arg.unbox_arg_using_from_datum() } {
            Some(v) => v,
            None => raise(
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                format!("argument {} must not be NULL", index + 1),
                None,
                None,
            ),
        }
    }
}

/// A freshly built vector in palloc'd memory, returned to Postgres.
pub struct OwnedVec<T: Element> {
    ptr: NonNull<u8>,
    _element: PhantomData<T>,
}

impl<T: Element> OwnedVec<T> {
    /// Allocates a vector of `dims` elements (callers have checked 1..=MAX_DIM) and lets `fill`
    /// write them.
    pub fn build(dims: usize, fill: impl FnOnce(&mut [T])) -> Self {
        let size = HEADER_SIZE + dims * std::mem::size_of::<T>();
        // SAFETY: palloc0 returns zeroed, MAXALIGNed memory of `size` bytes or raises an ERROR;
        // the header is initialised before any read, and the element slice lies inside it.
        unsafe {
            let ptr = pg_sys::palloc0(size) as *mut u8;
            pgrx::set_varsize_4b(ptr as *mut pg_sys::varlena, size as i32);
            (*(ptr as *mut Header)).dims = dims as u16;
            let elements = std::slice::from_raw_parts_mut(ptr.add(HEADER_SIZE) as *mut T, dims);
            fill(elements);
            OwnedVec {
                ptr: NonNull::new_unchecked(ptr),
                _element: PhantomData,
            }
        }
    }

    pub fn from_slice(values: &[T]) -> Self {
        Self::build(values.len(), |out| out.copy_from_slice(values))
    }

    fn datum(self) -> pg_sys::Datum {
        pg_sys::Datum::from(self.ptr.as_ptr())
    }
}

unsafe impl<T: Element> BoxRet for OwnedVec<T> {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        // SAFETY: a complete varlena in the function's memory context.
        unsafe { fcinfo.return_raw_datum(self.datum()) }
    }
}

impl<T: Element> IntoDatum for OwnedVec<T> {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        Some(self.datum())
    }
    fn type_oid() -> pg_sys::Oid {
        // By the extension's schema, not the search path: an array of vectors labelled with
        // another schema's type of the same name would be read as that type.
        T::type_oid(&extension_types())
    }
}

macro_rules! sql_type {
    ($element:ty, $sql:literal) => {
        unsafe impl SqlTranslatable for VecArg<'_, $element> {
            const TYPE_IDENT: &'static str = concat!("tasb::", $sql);
            const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
            const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> =
                Ok(SqlMappingRef::literal($sql));
            const RETURN_SQL: Result<ReturnsRef, ReturnsError> =
                Ok(ReturnsRef::One(SqlMappingRef::literal($sql)));
        }
        unsafe impl SqlTranslatable for OwnedVec<$element> {
            const TYPE_IDENT: &'static str = concat!("tasb::", $sql);
            const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
            const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> =
                Ok(SqlMappingRef::literal($sql));
            const RETURN_SQL: Result<ReturnsRef, ReturnsError> =
                Ok(ReturnsRef::One(SqlMappingRef::literal($sql)));
        }
    };
}
sql_type!(f32, "tasbvec");
sql_type!(f16, "tasbhalf");
