//! A list page's block item from arbitrary bytes. The extension checks only that an item is
//! `layout.bytes()` long (`lists::block_item`); everything inside may be damaged, so every reader
//! of a block must cope with any contents: the length, each live slot's code and payload, the
//! scan's bounds (`Scan::push_block`, with the AVX2 and scalar sums compared), removing a slot
//! (vacuum) and appending (insert).
//!
//! Input: 6 bytes of layout (dims, capacity, extra planes, payload size, query seed), then the
//! block (cut or zero-padded to the layout's size).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tasb_index::block::{BlockLayout, MAX_CAPACITY};
use tasb_index::rabitq::{bit_bytes, QueryLut, MAX_EX_PLANES};
use tasb_index::rotation::Rotation;
use tasb_index::{Scan, Step};

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<6>() else {
        return;
    };
    let dims = 1 + (u16::from_le_bytes([head[0], head[1]]) as usize % 3000);
    let capacity = 2 * (1 + head[2] as usize % (MAX_CAPACITY / 2));
    let ex_planes = head[3] as usize % (MAX_EX_PLANES + 1);
    let payload_bytes = head[4] as usize % 13;
    let seed = head[5];
    let layout = BlockLayout::extended(dims, capacity, ex_planes, payload_bytes);
    let mut block = rest.to_vec();
    block.resize(layout.bytes(), 0);

    let len = layout.len(&block);
    assert!(len <= capacity);
    assert_eq!(layout.is_full(&block), len == capacity);
    let mut codes = Vec::new();
    for slot in 0..len {
        let code = layout.code(&block, slot);
        assert_eq!(code.len(), layout.code_bytes());
        let _ = (layout.factor(&block, slot), layout.error(&block, slot));
        let _ = layout.count(&block, slot);
        codes.push((code, layout.payload(&block, slot).to_vec()));
    }
    for plane in 0..ex_planes {
        let _ = layout.ex_plane(&block, plane);
        let _ = layout.ex_counts(&block, plane);
    }

    // A query of small integers (any finite query is possible; these keep the sums readable).
    let query: Vec<f32> = (0..dims)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed as u32) as u8 as i8 as f32 / 16.0)
        .collect();
    let lut = QueryLut::new(&query);
    let mut fast = [0u32; MAX_CAPACITY];
    let mut scalar = [0u32; MAX_CAPACITY];
    lut.block_sums(&layout, &block, &mut fast);
    lut.block_sums_scalar(&layout, &block, &mut scalar);
    assert_eq!(fast, scalar);

    let rotation = Rotation::new(dims, seed as u64);
    let centroid = vec![0.0f32; dims];
    let mut scan = Scan::new(&query, &rotation, &centroid, &[1.0], 1);
    let mut reads = 0;
    loop {
        match scan.next(|&slot: &usize| Some(slot as f32)) {
            Step::Emit(slot, _) => assert!(slot < len),
            Step::ReadLists(lists) => {
                reads += 1;
                assert!(reads <= 2);
                for (_, base) in lists {
                    scan.push_block(base, &layout, &block, |payload| {
                        codes
                            .iter()
                            .position(|(_, p)| p == payload)
                            .expect("a live slot's payload")
                    });
                }
            }
            Step::Done => break,
        }
    }

    // Codes of the live slots as written into a fresh block read back the same, but for the
    // bits past the dimensions' groups of 4 (a damaged block may have them set).
    let bits = bit_bytes(dims);
    let kept = dims.div_ceil(4) * 4;
    let mask = |code: &mut [u8]| {
        for plane in 0..=ex_planes {
            let at = if plane == 0 {
                0
            } else {
                bits + 8 + (plane - 1) * bits
            };
            for bit in kept..bits * 8 {
                code[at + bit / 8] &= !(1 << (bit % 8));
            }
        }
    };
    let mut fresh = layout.empty();
    for (code, payload) in &codes {
        assert!(layout.push(&mut fresh, code, payload));
    }
    assert_eq!(layout.len(&fresh), len);
    for (slot, (code, _)) in codes.iter().enumerate() {
        let mut expected = code.clone();
        mask(&mut expected);
        assert_eq!(layout.code(&fresh, slot), expected);
    }

    // Vacuum removes slots in descending order; then the block takes entries again.
    let mut removed = block.clone();
    for slot in (0..len).rev().step_by(2) {
        layout.remove(&mut removed, slot);
    }
    assert_eq!(layout.len(&removed), len - len.div_ceil(2));
    if let Some((code, payload)) = codes.first() {
        assert!(layout.push(&mut removed, code, payload));
    } else if !layout.is_full(&block) {
        let code = vec![0u8; layout.code_bytes()];
        assert!(layout.push(&mut block, &code, &vec![0u8; payload_bytes]));
    }
});
