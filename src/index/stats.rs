//! `tasb_ivf_stats(index)`: what a tasb_ivf index holds, the probes its build chose, the recall
//! its build estimated for them, and the distance it orders by.

use super::lists;
use super::options::probes;
use crate::errors::raise;
use pgrx::prelude::*;
use pgrx::{pg_sys, PgSqlErrorCode};

#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_safe)]
fn tasb_ivf_stats(
    index: pg_sys::Oid,
) -> TableIterator<
    'static,
    (
        name!(dims, i32),
        name!(lists, i32),
        name!(default_probes, i32),
        name!(probes_now, i32),
        name!(pages, i64),
        name!(estimated_recall, Option<f64>),
        name!(metric, &'static str),
    ),
> {
    let not_an_ivf_index = || -> ! {
        raise(
            PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            "tasb_ivf_stats needs a tasb_ivf index",
            None,
            Some("Pass the index's name, e.g. tasb_ivf_stats('passages_emb_idx'::regclass)."),
        )
    };
    // SAFETY: catalog lookups through the syscache take no lock on the relation; it is opened
    // (locked) only after the caller may read its table, then checked again to be a tasb_ivf
    // index before block 0 is read, and closed here.
    unsafe {
        // Before any lock: a role that may not read the table must not be able to block others
        // by locking it.
        if pg_sys::get_rel_relkind(index) != pg_sys::RELKIND_INDEX as std::ffi::c_char {
            not_an_ivf_index();
        }
        let table = pg_sys::IndexGetRelation(index, true);
        let user = pg_sys::GetUserId();
        if table == pg_sys::InvalidOid
            || (pg_sys::pg_class_aclcheck(table, user, pg_sys::ACL_SELECT as pg_sys::AclMode)
                != pg_sys::AclResult::ACLCHECK_OK
                && !pg_sys::pg_class_ownercheck(index, user))
        {
            raise(
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                "permission denied for tasb_ivf_stats on this index",
                None,
                Some("It needs SELECT on the index's table, or ownership of the index."),
            );
        }
        let relation = pg_sys::relation_open(index, pg_sys::AccessShareLock as i32);
        let am = pg_sys::get_index_am_oid(c"tasb_ivf".as_ptr(), false);
        if (*(*relation).rd_rel).relkind != pg_sys::RELKIND_INDEX as std::ffi::c_char
            || (*(*relation).rd_rel).relam != am
        {
            not_an_ivf_index();
        }
        let meta = lists::meta(relation);
        let metric = super::metric::of_index(relation);
        let pages =
            pg_sys::RelationGetNumberOfBlocksInFork(relation, pg_sys::ForkNumber::MAIN_FORKNUM);
        pg_sys::relation_close(relation, pg_sys::AccessShareLock as i32);
        TableIterator::once((
            meta.dims as i32,
            meta.lists as i32,
            meta.default_probes as i32,
            probes(&meta) as i32,
            pages as i64,
            // 0 on indexes built before the build measured it, or with no rows yet.
            (meta.estimated_recall > 0.0).then_some(f64::from(meta.estimated_recall)),
            metric.name(),
        ))
    }
}
