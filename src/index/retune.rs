//! Choosing the default probes again after splits: an index built on an empty or small table has
//! no calibrated default (or one for fewer lists), so VACUUM (autovacuum runs it after inserts
//! too) measures the lists as they are now, the way a build does (tasb_index::tune), once they
//! have grown by a quarter since the last choice.

use super::build::build_pool;
use super::cache;
use super::lists;
use super::metric::{self, Metric};
use super::pages::{self, Locked, WalRecord, KIND_VECTOR};
use super::split::{list_entries, SplitLock};
use super::vectors::{read_vector, stored_elements, to_f32};
use pgrx::pg_sys;
use tasb_index::kmeans;
use tasb_index::rng::Rng;
use tasb_index::tune::{Calibration, QUERIES};
use tasb_index::vector::normalize;

/// Lists below this are read whole by any default: nothing to choose.
const MIN_LISTS: u32 = 8;

/// Rows read and observed per step.
const CHUNK: usize = 4096;

/// Whether the default probes were chosen for far fewer lists than the index has now.
pub fn is_due(meta: &pages::Meta) -> bool {
    meta.lists >= MIN_LISTS && u64::from(meta.lists) * 4 > u64::from(meta.tuned_lists) * 5
}

/// Chooses the default probes for the index's lists as they are and writes them to the meta page.
/// Skipped when the entries' locations would not fit in maintenance_work_mem.
///
/// # Safety
/// `index` is an open tasb_ivf index being vacuumed; the caller holds none of its buffers.
pub unsafe fn retune(index: pg_sys::Relation) {
    let _no_splits = SplitLock::share(index);
    // SAFETY: per the contract.
    let meta = unsafe { lists::meta(index) };
    if !is_due(&meta) {
        return;
    }
    // SAFETY: per the contract; the meta was just read.
    let (meta, shape, directory) = unsafe { cache::snapshot(index, meta) };
    let dims = meta.dims as usize;
    let layout = lists::layout(&meta);
    let cosine = metric::of_index(index) == Metric::Cosine;
    // SAFETY: reading a GUC variable.
    let budget = unsafe { pg_sys::maintenance_work_mem } as usize * 1024;
    let mut entries: Vec<(pg_sys::BlockNumber, pg_sys::OffsetNumber, u32)> = Vec::new();
    for (list, &head) in directory.heads.iter().enumerate() {
        pgrx::check_for_interrupts!();
        let (payloads, _) = list_entries(index, &layout, head);
        entries.extend(
            payloads
                .iter()
                .map(|payload| (payload.vector_block, payload.vector_offset, list as u32)),
        );
        if entries.len() * std::mem::size_of::<(u32, u16, u32)>() > budget {
            return;
        }
    }
    if entries.is_empty() {
        return;
    }
    // Vector pages in order, each read once.
    entries.sort_unstable();
    let mut rng = Rng(meta.build_id ^ u64::from(meta.lists));
    let mut queries = Vec::with_capacity(QUERIES * dims);
    for _ in 0..QUERIES.min(entries.len()) {
        let (block, offset, _) = entries[(rng.next_u64() % entries.len() as u64) as usize];
        let start = queries.len();
        queries.extend(read_vector(index, dims, block, offset));
        if cosine {
            normalize(&mut queries[start..]);
        }
    }
    let mut calibration = Calibration::new(&queries, dims);
    let pool = build_pool();
    let mut rows: Vec<f32> = Vec::with_capacity(CHUNK * dims);
    let mut row_lists: Vec<u32> = Vec::with_capacity(CHUNK);
    let mut at = 0;
    while at < entries.len() {
        let block = entries[at].0;
        // SAFETY: a vector page named by a list entry, share-locked while read.
        let locked = unsafe { Locked::new(index, block, pg_sys::BUFFER_LOCK_SHARE) };
        let page = locked.view(KIND_VECTOR);
        while at < entries.len() && entries[at].0 == block {
            let (_, offset, list) = entries[at];
            let (_, bytes) = locked.ok(page.any_vector_item(offset, dims));
            let start = rows.len();
            rows.extend(to_f32(stored_elements(index, block, offset, dims, bytes)));
            if cosine {
                normalize(&mut rows[start..]);
            }
            row_lists.push(list);
            at += 1;
        }
        drop(locked);
        if row_lists.len() >= CHUNK || at == entries.len() {
            pgrx::check_for_interrupts!();
            kmeans::on(Some(&pool), || calibration.observe(&rows, &row_lists));
            rows.clear();
            row_lists.clear();
        }
    }
    let (centroids, inverse_norms) = (&shape.centroids[..], &shape.inverse_norms[..]);
    let chosen = kmeans::on(Some(&pool), || calibration.probes(centroids, inverse_norms));
    // SAFETY: the meta page, exclusively locked and changed through generic WAL; the guard
    // releases it.
    unsafe {
        let meta_lock = Locked::new(index, pages::META_BLOCK, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let mut current = meta_lock
            .ok(pages::read_meta(meta_lock.page()))
            .unwrap_or_else(|| lists::not_an_index());
        if current.lists != meta.lists || current.build_id != meta.build_id {
            return; // unreachable while splits wait for VACUUM
        }
        let mut wal = WalRecord::start(index);
        let copy = wal.page(meta_lock.buffer(), false);
        current.default_probes = chosen.probes as u32;
        current.estimated_recall = chosen.estimated_recall as f32;
        current.tuned_lists = current.lists;
        pages::write_meta(copy, &current);
        wal.finish();
    }
}
