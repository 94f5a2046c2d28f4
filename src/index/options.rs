//! Build options (`WITH (lists = ...)`) and the query-time setting `tasb.probes`.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;
use std::sync::atomic::{AtomicU32, Ordering};

pub static PROBES: GucSetting<i32> = GucSetting::<i32>::new(0);

static RELOPT_KIND: AtomicU32 = AtomicU32::new(0);

/// The parsed reloptions struct, laid out as build_reloptions fills it.
#[repr(C)]
pub struct Options {
    vl_len: i32,
    pub lists: i32,
}

/// Registers the reloption kind and `tasb.probes`; called from `_PG_init`.
pub fn register() {
    // SAFETY: _PG_init runs once per process, before any index options are parsed.
    unsafe {
        let kind = pg_sys::add_reloption_kind();
        RELOPT_KIND.store(kind, Ordering::Relaxed);
        pg_sys::add_int_reloption(
            kind,
            c"lists".as_ptr(),
            c"Number of k-means lists (0: about 1.5 * sqrt(rows))".as_ptr(),
            0,
            0,
            100_000,
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
    }
    GucRegistry::define_int_guc(
        c"tasb.probes",
        c"tasb_ivf lists read per round of a scan (0: the index's own default, chosen when it was built).",
        c"More probes: higher recall, slower queries. Filtered scans read further rounds until they have enough rows.",
        &PROBES,
        0,
        100_000,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// amoptions: parses and validates `WITH (...)`.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amoptions(
    reloptions: pg_sys::Datum,
    validate: bool,
) -> *mut pg_sys::bytea {
    let table = [pg_sys::relopt_parse_elt {
        optname: c"lists".as_ptr(),
        opttype: pg_sys::relopt_type::RELOPT_TYPE_INT,
        offset: std::mem::offset_of!(Options, lists) as i32,
    }];
    // SAFETY: the table describes Options exactly; the kind was registered in _PG_init.
    unsafe {
        pg_sys::build_reloptions(
            reloptions,
            validate,
            RELOPT_KIND.load(Ordering::Relaxed),
            std::mem::size_of::<Options>(),
            table.as_ptr(),
            table.len() as i32,
        ) as *mut pg_sys::bytea
    }
}

/// The `lists` option of an index (0 when not given).
///
/// # Safety
/// `index` is an open tasb_ivf index relation.
pub unsafe fn lists_option(index: pg_sys::Relation) -> usize {
    // SAFETY: rd_options is null or the struct amoptions built.
    unsafe {
        let options = (*index).rd_options as *const Options;
        if options.is_null() {
            0
        } else {
            (*options).lists.max(0) as usize
        }
    }
}

/// Lists per round for a scan: `tasb.probes` when set, else the build's calibrated default, for
/// as many lists as the build made: when splits have added lists since, the same share of them.
pub fn probes(meta: &super::pages::Meta) -> usize {
    let lists = meta.lists as usize;
    match (PROBES.get(), meta.default_probes) {
        (0, 0) => tasb_index::ivf::default_probes(lists),
        (0, calibrated) => {
            let tuned = (meta.tuned_lists as usize).max(1);
            (calibrated as usize * lists.max(tuned))
                .div_ceil(tuned)
                .min(lists.max(1))
        }
        (n, _) => n as usize,
    }
}
