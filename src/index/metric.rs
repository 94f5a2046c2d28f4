//! Which distance a tasb_ivf index orders by, from its operator class: the inner product (`<#>`,
//! strategy 1, the `_ip_ops` classes) or the cosine distance (`<=>`, strategy 2, the
//! `_cosine_ops` classes). A cosine index lists and codes each row's direction (the row scaled to
//! unit length) and re-ranks by the exact cosine, so `<=>` order is `<#>` order of unit vectors;
//! the vector pages keep the rows as they are. The operator class is the one record of it: an
//! index's class never changes, and indexes built before the cosine classes existed are inner
//! product ones.

use pgrx::pg_sys;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    InnerProduct,
    Cosine,
}

const COSINE_STRATEGY: i16 = 2;

impl Metric {
    /// What `tasb_ivf_stats` shows.
    pub fn name(self) -> &'static str {
        match self {
            Metric::InnerProduct => "inner product",
            Metric::Cosine => "cosine",
        }
    }
}

/// # Safety
/// `index` is an open tasb_ivf index.
pub unsafe fn of_index(index: pg_sys::Relation) -> Metric {
    // SAFETY: an open index has one key column, so rd_opfamily and rd_opcintype have an entry.
    unsafe {
        let family = *(*index).rd_opfamily;
        let input = *(*index).rd_opcintype;
        if pg_sys::get_opfamily_member(family, input, input, COSINE_STRATEGY) != pg_sys::InvalidOid
        {
            Metric::Cosine
        } else {
            Metric::InnerProduct
        }
    }
}
