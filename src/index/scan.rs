//! Index scans for `ORDER BY emb <#> query`: the pure crate's ordered scan, fed from pages. Each
//! amgettuple call returns the next row in order of the exact dot product among the lists read so
//! far; when those run out the next round of lists is read, so a filtered query keeps getting
//! rows until the whole index has been read.

use super::cache;
use super::lists::{self, Directory, Walk};
use super::metric::{self, Metric};
use super::options::probes;
use super::pages::{self, Locked, Meta, Payload};
use super::vectors::{datum_elements, dims_mismatch, element_bytes, stored_elements, to_f32};
use pgrx::{pg_sys, PgMemoryContexts};
use std::rc::Rc;
use tasb_index::block::BlockLayout;
use tasb_index::vector::normalize;
use tasb_index::{Scan, Step};
use tasb_vecmath::distance::{self, Elements};

struct Active {
    meta: Meta,
    layout: BlockLayout,
    /// Each list's first page and spread as of the directory epoch the rescan read: every entry
    /// of a row the scan's snapshot can see was added, and any new head page announced, before
    /// then; pages are only ever put in front of a list, and a split leaves the pages it replaced
    /// as they were, so a scan that began before it reads the lists as they were.
    directory: Rc<Directory>,
    query: Vec<f32>,
    metric: Metric,
    scan: Scan<Payload>,
}

/// Lives in the scan's memory context, so an aborted query frees it too.
#[derive(Default)]
struct ScanState {
    active: Option<Active>,
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambeginscan(
    index: pg_sys::Relation,
    nkeys: std::ffi::c_int,
    norderbys: std::ffi::c_int,
) -> pg_sys::IndexScanDesc {
    // SAFETY: standard scan descriptor set-up; the state is dropped with the current context.
    unsafe {
        let scan = pg_sys::RelationGetIndexScan(index, nkeys, norderbys);
        let state =
            PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(ScanState::default());
        (*scan).opaque = state as *mut std::ffi::c_void;
        scan
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amrescan(
    scan: pg_sys::IndexScanDesc,
    _keys: pg_sys::ScanKey,
    _nkeys: std::ffi::c_int,
    orderbys: pg_sys::ScanKey,
    norderbys: std::ffi::c_int,
) {
    // SAFETY: `scan` came from ambeginscan; orderbys holds norderbys keys.
    unsafe {
        let state = &mut *((*scan).opaque as *mut ScanState);
        state.active = None;
        let index = (*scan).indexRelation;
        let meta = lists::meta(index);
        if meta.lists == 0 {
            return; // no vectors yet
        }
        let dims = meta.dims as usize;
        let metric = metric::of_index(index);
        let query = if norderbys > 0 && (*orderbys).sk_flags & pg_sys::SK_ISNULL as i32 == 0 {
            let (query_dims, bytes) = element_bytes((*orderbys).sk_argument);
            if query_dims != dims {
                dims_mismatch(meta.dims, query_dims);
            }
            let mut query = to_f32(datum_elements(dims, bytes));
            if metric == Metric::Cosine && !normalize(&mut query) {
                // A zero query has no cosine distance to anything: every row, in no order.
                query.fill(0.0);
            }
            query
        } else {
            // No ORDER BY value (or NULL): every row, in no particular order.
            vec![0.0; dims]
        };
        let (meta, shape, directory) = cache::snapshot(index, meta);
        let probes = probes(&meta);
        let scan_order = Scan::new(
            &query,
            &shape.rotation,
            &shape.centroids,
            &shape.inverse_norms,
            probes,
        );
        state.active = Some(Active {
            layout: lists::layout(&meta),
            meta,
            directory,
            query,
            metric,
            scan: scan_order,
        });
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amgettuple(
    scan: pg_sys::IndexScanDesc,
    _direction: pg_sys::ScanDirection::Type,
) -> bool {
    // SAFETY: `scan` came from ambeginscan and was rescanned.
    unsafe {
        let index = (*scan).indexRelation;
        let state = &mut *((*scan).opaque as *mut ScanState);
        let Some(active) = state.active.as_mut() else {
            return false;
        };
        let dims = active.meta.dims as usize;
        loop {
            let (query, metric) = (&active.query, active.metric);
            let step = active
                .scan
                .next(|payload| Some(exact_score(index, dims, query, payload, metric)));
            match step {
                Step::Emit(payload, _) => {
                    (*scan).xs_heaptid = payload.heap;
                    (*scan).xs_recheck = false;
                    (*scan).xs_recheckorderby = false;
                    return true;
                }
                Step::ReadLists(lists) => {
                    // The candidates of a round stay within work_mem (plus one list): the lists
                    // past that go back for the next round.
                    let budget = pg_sys::work_mem.max(64) as usize * 1024;
                    let count = lists.len();
                    for (i, (list, base)) in lists.into_iter().enumerate() {
                        let head = active.directory.heads[list as usize];
                        read_list(index, &active.layout, head, base, &mut active.scan);
                        if i + 1 < count && active.scan.memory_used() >= budget {
                            active.scan.unread(count - i - 1);
                            break;
                        }
                    }
                }
                Step::Done => return false,
            }
        }
    }
}

/// Feeds every entry of the list starting at page `head` to the scan.
fn read_list(
    index: pg_sys::Relation,
    layout: &BlockLayout,
    head: pg_sys::BlockNumber,
    base: f32,
    scan: &mut Scan<Payload>,
) {
    let mut block = head;
    let mut walk = Walk::new(index);
    while block != pages::INVALID_BLOCK {
        pgrx::check_for_interrupts!();
        walk.step(block);
        // SAFETY: list pages are read under share locks, one at a time, following `next` links
        // that only ever point at older list pages; the guard releases each.
        let locked = unsafe { Locked::new(index, block, pg_sys::BUFFER_LOCK_SHARE) };
        let page = locked.view(pages::KIND_LIST);
        for offset in 1..=page.max_offset() {
            let entries = locked.ok(lists::block_item(&page, offset, layout));
            scan.push_block(base, layout, entries, Payload::read);
        }
        block = page.next();
    }
}

/// The exact dot product of the query with an entry's stored vector, or with its direction (the
/// vector scaled to unit length) in a cosine index, whose rows have one (the query is a unit
/// vector there): the cosine similarity, so `<=>` order.
fn exact_score(
    index: pg_sys::Relation,
    dims: usize,
    query: &[f32],
    payload: &Payload,
    metric: Metric,
) -> f32 {
    // SAFETY: the payload names a block of this index (ReadBuffer raises an ERROR past its end);
    // vector pages are never rewritten after an item is added; the guard releases the page.
    let locked = unsafe { Locked::new(index, payload.vector_block, pg_sys::BUFFER_LOCK_SHARE) };
    let page = locked.view(pages::KIND_VECTOR);
    let (_, bytes) = locked.ok(page.any_vector_item(payload.vector_offset, dims));
    let elements = stored_elements(
        index,
        payload.vector_block,
        payload.vector_offset,
        dims,
        bytes,
    );
    let dot = distance::dot(Elements::F32(query), elements);
    match metric {
        Metric::Cosine => (dot / distance::dot(elements, elements).sqrt()) as f32,
        Metric::InnerProduct => dot as f32,
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amendscan(scan: pg_sys::IndexScanDesc) {
    // SAFETY: frees the scan's candidates early; the holder itself goes with its context.
    unsafe {
        let state = &mut *((*scan).opaque as *mut ScanState);
        state.active = None;
    }
}
