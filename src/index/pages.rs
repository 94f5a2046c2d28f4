//! The index's page layout and the buffer/WAL primitives the other files use.
//!
//! ```text
//! block 0           meta page: a Meta struct
//! vector pages      items: heap TID (6 bytes), 2 zero bytes, the vector's elements (f32 or f16)
//! list pages        items: blocks of up to 32 entries (tasb_index::block's layout: transposed
//!                   RaBitQ codes, then per entry a Payload: heap TID + where the vector is);
//!                   blocks have a fixed size and are filled in place;
//!                   special.next: the previous page of the same list (lists grow at the head)
//! centroid pages    items: list head block (u32), the list's spread (f32: its largest residual
//!                   norm, used to rank lists), the centroid (f32 x dims);
//!                   list l is item (l % per_page) + 1 of the (l / per_page)-th centroid page;
//!                   the build writes them contiguously from centroid_start (special.next
//!                   unset); pages that splits add are linked from the previous last page's
//!                   special.next (see lists::centroid_pages)
//! ```
//! Every page change after the build goes through generic WAL; a build writes pages directly and
//! then logs them all with `log_newpage_range`.

use crate::errors::raise;
use pgrx::{pg_sys, PgSqlErrorCode};
use std::mem::size_of;
use tasb_index::block::BlockLayout;
pub use tasb_index::page::{PageError, PageView};

pub const META_BLOCK: pg_sys::BlockNumber = 0;
pub const INVALID_BLOCK: pg_sys::BlockNumber = pg_sys::InvalidBlockNumber;
const MAGIC: u32 = 0x7461_7362; // "tasb"
pub const LAYOUT_VERSION: u32 = 4;

pub use tasb_index::page::{KIND_CENTROID, KIND_LIST, KIND_META, KIND_VECTOR, VECTOR_PREFIX};

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    pub magic: u32,
    pub version: u32,
    pub dims: u32,
    /// 0 until the first vector arrives (an index built on an empty table).
    pub lists: u32,
    pub centroid_start: pg_sys::BlockNumber,
    pub centroids_per_page: u32,
    /// Vector page that inserts append to.
    pub vector_tail: pg_sys::BlockNumber,
    /// Probes chosen by the build for this data (0: none yet; see tasb_index::tune).
    pub default_probes: u32,
    pub rotation_seed: u64,
    /// Different for every build, so per-backend caches never mistake one index for another that
    /// reuses its relfilenode.
    pub build_id: u64,
    /// Raised after an insert changes a list's head page or spread: scans reuse the list heads
    /// and spreads they read last while it stays the same (see [`super::cache::directory`]).
    pub directory_epoch: u64,
    /// Recall@10 of the build's calibration queries at `default_probes` (0: not measured, as in
    /// indexes built before tasb 0.3.0, whose meta pages end before this field).
    pub estimated_recall: f32,
    pub _reserved: u32,
    /// The last centroid page, where a split puts its new list (0 on indexes from before tasb
    /// 0.5, read as the last of the build's contiguous centroid pages).
    pub centroid_tail: pg_sys::BlockNumber,
    /// Lists when `default_probes` was chosen: splits add lists, and the default grows with them
    /// (0 before tasb 0.5, read as `lists`).
    pub tuned_lists: u32,
    /// Vectors written (the build's and every insert's, dead ones included): the table size that
    /// decides when a list has outgrown its share (0 before tasb 0.5: lists do not split).
    pub vectors: u64,
}

/// The bytes of a meta page written before `estimated_recall` existed: such pages are read with
/// the later fields 0.
const META_BYTES_BEFORE_0_3: usize = std::mem::offset_of!(Meta, estimated_recall);

#[repr(C)]
pub struct Opaque {
    pub next: pg_sys::BlockNumber,
    pub kind: u16,
    pub flags: u16,
}

/// Opaque flag: nothing refers to the page any more (a list chain that a split replaced); scans
/// that began before may still read it, until its pd_prune_xid is older than every snapshot.
pub const FLAG_RETIRED: u16 = 1;

/// Vector item prefix byte 6 (after the heap TID): VACUUM removed the row's list entry; the item
/// goes once the page's pd_prune_xid is older than every snapshot.
pub const VECTOR_DEAD_AT: usize = 6;

