//! aminsert: a row's vector goes to the vector tail page, its entry to the head page of the list
//! with the nearest centroid. Two generic WAL records; a crash between them leaves only an
//! unreferenced vector, never an entry without its vector.

use super::cache;
use super::lists::{self, centroid_location};
use super::metric::{self, Metric};
use super::pages::{self, Locked, PageView, WalRecord, KIND_CENTROID, KIND_LIST, KIND_VECTOR};
use super::split;
use super::vectors::{
    column_dims, datum_elements, dims_mismatch, element_bytes, to_f32, too_large,
};
use pgrx::pg_sys;
use std::cell::Cell;
use tasb_index::ivf::encode_entry;
use tasb_index::kmeans;
use tasb_index::vector::normalize;

#[allow(clippy::too_many_arguments)]
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn aminsert(
    index: pg_sys::Relation,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    heap: pg_sys::Relation,
    _check_unique: pg_sys::IndexUniqueCheck::Type,
    _index_unchanged: bool,
    _index_info: *mut pg_sys::IndexInfo,
) -> bool {
    // SAFETY: Postgres passes one key column for the row at heap_tid.
    unsafe {
        if *isnull {
            return false;
        }
        let (dims, bytes) = element_bytes(*values);
        let mut x = to_f32(datum_elements(dims, bytes));
        if metric::of_index(index) == Metric::Cosine && !normalize(&mut x) {
            return false; // no direction, no cosine distance: not indexed, as in the build
        }
        let item = pages::vector_item(&*heap_tid, bytes);
        let (meta, (vector_block, vector_offset)) = match append_shared(index, dims, &item) {
            Some(appended) => appended,
            None => append_vector(index, heap, dims, &item),
        };
        let mut payload = Vec::with_capacity(pages::PAYLOAD_BYTES);
        pages::Payload {
            heap: *heap_tid,
            vector_block,
            vector_offset,
        }
        .write(&mut payload);
        let mut meta = meta;
        let mut code = Vec::new();
        loop {
            let (current, shape) = cache::shape(index, meta);
            let list = kmeans::nearest(&shape.centroids, &shape.inverse_norms, dims, &x);
            code.clear();
            let spread = encode_entry(
                &shape.rotation,
                shape.centroid(dims, list),
                &x,
                lists::layout(&current).ex_planes(),
                &mut code,
            );
            match add_entry(
                index,
                &current,
                &shape,
                list as u32,
                &code,
                &payload,
                spread,
            ) {
                Added::Entry => break,
                Added::NewBlock => {
                    split::consider(index, list as u32);
                    break;
                }
                // A split changed the list since the shape was read: assign the row again.
                Added::Stale => {
                    pgrx::check_for_interrupts!();
                    meta = lists::meta(index);
                }
            }
        }
        false
    }
}

thread_local! {
    /// The vector page this backend appends to, per index (tablespace, database, relfilenode,
    /// build): each writer fills its own page, so writers do not queue on one.
    static OWN_PAGE: Cell<(u32, u32, u32, u64, pg_sys::BlockNumber)> =
        const { Cell::new((0, 0, 0, 0, pages::INVALID_BLOCK)) };
    /// Vectors this backend appended that the meta page's count does not include yet.
    static UNCOUNTED: Cell<u64> = const { Cell::new(0) };
}

