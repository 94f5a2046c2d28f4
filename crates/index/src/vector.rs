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