const _: () = {
    assert!(tasb_index::page::BLCKSZ == pg_sys::BLCKSZ as usize);
    assert!(
        tasb_index::page::HEADER_BYTES == std::mem::offset_of!(pg_sys::PageHeaderData, pd_linp)
    );
    assert!(tasb_index::page::SPECIAL_BYTES == size_of::<Opaque>());
    assert!(size_of::<pg_sys::ItemIdData>() == 4);
};

/// Where a list entry's full vector and heap row are.
#[derive(Clone, Copy, Debug)]
pub struct Payload {
    pub heap: pg_sys::ItemPointerData,
    pub vector_block: pg_sys::BlockNumber,
    pub vector_offset: pg_sys::OffsetNumber,
}

pub const PAYLOAD_BYTES: usize = 12;
pub const CENTROID_PREFIX: usize = 8;

impl Payload {
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&tid_bytes(&self.heap));
        out.extend_from_slice(&self.vector_block.to_le_bytes());
        out.extend_from_slice(&self.vector_offset.to_le_bytes());
    }
    pub fn read(bytes: &[u8]) -> Payload {
        Payload {
            heap: tid_from_bytes(&bytes[..6]),
            vector_block: u32::from_le_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]),
            vector_offset: u16::from_le_bytes([bytes[10], bytes[11]]),
        }
    }
}

/// A vector page item: the heap TID, 2 zero bytes, the vector's element bytes.
pub fn vector_item(heap: &pg_sys::ItemPointerData, elements: &[u8]) -> Vec<u8> {
    let mut item = Vec::with_capacity(VECTOR_PREFIX + elements.len());
    item.extend_from_slice(&tid_bytes(heap));
    item.extend_from_slice(&[0, 0]);
    item.extend_from_slice(elements);
    item
}

/// A centroid page item: the list's head block, its spread, the centroid.
pub fn centroid_item(head: pg_sys::BlockNumber, spread: f32, centroid: &[f32]) -> Vec<u8> {
    let mut item = Vec::with_capacity(CENTROID_PREFIX + centroid.len() * 4);
    item.extend_from_slice(&head.to_le_bytes());
    item.extend_from_slice(&spread.to_le_bytes());
    for value in centroid {
        item.extend_from_slice(&value.to_le_bytes());
    }
    item
}

pub fn tid_bytes(tid: &pg_sys::ItemPointerData) -> [u8; 6] {
    let [a, b] = tid.ip_blkid.bi_hi.to_le_bytes();
    let [c, d] = tid.ip_blkid.bi_lo.to_le_bytes();
    let [e, f] = tid.ip_posid.to_le_bytes();
    [a, b, c, d, e, f]
}

pub fn tid_from_bytes(b: &[u8]) -> pg_sys::ItemPointerData {
    pg_sys::ItemPointerData {
        ip_blkid: pg_sys::BlockIdData {
            bi_hi: u16::from_le_bytes([b[0], b[1]]),
            bi_lo: u16::from_le_bytes([b[2], b[3]]),
        },
        ip_posid: u16::from_le_bytes([b[4], b[5]]),
    }
}

/// How list entries of `dims`-dimensional vectors are grouped into blocks: the most entries per
/// block (up to 32) that still fit on one page. None past about 16,000 dimensions, beyond what the
/// types allow.
pub fn list_layout(dims: usize) -> Option<BlockLayout> {
    let limit = (page_capacity() - size_of::<pg_sys::ItemIdData>()) / 8 * 8;
    BlockLayout::fitting(dims, PAYLOAD_BYTES, limit)
}

/// Usable bytes for items on an empty page (line pointer included).
pub fn page_capacity() -> usize {
    pg_sys::BLCKSZ as usize - size_of::<pg_sys::PageHeaderData>() - maxalign(size_of::<Opaque>())
}

