//! Build time, recall@10 against exact search, vectors re-ranked and queries/s of the in-memory
//! IVF index, for several list counts and probes.
//!     cargo run --release -p tasb-index --example sweep -- [N] [DIMS] [isotropic]
//! on synthetic clustered vectors with TAS-B-like norms (8 to 12), or
//!     cargo run --release -p tasb-index --example sweep -- --files CORPUS QUERIES DIMS
//! on real encodings: raw little-endian f32 rows (e.g. numpy's `tofile`).

use std::time::Instant;
use tasb_index::ivf::default_lists;
use tasb_index::synthetic::{dataset, exact_top, Rng};
use tasb_index::MemoryIndex;

fn read_f32(path: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// (data, dims, queries) from `--files`, or synthetic.
fn inputs() -> (Vec<f32>, usize, Vec<Vec<f32>>) {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.first().map(String::as_str) == Some("--files") {
        let dims: usize = raw[3].parse().expect("DIMS");
        let data = read_f32(&raw[1]);
        let queries = read_f32(&raw[2])
            .chunks(dims)
            .map(<[f32]>::to_vec)
            .collect();
        return (data, dims, queries);
    }
    let args: Vec<usize> = raw.iter().filter_map(|a| a.parse().ok()).collect();
    let n = args.first().copied().unwrap_or(20_000);
    let dims = args.get(1).copied().unwrap_or(768);
    let mut rng = Rng(42);
    let data = dataset(&mut rng, n, dims);
    // Queries like the data (a stored vector plus noise), as a model's queries are, unless
    // "isotropic" is given: random directions.
    let isotropic = raw.iter().any(|a| a == "isotropic");
    let queries = (0..100)
        .map(|i| {
            let row = (i * 7919) % n;
            (0..dims)
                .map(|d| {
                    let noise = rng.normal();
                    if isotropic {
                        noise
                    } else {
                        data[row * dims + d] + 0.5 * noise
                    }
                })
                .collect()
        })
        .collect();
    (data, dims, queries)
}

fn main() {
    let (data, dims, queries) = inputs();
    let n = data.len() / dims;
    let truth: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| exact_top(&data, dims, q, 10))
        .collect();
    println!(
        "{n} vectors x {dims} dims, {} queries, {} threads",
        queries.len(),
        rayon::current_num_threads()
    );
    println!("| lists | build s | probes | recall@10 | re-ranked | QPS (1 thread) |");
    println!("|---|---|---|---|---|---|");
    let auto = default_lists(n);
    for lists in [auto / 2, auto, auto * 2] {
        let started = Instant::now();
        let index = MemoryIndex::build(dims, &data, lists);
        let build = started.elapsed().as_secs_f64();
        println!(
            "| {lists} | {build:.1} | default: {} (estimated recall {:.3}) | | | |",
            index.default_probes(),
            index.estimated_recall()
        );
        for probes in [1, 2, 4, 8, 16, 32, 64, 128] {
            if probes > lists {
                break;
            }
            let started = Instant::now();
            let (mut found, mut reranked) = (0, 0);
            for (q, truth) in queries.iter().zip(&truth) {
                let (results, read) = index.search(q, probes, 10);
                reranked += read;
                found += results.iter().filter(|r| truth.contains(&r.0)).count();
            }
            let qps = queries.len() as f64 / started.elapsed().as_secs_f64();
            println!(
                "| {lists} | {build:.1} | {probes} | {:.3} | {} | {qps:.0} |",
                found as f64 / (10 * queries.len()) as f64,
                reranked / queries.len()
            );
        }
    }
}
