//! Lists that follow the data: an insert that starts a new block of entries in a list checks whether the list has
//! outgrown its share of the index (tasb_index::split's threshold, from the vectors the index
//! holds) and, if so, splits it in two by 2-means on its rows.
//!
//! A split rewrites the list's entries as two new page chains, encoded against the two new
//! centroids, and then, in one generic WAL record, points the list's centroid item at the first
//! chain with the first centroid, adds a list for the second (on the last centroid page, or a new
//! one linked from it) and raises the meta page's list count and directory epoch. A crash before
//! that record leaves the new chains unreferenced and the list as it was; after it, the old chain
//! is unreferenced. The old pages are left as they were, so scans that read the directory before
//! the split still read every row once; they are flagged retired, and VACUUM reclaims them once
//! no snapshot from before the split remains.
//!
//! Locks: one split at a time (a conditional heavyweight lock on the meta page's number: an
//! insert that does not get it leaves the split to a later insert), and VACUUM takes it in share
//! mode, so no split copies an entry VACUUM is removing. The list's centroid page is held
//! exclusively throughout, so no insert adds to the list meanwhile; then the last centroid page
//! and the meta page, the lock order inserts use.

use super::cache;
use super::lists::{self, centroid_location, Walk};
use super::metric::{self, Metric};
use super::pages::{self, Locked, PageImage, Payload, WalRecord, KIND_CENTROID, KIND_LIST};
use super::vectors::read_vector;
use pgrx::pg_sys;
use tasb_index::block::BlockLayout;
use tasb_index::ivf::encode_entry;
use tasb_index::split::{split_in_two, split_threshold};
use tasb_index::vector::normalize;

/// Called after an insert started a new block in `list`: splits it when it holds more entries than
/// its share.
///
/// # Safety
/// `index` is an open tasb_ivf index with at least `list + 1` lists; the caller holds none of its
/// buffers.
pub unsafe fn consider(index: pg_sys::Relation, list: u32) {
    // SAFETY: per the contract.
    let meta = unsafe {
        super::insert::count_appended(index);
        lists::meta(index)
    };
    if meta.vectors == 0 || list >= meta.lists {
        return; // an index from before tasb 0.5 does not know its size
    }
    let threshold = split_threshold(meta.vectors as usize);
    // SAFETY: per the contract.
    let (meta, _, directory) = unsafe { cache::snapshot(index, meta) };
    let layout = lists::layout(&meta);
    let head = directory.heads[list as usize];
    if count_entries(index, &layout, head, threshold) <= threshold {
        return;
    }
    let Some(_lock) = SplitLock::try_exclusive(index) else {
        return; // another split is running, or VACUUM: a later insert will split this list
    };
    // SAFETY: per the contract; the split lock is held.
    unsafe { split(index, list) };
}

/// The entries of the list starting at `head`, counted until there are more than `enough`.
fn count_entries(
    index: pg_sys::Relation,
    layout: &BlockLayout,
    head: pg_sys::BlockNumber,
    enough: usize,
) -> usize {
    let mut count = 0;
    let mut block = head;
    let mut walk = Walk::new(index);
    while block != pages::INVALID_BLOCK && count <= enough {
        walk.step(block);
        // SAFETY: a list page of the index, share-locked while read; the guard releases it.
        let locked = unsafe { Locked::new(index, block, pg_sys::BUFFER_LOCK_SHARE) };
        let page = locked.view(KIND_LIST);
        for offset in 1..=page.max_offset() {
            count += layout.len(locked.ok(lists::block_item(&page, offset, layout)));
        }
        block = page.next();
    }
    count
}

/// The heavyweight lock that admits one split at a time, released when dropped.
pub struct SplitLock {
    index: pg_sys::Relation,
    mode: pg_sys::LOCKMODE,
}

impl SplitLock {
    /// The lock for a split, if no split or VACUUM holds it.
    pub fn try_exclusive(index: pg_sys::Relation) -> Option<Self> {
        let mode = pg_sys::ExclusiveLock as pg_sys::LOCKMODE;
        // SAFETY: a page lock tag on an open relation; the block number names no buffer here.
        let got = unsafe { pg_sys::ConditionalLockPage(index, pages::META_BLOCK, mode) };
        got.then_some(SplitLock { index, mode })
    }

    /// VACUUM's lock: waits for a running split, and keeps others out until dropped.
    pub fn share(index: pg_sys::Relation) -> Self {
        let mode = pg_sys::ShareLock as pg_sys::LOCKMODE;
        // SAFETY: as above.
        unsafe { pg_sys::LockPage(index, pages::META_BLOCK, mode) };
        SplitLock { index, mode }
    }
}

