//! Distances between vectors stored as f32 or f16. Arithmetic is always f32; f16 elements are
//! widened in small stack chunks so mixed and half-precision operands reuse the f32 kernels.

use crate::f16;
use crate::kernels::active;

/// A borrowed vector in either storage precision.
#[derive(Clone, Copy, Debug)]
pub enum Elements<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
}

impl Elements<'_> {
    pub fn len(&self) -> usize {
        match self {
            Elements::F32(v) => v.len(),
            Elements::F16(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

const CHUNK: usize = 256;

/// Calls `f` on aligned f32 windows of both operands (widening f16 as needed) and returns the
/// results in order. Operands must have equal length; the shorter one bounds the walk otherwise.
fn for_each_chunk<T>(
    a: Elements,
    b: Elements,
    mut f: impl FnMut(&[f32], &[f32]) -> T,
    mut add: impl FnMut(T),
) {
    if let (Elements::F32(x), Elements::F32(y)) = (a, b) {
        add(f(x, y));
        return;
    }
    let widen_f16 = active().widen_f16;
    let n = a.len().min(b.len());
    let mut buf_a = [0.0f32; CHUNK];
    let mut buf_b = [0.0f32; CHUNK];
    let mut start = 0;
    while start < n {
        let end = (start + CHUNK).min(n);
        let len = end - start;
        let xa = widen(a, start, end, &mut buf_a[..len], widen_f16);
        let xb = widen(b, start, end, &mut buf_b[..len], widen_f16);
        add(f(xa, xb));
        start = end;
    }
}

fn widen<'a>(
    v: Elements<'a>,
    start: usize,
    end: usize,
    buf: &'a mut [f32],
    widen_f16: fn(&[f16], &mut [f32]),
) -> &'a [f32] {
    match v {
        Elements::F32(s) => &s[start..end],
        Elements::F16(s) => {
            widen_f16(&s[start..end], buf);
            buf
        }
    }
}

/// Inner product a·b.
pub fn dot(a: Elements, b: Elements) -> f64 {
    let k = active();
    let sum = match (a, b) {
        (Elements::F32(x), Elements::F32(y)) => (k.dot)(x, y),
        (Elements::F16(x), Elements::F16(y)) => (k.dot_f16)(x, y),
        (Elements::F16(x), Elements::F32(y)) | (Elements::F32(y), Elements::F16(x)) => {
            (k.dot_f16_f32)(x, y)
        }
    };
    f64::from(sum)
}

/// Euclidean distance.
pub fn l2_distance(a: Elements, b: Elements) -> f64 {
    let k = active();
    let mut total = 0.0f32;
    for_each_chunk(a, b, k.squared_l2, |s| total += s);
    f64::from(total).sqrt()
}

/// Cosine distance 1 - cos(a, b), in [0, 2]. NaN when either vector has zero norm, as pgvector.
pub fn cosine_distance(a: Elements, b: Elements) -> f64 {
    let k = active();
    let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
    for_each_chunk(a, b, k.dot_and_norms, |(x, y, z)| {
        ab += x;
        aa += y;
        bb += z;
    });
    let similarity = f64::from(ab) / (f64::from(aa) * f64::from(bb)).sqrt();
    if similarity.is_nan() {
        return f64::NAN;
    }
    1.0 - similarity.clamp(-1.0, 1.0)
}

/// Euclidean norm.
pub fn norm(a: Elements) -> f64 {
    dot(a, a).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::tests_rng::XorShift;

    fn f64_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum()
    }

    #[test]
    fn dot_matches_reference_for_all_precision_mixes() {
        let mut rng = XorShift::new(11);
        for n in [1usize, 7, 255, 256, 257, 768, 1000] {
            let a: Vec<f32> = (0..n).map(|_| rng.normal_f32()).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.normal_f32()).collect();
            let ah: Vec<f16> = a.iter().map(|&x| f16::from_f32(x)).collect();
            let bh: Vec<f16> = b.iter().map(|&x| f16::from_f32(x)).collect();
            let a_h32: Vec<f32> = ah.iter().map(|h| h.to_f32()).collect();
            let b_h32: Vec<f32> = bh.iter().map(|h| h.to_f32()).collect();
            let tol = 1e-4 * n as f64;
            assert!((dot(Elements::F32(&a), Elements::F32(&b)) - f64_dot(&a, &b)).abs() < tol);
            assert!(
                (dot(Elements::F16(&ah), Elements::F16(&bh)) - f64_dot(&a_h32, &b_h32)).abs() < tol
            );
            assert!((dot(Elements::F16(&ah), Elements::F32(&b)) - f64_dot(&a_h32, &b)).abs() < tol);
            assert!((dot(Elements::F32(&a), Elements::F16(&bh)) - f64_dot(&a, &b_h32)).abs() < tol);
        }
    }

    #[test]
    fn cosine_and_l2_on_known_vectors() {
        let a = [1.0f32, 0.0];
        let b = [0.0f32, 2.0];
        assert!((cosine_distance(Elements::F32(&a), Elements::F32(&b)) - 1.0).abs() < 1e-12);
        assert!((cosine_distance(Elements::F32(&a), Elements::F32(&a))).abs() < 1e-12);
        let neg = [-3.0f32, 0.0];
        assert!((cosine_distance(Elements::F32(&a), Elements::F32(&neg)) - 2.0).abs() < 1e-12);
        assert!((l2_distance(Elements::F32(&a), Elements::F32(&b)) - 5f64.sqrt()).abs() < 1e-6);
        assert!(cosine_distance(Elements::F32(&[0.0, 0.0]), Elements::F32(&a)).is_nan());
        assert!((norm(Elements::F32(&[3.0, 4.0])) - 5.0).abs() < 1e-12);
    }
}
