//! List entries stored in blocks of up to [`MAX_CAPACITY`], laid out for fast scanning: a block's
//! code bits are transposed by groups of 4 dimensions, so one 16-entry table lookup (pshufb)
//! scores the same 4 dimensions of many entries at once (see [`crate::rabitq::QueryLut`]).
//!
//! ```text
//! len u32 | reserved u32
//! codes:    for each group g of 4 dimensions (padded to an even count), capacity/2 bytes;
//!           byte j holds entry j's nibble g in its low half and entry j + capacity/2's in its high
//! factors:  capacity x f32     (RaBitQ's |r|^2 / sum|r_i|)
//! errors:   capacity x f32     (the scale of the estimate's error)
//! counts:   capacity x u16     (set bits of the code)
//! and when ex_planes > 0 (see [`crate::rabitq::encode`]):
//! ex factors, ex errors, ex weights: capacity x f32 each
//! ex counts: ex_planes x capacity x u16 (set bits of each plane)
//! payloads: capacity x payload_bytes (the caller's: a row id, a heap TID...)
//! ex codes: ex_planes planes laid out as `codes`, the extended codes' lower bits, lowest first
//!           (last: only blocks with an entry that may make the results read them)
//! ```
//! Entries 0..len are live; the rest are zeroed. All numbers are little-endian.

use crate::rabitq::{bit_bytes, code_bytes, MAX_EX_PLANES};

/// Entries per block when they fit: the width of one AVX2 table lookup pass.
pub const MAX_CAPACITY: usize = 32;

const HEADER: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockLayout {
    dims: usize,
    capacity: usize,
    ex_planes: usize,
    payload_bytes: usize,
}

impl BlockLayout {
    /// Codes of sign bits only; `capacity` is even and at most [`MAX_CAPACITY`].
    pub fn new(dims: usize, capacity: usize, payload_bytes: usize) -> Self {
        Self::extended(dims, capacity, 0, payload_bytes)
    }

    /// Codes with `ex_planes` extra bits per coordinate.
    pub fn extended(dims: usize, capacity: usize, ex_planes: usize, payload_bytes: usize) -> Self {
        assert!(
            (2..=MAX_CAPACITY).contains(&capacity) && capacity.is_multiple_of(2),
            "block capacity {capacity}"
        );
        BlockLayout {
            dims,
            capacity,
            ex_planes,
            payload_bytes,
        }
    }

    /// The block of at most `limit` bytes: [`MAX_CAPACITY`] entries with as many extra bits (up
    /// to [`MAX_EX_PLANES`]) as fit, else the largest capacity (16, 8, ... 2) of sign bits only
    /// that fits, else None.
    pub fn fitting(dims: usize, payload_bytes: usize, limit: usize) -> Option<Self> {
        for ex_planes in (0..=MAX_EX_PLANES).rev() {
            let layout = BlockLayout::extended(dims, MAX_CAPACITY, ex_planes, payload_bytes);
            if layout.bytes() <= limit {
                return Some(layout);
            }
        }
        let mut capacity = MAX_CAPACITY / 2;
        while capacity >= 2 {
            let layout = BlockLayout::new(dims, capacity, payload_bytes);
            if layout.bytes() <= limit {
                return Some(layout);
            }
            capacity /= 2;
        }
        None
    }

    /// Extra bits per coordinate of the codes (0: sign bits only).
    pub fn ex_planes(&self) -> usize {
        self.ex_planes
    }

