//! Choosing an index's default number of probes at build time, from its own data: how many lists
//! a scan must read depends on how clustered the vectors are, so no fixed fraction serves every
//! data set.
//!
//! Queries are not rows: a row's neighbours sit in its own list, while a real query is farther
//! from every row. So the calibration queries are rows pushed away from themselves by random noise
//! of [`NOISE`] times their norm (cosine about 0.55 to the row, as far as real queries are from
//! their best row in MS MARCO). Their exact top-10 among all rows
//! is gathered while the build streams the rows past, and the default is the fewest probes whose
//! lists hold [`TARGET_RECALL`] of those top-10s: aimed at a recall, not at a multiple of a
//! quantile, so it costs no more than the target needs. The recall it reached is kept with the
//! index and shown by `tasb_ivf_stats`, and `tasb_ivf_recall` measures it again later.

use crate::rng::Rng;
use crate::scan::probe_order;
use crate::vector::dot;
use rayon::prelude::*;

/// Recall@10 the default aims at for the calibration queries.
pub const TARGET_RECALL: f64 = 0.97;
/// Rows used as queries.
pub const QUERIES: usize = 64;
/// Noise added to each calibration row, relative to its norm.
pub const NOISE: f32 = 1.5;
const K: usize = 10;

/// The probes a build chose and the recall@10 its calibration queries reach with them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DefaultProbes {
    pub probes: usize,
    pub estimated_recall: f64,
}

/// Exact top-K lists of a set of query rows, filled while every row streams past.
pub struct Calibration {
    dims: usize,
    queries: Vec<f32>,
    /// Per query: (score, list) of its best rows so far, best first.
    tops: Vec<Vec<(f32, u32)>>,
}

impl Calibration {
    /// `rows`: up to [`QUERIES`] rows of the table, row-major, drawn at random.
    pub fn new(rows: &[f32], dims: usize) -> Self {
        let count = rows.len() / dims;
        let mut rng = Rng(0xca11b);
        let mut queries = Vec::with_capacity(rows.len());
        for x in rows.chunks(dims) {
            let noise: Vec<f32> = (0..dims).map(|_| rng.normal()).collect();
            let scale =
                NOISE * dot(x, x).sqrt() / dot(&noise, &noise).sqrt().max(f32::MIN_POSITIVE);
            queries.extend(x.iter().zip(&noise).map(|(v, n)| v + scale * n));
        }
        Calibration {
            tops: vec![Vec::with_capacity(K + 1); count],
            queries,
            dims,
        }
    }

    /// Takes a chunk of rows and the list each went to.
    pub fn observe(&mut self, rows: &[f32], lists: &[u32]) {
        let dims = self.dims;
        self.tops
            .par_iter_mut()
            .zip(self.queries.par_chunks(dims))
            .for_each(|(top, q)| {
                for (x, &list) in rows.chunks(dims).zip(lists) {
                    let score = dot(q, x);
                    if top.len() == K && score <= top[K - 1].0 {
                        continue;
                    }
                    let at = top.partition_point(|(s, _)| *s >= score);
                    top.insert(at, (score, list));
                    top.truncate(K);
                }
            });
    }

    /// Per probe count p (index p - 1): the share of the queries' top-10 members that sit in
    /// the first p lists a scan probes. Empty without queries or lists.
    pub fn recall_curve(&self, centroids: &[f32], inverse_norms: &[f32]) -> Vec<f64> {
        let lists = inverse_norms.len();
        let total: usize = self.tops.iter().map(Vec::len).sum();
        if total == 0 || lists == 0 {
            return Vec::new();
        }
        // found[p] = how many top-10 members sit in a list probed at position p.
        let mut found = vec![0usize; lists];
        let mut position = vec![0usize; lists];
        for (q, top) in self.queries.chunks(self.dims).zip(&self.tops) {
            for (rank, (list, _)) in probe_order(q, centroids, self.dims, inverse_norms)
                .iter()
                .enumerate()
            {
                position[*list as usize] = rank;
            }
            for (_, list) in top {
                found[position[*list as usize]] += 1;
            }
        }
        let mut covered = 0usize;
        found
            .iter()
            .map(|count| {
                covered += count;
                covered as f64 / total as f64
            })
            .collect()
    }

