//! Build time, recall@10 against exact search, vectors re-ranked and queries/s of the in-memory
//! IVF index, for several list counts and probes, on synthetic clustered vectors with TAS-B-like
//! norms (8 to 12).
//!     cargo run --release -p tasb-index --example sweep -- [N] [DIMS] [isotropic]

use std::time::Instant;
use tasb_index::ivf::default_lists;
use tasb_index::synthetic::{dataset, exact_top, Rng};
use tasb_index::MemoryIndex;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(20_000);
    let dims = args.get(1).copied().unwrap_or(768);
    let mut rng = Rng(42);
    let data = dataset(&mut rng, n, dims);
    // Queries like the data (a stored vector plus noise), as a model's queries are, unless
    // "isotropic" is given: random directions.
    let isotropic = std::env::args().any(|a| a == "isotropic");
    let queries: Vec<Vec<f32>> = (0..100)
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
    let truth: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| exact_top(&data, dims, q, 10))
        .collect();
    println!(
        "{n} vectors x {dims} dims, 100 queries, {} threads",
        rayon::current_num_threads()
    );
    println!("| lists | build s | probes | recall@10 | re-ranked | QPS (1 thread) |");
    println!("|---|---|---|---|---|---|");
    let auto = default_lists(n);
    for lists in [auto / 2, auto, auto * 2] {
        let started = Instant::now();
        let index = MemoryIndex::build(dims, &data, lists);
        let build = started.elapsed().as_secs_f64();
        for probes in [1, 2, 4, 8, 16, 32, 64] {
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
                found as f64 / 1000.0,
                reranked / queries.len()
            );
        }
    }
}