    /// Bytes of a code made by [`crate::rabitq::encode`] for this layout.
    pub fn code_bytes(&self) -> usize {
        code_bytes(self.dims, self.ex_planes)
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Groups of 4 dimensions, rounded up to an even count (the AVX2 kernel reads them in pairs).
    pub fn groups(&self) -> usize {
        self.dims.div_ceil(4).next_multiple_of(2)
    }

    fn codes_at(&self) -> usize {
        HEADER
    }
    fn plane_bytes(&self) -> usize {
        self.groups() * self.capacity / 2
    }
    /// Plane 0 holds the sign bits, plane 1 + k extra plane k (at the end of the block, so
    /// what every scan reads is contiguous).
    fn plane_at(&self, plane: usize) -> usize {
        if plane == 0 {
            self.codes_at()
        } else {
            self.ex_planes_at() + (plane - 1) * self.plane_bytes()
        }
    }
    fn factors_at(&self) -> usize {
        self.codes_at() + self.plane_bytes()
    }
    fn errors_at(&self) -> usize {
        self.factors_at() + 4 * self.capacity
    }
    fn counts_at(&self) -> usize {
        self.errors_at() + 4 * self.capacity
    }
    fn ex_factors_at(&self) -> usize {
        self.counts_at() + 2 * self.capacity
    }
    fn ex_numbers(&self) -> usize {
        if self.ex_planes > 0 {
            3
        } else {
            0
        }
    }
    fn ex_counts_at(&self) -> usize {
        self.ex_factors_at() + 4 * self.ex_numbers() * self.capacity
    }
    fn payloads_at(&self) -> usize {
        self.ex_counts_at() + 2 * self.ex_planes * self.capacity
    }

    fn ex_planes_at(&self) -> usize {
        self.payloads_at() + self.payload_bytes * self.capacity
    }

    /// Size of a block in bytes.
    pub fn bytes(&self) -> usize {
        self.ex_planes_at() + self.ex_planes * self.plane_bytes()
    }

    /// An empty block.
    pub fn empty(&self) -> Vec<u8> {
        vec![0; self.bytes()]
    }

    /// The transposed sign bits (see the module's layout).
    pub fn codes<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        self.plane(block, 0)
    }

