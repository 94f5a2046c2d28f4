//! aminsert: a row's vector goes to the vector tail page, its entry to the head page of the list
//! with the nearest centroid. Two generic WAL records; a crash between them leaves only an
//! unreferenced vector, never an entry without its vector.

use super::cache;
use super::lists::{self, centroid_location};
use super::pages::{self, WalRecord, KIND_CENTROID, KIND_LIST, KIND_VECTOR};
use super::vectors::{as_elements, dims_mismatch, element_bytes, to_f32, too_large};
use pgrx::pg_sys;
use tasb_index::ivf::encode_entry;
use tasb_index::kmeans;

#[allow(clippy::too_many_arguments)]
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn aminsert(
    index: pg_sys::Relation,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    _heap: pg_sys::Relation,
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
        let (meta, (vector_block, vector_offset)) = append_vector(index, dims, bytes, &*heap_tid);
        let x = to_f32(as_elements(dims, bytes));
        let shape = cache::shape(index, &meta);
        let centroids = &shape.centroids;
        let list = kmeans::nearest(centroids, &shape.inverse_norms, dims, &x);
        let mut code = Vec::new();
        let spread = encode_entry(
            &shape.rotation,
            &centroids[list * dims..(list + 1) * dims],
            &x,
            lists::layout(&meta).ex_planes(),
            &mut code,
        );
        let mut payload = Vec::with_capacity(pages::PAYLOAD_BYTES);
        pages::Payload {
            heap: *heap_tid,
            vector_block,
            vector_offset,
        }
        .write(&mut payload);
        add_entry(index, &meta, list as u32, &code, &payload, spread);
        false
    }
}

