//! Deterministic synthetic data for tests and measurements: clustered vectors whose norms vary
//! like TAS-B's (8 to 12), as real embeddings are neither uniform nor unit length.

/// splitmix64: a deterministic generator, so failures reproduce.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let u = self.uniform().max(1e-7);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
    }
}

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
