//! Recall against exact search (every dot product computed), on synthetic vectors whose norms vary
//! like TAS-B's (about 8 to 12, not unit): build-then-query and insert-then-query.

use tasb_index::{search, BuildParams, Graph};

/// splitmix64: a deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f32 {
        let u = self.uniform().max(1e-7);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
    }
}

/// n vectors: a few clusters (real embeddings are not uniform), norms scaled to 8..12.
fn dataset(rng: &mut Rng, n: usize, dims: usize) -> Vec<f32> {
    let centres: Vec<Vec<f32>> = (0..16)
        .map(|_| (0..dims).map(|_| rng.normal()).collect())
        .collect();
    let mut out = Vec::with_capacity(n * dims);
    for i in 0..n {
        let c = &centres[i % centres.len()];
        let v: Vec<f32> = c.iter().map(|x| x + 0.8 * rng.normal()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let target = 8.0 + 4.0 * rng.uniform();
        out.extend(v.iter().map(|x| x * target / norm));
    }
    out
}

fn exact_top(data: &[f32], dims: usize, query: &[f32], k: usize) -> Vec<u32> {
    let mut scored: Vec<(f32, u32)> = data
        .chunks(dims)
        .enumerate()
        .map(|(i, v)| (v.iter().zip(query).map(|(a, b)| a * b).sum(), i as u32))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.iter().take(k).map(|s| s.1).collect()
}

fn recall(graph: &Graph, data: &[f32], queries: &[Vec<f32>], k: usize, beam: usize) -> f64 {
    let mut found = 0;
    for q in queries {
        let truth = exact_top(data, graph.dims(), q, k);
        let got: Vec<u32> = search(graph, q, k, beam).iter().map(|h| h.node).collect();
        found += truth.iter().filter(|t| got.contains(t)).count();
    }
    found as f64 / (queries.len() * k) as f64
}

const DIMS: usize = 48;
/// The search beam the recall target is met at on this data (64 gives about 0.93, 200 about 0.996).
const SEARCH_BEAM: usize = 100;
const N: usize = 3000;

fn queries(rng: &mut Rng) -> Vec<Vec<f32>> {
    (0..50)
        .map(|_| (0..DIMS).map(|_| rng.normal()).collect())
        .collect()
}

#[test]
fn build_then_query_finds_the_exact_top_10() {
    let mut rng = Rng(42);
    let data = dataset(&mut rng, N, DIMS);
    let graph = Graph::build(DIMS, &data, BuildParams::default());
    let qs = queries(&mut rng);
    let r = recall(&graph, &data, &qs, 10, SEARCH_BEAM);
    assert!(r >= 0.95, "recall@10 {r}");
    assert!(
        (0..graph.len() as u32).all(|n| graph.neighbors(n).len() <= 32),
        "degree bound"
    );
}

#[test]
fn insert_then_query_finds_the_exact_top_10() {
    let mut rng = Rng(7);
    let data = dataset(&mut rng, N, DIMS);
    // Build on the first half, insert the rest one by one.
    let half = N / 2 * DIMS;
    let mut graph = Graph::build(DIMS, &data[..half], BuildParams::default());
    for v in data[half..].chunks(DIMS) {
        graph.insert(v);
    }
    assert_eq!(graph.len(), N);
    let qs = queries(&mut rng);
    let r = recall(&graph, &data, &qs, 10, SEARCH_BEAM);
    assert!(r >= 0.95, "recall@10 {r}");
}

#[test]
fn an_empty_graph_returns_nothing_and_a_single_node_returns_itself() {
    let mut graph = Graph::new(3, 10.0, BuildParams::default());
    assert!(search(&graph, &[1.0, 0.0, 0.0], 10, 16).is_empty());
    let id = graph.insert(&[1.0, 2.0, 3.0]);
    let hits = search(&graph, &[1.0, 0.0, 0.0], 10, 16);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].node, id);
    assert!((hits[0].dot - 1.0).abs() < 1e-6);
}
