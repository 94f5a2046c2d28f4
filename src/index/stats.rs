//! `tasb_ivf_stats(index)`: what a tasb_ivf index holds and the probes its build chose.

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
    ),
> {
    // SAFETY: the relation is opened and closed here with a lock; block 0 is read only after
    // checking it is an index of this access method.
    unsafe {
        let relation = pg_sys::relation_open(index, pg_sys::AccessShareLock as i32);
        let am = pg_sys::get_index_am_oid(c"tasb_ivf".as_ptr(), false);
        if (*(*relation).rd_rel).relkind != pg_sys::RELKIND_INDEX as std::ffi::c_char
            || (*(*relation).rd_rel).relam != am
        {
            raise(
                PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
                "tasb_ivf_stats needs a tasb_ivf index",
                None,
                Some("Pass the index's name, e.g. tasb_ivf_stats('passages_emb_idx'::regclass)."),
            );
        }
        let meta = lists::meta(relation);
        let pages =
            pg_sys::RelationGetNumberOfBlocksInFork(relation, pg_sys::ForkNumber::MAIN_FORKNUM);
        pg_sys::relation_close(relation, pg_sys::AccessShareLock as i32);
        TableIterator::once((
            meta.dims as i32,
            meta.lists as i32,
            meta.default_probes as i32,
            probes(&meta) as i32,
            pages as i64,
        ))
    }
}
