//! Recall of the in-memory IVF index against exact search on clustered vectors with TAS-B-like
//! norms: after a build, after inserts, and after deletes plus vacuum.

use tasb_index::synthetic::{dataset, exact_top, Rng};
use tasb_index::MemoryIndex;

const DIMS: usize = 96;

fn queries(rng: &mut Rng, data: &[f32], count: usize) -> Vec<Vec<f32>> {
    let rows = data.len() / DIMS;
    (0..count)
        .map(|i| {
            let row = (i * 7919) % rows;
            (0..DIMS)
                .map(|d| data[row * DIMS + d] + 0.5 * rng.normal())
                .collect()
        })
        .collect()
}

/// Mean recall@10 of `index` against exact search over the rows `alive` allows.
fn recall(index: &MemoryIndex, data: &[f32], alive: impl Fn(u32) -> bool, qs: &[Vec<f32>]) -> f64 {
    let probes = index.default_probes();
    let mut found = 0;
    for q in qs {
        let truth: Vec<u32> = exact_top(data, DIMS, q, data.len() / DIMS)
            .into_iter()
            .filter(|&id| alive(id))
            .take(10)
            .collect();
        let (results, _) = index.search(q, probes, 10);
        // Scores come out in exact descending order.
        assert!(results.windows(2).all(|w| w[0].1 >= w[1].1));
        found += results.iter().filter(|(id, _)| truth.contains(id)).count();
    }
    found as f64 / (10 * qs.len()) as f64
}

#[test]
fn build_then_query() {
    let mut rng = Rng(1);
    let data = dataset(&mut rng, 6000, DIMS);
    let index = MemoryIndex::build(DIMS, &data, tasb_index::ivf::default_lists(6000));
    let qs = queries(&mut rng, &data, 50);
    let r = recall(&index, &data, |_| true, &qs);
    assert!(r >= 0.95, "recall@10 {r}");
    // The calibrated default reads only some of the lists.
    assert!(
        index.default_probes() < index.lists() / 2,
        "{} probes",
        index.default_probes()
    );
}

#[test]
fn insert_then_query() {
    let mut rng = Rng(2);
    let data = dataset(&mut rng, 6000, DIMS);
    // Centroids from the first 1,000 rows only; the other 5,000 are inserted afterwards.
    let mut index = MemoryIndex::build(DIMS, &data[..1000 * DIMS], 48);
    for x in data[1000 * DIMS..].chunks(DIMS) {
        index.insert(x);
    }
    assert_eq!(index.entries(), 6000);
    let qs = queries(&mut rng, &data, 50);
    let r = recall(&index, &data, |_| true, &qs);
    assert!(r >= 0.95, "recall@10 {r}");
}

#[test]
fn deletes_and_vacuum_keep_recall_and_hide_rows() {
    let mut rng = Rng(3);
    let data = dataset(&mut rng, 6000, DIMS);
    let mut index = MemoryIndex::build(DIMS, &data, 100);
    for id in (0..6000u32).filter(|id| id % 3 == 0) {
        index.delete(id);
    }
    assert_eq!(index.vacuum(), 2000);
    assert_eq!(index.entries(), 4000);
    let qs = queries(&mut rng, &data, 50);
    for q in &qs {
        let (results, _) = index.search(q, 8, 10);
        assert!(
            results.iter().all(|(id, _)| id % 3 != 0),
            "a vacuumed row came back"
        );
    }
    let r = recall(&index, &data, |id| id % 3 != 0, &qs);
    assert!(r >= 0.95, "recall@10 {r}");
}

#[test]
fn a_scan_reaches_every_row_in_the_end() {
    let mut rng = Rng(4);
    let data = dataset(&mut rng, 2000, DIMS);
    let index = MemoryIndex::build(DIMS, &data, 40);
    let (results, _) = index.search(&data[..DIMS], 1, 5000);
    let mut ids: Vec<u32> = results.iter().map(|r| r.0).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2000);
}

#[test]
fn results_are_exact_within_probed_lists_when_all_are_probed() {
    // Probing every list, the first ten must be the exact top ten: the error bounds hold.
    let mut rng = Rng(5);
    let data = dataset(&mut rng, 3000, DIMS);
    let index = MemoryIndex::build(DIMS, &data, 30);
    let qs = queries(&mut rng, &data, 30);
    for q in &qs {
        let (results, reranked) = index.search(q, 30, 10);
        // The same ten (near-ties may swap places between summation orders).
        let mut ids: Vec<u32> = results.iter().map(|r| r.0).collect();
        let mut truth = exact_top(&data, DIMS, q, 10);
        ids.sort();
        truth.sort();
        assert_eq!(ids, truth);
        assert!(reranked < 3000 / 4, "re-ranked {reranked} of 3000");
    }
}

#[test]
fn results_past_the_first_ten_stay_exact_and_ordered() {
    // Scans defer candidates that cannot be in the first ten; asking for 100 must bring them back.
    let mut rng = Rng(6);
    let data = dataset(&mut rng, 3000, DIMS);
    let index = MemoryIndex::build(DIMS, &data, 30);
    for q in &queries(&mut rng, &data, 10) {
        let (results, _) = index.search(q, 30, 100);
        assert!(results.windows(2).all(|w| w[0].1 >= w[1].1));
        let mut ids: Vec<u32> = results.iter().map(|r| r.0).collect();
        let mut truth = exact_top(&data, DIMS, q, 100);
        ids.sort();
        truth.sort();
        assert_eq!(ids, truth);
    }
}