pub fn maxalign(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// Items of `item_bytes` that fit on one page.
pub fn items_per_page(item_bytes: usize) -> usize {
    page_capacity() / (maxalign(item_bytes) + size_of::<pg_sys::ItemIdData>())
}

/// Initialises `page` (a buffer's page or a local image of BLCKSZ bytes, MAXALIGNed).
///
/// # Safety
/// `page` points to BLCKSZ writable bytes aligned to 8.
pub unsafe fn init_page(page: pg_sys::Page, kind: u16) {
    // SAFETY: per the contract, a whole writable page.
    unsafe {
        pg_sys::PageInit(page, pg_sys::BLCKSZ as usize, size_of::<Opaque>());
        let opaque = opaque(page);
        (*opaque).next = INVALID_BLOCK;
        (*opaque).kind = kind;
        (*opaque).flags = 0;
    }
}

/// # Safety
/// `page` is an initialised page of this index.
pub unsafe fn opaque(page: pg_sys::Page) -> *mut Opaque {
    // SAFETY: init_page reserved the special space for an Opaque.
    unsafe { pg_sys::PageGetSpecialPointer(page) as *mut Opaque }
}

/// Writes the meta struct and moves pd_lower past it, so full-page images keep it.
///
/// # Safety
/// `page` is an initialised meta page, exclusively locked or private.
pub unsafe fn write_meta(page: pg_sys::Page, meta: &Meta) {
    // SAFETY: the contents area of an empty page has room for a Meta (far under BLCKSZ).
    unsafe {
        let contents = pg_sys::PageGetContents(page);
        std::ptr::write_unaligned(contents as *mut Meta, *meta);
        let header = page as *mut pg_sys::PageHeaderData;
        (*header).pd_lower = (contents as usize + size_of::<Meta>() - page as usize) as u16;
    }
}

/// The meta page's Meta: None when it is not this layout version's (another tasb version's
/// index); an error when the page is damaged.
///
/// # Safety
/// `page` is the index's meta page, locked (or a WAL record's copy of it).
pub unsafe fn read_meta(page: pg_sys::Page) -> Result<Option<Meta>, PageError> {
    // SAFETY: per the contract.
    let view = PageView::parse_kind(unsafe { bytes(page) }, KIND_META)?;
    let contents = view.meta_prefix(META_BYTES_BEFORE_0_3, size_of::<Meta>())?;
    let mut raw = [0u8; size_of::<Meta>()];
    raw[..contents.len()].copy_from_slice(contents);
    // SAFETY: `raw` holds size_of::<Meta>() bytes; Meta is plain integers and floats, valid for
    // any bits; read_unaligned needs no alignment.
    let meta = unsafe { std::ptr::read_unaligned(raw.as_ptr() as *const Meta) };
    if meta.magic != MAGIC || meta.version != LAYOUT_VERSION {
        return Ok(None);
    }
    Ok(Some(with_defaults(meta)))
}

/// Fills the fields a meta page from before tasb 0.5 lacks (read as 0) from the others.
fn with_defaults(mut meta: Meta) -> Meta {
    if meta.centroid_tail == 0 && meta.lists > 0 {
        meta.centroid_tail =
            meta.centroid_start + (meta.lists - 1) / meta.centroids_per_page.max(1);
    }
    if meta.tuned_lists == 0 && meta.default_probes > 0 {
        meta.tuned_lists = meta.lists;
    }
    meta
}

pub fn new_meta(dims: u32) -> Meta {
    Meta {
        magic: MAGIC,
        version: LAYOUT_VERSION,
        dims,
        lists: 0,
        centroid_start: INVALID_BLOCK,
        centroids_per_page: 0,
        vector_tail: INVALID_BLOCK,
        default_probes: 0,
        rotation_seed: tasb_index::ivf::ROTATION_SEED,
        build_id: new_build_id(),
        directory_epoch: 0,
        estimated_recall: 0.0,
        _reserved: 0,
        centroid_tail: INVALID_BLOCK,
        tuned_lists: 0,
        vectors: 0,
    }
}

/// The clock's nanoseconds mixed with the process id: unique enough to tell builds apart.
fn new_build_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 40)
}

/// Adds an item; None when the page is full.
///
/// # Safety
/// `page` is initialised and exclusively locked (or private).
pub unsafe fn add_item(page: pg_sys::Page, bytes: &[u8]) -> Option<pg_sys::OffsetNumber> {
    // SAFETY: PageAddItemExtended copies `bytes` and checks the free space itself.
    let offset = unsafe {
        pg_sys::PageAddItemExtended(
            page,
            bytes.as_ptr() as pg_sys::Item,
            bytes.len(),
            pg_sys::InvalidOffsetNumber,
            0,
        )
    };
    (offset != pg_sys::InvalidOffsetNumber).then_some(offset)
}