/// Appends the vector to this backend's own vector page (or one with room from the free space
/// map, or a new one) under a share lock of the meta page, so concurrent writers do not serialise
/// on it; None when the index needs [`append_vector`]'s exclusive path (its first vector, or a
/// vector of other dimensions). The share lock keeps that path out meanwhile.
///
/// # Safety
/// `index` is an open tasb_ivf index; pages other than the meta page are locked only
/// conditionally while it is held (a list page's locker may be waiting for the meta page).
unsafe fn append_shared(
    index: pg_sys::Relation,
    dims: usize,
    item: &[u8],
) -> Option<(pages::Meta, (pg_sys::BlockNumber, pg_sys::OffsetNumber))> {
    // SAFETY: per the contract; the guards release every buffer after the WAL record is
    // finished (or on an ERROR).
    unsafe {
        let meta_lock = Locked::new(index, pages::META_BLOCK, pg_sys::BUFFER_LOCK_SHARE);
        let meta = meta_lock
            .ok(pages::read_meta(meta_lock.page()))
            .unwrap_or_else(|| lists::not_an_index());
        if meta.lists == 0 || meta.dims as usize != dims {
            return None;
        }
        let node = (*index).rd_node;
        let key = (
            node.spcNode.to_u32(),
            node.dbNode.to_u32(),
            node.relNode.to_u32(),
            meta.build_id,
        );
        let cached = OWN_PAGE.with(Cell::get);
        let own = if (cached.0, cached.1, cached.2, cached.3) == key {
            cached.4
        } else {
            meta.vector_tail
        };
        let mut target = None;
        if own != pages::INVALID_BLOCK {
            let buffer = pg_sys::ReadBuffer(index, own);
            if pg_sys::ConditionalLockBuffer(buffer) {
                let locked = Locked::adopt(index, buffer);
                let usable = PageView::parse(pages::bytes(locked.page()))
                    .is_ok_and(|page| page.kind() == KIND_VECTOR)
                    && pages::has_room(locked.page(), item.len());
                if usable {
                    target = Some((locked, false));
                }
            } else {
                pg_sys::ReleaseBuffer(buffer);
            }
        }
        let (locked, fresh) = match target {
            Some(target) => target,
            None => match vector_page_with_room(index, item.len(), pages::INVALID_BLOCK) {
                Some(reused) => (reused, false),
                None => (Locked::adopt(index, pages::new_page(index)), true),
            },
        };
        let mut wal = WalRecord::start(index);
        let page = wal.page(locked.buffer(), fresh);
        if fresh {
            pages::init_page(page, KIND_VECTOR);
        }
        let offset = pages::add_item(page, item).unwrap_or_else(|| too_large(dims));
        wal.finish();
        let block = locked.block();
        OWN_PAGE.with(|own| own.set((key.0, key.1, key.2, key.3, block)));
        UNCOUNTED.with(|n| n.set(n.get() + 1));
        drop(locked);
        drop(meta_lock);
        Some((meta, (block, offset)))
    }
}

