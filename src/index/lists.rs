//! Reading the index's metadata and centroids, shared by inserts, scans, vacuum and costing.

use super::pages::{self, Meta, CENTROID_PREFIX};
use super::vectors::too_large;
use crate::errors::raise;
use pgrx::{pg_sys, PgSqlErrorCode};
use tasb_index::block::BlockLayout;

/// The meta page's contents.
///
/// # Safety
/// `index` is an open tasb_ivf index.
pub unsafe fn meta(index: pg_sys::Relation) -> Meta {
    // SAFETY: block 0 exists in every tasb_ivf index (written first by ambuild/ambuildempty).
    unsafe {
        let buffer = pages::lock(index, pages::META_BLOCK, pg_sys::BUFFER_LOCK_SHARE);
        let meta = pages::read_meta(pg_sys::BufferGetPage(buffer));
        pg_sys::UnlockReleaseBuffer(buffer);
        meta.unwrap_or_else(|| not_an_index())
    }
}

/// How the index's list pages group entries into blocks.
pub fn layout(meta: &Meta) -> BlockLayout {
    pages::list_layout(meta.dims as usize).unwrap_or_else(|| too_large(meta.dims as usize))
}

/// Item `offset` of a list page: a block of `layout`'s size, or the index is damaged.
///
/// # Safety
/// As for [`pages::item`].
pub unsafe fn block_item<'a>(
    page: pg_sys::Page,
    offset: pg_sys::OffsetNumber,
    layout: &BlockLayout,
) -> &'a [u8] {
    // SAFETY: per the contract.
    let entries = unsafe { pages::item(page, offset) };
    if entries.len() != layout.bytes() {
        not_an_index();
    }
    entries
}

pub fn not_an_index() -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INDEX_CORRUPTED,
        "tasb_ivf index has no valid meta page",
        None,
        Some("It was written by another tasb version or is damaged; REINDEX it."),
    )
}

/// Block and item of list `list`'s centroid.
pub fn centroid_location(meta: &Meta, list: u32) -> (pg_sys::BlockNumber, pg_sys::OffsetNumber) {
    let per_page = meta.centroids_per_page.max(1);
    (
        meta.centroid_start + list / per_page,
        (list % per_page) as pg_sys::OffsetNumber + 1,
    )
}

/// Calls `visit` with every centroid item in list order, one centroid page locked at a time.
///
/// # Safety
/// `index` is an open tasb_ivf index and `meta` its current meta.
unsafe fn for_each_centroid_item(
    index: pg_sys::Relation,
    meta: &Meta,
    mut visit: impl FnMut(&[u8]),
) {
    let per_page = meta.centroids_per_page.max(1);
    for p in 0..meta.lists.div_ceil(per_page) {
        // SAFETY: centroid pages are contiguous from centroid_start (see pages.rs).
        unsafe {
            let buffer = pages::lock(index, meta.centroid_start + p, pg_sys::BUFFER_LOCK_SHARE);
            let page = pg_sys::BufferGetPage(buffer);
            for offset in 1..=pages::max_offset(page) {
                visit(pages::item(page, offset));
            }
            pg_sys::UnlockReleaseBuffer(buffer);
        }
    }
}

/// All centroids, row-major (read through [`super::cache`]).
///
/// # Safety
/// As for [`for_each_centroid_item`].
pub unsafe fn centroids(index: pg_sys::Relation, meta: &Meta) -> Vec<f32> {
    let mut out = Vec::with_capacity(meta.lists as usize * meta.dims as usize);
    // SAFETY: per the contract.
    unsafe {
        for_each_centroid_item(index, meta, |item| {
            out.extend(
                item[CENTROID_PREFIX..]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            )
        })
    };
    out
}

/// Each list's spread (largest residual norm) and first page. Inserts raise spreads and put new
/// pages at list heads, and raise the meta page's directory epoch when they do.
pub struct Directory {
    /// The meta page's directory epoch when this was read (it was read after the meta).
    pub epoch: u64,
    pub spreads: Vec<f32>,
    pub heads: Vec<pg_sys::BlockNumber>,
}

/// Reads the [`Directory`] in one walk over the centroid pages.
///
/// # Safety
/// As for [`for_each_centroid_item`].
pub unsafe fn directory(index: pg_sys::Relation, meta: &Meta) -> Directory {
    let mut directory = Directory {
        epoch: meta.directory_epoch,
        spreads: Vec::with_capacity(meta.lists as usize),
        heads: Vec::with_capacity(meta.lists as usize),
    };
    // SAFETY: per the contract.
    unsafe {
        for_each_centroid_item(index, meta, |item| {
            directory.spreads.push(read_spread(item));
            directory.heads.push(read_head(item));
        })
    };
    directory
}

/// The first page of a list (INVALID_BLOCK when empty).
///
/// # Safety
/// As for [`centroids`].
pub unsafe fn head(index: pg_sys::Relation, meta: &Meta, list: u32) -> pg_sys::BlockNumber {
    let (block, offset) = centroid_location(meta, list);
    // SAFETY: the centroid item exists (list < meta.lists).
    unsafe {
        let buffer = pages::lock(index, block, pg_sys::BUFFER_LOCK_SHARE);
        let head = read_head(pages::item(pg_sys::BufferGetPage(buffer), offset));
        pg_sys::UnlockReleaseBuffer(buffer);
        head
    }
}

pub fn read_head(centroid_item: &[u8]) -> pg_sys::BlockNumber {
    u32::from_le_bytes([
        centroid_item[0],
        centroid_item[1],
        centroid_item[2],
        centroid_item[3],
    ])
}

pub fn read_spread(centroid_item: &[u8]) -> f32 {
    f32::from_le_bytes([
        centroid_item[4],
        centroid_item[5],
        centroid_item[6],
        centroid_item[7],
    ])
}