pub fn has_room(page: pg_sys::Page, bytes: usize) -> bool {
    // SAFETY: reads the header of a locked, initialised page.
    unsafe { pg_sys::PageGetFreeSpace(page) >= maxalign(bytes) }
}

/// The page's bytes: BLCKSZ of them, valid while the page stays pinned and locked.
///
/// # Safety
/// `page` is a pinned, locked buffer's page or a private image of BLCKSZ bytes.
pub unsafe fn bytes<'a>(page: pg_sys::Page) -> &'a [u8] {
    // SAFETY: per the contract, BLCKSZ readable bytes nobody writes while we look.
    unsafe { std::slice::from_raw_parts(page as *const u8, pg_sys::BLCKSZ as usize) }
}

/// The bytes of item `offset` (1-based) to change in place (same length, so nothing on the page
/// moves), after checking its line pointer against the page.
///
/// # Safety
/// `page` is exclusively locked (or a private image or a WAL record's copy) and nothing else
/// refers to its bytes while the slice lives.
pub unsafe fn item_mut<'a>(
    page: pg_sys::Page,
    offset: pg_sys::OffsetNumber,
) -> Result<&'a mut [u8], PageError> {
    // SAFETY: per the contract; the range was checked to lie inside the page.
    unsafe {
        let range = PageView::parse(bytes(page))?.item_range(offset)?;
        Ok(std::slice::from_raw_parts_mut(
            (page as *mut u8).add(range.start),
            range.len(),
        ))
    }
}

/// The number of line pointers of a private page image or a page this backend built.
///
/// # Safety
/// `page` is initialised and locked (or private).
pub unsafe fn max_offset(page: pg_sys::Page) -> pg_sys::OffsetNumber {
    // SAFETY: reads the header.
    unsafe { pg_sys::PageGetMaxOffsetNumber(page) }
}

/// Raises ERRCODE_INDEX_CORRUPTED for block `block` of `index`.
pub fn corrupt(index: pg_sys::Relation, block: pg_sys::BlockNumber, error: PageError) -> ! {
    // SAFETY: an open relation's rd_rel is valid; relname is a NUL-terminated NameData.
    let name = unsafe {
        std::ffi::CStr::from_ptr((*(*index).rd_rel).relname.data.as_ptr())
            .to_string_lossy()
            .into_owned()
    };
    raise(
        PgSqlErrorCode::ERRCODE_INDEX_CORRUPTED,
        format!("tasb_ivf index \"{name}\" is damaged at block {block}"),
        Some(error.to_string()),
        Some("REINDEX the index; if it persists, check the storage for damage."),
    )
}

/// A pinned and locked buffer of the index, unlocked and released when dropped (also when an
/// ERROR unwinds through its owner).
pub struct Locked {
    index: pg_sys::Relation,
    buffer: pg_sys::Buffer,
    block: pg_sys::BlockNumber,
}

impl Locked {
    /// Pins and locks `block` (mode: BUFFER_LOCK_SHARE or _EXCLUSIVE).
    ///
    /// # Safety
    /// `index` is an open index relation.
    pub unsafe fn new(index: pg_sys::Relation, block: pg_sys::BlockNumber, mode: u32) -> Self {
        // SAFETY: per the contract; ReadBuffer raises an ERROR for a block past the end.
        let buffer = unsafe { lock(index, block, mode) };
        Locked {
            index,
            buffer,
            block,
        }
    }

    /// Takes over a buffer this backend has pinned and locked.
    ///
    /// # Safety
    /// `buffer` is a pinned and locked buffer of `index` that nobody else will release.
    pub unsafe fn adopt(index: pg_sys::Relation, buffer: pg_sys::Buffer) -> Self {
        // SAFETY: per the contract.
        let block = unsafe { pg_sys::BufferGetBlockNumber(buffer) };
        Locked {
            index,
            buffer,
            block,
        }
    }

    pub fn buffer(&self) -> pg_sys::Buffer {
        self.buffer
    }

    pub fn block(&self) -> pg_sys::BlockNumber {
        self.block
    }