/// Adds the vectors this backend appended since it last did to the meta page's count (which
/// decides when lists split); called now and then, not on every insert, to keep writers off the
/// meta page's exclusive lock.
///
/// # Safety
/// `index` is an open tasb_ivf index; the caller holds none of its buffers.
pub unsafe fn count_appended(index: pg_sys::Relation) {
    let uncounted = UNCOUNTED.with(|n| n.replace(0));
    if uncounted == 0 {
        return;
    }
    // SAFETY: the meta page, exclusively locked and changed through generic WAL; the guard
    // releases it.
    unsafe {
        let meta_lock = Locked::new(index, pages::META_BLOCK, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let mut meta = meta_lock
            .ok(pages::read_meta(meta_lock.page()))
            .unwrap_or_else(|| lists::not_an_index());
        if meta.vectors == 0 {
            return; // an index from before tasb 0.5 keeps no count
        }
        meta.vectors += uncounted;
        let mut wal = WalRecord::start(index);
        pages::write_meta(wal.page(meta_lock.buffer(), false), &meta);
        wal.finish();
    }
}

/// Appends the vector under the meta page's lock (creating the first list of an index built on
/// an empty table); returns the meta as this insert left it and where the vector went.
///
/// The first vector of an index without a column size (`tasbvec`, not `tasbvec(768)`) decides its
/// dimensions. A vector of other dimensions is an error while any row the index holds may still
/// be live; when none can be (the rows that set them were rolled back or deleted), the index
/// starts over with the new dimensions: its lists and vectors are left behind, unreferenced,
/// until REINDEX.
unsafe fn append_vector(
    index: pg_sys::Relation,
    heap: pg_sys::Relation,
    dims: usize,
    item: &[u8],
) -> (pages::Meta, (pg_sys::BlockNumber, pg_sys::OffsetNumber)) {
    // SAFETY: lock order is meta, then vector/centroid pages; the guards release every buffer
    // after the WAL record is finished (or on an ERROR).
    unsafe {
        let meta_lock = Locked::new(index, pages::META_BLOCK, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let mut meta = meta_lock
            .ok(pages::read_meta(meta_lock.page()))
            .unwrap_or_else(|| lists::not_an_index());
        meta.vectors += 1;
        if meta.dims == 0 {
            meta.dims = dims as u32;
        } else if meta.dims as usize != dims {
            if column_dims(index).is_some() || may_hold_live_rows(index, heap) {
                dims_mismatch(meta.dims, dims);
            }
            let mut fresh = pages::new_meta(dims as u32);
            fresh.directory_epoch = meta.directory_epoch.wrapping_add(1);
            fresh.vectors = 1;
            meta = fresh;
        }
        let mut held: Vec<Locked> = Vec::with_capacity(3);
        let mut wal = WalRecord::start(index);
        let meta_page = wal.page(meta_lock.buffer(), false);
        let mut placed = None;
        if meta.vector_tail != pages::INVALID_BLOCK {
            let tail = Locked::new(index, meta.vector_tail, pg_sys::BUFFER_LOCK_EXCLUSIVE);
            tail.view(KIND_VECTOR);
            if pages::has_room(tail.page(), item.len()) {
                let page = wal.page(tail.buffer(), false);
                placed = pages::add_item(page, item).map(|offset| (meta.vector_tail, offset));
            }
            held.push(tail);
        }
        if placed.is_none() {
            if let Some(reused) = vector_page_with_room(index, item.len(), meta.vector_tail) {
                let page = wal.page(reused.buffer(), false);
                placed = pages::add_item(page, item).map(|offset| (reused.block(), offset));
                meta.vector_tail = reused.block();
                held.push(reused);
            }
        }
        let placed = match placed {
            Some(placed) => placed,
            None => {
                let fresh = Locked::adopt(index, pages::new_page(index));
                let page = wal.page(fresh.buffer(), true);
                pages::init_page(page, KIND_VECTOR);
                let block = fresh.block();
                held.push(fresh);
                let offset = pages::add_item(page, item).unwrap_or_else(|| too_large(dims));
                meta.vector_tail = block;
                (block, offset)
            }
        };
        if meta.lists == 0 {
            // The first vector of an index built on an empty table: one list around the origin.
            let centroid = Locked::adopt(index, pages::new_page(index));
            let page = wal.page(centroid.buffer(), true);
            pages::init_page(page, KIND_CENTROID);
            let centroid_item = pages::centroid_item(pages::INVALID_BLOCK, 0.0, &vec![0.0; dims]);
            pages::add_item(page, &centroid_item).unwrap_or_else(|| too_large(dims));
            meta.lists = 1;
            meta.centroid_start = centroid.block();
            meta.centroid_tail = centroid.block();
            meta.centroids_per_page = pages::items_per_page(centroid_item.len()) as u32;
            held.push(centroid);
        }
        pages::write_meta(meta_page, &meta);
        wal.finish();
        drop(held);
        drop(meta_lock);
        (meta, placed)
    }
}

/// A vector page with room for an item of `item_bytes` that VACUUM recorded in the free space map
/// (other than `tail`), exclusively locked; None when there is none.
///
/// # Safety
/// `index` is an open tasb_ivf index; pages are locked only conditionally.
unsafe fn vector_page_with_room(
    index: pg_sys::Relation,
    item_bytes: usize,
    tail: pg_sys::BlockNumber,
) -> Option<Locked> {
    let needed = pages::maxalign(item_bytes) + std::mem::size_of::<pg_sys::ItemIdData>();
    for _ in 0..4 {
        // SAFETY: per the contract; a buffer not returned is released by its guard.
        unsafe {
            let block = pg_sys::GetPageWithFreeSpace(index, needed);
            if block == pages::INVALID_BLOCK || block == tail {
                return None;
            }
            let buffer = pg_sys::ReadBuffer(index, block);
            if !pg_sys::ConditionalLockBuffer(buffer) {
                pg_sys::ReleaseBuffer(buffer);
                continue;
            }
            let locked = Locked::adopt(index, buffer);
            let bytes = pages::bytes(locked.page());
            match PageView::parse(bytes) {
                Ok(page)
                    if page.kind() == KIND_VECTOR && pages::has_room(locked.page(), item_bytes) =>
                {
                    return Some(locked)
                }
                // A whole free page stays for new_page; anything else is no longer what the map says.
                _ if pages::is_reusable(bytes) => {}
                _ => pg_sys::RecordPageWithFreeSpace(index, block, 0),
            }
        }
    }
    None
}

/// Whether a row the index holds may still be live: some vector item's heap row is visible to
/// a dirty snapshot (committed, or inserted or deleted by a transaction in progress), or was
/// inserted or deleted by this transaction (a dirty snapshot does not show this transaction's
/// deletions, which a rollback would undo). Called with the meta page exclusively locked, so no
/// insert adds a vector meanwhile; other pages are locked only conditionally (an insert holding a
/// list or centroid page waits for the meta page), and a page that cannot be locked counts as
/// holding a live row.
///
/// # Safety
/// `index` is an open tasb_ivf index whose meta page this backend holds exclusively; `heap` its
/// table.
unsafe fn may_hold_live_rows(index: pg_sys::Relation, heap: pg_sys::Relation) -> bool {
    // SAFETY: per the contract; every index buffer pinned here is released before the next and
    // before any heap page is read; the slot is dropped before returning (on an ERROR the
    // resource owner releases its pin).
    unsafe {
        let blocks =
            pg_sys::RelationGetNumberOfBlocksInFork(index, pg_sys::ForkNumber::MAIN_FORKNUM);
        let heap_blocks =
            pg_sys::RelationGetNumberOfBlocksInFork(heap, pg_sys::ForkNumber::MAIN_FORKNUM);
        let Some(fetch_version) = (*(*heap).rd_tableam).tuple_fetch_row_version else {
            return true;
        };
        // InitDirtySnapshot / SnapshotAny: only the type matters to these visibility checks.
        let mut dirty: pg_sys::SnapshotData = std::mem::zeroed();
        dirty.snapshot_type = pg_sys::SnapshotType::SNAPSHOT_DIRTY;
        let mut any: pg_sys::SnapshotData = std::mem::zeroed();
        any.snapshot_type = pg_sys::SnapshotType::SNAPSHOT_ANY;
        let slot = pg_sys::table_slot_create(heap, std::ptr::null_mut());
        let mut tids = Vec::new();
        let mut live = false;
        'pages: for block in 1..blocks {
            let buffer = pg_sys::ReadBuffer(index, block);
            if !pg_sys::ConditionalLockBuffer(buffer) {
                pg_sys::ReleaseBuffer(buffer);
                live = true;
                break;
            }
            let locked = Locked::adopt(index, buffer);
            tids.clear();
            match PageView::parse(pages::bytes(locked.page())) {
                Err(pages::PageError::New) => continue, // extended, never written
                Err(error) => pages::corrupt(index, block, error),
                Ok(page) if page.kind() == KIND_VECTOR => {
                    for offset in 1..=page.max_offset() {
                        if page.is_unused(offset) {
                            continue; // a removed vector
                        }
                        let item = locked.ok(page.item(offset));
                        if item.len() < pages::VECTOR_PREFIX {
                            let error = pages::PageError::ItemSize {
                                offset,
                                len: item.len(),
                                expected: pages::VECTOR_PREFIX,
                            };
                            pages::corrupt(index, block, error);
                        }
                        tids.push(pages::tid_from_bytes(&item[..6]));
                    }
                }
                Ok(_) => continue,
            }
            drop(locked);
            for tid in &mut tids {
                // A row past the table's end was vacuumed away with its page.
                let heap_block =
                    (u32::from(tid.ip_blkid.bi_hi) << 16) | u32::from(tid.ip_blkid.bi_lo);
                if heap_block >= heap_blocks {
                    continue;
                }
                let mut all_dead = false;
                if pg_sys::table_index_fetch_tuple_check(heap, tid, &mut dirty, &mut all_dead) {
                    live = true;
                    break 'pages;
                }
                if fetch_version(heap, tid, &mut any, slot) {
                    let mut should_free = false;
                    let tuple = pg_sys::ExecFetchSlotHeapTuple(slot, false, &mut should_free);
                    let header = (*tuple).t_data;
                    let xmin = (*header).t_choice.t_heap.t_xmin;
                    let xmax = (*header).t_choice.t_heap.t_xmax;
                    let mask = u32::from((*header).t_infomask);
                    let deleted_here = mask & pg_sys::HEAP_XMAX_INVALID == 0
                        && (mask & pg_sys::HEAP_XMAX_IS_MULTI != 0
                            || pg_sys::TransactionIdIsCurrentTransactionId(xmax));
                    let mine = pg_sys::TransactionIdIsCurrentTransactionId(xmin) || deleted_here;
                    if should_free {
                        pg_sys::heap_freetuple(tuple);
                    }
                    if mine {
                        live = true;
                        break 'pages;
                    }
                }
            }
        }
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        live
    }
}

/// What [`add_entry`] did.
enum Added {
    /// The entry went on the list's head page.
    Entry,
    /// The entry started a new block (the list grew by a block of entries: time to see whether it
    /// should split).
    NewBlock,
    /// The list's centroid is not the one the entry was encoded against (a split changed it):
    /// nothing was written.
    Stale,
}

/// Adds an entry at the head of `list`: into a block of the head page with room, else a new
/// block on the head page, else a new head page linked to the old one; raises the list's
/// spread when this residual is wider. The centroid
/// page's lock serialises inserts into its lists. A new head or a wider spread also raises the meta
/// page's directory epoch in the same WAL record, so scans drop their cached heads and spreads
/// (see [`super::cache::directory`]) before this row can commit, and no crash can separate the two.
unsafe fn add_entry(
    index: pg_sys::Relation,
    meta: &pages::Meta,
    shape: &cache::Shape,
    list: u32,
    code: &[u8],
    payload: &[u8],
    spread: f32,
) -> Added {
    let layout = lists::layout(meta);
    let (block, offset) = centroid_location(meta, &shape.centroid_pages, list);
    // SAFETY: lock order centroid page, then list page, then (when the directory changes) the
    // meta page; all released below. Nobody waits for a centroid or list page while holding the
    // meta page: append_vector holds it only while locking vector pages and, for an empty
    // index's first row, a centroid page it has just created. Centroid items are changed in place
    // on the WAL record's page copy (fixed size, so nothing moves).
    unsafe {
        let centroid = Locked::new(index, block, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let centroid_page = centroid.view(KIND_CENTROID);
        let item = centroid.ok(centroid_page.item_sized(offset, lists::centroid_item_bytes(meta)));
        if !lists::centroid_is(item, shape.centroid(meta.dims as usize, list as usize)) {
            return Added::Stale;
        }
        let head = lists::read_head(item);
        let wider = spread > lists::read_spread(item);
        let mut wal = WalRecord::start(index);
        let mut held = None;
        let mut new_head = None;
        let mut new_block = false;
        if head != pages::INVALID_BLOCK {
            let head_lock = Locked::new(index, head, pg_sys::BUFFER_LOCK_EXCLUSIVE);
            let head_page = head_lock.view(KIND_LIST);
            let mut with_room = None;
            for offset in 1..=head_page.max_offset() {
                let entries = head_lock.ok(lists::block_item(&head_page, offset, &layout));
                if !layout.is_full(entries) {
                    with_room = Some(offset);
                    break;
                }
            }
            if let Some(offset) = with_room {
                let copy = wal.page(head_lock.buffer(), false);
                layout.push(head_lock.ok(pages::item_mut(copy, offset)), code, payload);
                held = Some(head_lock);
            } else if pages::has_room(head_lock.page(), layout.bytes()) {
                let block_item = layout.with_entry(code, payload);
                pages::add_item(wal.page(head_lock.buffer(), false), &block_item);
                held = Some(head_lock);
                new_block = true;
            }
        }
        if held.is_none() {
            let fresh = Locked::adopt(index, pages::new_page(index));
            let page = wal.page(fresh.buffer(), true);
            pages::init_page(page, KIND_LIST);
            (*pages::opaque(page)).next = head;
            pages::add_item(page, &layout.with_entry(code, payload));
            new_head = Some(fresh.block());
            held = Some(fresh);
        }
        let mut meta_lock = None;
        if new_head.is_some() || wider {
            let copy = wal.page(centroid.buffer(), false);
            let target = centroid.ok(pages::item_mut(copy, offset));
            if let Some(new_head) = new_head {
                target[..4].copy_from_slice(&new_head.to_le_bytes());
            }
            if wider {
                target[4..8].copy_from_slice(&spread.to_le_bytes());
            }
            let locked = Locked::new(index, pages::META_BLOCK, pg_sys::BUFFER_LOCK_EXCLUSIVE);
            let meta_page = wal.page(locked.buffer(), false);
            let mut current = locked
                .ok(pages::read_meta(meta_page))
                .unwrap_or_else(|| lists::not_an_index());
            current.directory_epoch += 1;
            pages::write_meta(meta_page, &current);
            meta_lock = Some(locked);
        }
        wal.finish();
        drop(meta_lock);
        drop(held);
        drop(centroid);
        if new_block || new_head.is_some() {
            Added::NewBlock
        } else {
            Added::Entry
        }
    }
}
