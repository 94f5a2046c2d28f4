//! A whole index page from arbitrary bytes through `tasb_index::page::PageView` (bounds-checked
//! reading of the header, line pointers, items and special space): every read is an `Err` or a
//! slice inside the page's item area, and a list page's items of the block size go on to the
//! block readers.
//!
//! Input: 2 bytes of dimensions, then the page (cut or zero-padded to BLCKSZ); the first byte's
//! low bit chooses whether the header and line pointers are first rebuilt from the bytes as
//! plausible values, so the fuzzer reaches the item reads instead of stopping at the header check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tasb_index::block::BlockLayout;
use tasb_index::page::{
    PageView, BLCKSZ, HEADER_BYTES, KIND_CENTROID, KIND_LIST, KIND_META, KIND_VECTOR, SPECIAL_AT,
    VECTOR_PREFIX,
};

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let dims = 1 + (u16::from_le_bytes(*head) as usize >> 1) % 2000;
    let mut page = rest.to_vec();
    if head[0] & 1 == 1 {
        page.resize(BLCKSZ, 0);
        // pd_lower a few line pointers in, pd_upper somewhere above it, pd_special in place.
        let pointers = u16_at(&page, 12) as usize % 64;
        let lower = HEADER_BYTES + 4 * pointers;
        let upper = lower + (u16_at(&page, 14) as usize % (SPECIAL_AT - lower + 1));
        page[12..14].copy_from_slice(&(lower as u16).to_le_bytes());
        page[14..16].copy_from_slice(&(upper as u16).to_le_bytes());
        page[16..18].copy_from_slice(&(SPECIAL_AT as u16).to_le_bytes());
    } else if page.len() > BLCKSZ {
        page.truncate(BLCKSZ);
    }
    let view = match PageView::parse(&page) {
        Ok(view) => view,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let upper = u16_at(&page, 14) as usize;
    for kind in [KIND_META, KIND_VECTOR, KIND_LIST, KIND_CENTROID] {
        let same = view.expect_kind(kind).is_ok();
        assert_eq!(same, view.kind() == kind);
        assert_eq!(PageView::parse_kind(&page, kind).is_ok(), same);
    }
    let _ = view.next();
    let layout = tasb_index::block::BlockLayout::fitting(dims, 12, 8000);
    for offset in 0..=view.max_offset().saturating_add(1) {
        match view.item_range(offset) {
            Ok(range) => {
                assert!(range.start >= upper && range.end <= SPECIAL_AT, "{range:?}");
                let item = view.item(offset).unwrap();
                assert_eq!(item.len(), range.len());
                let sized = view.item_sized(offset, item.len()).unwrap();
                assert_eq!(sized.as_ptr(), item.as_ptr());
                for element_bytes in [2, 4] {
                    if let Ok((tid, elements)) = view.vector_item(offset, dims, element_bytes) {
                        assert_eq!(tid.len(), 6);
                        assert_eq!(elements.len(), dims * element_bytes);
                    }
                }
                if let Ok((_, elements)) = view.any_vector_item(offset, dims) {
                    assert!(elements.len() == dims * 4 || elements.len() == dims * 2);
                    assert_eq!(item.len(), VECTOR_PREFIX + elements.len());
                }
                if let Some(layout) = layout {
                    if let Ok(block) = view.item_sized(offset, layout.bytes()) {
                        read_block(&layout, block);
                    }
                }
            }
            Err(e) => {
                let _ = e.to_string();
                assert!(view.item(offset).is_err());
            }
        }
    }
    for len in [0, 1, 16, 64, 200, BLCKSZ] {
        if let Ok(contents) = view.meta_contents(len) {
            assert_eq!(contents.len(), len);
        }
    }
});

fn read_block(layout: &BlockLayout, block: &[u8]) {
    for slot in 0..layout.len(block) {
        let _ = layout.code(block, slot);
        let _ = layout.payload(block, slot);
    }
}
