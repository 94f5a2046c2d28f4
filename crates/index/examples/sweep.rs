//! Build time and recall@10 against exact search for a few build settings and search beams, on
//! synthetic clustered vectors with TAS-B-like norms.
//!     cargo run --release -p tasb-index --example sweep -- [N] [DIMS] [isotropic]

use std::time::Instant;
use tasb_index::synthetic::{dataset, exact_top, Rng};
use tasb_index::{search, BuildParams, Graph};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(10_000);
    let dims = args.get(1).copied().unwrap_or(96);
    let mut rng = Rng(42);
    let data = dataset(&mut rng, n, dims);
    // Queries like the data (a stored vector plus noise), as a model's queries are, unless
    // "isotropic" is given: random directions, the hardest case for inner-product graphs.
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
    println!(
        "| R | L | alpha | build s | recall@10 at beam 32 / 64 / 100 / 200 | QPS at beam 100 |"
    );
    println!("|---|---|---|---|---|---|");
    for (r, l, alpha) in [(32, 100, 1.2f32), (48, 150, 1.2)] {
        let params = BuildParams {
            max_degree: r,
            build_beam: l,
            alpha,
        };
        let started = Instant::now();
        let graph = Graph::build(dims, &data, params);
        let build = started.elapsed().as_secs_f64();
        let mut recalls = Vec::new();
        let mut qps = 0.0;
        for beam in [32, 64, 100, 200] {
            let started = Instant::now();
            let mut found = 0;
            for (q, t) in queries.iter().zip(&truth) {
                let hits = search(&graph, q, 10, beam);
                found += t
                    .iter()
                    .filter(|x| hits.iter().any(|h| h.node == **x))
                    .count();
            }
            if beam == 100 {
                qps = queries.len() as f64 / started.elapsed().as_secs_f64();
            }
            recalls.push(format!("{:.3}", found as f64 / (10 * queries.len()) as f64));
        }
        println!(
            "| {r} | {l} | {alpha} | {build:.1} | {} | {qps:.0} |",
            recalls.join(" / ")
        );
    }
}
