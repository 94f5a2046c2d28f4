//! Dot products through tasb-vecmath's SIMD kernels, for f32 and f16 storage alike.

use tasb_vecmath::distance::{self, Elements};

#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    distance::dot(Elements::F32(a), Elements::F32(b)) as f32
}

/// Dot product of a query with a stored vector in either precision.
#[inline]
pub fn dot_stored(query: &[f32], stored: Elements) -> f32 {
    distance::dot(Elements::F32(query), stored) as f32
}

/// Scales `x` to unit length in place; false (and `x` untouched) when its norm is zero or not
/// finite, which has no direction.
pub fn normalize(x: &mut [f32]) -> bool {
    let norm = dot(x, x).sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return false;
    }
    x.iter_mut().for_each(|v| *v /= norm);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_or_refuses() {
        let mut x = [3.0f32, 4.0];
        assert!(normalize(&mut x));
        assert!((x[0] - 0.6).abs() < 1e-6 && (x[1] - 0.8).abs() < 1e-6);
        let mut zero = [0.0f32; 3];
        assert!(!normalize(&mut zero));
        assert_eq!(zero, [0.0; 3]);
        let mut infinite = [f32::INFINITY, 1.0];
        assert!(!normalize(&mut infinite));
    }
}