    /// Extra plane `plane` (0 is the lowest bit), laid out as [`BlockLayout::codes`].
    pub fn ex_plane<'a>(&self, block: &'a [u8], plane: usize) -> &'a [u8] {
        debug_assert!(plane < self.ex_planes);
        self.plane(block, 1 + plane)
    }

    fn plane<'a>(&self, block: &'a [u8], plane: usize) -> &'a [u8] {
        let at = self.plane_at(plane);
        &block[at..at + self.plane_bytes()]
    }

    /// Every slot's extended-code factor (f32), as [`BlockLayout::factors`].
    pub fn ex_factors<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        let at = self.ex_factors_at();
        &block[at..at + 4 * self.capacity]
    }

    pub fn ex_errors<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        let at = self.ex_factors_at() + 4 * self.capacity;
        &block[at..at + 4 * self.capacity]
    }

    pub fn ex_weights<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        let at = self.ex_factors_at() + 8 * self.capacity;
        &block[at..at + 4 * self.capacity]
    }

    /// Every slot's set bits (u16) in extra plane `plane`.
    pub fn ex_counts<'a>(&self, block: &'a [u8], plane: usize) -> &'a [u8] {
        let at = self.ex_counts_at() + 2 * plane * self.capacity;
        &block[at..at + 2 * self.capacity]
    }

    pub fn len(&self, block: &[u8]) -> usize {
        (u32::from_le_bytes([block[0], block[1], block[2], block[3]]) as usize).min(self.capacity)
    }

    fn set_len(&self, block: &mut [u8], len: usize) {
        block[..4].copy_from_slice(&(len as u32).to_le_bytes());
    }

    pub fn is_full(&self, block: &[u8]) -> bool {
        self.len(block) == self.capacity
    }

    /// Every slot's factor (f32, little-endian), zeros past the length.
    pub fn factors<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        &block[self.factors_at()..self.errors_at()]
    }

    pub fn errors<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        &block[self.errors_at()..self.counts_at()]
    }

    pub fn counts<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        &block[self.counts_at()..self.payloads_at()]
    }

    pub fn factor(&self, block: &[u8], slot: usize) -> f32 {
        f32_at(block, self.factors_at() + 4 * slot)
    }

    pub fn error(&self, block: &[u8], slot: usize) -> f32 {
        f32_at(block, self.errors_at() + 4 * slot)
    }

    pub fn count(&self, block: &[u8], slot: usize) -> u32 {
        let at = self.counts_at() + 2 * slot;
        u16::from_le_bytes([block[at], block[at + 1]]) as u32
    }

    pub fn payload<'a>(&self, block: &'a [u8], slot: usize) -> &'a [u8] {
        let at = self.payloads_at() + self.payload_bytes * slot;
        &block[at..at + self.payload_bytes]
    }

    /// Byte and shift of entry `slot`'s nibble for group 0 (group g is `g * capacity / 2` bytes on).
    fn nibble_position(&self, slot: usize) -> (usize, u32) {
        let half = self.capacity / 2;
        (
            self.codes_at() + slot % half,
            if slot < half { 0 } else { 4 },
        )
    }

    /// A new block holding one entry.
    pub fn with_entry(&self, code: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut block = self.empty();
        self.push(&mut block, code, payload);
        block
    }

    /// Appends an entry: `code` as made by [`crate::rabitq::encode`] (bits, factor, error).
    /// Returns false, changing nothing, when the block is full.
    pub fn push(&self, block: &mut [u8], code: &[u8], payload: &[u8]) -> bool {
        let len = self.len(block);
        if len == self.capacity {
            return false;
        }
        self.write(block, len, code, payload);
        self.set_len(block, len + 1);
        true
    }

    /// Writes an entry into `slot`, replacing what was there.
    fn write(&self, block: &mut [u8], slot: usize, code: &[u8], payload: &[u8]) {
        assert_eq!(payload.len(), self.payload_bytes, "payload size");
        assert_eq!(code.len(), self.code_bytes(), "code size");
        let bits = bit_bytes(self.dims);
        let count = self.write_plane(block, 0, slot, &code[..bits]);
        let factors = self.factors_at() + 4 * slot;
        block[factors..factors + 4].copy_from_slice(&code[bits..bits + 4]);
        let errors = self.errors_at() + 4 * slot;
        block[errors..errors + 4].copy_from_slice(&code[bits + 4..bits + 8]);
        let counts = self.counts_at() + 2 * slot;
        block[counts..counts + 2].copy_from_slice(&(count as u16).to_le_bytes());
        let ex_numbers = bits + 8 + self.ex_planes * bits;
        for plane in 0..self.ex_planes {
            let at = bits + 8 + plane * bits;
            let count = self.write_plane(block, 1 + plane, slot, &code[at..at + bits]);
            let counts = self.ex_counts_at() + 2 * (plane * self.capacity + slot);
            block[counts..counts + 2].copy_from_slice(&(count as u16).to_le_bytes());
        }
        for number in 0..self.ex_numbers() {
            let at = self.ex_factors_at() + 4 * (number * self.capacity + slot);
            let from = ex_numbers + 4 * number;
            block[at..at + 4].copy_from_slice(&code[from..from + 4]);
        }
        let payloads = self.payloads_at() + self.payload_bytes * slot;
        block[payloads..payloads + self.payload_bytes].copy_from_slice(payload);
    }

    /// Writes one plane's bits of entry `slot`; returns how many are set.
    fn write_plane(&self, block: &mut [u8], plane: usize, slot: usize, bits: &[u8]) -> u32 {
        let (first, shift) = self.nibble_position(slot);
        let first = first - self.codes_at() + self.plane_at(plane);
        let stride = self.capacity / 2;
        let mut count = 0u32;
        for g in 0..self.groups() {
            let byte = bits.get(g / 2).copied().unwrap_or(0);
            let nibble = (byte >> (4 * (g % 2))) & 0x0f;
            count += nibble.count_ones();
            let at = first + g * stride;
            block[at] = (block[at] & !(0x0f << shift)) | (nibble << shift);
        }
        count
    }

    /// One plane's bits of entry `slot`, as [`crate::rabitq::encode`] writes them.
    fn read_plane(&self, block: &[u8], plane: usize, slot: usize, out: &mut [u8]) {
        let (first, shift) = self.nibble_position(slot);
        let first = first - self.codes_at() + self.plane_at(plane);
        let stride = self.capacity / 2;
        for g in 0..self.dims.div_ceil(4) {
            let nibble = (block[first + g * stride] >> shift) & 0x0f;
            out[g / 2] |= nibble << (4 * (g % 2));
        }
    }

    /// The code of entry `slot` in [`crate::rabitq::encode`]'s form.
    pub fn code(&self, block: &[u8], slot: usize) -> Vec<u8> {
        let bits = bit_bytes(self.dims);
        let mut code = vec![0u8; self.code_bytes()];
        self.read_plane(block, 0, slot, &mut code[..bits]);
        code[bits..bits + 4].copy_from_slice(&self.factor(block, slot).to_le_bytes());
        code[bits + 4..bits + 8].copy_from_slice(&self.error(block, slot).to_le_bytes());
        for plane in 0..self.ex_planes {
            let at = bits + 8 + plane * bits;
            self.read_plane(block, 1 + plane, slot, &mut code[at..at + bits]);
        }
        let ex_numbers = bits + 8 + self.ex_planes * bits;
        for number in 0..self.ex_numbers() {
            let at = self.ex_factors_at() + 4 * (number * self.capacity + slot);
            code[ex_numbers + 4 * number..ex_numbers + 4 * number + 4]
                .copy_from_slice(&block[at..at + 4]);
        }
        code
    }

    /// Removes entry `slot`: the last entry moves into its place. Removing slots in descending
    /// order removes exactly those slots.
    pub fn remove(&self, block: &mut [u8], slot: usize) {
        let last = self.len(block) - 1;
        if slot != last {
            let code = self.code(block, last);
            let payload = self.payload(block, last).to_vec();
            self.write(block, slot, &code, &payload);
        }
        let zero_code = vec![0u8; self.code_bytes()];
        self.write(block, last, &zero_code, &vec![0; self.payload_bytes]);
        self.set_len(block, last);
    }
}

