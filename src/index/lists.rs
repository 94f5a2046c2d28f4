//! Reading the index's metadata and centroids, shared by inserts, scans, vacuum and costing.

use super::pages::{self, Locked, Meta, PageError, PageView, CENTROID_PREFIX};
use super::vectors::too_large;
use crate::errors::raise;
use pgrx::{pg_sys, PgSqlErrorCode};
use tasb_index::block::BlockLayout;

/// The meta page's contents.
///
/// # Safety
/// `index` is an open tasb_ivf index.
pub unsafe fn meta(index: pg_sys::Relation) -> Meta {
    // SAFETY: block 0 exists in every tasb_ivf index (written first by ambuild/ambuildempty);
    // the guard keeps it locked while it is read.
    let meta = unsafe {
        let locked = Locked::new(index, pages::META_BLOCK, pg_sys::BUFFER_LOCK_SHARE);
        locked.ok(pages::read_meta(locked.page()))
    };
    meta.unwrap_or_else(|| not_an_index())
}

/// How the index's list pages group entries into blocks.
pub fn layout(meta: &Meta) -> BlockLayout {
    pages::list_layout(meta.dims as usize).unwrap_or_else(|| too_large(meta.dims as usize))
}

/// Item `offset` of a list page: a block of `layout`'s size, or the page is damaged.
pub fn block_item<'a>(
    page: &PageView<'a>,
    offset: pg_sys::OffsetNumber,
    layout: &BlockLayout,
) -> Result<&'a [u8], PageError> {
    page.item_sized(offset, layout.bytes())
}

/// The size of a centroid item of `meta`'s index.
pub fn centroid_item_bytes(meta: &Meta) -> usize {
    CENTROID_PREFIX + meta.dims as usize * 4
}

pub fn not_an_index() -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INDEX_CORRUPTED,
        "tasb_ivf index has no valid meta page",
        None,
        Some("It was written by another tasb version or is damaged; REINDEX it."),
    )
}

/// Block and item of list `list`'s centroid, given the centroid pages in order
/// ([`super::cache::Shape::centroid_pages`]).
pub fn centroid_location(
    meta: &Meta,
    centroid_pages: &[pg_sys::BlockNumber],
    list: u32,
) -> (pg_sys::BlockNumber, pg_sys::OffsetNumber) {
    let per_page = meta.centroids_per_page.max(1);
    let page = centroid_pages
        .get((list / per_page) as usize)
        .copied()
        .unwrap_or(pages::INVALID_BLOCK);
    (page, (list % per_page) as pg_sys::OffsetNumber + 1)
}

/// Calls `visit` with every centroid page's block and items in list order, one centroid page
/// locked at a time. The build's pages are contiguous from `centroid_start`; a page that splits
/// added is named by the `next` link of the page before it.
///
/// # Safety
/// `index` is an open tasb_ivf index and `meta` was read from it.
unsafe fn for_each_centroid_page(
    index: pg_sys::Relation,
    meta: &Meta,
    mut visit: impl FnMut(pg_sys::BlockNumber, &[&[u8]]),
) {
    let per_page = meta.centroids_per_page.max(1);
    let item_bytes = centroid_item_bytes(meta);
    let mut block = meta.centroid_start;
    for p in 0..meta.lists.div_ceil(per_page) {
        // SAFETY: a centroid page of the index (lists beyond it exist); the guard keeps it locked
        // while its items are read.
        let locked = unsafe { Locked::new(index, block, pg_sys::BUFFER_LOCK_SHARE) };
        let page = locked.view(pages::KIND_CENTROID);
        let count = per_page.min(meta.lists - p * per_page);
        let mut items = Vec::with_capacity(count as usize);
        for offset in 1..=count as pg_sys::OffsetNumber {
            items.push(locked.ok(page.item_sized(offset, item_bytes)));
        }
        visit(block, &items);
        block = match page.next() {
            pages::INVALID_BLOCK => block + 1,
            next => next,
        };
    }
}

/// The centroids (row-major), each list's head and spread, and the centroid pages in order: all
/// read in one walk over the centroid pages (through [`super::cache`], which checks that no
/// split changed them meanwhile).
///
/// # Safety
/// As for [`for_each_centroid_page`].
pub unsafe fn read_shape(
    index: pg_sys::Relation,
    meta: &Meta,
) -> (Vec<f32>, Directory, Vec<pg_sys::BlockNumber>) {
    let lists = meta.lists as usize;
    let mut centroids = Vec::with_capacity(lists * meta.dims as usize);
    let mut directory = Directory {
        epoch: meta.directory_epoch,
        spreads: Vec::with_capacity(lists),
        heads: Vec::with_capacity(lists),
    };
    let mut centroid_pages = Vec::new();
    // SAFETY: per the contract.
    unsafe {
        for_each_centroid_page(index, meta, |block, items| {
            centroid_pages.push(block);
            for item in items {
                directory.heads.push(read_head(item));
                directory.spreads.push(read_spread(item));
                centroids.extend(
                    item[CENTROID_PREFIX..]
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                );
            }
        })
    };
    (centroids, directory, centroid_pages)
}

/// Each list's head and spread alone, in one walk over the centroid pages.
///
/// # Safety
/// As for [`for_each_centroid_page`].
pub unsafe fn read_directory(index: pg_sys::Relation, meta: &Meta) -> Directory {
    let mut directory = Directory {
        epoch: meta.directory_epoch,
        spreads: Vec::with_capacity(meta.lists as usize),
        heads: Vec::with_capacity(meta.lists as usize),
    };
    // SAFETY: per the contract.
    unsafe {
        for_each_centroid_page(index, meta, |_, items| {
            for item in items {
                directory.heads.push(read_head(item));
                directory.spreads.push(read_spread(item));
            }
        })
    };
    directory
}

/// Each list's spread (largest residual norm) and first page. Inserts raise spreads and put new
/// pages at list heads, and raise the meta page's directory epoch when they do.
pub struct Directory {
    /// The meta page's directory epoch when this was read (it was read after the meta).
    pub epoch: u64,
    pub spreads: Vec<f32>,
    pub heads: Vec<pg_sys::BlockNumber>,
}

/// Whether a centroid item holds exactly `centroid`.
pub fn centroid_is(centroid_item: &[u8], centroid: &[f32]) -> bool {
    let stored = &centroid_item[CENTROID_PREFIX..];
    stored.len() == centroid.len() * 4
        && stored
            .chunks_exact(4)
            .zip(centroid)
            .all(|(b, c)| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) == c.to_bits())
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

/// Counts the pages of a walk along `next` links, so that a damaged link that makes a cycle is an
/// ERROR instead of an endless loop: a walk never visits more pages than the index has.
pub struct Walk {
    index: pg_sys::Relation,
    steps: u32,
    limit: u32,
}

impl Walk {
    pub fn new(index: pg_sys::Relation) -> Self {
        Walk {
            index,
            steps: 0,
            limit: 0,
        }
    }

    /// Called for each page visited (`block`); reads the index's size only when the walk grows
    /// past the size it last read.
    pub fn step(&mut self, block: pg_sys::BlockNumber) {
        self.steps += 1;
        if self.steps > self.limit {
            // SAFETY: the index is open while it is walked.
            self.limit = unsafe {
                pg_sys::RelationGetNumberOfBlocksInFork(
                    self.index,
                    pg_sys::ForkNumber::MAIN_FORKNUM,
                )
            };
            if self.steps > self.limit {
                pages::corrupt(self.index, block, PageError::Cycle { pages: self.limit });
            }
        }
    }
}
