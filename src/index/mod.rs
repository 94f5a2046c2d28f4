//! The `tasb_ivf` index access method: `CREATE INDEX ... USING tasb_ivf (emb tasbvec_ip_ops)`
//! answers `ORDER BY emb <#> q LIMIT k` by index scan. The algorithm (k-means lists, RaBitQ codes,
//! the ordered scan) is in the pure crate `tasb-index`; these files map it onto pages and WAL.

mod build;
mod cache;
mod cost;
mod insert;
mod lists;
mod metric;
pub mod options;
mod pages;
mod recall;
mod reclaim;
mod retune;
mod scan;
mod split;
mod stats;
mod vacuum;
mod vectors;

use pgrx::pg_sys;
use pgrx::prelude::*;

#[unsafe(no_mangle)]
#[doc(hidden)]
pub extern "C" fn pg_finfo_tasb_ivf_handler() -> &'static pg_sys::Pg_finfo_record {
    const V1_API: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1_API
}

/// The access method's handler: the table of callbacks Postgres calls.
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn tasb_ivf_handler(
    _fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: a zeroed IndexAmRoutine node in the current memory context, filled field by field;
    // Postgres copies what it needs.
    let mut am =
        unsafe { PgBox::<pg_sys::IndexAmRoutine>::alloc_node(pg_sys::NodeTag::T_IndexAmRoutine) };
    am.amstrategies = 0;
    am.amsupport = 0;
    am.amoptsprocnum = 0;
    am.amcanorder = false;
    am.amcanorderbyop = true;
    am.amcanbackward = false;
    am.amcanunique = false;
    am.amcanmulticol = false;
    am.amoptionalkey = true;
    am.amsearcharray = false;
    am.amsearchnulls = false;
    am.amstorage = false;
    am.amclusterable = false;
    am.ampredlocks = false;
    am.amcanparallel = false;
    am.amcaninclude = false;
    am.amusemaintenanceworkmem = false;
    am.amparallelvacuumoptions = 0;
    am.amkeytype = pg_sys::InvalidOid;

    am.ambuild = Some(build::ambuild);
    am.ambuildempty = Some(build::ambuildempty);
    am.aminsert = Some(insert::aminsert);
    am.ambulkdelete = Some(vacuum::ambulkdelete);
    am.amvacuumcleanup = Some(vacuum::amvacuumcleanup);
    am.amcostestimate = Some(cost::amcostestimate);
    am.amoptions = Some(options::amoptions);
    am.amvalidate = Some(amvalidate);
    am.ambuildphasename = Some(ambuildphasename);
    am.ambeginscan = Some(scan::ambeginscan);
    am.amrescan = Some(scan::amrescan);
    am.amgettuple = Some(scan::amgettuple);
    am.amendscan = Some(scan::amendscan);
    pg_sys::Datum::from(am.into_pg())
}

#[pg_guard]
unsafe extern "C-unwind" fn amvalidate(_opclass: pg_sys::Oid) -> bool {
    true
}

#[pg_guard]
unsafe extern "C-unwind" fn ambuildphasename(phase: i64) -> *mut std::ffi::c_char {
    match build::phase_name(phase) {
        // SAFETY: pstrdup copies a static C string into the current memory context.
        Some(name) => unsafe { pg_sys::pstrdup(name.as_ptr()) },
        None => std::ptr::null_mut(),
    }
}

extension_sql!(
    r#"
CREATE FUNCTION tasb_ivf_handler(internal) RETURNS index_am_handler
    AS 'MODULE_PATHNAME', 'tasb_ivf_handler' LANGUAGE C STRICT;
CREATE ACCESS METHOD tasb_ivf TYPE INDEX HANDLER tasb_ivf_handler;
COMMENT ON ACCESS METHOD tasb_ivf IS 'IVF index for ORDER BY emb <#> q (and <=> q with the cosine classes): k-means lists, RaBitQ codes, exact re-ranking';

CREATE OPERATOR CLASS tasbvec_ip_ops DEFAULT FOR TYPE tasbvec USING tasb_ivf AS
    OPERATOR 1 <#> (tasbvec, tasbvec) FOR ORDER BY float_ops,
    OPERATOR 1 <#> (tasbvec, tasbhalf) FOR ORDER BY float_ops;
CREATE OPERATOR CLASS tasbhalf_ip_ops DEFAULT FOR TYPE tasbhalf USING tasb_ivf AS
    OPERATOR 1 <#> (tasbhalf, tasbhalf) FOR ORDER BY float_ops,
    OPERATOR 1 <#> (tasbhalf, tasbvec) FOR ORDER BY float_ops;
-- Cosine distance: rows are listed by direction; rows without one (zero vectors) are not indexed.
CREATE OPERATOR CLASS tasbvec_cosine_ops FOR TYPE tasbvec USING tasb_ivf AS
    OPERATOR 2 <=> (tasbvec, tasbvec) FOR ORDER BY float_ops,
    OPERATOR 2 <=> (tasbvec, tasbhalf) FOR ORDER BY float_ops;
CREATE OPERATOR CLASS tasbhalf_cosine_ops FOR TYPE tasbhalf USING tasb_ivf AS
    OPERATOR 2 <=> (tasbhalf, tasbhalf) FOR ORDER BY float_ops,
    OPERATOR 2 <=> (tasbhalf, tasbvec) FOR ORDER BY float_ops;
"#,
    name = "ivf_access_method",
    requires = ["distance_operators"]
);
