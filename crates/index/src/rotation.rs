//! A fast random orthogonal transform (signed Walsh-Hadamard rounds). RaBitQ's one-bit codes are
//! only accurate when no coordinate dominates; BERT-style embeddings have a few outlier
//! dimensions, so codes are taken of rotated residuals. Being orthogonal, the rotation keeps every
//! dot product, so the query is rotated once and compared with codes directly.
//!
//! Dimensions need not be a power of two: each round flips signs at random and applies a
//! normalised Hadamard transform to the largest power-of-two block, alternately at the start and
//! at the end of the vector (the two blocks overlap, so after two rounds every output depends on
//! every input). Cost is O(d log d) per vector, and it is rebuilt from a seed, not stored.

use crate::rng::Rng;

const ROUNDS: usize = 4;

#[derive(Clone, Debug)]
pub struct Rotation {
    dims: usize,
    block: usize,
    signs: Vec<f32>, // ROUNDS x dims, each +1 or -1
}

impl Rotation {
    pub fn new(dims: usize, seed: u64) -> Self {
        let mut rng = Rng(seed);
        let signs = (0..ROUNDS * dims)
            .map(|_| if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 })
            .collect();
        let block = if dims == 0 {
            0
        } else {
            1usize << (usize::BITS - 1 - dims.leading_zeros())
        };
        Rotation { dims, block, signs }
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Rotates `x` in place (`x.len()` must equal `dims`).
    pub fn apply(&self, x: &mut [f32]) {
        debug_assert_eq!(x.len(), self.dims);
        for round in 0..ROUNDS {
            let signs = &self.signs[round * self.dims..(round + 1) * self.dims];
            for (value, sign) in x.iter_mut().zip(signs) {
                *value *= sign;
            }
            let start = if round % 2 == 0 {
                0
            } else {
                self.dims - self.block
            };
            hadamard(&mut x[start..start + self.block]);
        }
    }
}

/// In-place normalised fast Walsh-Hadamard transform; `v.len()` is a power of two.
fn hadamard(v: &mut [f32]) {
    let n = v.len();
    let mut half = 1;
    while half < n {
        for start in (0..n).step_by(2 * half) {
            let (left, right) = v[start..start + 2 * half].split_at_mut(half);
            for (a, b) in left.iter_mut().zip(right.iter_mut()) {
                let (x, y) = (*a, *b);
                *a = x + y;
                *b = x - y;
            }
        }
        half *= 2;
    }
    let scale = 1.0 / (n as f32).sqrt();
    for value in v.iter_mut() {
        *value *= scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn keeps_dot_products_and_spreads_outliers() {
        for dims in [1usize, 7, 64, 300, 768] {
            let rotation = Rotation::new(dims, 9);
            let mut rng = Rng(dims as u64);
            let a: Vec<f32> = (0..dims).map(|_| rng.normal()).collect();
            let b: Vec<f32> = (0..dims).map(|_| rng.normal()).collect();
            let (mut ra, mut rb) = (a.clone(), b.clone());
            rotation.apply(&mut ra);
            rotation.apply(&mut rb);
            let scale = dot(&a, &a).sqrt() * dot(&b, &b).sqrt();
            assert!(
                (dot(&a, &b) - dot(&ra, &rb)).abs() <= 1e-4 * scale,
                "dims {dims}"
            );
            assert!((dot(&a, &a) - dot(&ra, &ra)).abs() <= 1e-4 * dot(&a, &a));
        }
        // One dominant coordinate ends up spread over many.
        let mut spike = vec![0.0f32; 768];
        spike[5] = 1.0;
        Rotation::new(768, 1).apply(&mut spike);
        let largest = spike.iter().map(|v| v.abs()).fold(0.0, f32::max);
        assert!(largest < 0.2, "largest coordinate after rotation {largest}");
    }
}