    pub fn page(&self) -> pg_sys::Page {
        // SAFETY: the buffer is pinned while self lives.
        unsafe { pg_sys::BufferGetPage(self.buffer) }
    }

    /// The page, checked to be a well-formed page of `kind`; an ERROR otherwise.
    pub fn view(&self, kind: u16) -> PageView<'_> {
        // SAFETY: pinned and locked while the borrow of self lives.
        let bytes = unsafe { bytes(self.page()) };
        self.ok(PageView::parse_kind(bytes, kind))
    }

    /// The value, or the ERROR naming this block.
    pub fn ok<T>(&self, result: Result<T, PageError>) -> T {
        result.unwrap_or_else(|error| corrupt(self.index, self.block, error))
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: the buffer was pinned and locked by this guard's owner and is released once.
        unsafe { pg_sys::UnlockReleaseBuffer(self.buffer) };
    }
}

/// Pins and locks `block` (mode: BUFFER_LOCK_SHARE or _EXCLUSIVE); prefer [`Locked`].
///
/// # Safety
/// `index` is an open index relation and `block` exists.
pub unsafe fn lock(
    index: pg_sys::Relation,
    block: pg_sys::BlockNumber,
    mode: u32,
) -> pg_sys::Buffer {
    // SAFETY: per the contract.
    unsafe {
        let buffer = pg_sys::ReadBuffer(index, block);
        pg_sys::LockBuffer(buffer, mode as i32);
        buffer
    }
}

