//! Bounds-checked reading of the index's pages as bytes: the page header (pd_lower, pd_upper,
//! pd_special), the line pointer array, items and the special space, with every offset and length
//! checked against the page before a slice is made. A damaged page is an [`PageError`] (the access
//! method turns it into ERRCODE_INDEX_CORRUPTED), never an out-of-bounds read.
//!
//! The layout is PostgreSQL's standard page (bufpage.h) of [`BLCKSZ`] bytes on a little-endian
//! machine, with an 8-byte special space: the next block of the same list (u32), the page kind
//! (u16), two reserved bytes.

use std::fmt;
use std::ops::Range;

pub const BLCKSZ: usize = 8192;
/// SizeOfPageHeaderData: pd_lsn (8), pd_checksum, pd_flags, pd_lower, pd_upper, pd_special,
/// pd_pagesize_version (2 each), pd_prune_xid (4).
pub const HEADER_BYTES: usize = 24;
/// MAXALIGN(sizeof(Opaque)).
pub const SPECIAL_BYTES: usize = 8;
/// Where pd_special is on every page of the index.
pub const SPECIAL_AT: usize = BLCKSZ - SPECIAL_BYTES;
/// PageGetContents: MAXALIGN(SizeOfPageHeaderData).
pub const CONTENTS_AT: usize = HEADER_BYTES;
const LINE_POINTER_BYTES: usize = 4;
const LP_NORMAL: u32 = 1;

pub const KIND_META: u16 = 1;
pub const KIND_VECTOR: u16 = 2;
pub const KIND_LIST: u16 = 3;
pub const KIND_CENTROID: u16 = 4;

/// What is wrong with a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageError {
    /// The buffer is not BLCKSZ bytes.
    Size(usize),
    /// An all-zero page: extended but never written (e.g. a crash before its WAL record).
    New,
    /// pd_lower, pd_upper, pd_special out of order or outside the page.
    Header {
        lower: u16,
        upper: u16,
        special: u16,
    },
    /// A page of another kind where this one was expected.
    Kind { expected: u16, found: u16 },
    /// Item `offset` does not exist (0 or past the line pointer array).
    NoItem { offset: u16, max: u16 },
    /// Item `offset`'s line pointer is unused, dead, or points outside the item area.
    LinePointer {
        offset: u16,
        off: u16,
        len: u16,
        flags: u8,
    },
    /// Item `offset` has the wrong length for what it should hold.
    ItemSize {
        offset: u16,
        len: usize,
        expected: usize,
    },
    /// The meta page's contents do not fit below pd_lower.
    Meta { lower: u16, needed: usize },
    /// A list's `next` links visit more pages than the index has: they form a cycle.
    Cycle { pages: u32 },
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageError::Size(n) => write!(f, "page of {n} bytes, not {BLCKSZ}"),
            PageError::New => write!(f, "uninitialised (all-zero) page"),
            PageError::Header {
                lower,
                upper,
                special,
            } => write!(
                f,
                "bad page header: pd_lower {lower}, pd_upper {upper}, pd_special {special}"
            ),
            PageError::Kind { expected, found } => {
                write!(f, "page kind {found}, expected {expected}")
            }
            PageError::NoItem { offset, max } => {
                write!(f, "item {offset} does not exist (the page has {max})")
            }
            PageError::LinePointer {
                offset,
                off,
                len,
                flags,
            } => write!(
                f,
                "line pointer {offset} is invalid: offset {off}, length {len}, flags {flags}"
            ),
            PageError::ItemSize {
                offset,
                len,
                expected,
            } => write!(f, "item {offset} has {len} bytes, expected {expected}"),
            PageError::Meta { lower, needed } => write!(
                f,
                "meta page's pd_lower {lower} leaves no room for its {needed}-byte contents"
            ),
            PageError::Cycle { pages } => write!(
                f,
                "a list's page links visit more pages than the index's {pages}: they form a cycle"
            ),
        }
    }
}

impl std::error::Error for PageError {}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// A page whose header has been checked; items are checked as they are read.
#[derive(Clone, Copy, Debug)]
pub struct PageView<'a> {
    bytes: &'a [u8],
    upper: usize,
    max_offset: u16,
}

