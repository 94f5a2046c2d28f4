//! Which distance a tasb_ivf index orders by, from its operator class: the inner product (`<#>`,
//! strategy 1, the `_ip_ops` classes) or the cosine distance (`<=>`, strategy 2, the
//! `_cosine_ops` classes). A cosine index lists and codes each row's direction (the row scaled to
//! unit length) and re-ranks by the exact cosine, so `<=>` order is `<#>` order of unit vectors;
//! the vector pages keep the rows as they are.

use pgrx::pg_sys;

/// Stored in the meta page; 0 is also what meta pages written before 0.3.0 read as.
pub const INNER_PRODUCT: u32 = 0;
pub const COSINE: u32 = 1;

const COSINE_STRATEGY: i16 = 2;

/// What `tasb_ivf_stats` shows for a metric.
pub fn name(metric: u32) -> &'static str {
    if metric == COSINE {
        "cosine"
    } else {
        "inner product"
    }
}

/// # Safety
/// `index` is an open tasb_ivf index.
pub unsafe fn of_index(index: pg_sys::Relation) -> u32 {
    // SAFETY: an open index has one key column, so rd_opfamily and rd_opcintype have an entry.
    unsafe {
        let family = *(*index).rd_opfamily;
        let input = *(*index).rd_opcintype;
        if pg_sys::get_opfamily_member(family, input, input, COSINE_STRATEGY) != pg_sys::InvalidOid
        {
            COSINE
        } else {
            INNER_PRODUCT
        }
    }
}
