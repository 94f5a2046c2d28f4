//! The IVF layout shared by the in-memory index and the Postgres pages: how a vector becomes a
//! list entry, and the default sizes.

use crate::rabitq;
use crate::rotation::Rotation;

/// Seed of the rotation; stored in the index's metadata so it can change in a later version.
pub const ROTATION_SEED: u64 = 0x7461_7362_5f72_6f74;

/// k-means iterations at build time.
pub const KMEANS_ITERATIONS: usize = 10;

/// Training rows per list (faiss and pgvector use 50 to 256).
pub const TRAINING_ROWS_PER_LIST: usize = 64;

/// Lists for `rows` rows when the user gives none: about sqrt(rows) * 1.5 keeps lists short
/// (fast scans) while the centroids stay cheap to rank, from 1 list to 10,000.
pub fn default_lists(rows: usize) -> usize {
    ((rows as f64).sqrt() * 1.5).round().clamp(1.0, 10_000.0) as usize
}

/// Lists probed per round when the user sets none (`tasb.probes = 0`).
pub fn default_probes(lists: usize) -> usize {
    (lists / 16).max(10).min(lists.max(1))
}

/// Appends the code of `x` in the list whose centroid is `centroid`, with `ex_planes` extra bits
/// per coordinate; returns the residual's norm (the list's spread, kept on the centroid pages, is
/// the largest of these).
pub fn encode_entry(
    rotation: &Rotation,
    centroid: &[f32],
    x: &[f32],
    ex_planes: usize,
    out: &mut Vec<u8>,
) -> f32 {
    let mut residual: Vec<f32> = x.iter().zip(centroid).map(|(a, b)| a - b).collect();
    let norm = residual.iter().map(|v| v * v).sum::<f32>().sqrt();
    rotation.apply(&mut residual);
    rabitq::encode(&residual, ex_planes, out);
    norm
}