impl<'a> PageView<'a> {
    /// Checks the header: BLCKSZ bytes, `HEADER_BYTES <= pd_lower <= pd_upper <= pd_special`,
    /// pd_special where this index puts it, and a whole number of line pointers below pd_lower.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, PageError> {
        if bytes.len() != BLCKSZ {
            return Err(PageError::Size(bytes.len()));
        }
        let lower = u16_at(bytes, 12);
        let upper = u16_at(bytes, 14);
        let special = u16_at(bytes, 16);
        if lower == 0 && upper == 0 && special == 0 && bytes.iter().all(|&b| b == 0) {
            return Err(PageError::New);
        }
        let (l, u, s) = (lower as usize, upper as usize, special as usize);
        if l < HEADER_BYTES || l > u || u > s || s != SPECIAL_AT {
            return Err(PageError::Header {
                lower,
                upper,
                special,
            });
        }
        Ok(PageView {
            bytes,
            upper: u,
            // The meta page puts its contents below pd_lower instead of line pointers: its
            // "items" are never read (see [`PageView::meta_contents`]).
            max_offset: ((l - HEADER_BYTES) / LINE_POINTER_BYTES) as u16,
        })
    }

    /// As [`PageView::parse`], and the page is of `kind`.
    pub fn parse_kind(bytes: &'a [u8], kind: u16) -> Result<Self, PageError> {
        let page = Self::parse(bytes)?;
        page.expect_kind(kind)?;
        Ok(page)
    }

    pub fn kind(&self) -> u16 {
        u16_at(self.bytes, SPECIAL_AT + 4)
    }

    pub fn expect_kind(&self, expected: u16) -> Result<(), PageError> {
        let found = self.kind();
        if found == expected {
            Ok(())
        } else {
            Err(PageError::Kind { expected, found })
        }
    }

    /// The special space's link: the next (older) page of the same list.
    pub fn next(&self) -> u32 {
        u32_at(self.bytes, SPECIAL_AT)
    }

    /// The number of line pointers.
    pub fn max_offset(&self) -> u16 {
        self.max_offset
    }

    /// The byte range of item `offset` (1-based) within the page, after checking its line
    /// pointer: in use (LP_NORMAL), MAXALIGNed, inside `[pd_upper, pd_special)`.
    pub fn item_range(&self, offset: u16) -> Result<Range<usize>, PageError> {
        if offset == 0 || offset > self.max_offset {
            return Err(PageError::NoItem {
                offset,
                max: self.max_offset,
            });
        }
        // ItemIdData on a little-endian machine: lp_off in bits 0-14, lp_flags in 15-16, lp_len
        // in 17-31.
        let raw = u32_at(
            self.bytes,
            HEADER_BYTES + (offset as usize - 1) * LINE_POINTER_BYTES,
        );
        let off = (raw & 0x7fff) as usize;
        let flags = (raw >> 15) & 3;
        let len = (raw >> 17) as usize;
        if flags != LP_NORMAL
            || off < self.upper
            || !off.is_multiple_of(8)
            || off + len > SPECIAL_AT
        {
            return Err(PageError::LinePointer {
                offset,
                off: off as u16,
                len: len as u16,
                flags: flags as u8,
            });
        }
        Ok(off..off + len)
    }

    /// Whether item `offset` (1-based, at most max_offset) is an unused line pointer: a vector
    /// VACUUM removed once no scan could still reach it.
    pub fn is_unused(&self, offset: u16) -> bool {
        if offset == 0 || offset > self.max_offset {
            return false;
        }
        let raw = u32_at(
            self.bytes,
            HEADER_BYTES + (offset as usize - 1) * LINE_POINTER_BYTES,
        );
        (raw >> 15) & 3 == 0 && raw >> 17 == 0
    }

    /// The page's special space flags (after `next` and `kind`).
    pub fn flags(&self) -> u16 {
        u16_at(self.bytes, SPECIAL_AT + 6)
    }

    /// pd_prune_xid: for tasb_ivf, the transaction after which no scan can reach what the page's
    /// flags say is retired or dead.
    pub fn prune_xid(&self) -> u32 {
        u32_at(self.bytes, 20)
    }

    /// The bytes of item `offset` (1-based).
    pub fn item(&self, offset: u16) -> Result<&'a [u8], PageError> {
        let range = self.item_range(offset)?;
        Ok(&self.bytes[range])
    }

    /// The bytes of item `offset`, which must be `expected` bytes long.
    pub fn item_sized(&self, offset: u16, expected: usize) -> Result<&'a [u8], PageError> {
        let item = self.item(offset)?;
        if item.len() != expected {
            return Err(PageError::ItemSize {
                offset,
                len: item.len(),
                expected,
            });
        }
        Ok(item)
    }

    /// A vector page's item `offset`: (heap TID bytes, element bytes), the elements `dims` f32
    /// (`element_bytes` 4) or f16 (2) values.
    pub fn vector_item(
        &self,
        offset: u16,
        dims: usize,
        element_bytes: usize,
    ) -> Result<(&'a [u8], &'a [u8]), PageError> {
        let expected = VECTOR_PREFIX + dims * element_bytes;
        let item = self.item_sized(offset, expected)?;
        Ok((&item[..6], &item[VECTOR_PREFIX..]))
    }

    /// A vector page's item whose elements are either f32 or f16 (an index of either type).
    pub fn any_vector_item(
        &self,
        offset: u16,
        dims: usize,
    ) -> Result<(&'a [u8], &'a [u8]), PageError> {
        let item = self.item(offset)?;
        if item.len() != VECTOR_PREFIX + dims * 4 && item.len() != VECTOR_PREFIX + dims * 2 {
            return Err(PageError::ItemSize {
                offset,
                len: item.len(),
                expected: VECTOR_PREFIX + dims * 4,
            });
        }
        Ok((&item[..6], &item[VECTOR_PREFIX..]))
    }

    /// The first `len` bytes of the meta page's contents (below pd_lower).
    pub fn meta_contents(&self, len: usize) -> Result<&'a [u8], PageError> {
        let lower = u16_at(self.bytes, 12);
        if (lower as usize) < CONTENTS_AT + len {
            return Err(PageError::Meta { lower, needed: len });
        }
        Ok(&self.bytes[CONTENTS_AT..CONTENTS_AT + len])
    }

    /// The meta page's contents up to `len` bytes, or fewer down to `at_least` when pd_lower ends
    /// sooner (a meta page written by an earlier version, before later fields were added).
    pub fn meta_prefix(&self, at_least: usize, len: usize) -> Result<&'a [u8], PageError> {
        let lower = u16_at(self.bytes, 12) as usize;
        let available = lower.saturating_sub(CONTENTS_AT).min(len);
        if available < at_least {
            return self.meta_contents(at_least);
        }
        Ok(&self.bytes[CONTENTS_AT..CONTENTS_AT + available])
    }
}

