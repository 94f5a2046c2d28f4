//! Damaged list-page blocks of the kind the fuzz targets in fuzz/ (see fuzz/README.md) feed the
//! block readers: the extension checks only an item's size, so any contents must be readable
//! without a panic. (index_block and index_page found no crash; these keep the extremes.)

use tasb_index::block::{BlockLayout, MAX_CAPACITY};
use tasb_index::rabitq::QueryLut;
use tasb_index::rotation::Rotation;
use tasb_index::{Scan, Step};

/// Every reader over one damaged block; returns the results the scan emitted.
fn read_everything(layout: &BlockLayout, block: &[u8]) -> usize {
    let len = layout.len(block);
    assert!(len <= layout.capacity());
    for slot in 0..len {
        assert_eq!(layout.code(block, slot).len(), layout.code_bytes());
        let _ = (layout.factor(block, slot), layout.error(block, slot));
        let _ = (layout.count(block, slot), layout.payload(block, slot));
    }
    let dims = layout.dims();
    let query: Vec<f32> = (0..dims).map(|i| (i % 7) as f32 - 3.0).collect();
    let lut = QueryLut::new(&query);
    let (mut fast, mut scalar) = ([0u32; MAX_CAPACITY], [0u32; MAX_CAPACITY]);
    lut.block_sums(layout, block, &mut fast);
    lut.block_sums_scalar(layout, block, &mut scalar);
    assert_eq!(fast, scalar);

    let mut scan = Scan::new(&query, &Rotation::new(dims, 3), &vec![0.0; dims], &[1.0], 1);
    let mut emitted = 0;
    loop {
        match scan.next(|_: &usize| Some(0.0)) {
            Step::Emit(..) => emitted += 1,
            Step::ReadLists(lists) => {
                for (_, base) in lists {
                    scan.push_block(base, layout, block, |p| p.len());
                }
            }
            Step::Done => break,
        }
    }
    let mut removed = block.to_vec();
    for slot in (0..len).rev() {
        layout.remove(&mut removed, slot);
    }
    assert_eq!(layout.len(&removed), 0);
    emitted
}

fn layouts() -> Vec<BlockLayout> {
    vec![
        BlockLayout::extended(384, 32, 2, 12),
        BlockLayout::extended(768, 32, 1, 12),
        BlockLayout::new(13, 8, 4),
        BlockLayout::extended(9, 4, 1, 0),
        // More than 255 pairs of groups: the AVX2 sums flush their 16-bit lanes.
        BlockLayout::new(2100, 32, 6),
    ]
}

/// All bits set: a length of u32::MAX (clamped to the capacity), NaN factors and errors (the
/// scan's ordering uses total_cmp), every count 65535.
#[test]
fn an_all_ones_block_is_read_without_panics() {
    for layout in layouts() {
        let block = vec![0xff; layout.bytes()];
        assert_eq!(read_everything(&layout, &block), layout.capacity());
    }
}

/// A length past the capacity over zeroed contents, and bytes of a repeating pattern.
#[test]
fn lengths_past_the_capacity_and_patterned_contents() {
    for layout in layouts() {
        let mut block = layout.empty();
        block[..4].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(read_everything(&layout, &block), layout.capacity());
        let patterned: Vec<u8> = (0..layout.bytes()).map(|i| (i * 37 % 251) as u8).collect();
        read_everything(&layout, &patterned);
    }
}
