//! Time to parse a query vector's text, as clients send it (Python's repr of each float: up to
//! 17 significant digits), against splitting on commas and `str::parse::<f32>` for each element.
//!     cargo run --release -p tasb-vecmath --example parse -- [DIMS]
use std::hint::black_box;
use std::time::Instant;

fn literal(dims: usize) -> String {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let values: Vec<String> = (0..dims)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Coordinates of a unit vector: mostly around +-0.05.
            let value = ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.2;
            format!("{}", value as f32 as f64)
        })
        .collect();
    format!("[{}]", values.join(","))
}

fn time(label: &str, text: &str, parse: impl Fn(&str) -> usize) {
    let rounds = 20_000;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let started = Instant::now();
        for _ in 0..rounds / 5 {
            black_box(parse(black_box(text)));
        }
        best = best.min(started.elapsed().as_secs_f64() * 1e6 / (rounds / 5) as f64);
    }
    println!("| {label} | {best:.1} |");
}

fn main() {
    let dims = std::env::args()
        .nth(1)
        .and_then(|d| d.parse().ok())
        .unwrap_or(384);
    let text = literal(dims);
    println!("{dims} elements, {} bytes", text.len());
    println!("| parser | us per vector (best of 5) |");
    println!("|---|---|");
    time("tasb_vecmath::text::parse", &text, |t| {
        tasb_vecmath::text::parse(t).map_or(0, |v| v.len())
    });
    time("split + str::parse::<f32>", &text, |t| {
        t[1..t.len() - 1]
            .split(',')
            .map(|x| x.trim().parse::<f32>().unwrap_or(0.0))
            .filter(|v| *v != 1.5)
            .count()
    });
}