/// Vector items: heap TID (6 bytes), 2 zero bytes, then the elements.
pub const VECTOR_PREFIX: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    /// A page as PageInit and PageAddItem would write it, holding `items`.
    fn page(kind: u16, items: &[&[u8]]) -> Vec<u8> {
        let mut bytes = vec![0u8; BLCKSZ];
        let mut lower = HEADER_BYTES;
        let mut upper = SPECIAL_AT;
        for item in items {
            upper -= item.len().div_ceil(8) * 8;
            bytes[upper..upper + item.len()].copy_from_slice(item);
            let raw = (upper as u32) | (LP_NORMAL << 15) | ((item.len() as u32) << 17);
            bytes[lower..lower + 4].copy_from_slice(&raw.to_le_bytes());
            lower += 4;
        }
        set_header(&mut bytes, lower as u16, upper as u16, SPECIAL_AT as u16);
        bytes[SPECIAL_AT..SPECIAL_AT + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        bytes[SPECIAL_AT + 4..SPECIAL_AT + 6].copy_from_slice(&kind.to_le_bytes());
        bytes
    }

    fn set_header(bytes: &mut [u8], lower: u16, upper: u16, special: u16) {
        bytes[12..14].copy_from_slice(&lower.to_le_bytes());
        bytes[14..16].copy_from_slice(&upper.to_le_bytes());
        bytes[16..18].copy_from_slice(&special.to_le_bytes());
    }

    fn set_line_pointer(bytes: &mut [u8], offset: u16, off: u32, len: u32, flags: u32) {
        let at = HEADER_BYTES + (offset as usize - 1) * 4;
        let raw = off | (flags << 15) | (len << 17);
        bytes[at..at + 4].copy_from_slice(&raw.to_le_bytes());
    }

    #[test]
    fn reads_a_valid_page() {
        let a = [1u8; 20];
        let b = [2u8; 13];
        let bytes = page(KIND_LIST, &[&a, &b]);
        let view = PageView::parse_kind(&bytes, KIND_LIST).unwrap();
        assert_eq!(view.max_offset(), 2);
        assert_eq!(view.item(1).unwrap(), &a);
        assert_eq!(view.item_sized(2, 13).unwrap(), &b);
        assert_eq!(view.next(), u32::MAX);
        assert_eq!(view.kind(), KIND_LIST);
    }

    #[test]
    fn rejects_wrong_sizes_and_new_pages() {
        assert_eq!(
            PageView::parse(&[0u8; 100]).unwrap_err(),
            PageError::Size(100)
        );
        assert_eq!(
            PageView::parse(&vec![0u8; BLCKSZ]).unwrap_err(),
            PageError::New
        );
    }

    #[test]
    fn rejects_bad_headers() {
        let good = page(KIND_VECTOR, &[&[7u8; 16]]);
        for (lower, upper, special) in [
            (8000, 7000, SPECIAL_AT as u16), // pd_lower past pd_upper
            (10, 8100, SPECIAL_AT as u16),   // pd_lower inside the header
            (28, 8190, SPECIAL_AT as u16),   // pd_upper past pd_special
            (28, 8100, 9000),                // pd_special past the page
            (28, 8100, 8176),                // pd_special not where the index puts it
            (28, 60000, 60000),
        ] {
            let mut bytes = good.clone();
            set_header(&mut bytes, lower, upper, special);
            assert_eq!(
                PageView::parse(&bytes).unwrap_err(),
                PageError::Header {
                    lower,
                    upper,
                    special
                },
                "{lower} {upper} {special}"
            );
        }
    }

    #[test]
    fn rejects_bad_line_pointers() {
        let good = page(KIND_VECTOR, &[&[7u8; 16], &[8u8; 16]]);
        let upper = u16_at(&good, 14) as u32;
        for (off, len, flags) in [
            (8, 16, LP_NORMAL),                     // inside the header / line pointers
            (upper - 8, 16, LP_NORMAL),             // below pd_upper
            (upper + 4, 16, LP_NORMAL),             // not MAXALIGNed
            (SPECIAL_AT as u32 - 8, 16, LP_NORMAL), // runs into the special space
            (upper, 0x7fff, LP_NORMAL),             // lp_len past the page
            (upper, 16, 0),                         // unused
            (upper, 16, 3),                         // dead
        ] {
            let mut bytes = good.clone();
            set_line_pointer(&mut bytes, 1, off, len, flags);
            let view = PageView::parse(&bytes).unwrap();
            assert!(
                matches!(view.item(1), Err(PageError::LinePointer { offset: 1, .. })),
                "{off} {len} {flags}"
            );
            assert!(view.item(2).is_ok());
        }
        let view = PageView::parse(&good).unwrap();
        assert_eq!(
            view.item(0).unwrap_err(),
            PageError::NoItem { offset: 0, max: 2 }
        );
        assert_eq!(
            view.item(3).unwrap_err(),
            PageError::NoItem { offset: 3, max: 2 }
        );
    }

    #[test]
    fn checks_item_sizes_and_kinds() {
        let mut vector = vec![0u8; VECTOR_PREFIX + 3 * 4];
        vector[0] = 9;
        let half = vec![0u8; VECTOR_PREFIX + 3 * 2];
        let bytes = page(KIND_VECTOR, &[&vector, &half]);
        let view = PageView::parse_kind(&bytes, KIND_VECTOR).unwrap();
        let (tid, elements) = view.vector_item(1, 3, 4).unwrap();
        assert_eq!((tid[0], elements.len()), (9, 12));
        assert!(matches!(
            view.vector_item(1, 4, 4),
            Err(PageError::ItemSize {
                offset: 1,
                len: 20,
                expected: 24
            })
        ));
        assert!(view.vector_item(2, 3, 4).is_err());
        assert!(view.any_vector_item(2, 3).is_ok());
        assert!(view.any_vector_item(2, 5).is_err());
        assert!(view.item_sized(1, 21).is_err());
        assert_eq!(
            PageView::parse_kind(&bytes, KIND_LIST).unwrap_err(),
            PageError::Kind {
                expected: KIND_LIST,
                found: KIND_VECTOR
            }
        );
    }

    #[test]
    fn checks_meta_contents() {
        let mut bytes = page(KIND_META, &[]);
        set_header(
            &mut bytes,
            (CONTENTS_AT + 56) as u16,
            SPECIAL_AT as u16,
            SPECIAL_AT as u16,
        );
        bytes[CONTENTS_AT] = 42;
        let view = PageView::parse_kind(&bytes, KIND_META).unwrap();
        assert_eq!(view.meta_contents(56).unwrap()[0], 42);
        assert!(matches!(
            view.meta_contents(57),
            Err(PageError::Meta { needed: 57, .. })
        ));
        // An older, shorter meta is read as far as it goes; one too short for the oldest is an
        // error.
        assert_eq!(view.meta_prefix(48, 64).unwrap().len(), 56);
        assert_eq!(view.meta_prefix(48, 50).unwrap().len(), 50);
        assert!(matches!(
            view.meta_prefix(60, 64),
            Err(PageError::Meta { needed: 60, .. })
        ));
    }

    #[test]
    fn random_corruption_never_panics() {
        let mut rng = crate::rng::Rng(3);
        let good = page(KIND_LIST, &[&[1u8; 100], &[2u8; 300], &[3u8; 40]]);
        for _ in 0..20_000 {
            let mut bytes = good.clone();
            for _ in 0..1 + rng.next_u64() % 4 {
                let at = (rng.next_u64() as usize) % 40;
                bytes[at] = rng.next_u64() as u8;
            }
            if let Ok(view) = PageView::parse(&bytes) {
                for offset in 0..=view.max_offset().saturating_add(1) {
                    if let Ok(item) = view.item(offset) {
                        assert!(item.as_ptr() as usize >= bytes.as_ptr() as usize + HEADER_BYTES);
                    }
                }
            }
        }
    }
}