/// A new, exclusively locked, uninitialised page at the end of the relation.
///
/// # Safety
/// `index` is an open index relation.
pub unsafe fn extend(index: pg_sys::Relation) -> pg_sys::Buffer {
    // SAFETY: the extension lock serialises concurrent extenders, as in every built-in index.
    unsafe {
        pg_sys::LockRelationForExtension(index, pg_sys::ExclusiveLock as i32);
        let buffer = pg_sys::ReadBufferExtended(
            index,
            pg_sys::ForkNumber::MAIN_FORKNUM,
            INVALID_BLOCK, // P_NEW
            pg_sys::ReadBufferMode::RBM_NORMAL,
            std::ptr::null_mut(),
        );
        pg_sys::LockBuffer(buffer, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
        pg_sys::UnlockRelationForExtension(index, pg_sys::ExclusiveLock as i32);
        buffer
    }
}

/// Marks the page (exclusively locked, or a WAL record's copy) as holding something no longer
/// referenced as of now: `flag` in the special space (0 for none) and the next transaction id in
/// pd_prune_xid, so it is reclaimed once no snapshot from before can remain.
///
/// # Safety
/// `page` is an initialised page of this index, exclusively locked or a WAL record's copy.
pub unsafe fn mark_retired(page: pg_sys::Page, flag: u16) {
    // SAFETY: per the contract; ReadNextTransactionId only reads shared state.
    unsafe {
        (*opaque(page)).flags |= flag;
        (*(page as *mut pg_sys::PageHeaderData)).pd_prune_xid = pg_sys::ReadNextTransactionId();
    }
}

/// Whether no snapshot can still see what happened before transaction `xid` was assigned.
pub fn is_removable(xid: u32) -> bool {
    let xid = pg_sys::TransactionId::from(xid);
    // SAFETY: a plain horizon check against the running transactions (null relation: the
    // strictest horizon, valid for every relation).
    xid != pg_sys::InvalidTransactionId
        && unsafe { pg_sys::GlobalVisCheckRemovableXid(std::ptr::null_mut(), xid) }
}

/// Whether a page found in the free space map may be taken for a new page: never written, a
/// retired list page no scan can reach, or a vector page whose every vector VACUUM removed.
pub fn is_reusable(bytes: &[u8]) -> bool {
    match PageView::parse(bytes) {
        Err(PageError::New) => true,
        Err(_) => false,
        Ok(page) => match page.kind() {
            KIND_LIST => page.flags() & FLAG_RETIRED != 0 && is_removable(page.prune_xid()),
            KIND_VECTOR => (1..=page.max_offset()).all(|offset| page.is_unused(offset)),
            _ => false,
        },
    }
}

/// A new page for an index after its build, exclusively locked and to be initialised (logged
/// whole): a reusable page from the free space map (VACUUM records them), else a new block at the
/// end of the relation.
///
/// # Safety
/// `index` is an open index relation; the caller holds no lock the free pages' lockers wait for
/// (they are locked only conditionally here).
pub unsafe fn new_page(index: pg_sys::Relation) -> pg_sys::Buffer {
    // SAFETY: per the contract; every buffer not returned is unlocked and released.
    unsafe {
        loop {
            let block = pg_sys::GetFreeIndexPage(index);
            if block == INVALID_BLOCK {
                return extend(index);
            }
            let buffer = pg_sys::ReadBuffer(index, block);
            if pg_sys::ConditionalLockBuffer(buffer) {
                if is_reusable(bytes(pg_sys::BufferGetPage(buffer))) {
                    return buffer;
                }
                pg_sys::LockBuffer(buffer, pg_sys::BUFFER_LOCK_UNLOCK as i32);
            }
            pg_sys::ReleaseBuffer(buffer);
        }
    }
}

/// A private, MAXALIGNed page image for building pages before they get a block.
pub struct PageImage {
    words: Box<[u64]>,
}

impl PageImage {
    pub fn new(kind: u16) -> Self {
        let mut image = PageImage {
            words: vec![0u64; pg_sys::BLCKSZ as usize / 8].into_boxed_slice(),
        };
        // SAFETY: a private, 8-aligned buffer of BLCKSZ bytes.
        unsafe { init_page(image.page(), kind) };
        image
    }
    pub fn page(&mut self) -> pg_sys::Page {
        self.words.as_mut_ptr() as pg_sys::Page
    }
    pub fn is_empty(&mut self) -> bool {
        // SAFETY: an initialised private page.
        unsafe { max_offset(self.page()) == 0 }
    }

    /// Copies the image over `page`.
    ///
    /// # Safety
    /// `page` points to BLCKSZ writable bytes (a locked buffer's page or a WAL record's copy).
    pub unsafe fn copy_to(&self, page: pg_sys::Page) {
        // SAFETY: per the contract; the image holds BLCKSZ bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.words.as_ptr() as *const u8,
                page as *mut u8,
                pg_sys::BLCKSZ as usize,
            )
        };
    }

    /// Writes the image to a new block at the end of `index` (no WAL: builds log every page at
    /// the end) and returns the block.
    ///
    /// # Safety
    /// `index` is an index relation being built by this backend.
    pub unsafe fn flush(&mut self, index: pg_sys::Relation) -> pg_sys::BlockNumber {
        // SAFETY: a freshly extended, exclusively locked buffer of BLCKSZ bytes.
        unsafe {
            let buffer = extend(index);
            let target = pg_sys::BufferGetPage(buffer);
            std::ptr::copy_nonoverlapping(
                self.words.as_ptr() as *const u8,
                target as *mut u8,
                pg_sys::BLCKSZ as usize,
            );
            pg_sys::MarkBufferDirty(buffer);
            let block = pg_sys::BufferGetBlockNumber(buffer);
            pg_sys::UnlockReleaseBuffer(buffer);
            block
        }
    }
}

/// One generic WAL record over up to four locked buffers.
pub struct WalRecord {
    state: *mut pg_sys::GenericXLogState,
}

impl WalRecord {
    /// # Safety
    /// `index` is an open index relation.
    pub unsafe fn start(index: pg_sys::Relation) -> Self {
        // SAFETY: per the contract.
        WalRecord {
            state: unsafe { pg_sys::GenericXLogStart(index) },
        }
    }

    /// The page copy to modify; `fresh` pages are logged whole and must be initialised.
    ///
    /// # Safety
    /// `buffer` is pinned and exclusively locked by this backend.
    pub unsafe fn page(&mut self, buffer: pg_sys::Buffer, fresh: bool) -> pg_sys::Page {
        let flags = if fresh {
            pg_sys::GENERIC_XLOG_FULL_IMAGE as i32
        } else {
            0
        };
        // SAFETY: per the contract.
        unsafe { pg_sys::GenericXLogRegisterBuffer(self.state, buffer, flags) }
    }

    /// Applies the changes to the buffers and writes the record.
    pub fn finish(self) {
        // SAFETY: the state came from GenericXLogStart and is finished once.
        unsafe {
            pg_sys::GenericXLogFinish(self.state);
        }
    }
}