impl Drop for SplitLock {
    fn drop(&mut self) {
        // SAFETY: taken in `mode` by this guard and released once.
        unsafe { pg_sys::UnlockPage(self.index, pages::META_BLOCK, self.mode) };
    }
}

/// Splits `list`, or leaves it whole when its rows have no second direction.
///
/// # Safety
/// As for [`consider`], with the split lock held.
unsafe fn split(index: pg_sys::Relation, list: u32) {
    // SAFETY: per the contract (the shape is read after the split lock was taken, so it is the
    // current one: only splits change centroids).
    let (meta, shape) = unsafe { cache::shape(index, lists::meta(index)) };
    let dims = meta.dims as usize;
    let layout = lists::layout(&meta);
    let cosine = metric::of_index(index) == Metric::Cosine;
    let (block, offset) = centroid_location(&meta, &shape.centroid_pages, list);
    let item_bytes = lists::centroid_item_bytes(&meta);
    // SAFETY: lock order as in inserts (centroid page, then the last centroid page, then the
    // meta page); the guards release every buffer, also on an ERROR.
    unsafe {
        let centroid = Locked::new(index, block, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let item = centroid.ok(centroid.view(KIND_CENTROID).item_sized(offset, item_bytes));
        if !lists::centroid_is(item, shape.centroid(dims, list as usize)) {
            return; // unreachable under the split lock; a stale shape must never be split
        }
        let head = lists::read_head(item);
        let (payloads, old_pages) = list_entries(index, &layout, head);
        let mut rows = Vec::with_capacity(payloads.len() * dims);
        for payload in &payloads {
            let start = rows.len();
            rows.extend(read_vector(
                index,
                dims,
                payload.vector_block,
                payload.vector_offset,
            ));
            if cosine {
                normalize(&mut rows[start..]);
            }
        }
        pgrx::check_for_interrupts!();
        let seed = meta.vectors ^ (u64::from(list) << 32);
        let Some(halves) = split_in_two(&rows, dims, seed) else {
            return;
        };
        let mut sides: [Vec<(Vec<u8>, Vec<u8>)>; 2] = [Vec::new(), Vec::new()];
        let mut spreads = [0.0f32; 2];
        for ((x, payload), &second) in rows.chunks(dims).zip(&payloads).zip(&halves.second) {
            let side = usize::from(second);
            let mut code = Vec::new();
            let spread = encode_entry(
                &shape.rotation,
                &halves.centroids[side * dims..(side + 1) * dims],
                x,
                layout.ex_planes(),
                &mut code,
            );
            spreads[side] = spreads[side].max(spread);
            let mut payload_bytes = Vec::with_capacity(pages::PAYLOAD_BYTES);
            payload.write(&mut payload_bytes);
            sides[side].push((code, payload_bytes));
        }
        let heads = [
            write_chain(index, &layout, &sides[0]),
            write_chain(index, &layout, &sides[1]),
        ];

        // One record: the list's new head, spread and centroid; the new list; the meta page.
        let per_page = meta.centroids_per_page.max(1);
        let new_list = meta.lists;
        if shape.centroid_pages.last() != Some(&meta.centroid_tail) {
            pages::corrupt(index, meta.centroid_tail, pages::PageError::New);
        }
        let tail = (meta.centroid_tail != block)
            .then(|| Locked::new(index, meta.centroid_tail, pg_sys::BUFFER_LOCK_EXCLUSIVE));
        let tail_buffer = tail.as_ref().map_or(centroid.buffer(), Locked::buffer);
        let fresh = new_list
            .is_multiple_of(per_page)
            .then(|| Locked::adopt(index, pages::new_page(index)));
        let meta_lock = Locked::new(index, pages::META_BLOCK, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let mut current = meta_lock
            .ok(pages::read_meta(meta_lock.page()))
            .unwrap_or_else(|| lists::not_an_index());
        if current.lists != new_list || current.build_id != meta.build_id {
            return; // unreachable: only splits add lists, one at a time
        }
        let mut wal = WalRecord::start(index);
        let copy = wal.page(centroid.buffer(), false);
        let target = centroid.ok(pages::item_mut(copy, offset));
        target.copy_from_slice(&pages::centroid_item(
            heads[0],
            spreads[0],
            &halves.centroids[..dims],
        ));
        let new_item = pages::centroid_item(heads[1], spreads[1], &halves.centroids[dims..]);
        let tail_copy = wal.page(tail_buffer, false);
        match &fresh {
            Some(fresh) => {
                let page = wal.page(fresh.buffer(), true);
                pages::init_page(page, KIND_CENTROID);
                pages::add_item(page, &new_item);
                (*pages::opaque(tail_copy)).next = fresh.block();
                current.centroid_tail = fresh.block();
            }
            None => {
                let expected = (new_list % per_page) as pg_sys::OffsetNumber + 1;
                if pages::add_item(tail_copy, &new_item) != Some(expected) {
                    let error = pages::PageError::ItemSize {
                        offset: expected,
                        len: new_item.len(),
                        expected: item_bytes,
                    };
                    pages::corrupt(index, meta.centroid_tail, error);
                }
            }
        }
        current.lists = new_list + 1;
        current.directory_epoch += 1;
        let meta_copy = wal.page(meta_lock.buffer(), false);
        pages::write_meta(meta_copy, &current);
        wal.finish();
        drop(meta_lock);
        drop(fresh);
        drop(tail);
        drop(centroid);
        retire(index, &old_pages);
    }
}

/// Flags the pages of a replaced chain as retired, so VACUUM reclaims them once no scan that read
/// the directory before the split can remain. A crash before this leaves them unflagged and
/// unreferenced: VACUUM finds and retires such pages too.
///
/// # Safety
/// `index` is an open tasb_ivf index; the pages are list pages nothing refers to any more.
pub unsafe fn retire(index: pg_sys::Relation, blocks: &[pg_sys::BlockNumber]) {
    for &block in blocks {
        // SAFETY: per the contract; only the special space flags and pd_prune_xid change, so
        // scans still reading the page see the same entries.
        unsafe {
            let locked = Locked::new(index, block, pg_sys::BUFFER_LOCK_EXCLUSIVE);
            locked.view(KIND_LIST);
            let mut wal = WalRecord::start(index);
            pages::mark_retired(wal.page(locked.buffer(), false), pages::FLAG_RETIRED);
            wal.finish();
        }
    }
}

/// Every entry's payload in the list starting at `head`, and the list's pages.
pub fn list_entries(
    index: pg_sys::Relation,
    layout: &BlockLayout,
    head: pg_sys::BlockNumber,
) -> (Vec<Payload>, Vec<pg_sys::BlockNumber>) {
    let mut payloads = Vec::new();
    let mut blocks = Vec::new();
    let mut block = head;
    let mut walk = Walk::new(index);
    while block != pages::INVALID_BLOCK {
        walk.step(block);
        blocks.push(block);
        // SAFETY: a list page of the index, share-locked while read; the guard releases it.
        let locked = unsafe { Locked::new(index, block, pg_sys::BUFFER_LOCK_SHARE) };
        let page = locked.view(KIND_LIST);
        for offset in 1..=page.max_offset() {
            let entries = locked.ok(lists::block_item(&page, offset, layout));
            for slot in 0..layout.len(entries) {
                payloads.push(Payload::read(layout.payload(entries, slot)));
            }
        }
        block = page.next();
    }
    (payloads, blocks)
}

/// Writes `entries` (code, payload) as a new chain of list pages, each logged whole; returns its
/// first page. Nothing refers to the chain until the caller's record does.
///
/// # Safety
/// `index` is an open tasb_ivf index; `entries` is not empty.
unsafe fn write_chain(
    index: pg_sys::Relation,
    layout: &BlockLayout,
    entries: &[(Vec<u8>, Vec<u8>)],
) -> pg_sys::BlockNumber {
    let mut images = vec![PageImage::new(KIND_LIST)];
    let mut last_block: Option<pg_sys::OffsetNumber> = None;
    for (code, payload) in entries {
        let image = images.last_mut().map(PageImage::page);
        let Some(page) = image else { break };
        // SAFETY: private page images whose items are all blocks of `layout`.
        unsafe {
            if let Some(offset) = last_block {
                if let Ok(item) = pages::item_mut(page, offset) {
                    if layout.push(item, code, payload) {
                        continue;
                    }
                }
            }
            let block = layout.with_entry(code, payload);
            if let Some(offset) = pages::add_item(page, &block) {
                last_block = Some(offset);
                continue;
            }
            let mut fresh = PageImage::new(KIND_LIST);
            last_block = pages::add_item(fresh.page(), &block);
            images.push(fresh);
        }
    }
    // Written last page first, each linking to the one written before it, so the first image
    // ends up the head.
    let mut next = pages::INVALID_BLOCK;
    for image in images.iter_mut().rev() {
        // SAFETY: a freshly extended, exclusively locked buffer, logged whole; the guard releases
        // it after the record is written.
        unsafe {
            let fresh = Locked::adopt(index, pages::new_page(index));
            (*pages::opaque(image.page())).next = next;
            let mut wal = WalRecord::start(index);
            let page = wal.page(fresh.buffer(), true);
            image.copy_to(page);
            wal.finish();
            next = fresh.block();
        }
    }
    next
}
