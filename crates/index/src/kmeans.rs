//! Lloyd's k-means for the index's lists, parallel over the points with rayon. It runs on worker
//! threads that never call Postgres; the caller gets control between iterations (to check for
//! query cancel) through a callback on its own thread.

use crate::synthetic::Rng;
use crate::vector::dot;
use rayon::prelude::*;

/// `lists` centroids (row-major, `dims` wide) for the rows of `sample`.
pub fn train(
    sample: &[f32],
    dims: usize,
    lists: usize,
    iterations: usize,
    seed: u64,
    mut between_iterations: impl FnMut(usize),
) -> Vec<f32> {
    let n = sample.len() / dims;
    assert!(n > 0 && lists > 0, "k-means needs points and lists");
    let mut rng = Rng(seed);
    let mut centroids = plus_plus_seeds(sample, dims, lists, &mut rng);
    for iteration in 0..iterations {
        between_iterations(iteration);
        let assignment = assign_all(&centroids, dims, sample);
        let mut sums = vec![0.0f64; lists * dims];
        let mut counts = vec![0usize; lists];
        for (row, &list) in assignment.iter().enumerate() {
            counts[list] += 1;
            let target = &mut sums[list * dims..(list + 1) * dims];
            for (s, &v) in target.iter_mut().zip(&sample[row * dims..(row + 1) * dims]) {
                *s += v as f64;
            }
        }
        for list in 0..lists {
            let centroid = &mut centroids[list * dims..(list + 1) * dims];
            if counts[list] == 0 {
                // An empty list restarts at a random point, nudged so it is not a duplicate.
                let pick = (rng.next_u64() as usize) % n;
                for (c, &v) in centroid
                    .iter_mut()
                    .zip(&sample[pick * dims..(pick + 1) * dims])
                {
                    *c = v * (1.0 + 1e-3 * rng.normal());
                }
                continue;
            }
            let sums = &sums[list * dims..(list + 1) * dims];
            for (c, s) in centroid.iter_mut().zip(sums) {
                *c = (*s / counts[list] as f64) as f32;
            }
        }
    }
    centroids
}

/// k-means++ seeding: each next seed is a row drawn with probability proportional to its squared
/// distance from the seeds so far, so clusters do not start with two seeds in one of them.
fn plus_plus_seeds(sample: &[f32], dims: usize, lists: usize, rng: &mut Rng) -> Vec<f32> {
    let n = sample.len() / dims;
    let mut centroids = Vec::with_capacity(lists * dims);
    let first = (rng.next_u64() as usize) % n;
    centroids.extend_from_slice(&sample[first * dims..(first + 1) * dims]);
    let mut nearest2: Vec<f32> = vec![f32::INFINITY; n];
    for _ in 1..lists {
        let last = centroids[centroids.len() - dims..].to_vec();
        nearest2
            .par_iter_mut()
            .zip(sample.par_chunks(dims))
            .for_each(|(best, x)| {
                let d: f32 = x.iter().zip(&last).map(|(a, b)| (a - b) * (a - b)).sum();
                *best = best.min(d);
            });
        let total: f64 = nearest2.iter().map(|&d| d as f64).sum();
        let pick = if total > 0.0 {
            let mut target = rng.uniform() as f64 * total;
            let mut chosen = n - 1;
            for (row, &d) in nearest2.iter().enumerate() {
                target -= d as f64;
                if target <= 0.0 {
                    chosen = row;
                    break;
                }
            }
            chosen
        } else {
            (rng.next_u64() as usize) % n
        };
        centroids.extend_from_slice(&sample[pick * dims..(pick + 1) * dims]);
    }
    centroids
}

/// The nearest centroid (Euclidean) of every row of `points`, in parallel.
pub fn assign_all(centroids: &[f32], dims: usize, points: &[f32]) -> Vec<usize> {
    let norms = centroid_norms(centroids, dims);
    points
        .par_chunks(dims)
        .map(|x| nearest(centroids, &norms, dims, x))
        .collect()
}

/// Squared norms of the centroids, for [`nearest`].
pub fn centroid_norms(centroids: &[f32], dims: usize) -> Vec<f32> {
    centroids.chunks(dims).map(|c| dot(c, c)).collect()
}

/// The centroid nearest to `x`: |x-c|^2 = |x|^2 - 2 x.c + |c|^2, and |x|^2 is the same for all.
pub fn nearest(centroids: &[f32], norms: &[f32], dims: usize, x: &[f32]) -> usize {
    let mut best = (f32::INFINITY, 0);
    for (list, (c, norm)) in centroids.chunks(dims).zip(norms).enumerate() {
        let distance = norm - 2.0 * dot(x, c);
        if distance < best.0 {
            best = (distance, list);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_well_separated_clusters() {
        let dims = 8;
        let mut rng = Rng(5);
        let centres: Vec<Vec<f32>> = (0..4)
            .map(|k| (0..dims).map(|d| if d == k { 50.0 } else { 0.0 }).collect())
            .collect();
        let mut data = Vec::new();
        for i in 0..400 {
            data.extend(centres[i % 4].iter().map(|v| v + rng.normal()));
        }
        let mut calls = 0;
        let centroids = train(&data, dims, 4, 10, 1, |_| calls += 1);
        assert_eq!(calls, 10);
        let assignment = assign_all(&centroids, dims, &data);
        // Every true cluster maps to one list, and the four lists differ.
        let mut lists: Vec<usize> = (0..4).map(|k| assignment[k]).collect();
        for (i, &list) in assignment.iter().enumerate() {
            assert_eq!(list, lists[i % 4]);
        }
        lists.sort();
        lists.dedup();
        assert_eq!(lists.len(), 4);
    }
}
