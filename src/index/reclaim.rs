//! VACUUM's reclaiming: everything no row needs any more goes back to the free space map, where
//! inserts and splits take pages and vector space before they extend the index.
//! - Vectors whose list entries VACUUM removed are flagged dead ([`mark_dead_vectors`]), with
//!   the next transaction id in the page's pd_prune_xid; a later VACUUM, once that id is older
//!   than every snapshot (no scan can still hold one of those entries), removes them, keeping the
//!   other items' offsets, and records the page's free space, or the whole page when it is empty.
//! - List pages that a split replaced are flagged retired by the split (or found here, when a
//!   crash came first: list pages no list reaches) and recycled the same way.

use super::lists::{self, Walk};
use super::pages::{self, Locked, PageView, WalRecord, KIND_LIST, KIND_VECTOR};
use super::split::{self, SplitLock};
use pgrx::pg_sys;

/// Flags the vectors at `locations` dead.
///
/// # Safety
/// `index` is an open tasb_ivf index being vacuumed; the list entries that named these vectors
/// have been removed.
pub unsafe fn mark_dead_vectors(
    index: pg_sys::Relation,
    strategy: pg_sys::BufferAccessStrategy,
    mut locations: Vec<(pg_sys::BlockNumber, pg_sys::OffsetNumber)>,
) {
    locations.sort_unstable();
    let mut at = 0;
    while at < locations.len() {
        let block = locations[at].0;
        let end = at
            + locations[at..]
                .iter()
                .take_while(|(b, _)| *b == block)
                .count();
        // SAFETY: a vector page named by a removed entry, exclusively locked and changed through
        // generic WAL (one prefix byte per item, and the header's pd_prune_xid); the guard
        // releases it.
        unsafe {
            pg_sys::vacuum_delay_point();
            let locked = lock(index, block, strategy, pg_sys::BUFFER_LOCK_EXCLUSIVE);
            locked.view(KIND_VECTOR);
            let mut wal = WalRecord::start(index);
            let copy = wal.page(locked.buffer(), false);
            for &(_, offset) in &locations[at..end] {
                let item = locked.ok(pages::item_mut(copy, offset));
                if item.len() > pages::VECTOR_DEAD_AT {
                    item[pages::VECTOR_DEAD_AT] = 1;
                }
            }
            pages::mark_retired(copy, 0);
            wal.finish();
        }
        at = end;
    }
}

/// Returns to the free space map what no scan can reach any more; the number of whole pages.
///
/// # Safety
/// `index` is an open tasb_ivf index being vacuumed.
pub unsafe fn reclaim(index: pg_sys::Relation, strategy: pg_sys::BufferAccessStrategy) -> u32 {
    let _no_splits = SplitLock::share(index);
    // SAFETY: per the contract.
    let meta = unsafe { lists::meta(index) };
    // SAFETY: per the contract.
    let blocks =
        unsafe { pg_sys::RelationGetNumberOfBlocksInFork(index, pg_sys::ForkNumber::MAIN_FORKNUM) };
    let mut free_pages = 0;
    let mut unreached_lists = Vec::new();
    for block in 1..blocks {
        pgrx::check_for_interrupts!();
        // SAFETY: each page is pinned and share-locked while looked at; the guard releases it.
        let verdict = unsafe {
            pg_sys::vacuum_delay_point();
            let locked = lock(index, block, strategy, pg_sys::BUFFER_LOCK_SHARE);
            let bytes = pages::bytes(locked.page());
            match PageView::parse(bytes) {
                Err(pages::PageError::New) => Verdict::Free,
                Err(error) => pages::corrupt(index, block, error),
                Ok(page) if page.kind() == KIND_LIST => {
                    if page.flags() & pages::FLAG_RETIRED == 0 {
                        unreached_lists.push(block);
                    }
                    Verdict::free_if(pages::is_reusable(bytes))
                }
                Ok(page) if page.kind() == KIND_VECTOR && block != meta.vector_tail => {
                    if !dead_offsets(&page).is_empty() && pages::is_removable(page.prune_xid()) {
                        Verdict::RemoveDeadVectors
                    } else {
                        Verdict::free_if(pages::is_reusable(bytes))
                    }
                }
                Ok(_) => Verdict::Keep,
            }
        };
        let free = match verdict {
            Verdict::Keep => false,
            Verdict::Free => true,
            // SAFETY: the cleanup lock waits out every other pin; the guard releases it.
            Verdict::RemoveDeadVectors => unsafe {
                let locked = cleanup_lock(index, block, strategy);
                remove_dead_vectors(index, &locked)
            },
        };
        if free {
            // SAFETY: a page of the index that nothing refers to.
            unsafe { pg_sys::RecordFreeIndexPage(index, block) };
            free_pages += 1;
        }
    }
    // List pages that no list reaches and no split retired: left by a crash during a split (no
    // split runs now, and a list's new head page is reachable as soon as it is written).
    if meta.lists > 0 && !unreached_lists.is_empty() {
        // SAFETY: per the contract; read after the pass above, so every page it saw as a list's
        // is reached from these heads.
        let directory = unsafe { lists::read_directory(index, &lists::meta(index)) };
        let mut reached = vec![false; blocks as usize];
        for &head in &directory.heads {
            let mut block = head;
            let mut walk = Walk::new(index);
            while block != pages::INVALID_BLOCK && (block as usize) < reached.len() {
                walk.step(block);
                reached[block as usize] = true;
                // SAFETY: a list page, share-locked while its link is read.
                let locked = unsafe { Locked::new(index, block, pg_sys::BUFFER_LOCK_SHARE) };
                block = locked.view(KIND_LIST).next();
            }
        }
        unreached_lists.retain(|&block| !reached[block as usize]);
        // SAFETY: list pages nothing refers to.
        unsafe { split::retire(index, &unreached_lists) };
    }
    // SAFETY: per the contract.
    unsafe { pg_sys::IndexFreeSpaceMapVacuum(index) };
    free_pages
}