fn f32_at(block: &[u8], at: usize) -> f32 {
    f32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rabitq::encode;
    use crate::synthetic::Rng;

    fn random_code(rng: &mut Rng, dims: usize, ex_planes: usize) -> Vec<u8> {
        let r: Vec<f32> = (0..dims).map(|_| rng.normal()).collect();
        let mut code = Vec::new();
        encode(&r, ex_planes, &mut code);
        code
    }

    #[test]
    fn entries_round_trip_and_removal_keeps_the_others() {
        for (dims, capacity, ex_planes) in [
            (384, 32, 0),
            (13, 8, 0),
            (768, 16, 0),
            (6, 2, 0),
            (384, 32, 2),
            (13, 8, 1),
        ] {
            let layout = BlockLayout::extended(dims, capacity, ex_planes, 4);
            let mut rng = Rng(dims as u64);
            let mut block = layout.empty();
            let mut expected = Vec::new();
            for id in 0..capacity as u32 {
                let code = random_code(&mut rng, dims, ex_planes);
                assert!(layout.push(&mut block, &code, &id.to_le_bytes()));
                expected.push((code, id));
            }
            assert!(!layout.push(&mut block, &expected[0].0, &[0; 4]));
            let check = |block: &[u8], expected: &[(Vec<u8>, u32)]| {
                let mut got: Vec<(Vec<u8>, u32)> = (0..layout.len(block))
                    .map(|s| {
                        let id = layout.payload(block, s);
                        (
                            layout.code(block, s),
                            u32::from_le_bytes([id[0], id[1], id[2], id[3]]),
                        )
                    })
                    .collect();
                got.sort_by_key(|e| e.1);
                assert_eq!(got, expected);
            };
            check(&block, &expected);
            // Remove the slots holding even ids, in descending slot order.
            let even: Vec<usize> = (0..capacity).filter(|s| s % 2 == 0).collect();
            for &slot in even.iter().rev() {
                layout.remove(&mut block, slot);
            }
            let odd: Vec<(Vec<u8>, u32)> = expected.into_iter().filter(|e| e.1 % 2 == 1).collect();
            check(&block, &odd);
            for slot in 0..layout.len(&block) {
                let code = layout.code(&block, slot);
                let bits = bit_bytes(dims);
                let ones = |plane: &[u8]| plane.iter().map(|b| b.count_ones()).sum::<u32>();
                assert_eq!(layout.count(&block, slot), ones(&code[..bits]));
                for plane in 0..ex_planes {
                    let at = bits + 8 + plane * bits;
                    let counts = layout.ex_counts(&block, plane);
                    let count = u16::from_le_bytes([counts[2 * slot], counts[2 * slot + 1]]);
                    assert_eq!(u32::from(count), ones(&code[at..at + bits]));
                }
            }
        }
    }

    #[test]
    fn fitting_trades_extra_bits_then_capacity_for_wide_vectors() {
        let page = 8_000;
        let fit =
            |dims| BlockLayout::fitting(dims, 12, page).map(|l| (l.capacity(), l.ex_planes()));
        assert_eq!(fit(384), Some((32, 2)));
        assert_eq!(fit(768), Some((32, 1)));
        assert_eq!(fit(1536), Some((32, 0)));
        assert_eq!(
            BlockLayout::fitting(4_000, 12, page).map(|l| l.capacity()),
            Some(8)
        );
        assert!(BlockLayout::fitting(64_000, 12, page).is_none());
    }
}