    /// The fewest probes whose lists hold [`TARGET_RECALL`] of the queries' top-10s (at least 1,
    /// at most every list), and the share they hold.
    pub fn probes(&self, centroids: &[f32], inverse_norms: &[f32]) -> DefaultProbes {
        let curve = self.recall_curve(centroids, inverse_norms);
        let at = curve
            .iter()
            .position(|&recall| recall >= TARGET_RECALL - 1e-9)
            .unwrap_or(curve.len().saturating_sub(1));
        DefaultProbes {
            probes: at + 1,
            estimated_recall: curve.get(at).copied().unwrap_or(1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmeans;
    use crate::synthetic::{dataset, Rng};

    /// The curve and the choice against a brute-force count: every noisy query's exact top-10
    /// over all rows, and lists ranked here by the cosine to their centroid.
    #[test]
    fn matches_a_brute_force_count() {
        let dims = 32;
        let data = dataset(&mut Rng(8), 3000, dims);
        let lists = 40;
        let centroids = kmeans::train(&data, dims, lists, 5, 1, |_| {});
        let assigned: Vec<u32> = kmeans::assign_all(&centroids, dims, &data)
            .into_iter()
            .map(|l| l as u32)
            .collect();
        let queries: Vec<f32> = (0..QUERIES)
            .flat_map(|i| data[i * 37 * dims..(i * 37 + 1) * dims].to_vec())
            .collect();
        let mut calibration = Calibration::new(&queries, dims);
        // In two chunks, as a build streams rows.
        calibration.observe(&data[..1000 * dims], &assigned[..1000]);
        calibration.observe(&data[1000 * dims..], &assigned[1000..]);

        let mut found = vec![0usize; lists];
        for q in calibration.queries.chunks(dims) {
            let mut scored: Vec<(f32, usize)> = data
                .chunks(dims)
                .enumerate()
                .map(|(i, x)| (dot(q, x), i))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            let mut by_cosine: Vec<(f32, usize)> = centroids
                .chunks(dims)
                .enumerate()
                .map(|(l, c)| (dot(q, c) / dot(c, c).sqrt(), l))
                .collect();
            by_cosine.sort_by(|a, b| b.0.total_cmp(&a.0));
            for (_, row) in scored.iter().take(K) {
                let rank = by_cosine
                    .iter()
                    .position(|(_, l)| *l as u32 == assigned[*row])
                    .unwrap();
                found[rank] += 1;
            }
        }
        let total = (QUERIES * K) as f64;
        let expected: Vec<f64> = found
            .iter()
            .scan(0, |covered, c| {
                *covered += c;
                Some(*covered as f64 / total)
            })
            .collect();
        let inverse_norms = kmeans::inverse_norms(&centroids, dims);
        let curve = calibration.recall_curve(&centroids, &inverse_norms);
        assert_eq!(curve.len(), lists);
        for (got, want) in curve.iter().zip(&expected) {
            assert!((got - want).abs() < 1e-12, "{curve:?} against {expected:?}");
        }
        let needed = expected.iter().position(|&r| r >= TARGET_RECALL).unwrap();
        let chosen = calibration.probes(&centroids, &inverse_norms);
        assert_eq!(chosen.probes, needed + 1);
        assert!((chosen.estimated_recall - expected[needed]).abs() < 1e-12);
        assert!(chosen.estimated_recall >= TARGET_RECALL);
        assert!(needed == 0 || expected[needed - 1] < TARGET_RECALL);
        assert!(
            (curve[lists - 1] - 1.0).abs() < 1e-12,
            "every list holds them all"
        );
    }

    #[test]
    fn no_queries_or_lists() {
        let calibration = Calibration::new(&[], 4);
        let chosen = calibration.probes(&[1.0, 0.0, 0.0, 0.0], &[1.0]);
        assert_eq!(chosen.probes, 1);
        assert_eq!(chosen.estimated_recall, 1.0);
    }
}