/// Removes the dead-flagged vectors of a cleanup-locked vector page (other items keep their
/// offsets) and records its free space; true when no vector is left (the page is free).
///
/// # Safety
/// `locked` is a vector page of `index` under a cleanup lock whose pd_prune_xid is removable.
unsafe fn remove_dead_vectors(index: pg_sys::Relation, locked: &Locked) -> bool {
    let page = locked.view(KIND_VECTOR);
    if !pages::is_removable(page.prune_xid()) {
        return false; // flagged again since the look without the cleanup lock
    }
    let dead = dead_offsets(&page);
    // SAFETY: per the contract; PageIndexTupleDeleteNoCompact works on the WAL record's copy.
    unsafe {
        let mut wal = WalRecord::start(index);
        let copy = wal.page(locked.buffer(), false);
        for &offset in dead.iter().rev() {
            pg_sys::PageIndexTupleDeleteNoCompact(copy, offset);
        }
        wal.finish();
        let after = locked.view(KIND_VECTOR);
        let empty = (1..=after.max_offset()).all(|offset| after.is_unused(offset));
        if !empty {
            let space = pg_sys::PageGetFreeSpace(locked.page());
            pg_sys::RecordPageWithFreeSpace(index, locked.block(), space);
        }
        empty
    }
}

/// What the pass does with a page.
enum Verdict {
    Keep,
    Free,
    RemoveDeadVectors,
}

impl Verdict {
    fn free_if(free: bool) -> Self {
        if free {
            Verdict::Free
        } else {
            Verdict::Keep
        }
    }
}

/// The offsets of a vector page's items that are flagged dead.
fn dead_offsets(page: &PageView<'_>) -> Vec<pg_sys::OffsetNumber> {
    (1..=page.max_offset())
        .filter(|&offset| {
            !page.is_unused(offset)
                && page
                    .item(offset)
                    .is_ok_and(|item| item.get(pages::VECTOR_DEAD_AT) == Some(&1))
        })
        .collect()
}

/// Pins `block` through VACUUM's buffer strategy and locks it in `mode`.
unsafe fn lock(
    index: pg_sys::Relation,
    block: pg_sys::BlockNumber,
    strategy: pg_sys::BufferAccessStrategy,
    mode: u32,
) -> Locked {
    // SAFETY: a block of the open index, locked before the guard takes it over.
    unsafe {
        let buffer = read(index, block, strategy);
        pg_sys::LockBuffer(buffer, mode as i32);
        Locked::adopt(index, buffer)
    }
}

/// As [`lock`], with a cleanup lock (no other backend holds a pin).
unsafe fn cleanup_lock(
    index: pg_sys::Relation,
    block: pg_sys::BlockNumber,
    strategy: pg_sys::BufferAccessStrategy,
) -> Locked {
    // SAFETY: as above.
    unsafe {
        let buffer = read(index, block, strategy);
        pg_sys::LockBufferForCleanup(buffer);
        Locked::adopt(index, buffer)
    }
}

unsafe fn read(
    index: pg_sys::Relation,
    block: pg_sys::BlockNumber,
    strategy: pg_sys::BufferAccessStrategy,
) -> pg_sys::Buffer {
    // SAFETY: a block of the open index.
    unsafe {
        pg_sys::ReadBufferExtended(
            index,
            pg_sys::ForkNumber::MAIN_FORKNUM,
            block,
            pg_sys::ReadBufferMode::RBM_NORMAL,
            strategy,
        )
    }
}
