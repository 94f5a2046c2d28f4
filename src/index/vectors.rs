//! Vectors as the index sees them: either tasb type, told apart by the size of the Datum (the two
//! types share one layout: an 8-byte header with the dimensions, then f32 or f16 elements).

use crate::errors::raise;
use crate::types::varlena::HEADER_SIZE;
use pgrx::{pg_sys, PgSqlErrorCode};
use tasb_vecmath::distance::Elements;
use tasb_vecmath::{f16, half_conv};

/// The element bytes of a vector Datum (detoasted into the current memory context).
///
/// # Safety
/// `datum` is a non-null tasbvec or tasbhalf Datum.
pub unsafe fn element_bytes<'a>(datum: pg_sys::Datum) -> (usize, &'a [u8]) {
    // SAFETY: a valid varlena; pg_detoast_datum returns it or a palloc'd plain copy, which lives
    // in the current memory context for at least the caller's use.
    unsafe {
        let ptr = pg_sys::pg_detoast_datum(datum.cast_mut_ptr());
        let total = pgrx::varsize_any(ptr);
        if total < HEADER_SIZE {
            corrupt(total);
        }
        let bytes = std::slice::from_raw_parts(ptr as *const u8, total);
        let dims = u16::from_ne_bytes([bytes[4], bytes[5]]) as usize;
        let elements = &bytes[HEADER_SIZE..];
        if dims == 0 || (elements.len() != dims * 4 && elements.len() != dims * 2) {
            corrupt(total);
        }
        (dims, elements)
    }
}

fn corrupt(total: usize) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
        "corrupt vector value in a tasb_ivf index operation",
        Some(format!("size {total}")),
        Some("REINDEX the index; if it persists, the table's data is damaged."),
    )
}

/// Views element bytes as `dims` f32 or f16 values by their length; None when the length is
/// neither or the bytes are not aligned for the element type (a damaged page or value).
pub fn as_elements(dims: usize, bytes: &[u8]) -> Option<Elements<'_>> {
    if bytes.len() == dims * 4 {
        // SAFETY: every bit pattern is a valid f32; align_to only hands out aligned elements.
        let (head, values, tail) = unsafe { bytes.align_to::<f32>() };
        (head.is_empty() && tail.is_empty()).then_some(Elements::F32(values))
    } else if bytes.len() == dims * 2 {
        // SAFETY: every bit pattern is a valid f16 (a u16 inside); as above.
        let (head, values, tail) = unsafe { bytes.align_to::<f16>() };
        (head.is_empty() && tail.is_empty()).then_some(Elements::F16(values))
    } else {
        None
    }
}

/// As [`as_elements`] for a Datum's elements ([`element_bytes`] checked their length): an ERROR
/// instead of None.
pub fn datum_elements(dims: usize, bytes: &[u8]) -> Elements<'_> {
    as_elements(dims, bytes).unwrap_or_else(|| corrupt(bytes.len() + HEADER_SIZE))
}

pub fn to_f32(elements: Elements) -> Vec<f32> {
    match elements {
        Elements::F32(v) => v.to_vec(),
        Elements::F16(v) => half_conv::f16_to_f32(v),
    }
}

/// The error for a vector too big for an index page.
pub fn too_large(dims: usize) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        format!("a {dims}-dimensional vector does not fit on a tasb_ivf index page"),
        None,
        Some("tasb_ivf indexes up to 2,000 dimensions (tasbvec or tasbhalf): each list's centroid is kept in single precision on one page."),
    )
}

/// The error for a vector whose size differs from the index's.
pub fn dims_mismatch(index_dims: u32, got: usize) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
        format!("tasb_ivf index expects {index_dims} dimensions, got {got}"),
        None,
        Some("Every vector in an indexed column must come from the same model; give the column a size, e.g. tasbvec(768), to catch this on insert."),
    )
}

/// The dimensions the index's column declares (`tasbvec(768)`: 768), None without a size.
///
/// # Safety
/// `index` is an open index relation with one key column.
pub unsafe fn column_dims(index: pg_sys::Relation) -> Option<usize> {
    // SAFETY: an open index's tuple descriptor has its key column first.
    let typmod = unsafe {
        let desc = (*index).rd_att;
        if (*desc).natts < 1 {
            return None;
        }
        (*(*desc).attrs.as_ptr()).atttypmod
    };
    (typmod > 0).then_some(typmod as usize)
}

/// The elements of vector item `offset` on vector page `block` of `index` (`bytes`: the item's
/// element bytes), or the ERROR that the page is damaged.
pub fn stored_elements<'a>(
    index: pg_sys::Relation,
    block: pg_sys::BlockNumber,
    offset: pg_sys::OffsetNumber,
    dims: usize,
    bytes: &'a [u8],
) -> Elements<'a> {
    as_elements(dims, bytes).unwrap_or_else(|| {
        let error = super::pages::PageError::ItemSize {
            offset,
            len: bytes.len(),
            expected: dims * 4,
        };
        super::pages::corrupt(index, block, error)
    })
}

/// The stored vector of item `offset` on vector page `block`, as f32.
pub fn read_vector(
    index: pg_sys::Relation,
    dims: usize,
    block: pg_sys::BlockNumber,
    offset: pg_sys::OffsetNumber,
) -> Vec<f32> {
    // SAFETY: `block` is a block of this index (ReadBuffer raises an ERROR past its end), read
    // under a share lock the guard releases.
    let locked = unsafe { super::pages::Locked::new(index, block, pg_sys::BUFFER_LOCK_SHARE) };
    let page = locked.view(super::pages::KIND_VECTOR);
    let (_, bytes) = locked.ok(page.any_vector_item(offset, dims));
    to_f32(stored_elements(index, block, offset, dims, bytes))
}