/// Appends the vector under the meta page's lock (creating the first list of an index built on
/// an empty table); returns the meta as this insert left it and where the vector went.
unsafe fn append_vector(
    index: pg_sys::Relation,
    dims: usize,
    bytes: &[u8],
    heap_tid: &pg_sys::ItemPointerData,
) -> (pages::Meta, (pg_sys::BlockNumber, pg_sys::OffsetNumber)) {
    let item = pages::vector_item(heap_tid, bytes);
    // SAFETY: lock order is meta, then vector/centroid pages; every buffer is released below.
    unsafe {
        let meta_buffer = pages::lock(index, pages::META_BLOCK, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let mut meta = pages::read_meta(pg_sys::BufferGetPage(meta_buffer))
            .unwrap_or_else(|| lists::not_an_index());
        if meta.dims == 0 {
            meta.dims = dims as u32;
        } else if meta.dims as usize != dims {
            dims_mismatch(meta.dims, dims);
        }
        let mut held = Vec::with_capacity(3);
        let mut wal = WalRecord::start(index);
        let meta_page = wal.page(meta_buffer, false);
        let mut placed = None;
        if meta.vector_tail != pages::INVALID_BLOCK {
            let tail = pages::lock(index, meta.vector_tail, pg_sys::BUFFER_LOCK_EXCLUSIVE);
            held.push(tail);
            if pages::has_room(pg_sys::BufferGetPage(tail), item.len()) {
                let page = wal.page(tail, false);
                placed = pages::add_item(page, &item).map(|offset| (meta.vector_tail, offset));
            }
        }
        let placed = match placed {
            Some(placed) => placed,
            None => {
                let fresh = pages::extend(index);
                held.push(fresh);
                let page = wal.page(fresh, true);
                pages::init_page(page, KIND_VECTOR);
                let block = pg_sys::BufferGetBlockNumber(fresh);
                let offset = pages::add_item(page, &item).unwrap_or_else(|| too_large(dims));
                meta.vector_tail = block;
                (block, offset)
            }
        };
        if meta.lists == 0 {
            // The first vector of an index built on an empty table: one list around the origin.
            let centroid = pages::extend(index);
            held.push(centroid);
            let page = wal.page(centroid, true);
            pages::init_page(page, KIND_CENTROID);
            let centroid_item = pages::centroid_item(pages::INVALID_BLOCK, 0.0, &vec![0.0; dims]);
            pages::add_item(page, &centroid_item).unwrap_or_else(|| too_large(dims));
            meta.lists = 1;
            meta.centroid_start = pg_sys::BufferGetBlockNumber(centroid);
            meta.centroids_per_page = pages::items_per_page(centroid_item.len()) as u32;
        }
        pages::write_meta(meta_page, &meta);
        wal.finish();
        for buffer in held {
            pg_sys::UnlockReleaseBuffer(buffer);
        }
        pg_sys::UnlockReleaseBuffer(meta_buffer);
        (meta, placed)
    }
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
    list: u32,
    code: &[u8],
    payload: &[u8],
    spread: f32,
) {
    let layout = lists::layout(meta);
    let (block, offset) = centroid_location(meta, list);
    // SAFETY: lock order centroid page, then list page, then (when the directory changes) the
    // meta page; all released below. Nobody waits for a centroid or list page while holding the
    // meta page: append_vector holds it only while locking vector pages and, for an empty
    // index's first row, a centroid page it has just created. Centroid items are changed in place
    // on the WAL record's page copy (fixed size, so nothing moves).
    unsafe {
        let centroid = pages::lock(index, block, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        let item = pages::item(pg_sys::BufferGetPage(centroid), offset);
        let head = lists::read_head(item);
        let wider = spread > lists::read_spread(item);
        let mut wal = WalRecord::start(index);
        let mut held = None;
        let mut new_head = None;
        if head != pages::INVALID_BLOCK {
            let head_buffer = pages::lock(index, head, pg_sys::BUFFER_LOCK_EXCLUSIVE);
            held = Some(head_buffer);
            let head_page = pg_sys::BufferGetPage(head_buffer);
            let with_room = (1..=pages::max_offset(head_page))
                .find(|&offset| !layout.is_full(lists::block_item(head_page, offset, &layout)));
            if let Some(offset) = with_room {
                let copy = wal.page(head_buffer, false);
                layout.push(pages::item_mut(copy, offset), code, payload);
            } else if pages::has_room(head_page, layout.bytes()) {
                let block_item = layout.with_entry(code, payload);
                pages::add_item(wal.page(head_buffer, false), &block_item);
            } else {
                pg_sys::UnlockReleaseBuffer(head_buffer);
                held = None;
            }
        }
        if held.is_none() {
            let fresh = pages::extend(index);
            held = Some(fresh);
            let page = wal.page(fresh, true);
            pages::init_page(page, KIND_LIST);
            (*pages::opaque(page)).next = head;
            pages::add_item(page, &layout.with_entry(code, payload));
            new_head = Some(pg_sys::BufferGetBlockNumber(fresh));
        }
        let mut meta_buffer = None;
        if new_head.is_some() || wider {
            let centroid_page = wal.page(centroid, false);
            let id = pg_sys::PageGetItemId(centroid_page, offset);
            let target = pg_sys::PageGetItem(centroid_page, id) as *mut u8;
            if let Some(new_head) = new_head {
                std::ptr::copy_nonoverlapping(new_head.to_le_bytes().as_ptr(), target, 4);
            }
            if wider {
                std::ptr::copy_nonoverlapping(spread.to_le_bytes().as_ptr(), target.add(4), 4);
            }
            let buffer = pages::lock(index, pages::META_BLOCK, pg_sys::BUFFER_LOCK_EXCLUSIVE);
            meta_buffer = Some(buffer);
            let meta_page = wal.page(buffer, false);
            let mut current = pages::read_meta(meta_page).unwrap_or_else(|| lists::not_an_index());
            current.directory_epoch += 1;
            pages::write_meta(meta_page, &current);
        }
        wal.finish();
        for buffer in [held, meta_buffer].into_iter().flatten() {
            pg_sys::UnlockReleaseBuffer(buffer);
        }
        pg_sys::UnlockReleaseBuffer(centroid);
    }
}
