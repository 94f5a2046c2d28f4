//! VACUUM: removes the entries of dead rows from the blocks on list pages (under a cleanup lock,
//! with generic WAL); a block's last entry moves into each hole, and inserts refill the blocks of
//! a list's head page. The removed entries' vectors are flagged dead, and the cleanup pass
//! ([`super::reclaim`]) frees them, with the pages splits retired, once no scan can reach them.
//! Centroids stay, so recall stays.

use super::cache;
use super::lists::{self, Walk};
use super::pages::{self, Locked, Payload, WalRecord};
use super::reclaim;
use super::retune;
use super::split::SplitLock;
use pgrx::pg_sys;

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambulkdelete(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    callback: pg_sys::IndexBulkDeleteCallback,
    callback_state: *mut std::ffi::c_void,
) -> *mut pg_sys::IndexBulkDeleteResult {
    // SAFETY: called by VACUUM with a valid info and callback.
    unsafe {
        let stats = if stats.is_null() {
            pgrx::PgBox::<pg_sys::IndexBulkDeleteResult>::alloc0().into_pg()
        } else {
            stats
        };
        if let Some(callback) = callback {
            walk(info, stats, |tid| callback(tid, callback_state));
        }
        stats
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amvacuumcleanup(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    // SAFETY: as above.
    unsafe {
        if (*info).analyze_only {
            return stats;
        }
        let stats = if stats.is_null() {
            // No bulk delete ran (nothing to remove): count the entries for the statistics.
            let fresh = pgrx::PgBox::<pg_sys::IndexBulkDeleteResult>::alloc0().into_pg();
            walk(info, fresh, |_| false);
            fresh
        } else {
            stats
        };
        (*stats).pages_free = reclaim::reclaim((*info).index, (*info).strategy);
        if retune::is_due(&lists::meta((*info).index)) {
            retune::retune((*info).index);
        }
        (*stats).num_pages = pg_sys::RelationGetNumberOfBlocksInFork(
            (*info).index,
            pg_sys::ForkNumber::MAIN_FORKNUM,
        );
        stats
    }
}

/// Sets the meta page's vector count (the table size lists split by) to the live entries VACUUM
/// counted, so rows that came and went do not keep raising the size lists grow to (and an index
/// from before tasb 0.5, which kept no count, starts splitting lists).
///
/// # Safety
/// `index` is an open tasb_ivf index; the caller holds none of its buffers.
unsafe fn count_vectors(index: pg_sys::Relation, live: u64) {
    // SAFETY: the meta page, exclusively locked and changed through generic WAL; the guard
    // releases it.
    unsafe {
        let meta_lock = Locked::new(index, pages::META_BLOCK, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let mut meta = meta_lock
            .ok(pages::read_meta(meta_lock.page()))
            .unwrap_or_else(|| lists::not_an_index());
        if meta.vectors == live {
            return;
        }
        meta.vectors = live.max(1);
        let mut wal = WalRecord::start(index);
        pages::write_meta(wal.page(meta_lock.buffer(), false), &meta);
        wal.finish();
    }
}

/// Visits every list page, deleting entries for which `is_dead` holds; counts live entries.
unsafe fn walk(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    mut is_dead: impl FnMut(pg_sys::ItemPointer) -> bool,
) {
    // SAFETY: `info` is VACUUM's, with an open index.
    let (index, strategy) = unsafe { ((*info).index, (*info).strategy) };
    // No split while VACUUM walks the lists: a split could copy an entry this removes.
    let _no_splits = SplitLock::share(index);
    // SAFETY: an open tasb_ivf index.
    let meta = unsafe { lists::meta(index) };
    let layout = lists::layout(&meta);
    let mut live = 0.0;
    let mut removed = 0.0;
    let mut dead_vectors = Vec::new();
    if meta.lists == 0 {
        return;
    }
    // SAFETY: an open tasb_ivf index with lists, and `meta` just read from it.
    let (meta, _, directory) = unsafe { cache::snapshot(index, meta) };
    for list in 0..meta.lists {
        let mut block = directory.heads[list as usize];
        let mut walk = Walk::new(index);
        while block != pages::INVALID_BLOCK {
            walk.step(block);
            // SAFETY: one list page locked at a time; the cleanup lock waits out readers' pins;
            // the guard releases it (also on an ERROR).
            let locked = unsafe {
                pg_sys::vacuum_delay_point();
                let buffer = pg_sys::ReadBufferExtended(
                    index,
                    pg_sys::ForkNumber::MAIN_FORKNUM,
                    block,
                    pg_sys::ReadBufferMode::RBM_NORMAL,
                    strategy,
                );
                pg_sys::LockBufferForCleanup(buffer);
                Locked::adopt(index, buffer)
            };
            let page = locked.view(pages::KIND_LIST);
            // (block item, slot) of each dead entry, slots ascending within an item.
            let mut dead: Vec<(pg_sys::OffsetNumber, usize)> = Vec::new();
            for offset in 1..=page.max_offset() {
                let entries = locked.ok(lists::block_item(&page, offset, &layout));
                for slot in 0..layout.len(entries) {
                    let mut payload = Payload::read(layout.payload(entries, slot));
                    if is_dead(&mut payload.heap) {
                        dead.push((offset, slot));
                        dead_vectors.push((payload.vector_block, payload.vector_offset));
                    } else {
                        live += 1.0;
                    }
                }
            }
            let next = page.next();
            if !dead.is_empty() {
                // SAFETY: the page is cleanup-locked; the WAL record's copy is changed in place
                // (same item sizes) and applied by finish while the lock is held.
                unsafe {
                    let mut wal = WalRecord::start(index);
                    let copy = wal.page(locked.buffer(), false);
                    // Descending slots: each removal moves a kept entry (from the block's end)
                    // into the hole, so exactly the dead ones go.
                    for &(offset, slot) in dead.iter().rev() {
                        layout.remove(locked.ok(pages::item_mut(copy, offset)), slot);
                    }
                    wal.finish();
                }
                removed += dead.len() as f64;
            }
            drop(locked);
            block = next;
        }
    }
    // SAFETY: the entries that named these vectors are gone, and no split runs meanwhile.
    unsafe { reclaim::mark_dead_vectors(index, strategy, dead_vectors) };
    // SAFETY: an open tasb_ivf index; no buffer is held.
    unsafe { count_vectors(index, live as u64) };
    // SAFETY: VACUUM's stats struct.
    unsafe {
        (*stats).tuples_removed += removed;
        (*stats).num_index_tuples = live;
    }
}
