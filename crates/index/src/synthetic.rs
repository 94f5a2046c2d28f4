//! Deterministic synthetic data for tests and measurements: clustered vectors whose norms vary
//! like TAS-B's (8 to 12), as real embeddings are neither uniform nor unit length.

pub use crate::rng::Rng;

/// n vectors with structure at two scales, like a corpus of topics within subjects: 32 subjects,
/// about n/50 topics drawn around them, rows drawn around a topic, all sharing a common direction
/// (embeddings are anisotropic), with norms scaled to 8..12.
pub fn dataset(rng: &mut Rng, n: usize, dims: usize) -> Vec<f32> {
    let common: Vec<f32> = (0..dims).map(|_| rng.normal()).collect();
    let subjects: Vec<Vec<f32>> = (0..32)
        .map(|_| (0..dims).map(|d| 0.6 * common[d] + rng.normal()).collect())
        .collect();
    let topics: Vec<Vec<f32>> = (0..(n / 50).max(16))
        .map(|t| {
            let subject = &subjects[t % subjects.len()];
            subject.iter().map(|x| x + 0.7 * rng.normal()).collect()
        })
        .collect();
    let mut out = Vec::with_capacity(n * dims);
    for _ in 0..n {
        let topic = &topics[(rng.next_u64() as usize) % topics.len()];
        let v: Vec<f32> = topic.iter().map(|x| x + 0.6 * rng.normal()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let target = 8.0 + 4.0 * rng.uniform();
        out.extend(v.iter().map(|x| x * target / norm));
    }
    out
}

pub fn exact_top(data: &[f32], dims: usize, query: &[f32], k: usize) -> Vec<u32> {
    let mut scored: Vec<(f32, u32)> = data
        .chunks(dims)
        .enumerate()
        .map(|(i, v)| (v.iter().zip(query).map(|(a, b)| a * b).sum(), i as u32))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.iter().take(k).map(|s| s.1).collect()
}
