//! Lists that follow the data: when rows arrive after the build, a list that outgrows its share
//! splits in two by spherical 2-means on its own rows (the measure the build's k-means and every
//! insert use), so an index built on an empty or small table grows into as many lists as a build
//! on the full table would make. Runs on the caller's thread: a split is small (a few hundred
//! rows) and happens inside an insert.

use crate::ivf::default_lists;
use crate::kmeans::normalized;
use crate::rng::Rng;
use crate::vector::dot;

/// Lists smaller than this never split: 2-means on fewer rows finds noise, and a list this short
/// costs a scan little.
pub const MIN_SPLIT_ROWS: usize = 96;

/// Spherical 2-means iterations.
const ITERATIONS: usize = 8;

/// A side with fewer than this share of the rows means the list has no second direction.
const MIN_SIDE_SHARE: f64 = 0.05;

/// The entries above which a list splits when the index holds `rows` vectors: 1.5 times the mean
/// list size of a build over `rows` rows ([`default_lists`]), so the two halves start below the
/// mean and the lists average about what a fresh build would make.
pub fn split_threshold(rows: usize) -> usize {
    let lists = default_lists(rows.max(1));
    (rows.div_ceil(lists) * 3 / 2).max(MIN_SPLIT_ROWS)
}

/// A list's rows divided in two.
#[derive(Debug, Clone, PartialEq)]
pub struct Halves {
    /// The two new centroids, row-major: each the plain mean of its side's rows (so residuals are
    /// small, as in the build).
    pub centroids: Vec<f32>,
    /// Per row, its side (false: the first centroid), by the smallest angle to a centroid.
    pub second: Vec<bool>,
}

/// Splits `rows` (row-major, `dims` wide) by spherical 2-means; None when they have no second
/// direction (too few rows, or a side would hold under 5% of them), so the list stays whole.
pub fn split_in_two(rows: &[f32], dims: usize, seed: u64) -> Option<Halves> {
    let n = rows.len() / dims.max(1);
    if dims == 0 || n < 2 {
        return None;
    }
    let unit: Vec<f32> = rows.chunks(dims).flat_map(normalized).collect();
    let mut rng = Rng(seed);
    // Seeds: a random row, then the row farthest from it in angle (k-means++ for two).
    let first = (rng.next_u64() as usize) % n;
    let seed_a = unit[first * dims..(first + 1) * dims].to_vec();
    let farthest = (0..n)
        .min_by(|&i, &j| {
            let a = dot(&unit[i * dims..(i + 1) * dims], &seed_a);
            let b = dot(&unit[j * dims..(j + 1) * dims], &seed_a);
            a.total_cmp(&b)
        })
        .unwrap_or(0);
    let mut directions = seed_a;
    directions.extend_from_slice(&unit[farthest * dims..(farthest + 1) * dims]);
    let mut second = vec![false; n];
    for _ in 0..ITERATIONS {
        let (a, b) = directions.split_at(dims);
        for (side, x) in second.iter_mut().zip(unit.chunks(dims)) {
            *side = dot(x, b) > dot(x, a);
        }
        let sums = side_sums(&unit, dims, &second);
        let (sum_a, sum_b) = sums.split_at(dims);
        if sum_a.iter().all(|&v| v == 0.0) || sum_b.iter().all(|&v| v == 0.0) {
            break;
        }
        directions = [normalized(sum_a), normalized(sum_b)].concat();
    }
    let on_second = second.iter().filter(|&&s| s).count();
    let smaller = on_second.min(n - on_second);
    if (smaller as f64) < MIN_SIDE_SHARE * n as f64 || smaller == 0 {
        return None;
    }
    let sums = side_sums(rows, dims, &second);
    let counts = [(n - on_second) as f32, on_second as f32];
    let centroids = sums
        .chunks(dims)
        .zip(counts)
        .flat_map(|(sum, count)| sum.iter().map(move |&s| s / count).collect::<Vec<_>>())
        .collect();
    Some(Halves { centroids, second })
}

/// The sums of the rows on each side, row-major (first side, then second).
fn side_sums(rows: &[f32], dims: usize, second: &[bool]) -> Vec<f32> {
    let mut sums = vec![0.0f64; 2 * dims];
    for (x, &side) in rows.chunks(dims).zip(second) {
        let target = &mut sums[usize::from(side) * dims..(usize::from(side) + 1) * dims];
        for (s, &v) in target.iter_mut().zip(x) {
            *s += f64::from(v);
        }
    }
    sums.into_iter().map(|s| s as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two directions with norms from 1 to 10: every row goes with its direction, whatever its
    /// norm, and each centroid is the plain mean of its side.
    #[test]
    fn separates_two_directions_whatever_the_norms() {
        let dims = 16;
        let mut rng = Rng(3);
        let mut rows = Vec::new();
        let mut truth = Vec::new();
        for i in 0..300 {
            let direction = i % 3 == 0;
            let norm = 1.0 + 9.0 * rng.uniform();
            rows.extend((0..dims).map(|d| {
                let axis = if (d == 0) != direction { 4.0 } else { 0.0 };
                norm * (axis + 2.0 + 0.4 * rng.normal())
            }));
            truth.push(direction);
        }
        let halves = split_in_two(&rows, dims, 9).expect("two directions");
        let flipped = halves.second[0] != truth[0];
        for (got, want) in halves.second.iter().zip(&truth) {
            assert_eq!(*got != flipped, *want);
        }
        for side in [false, true] {
            let members: Vec<&[f32]> = rows
                .chunks(dims)
                .zip(&halves.second)
                .filter(|(_, s)| **s == side)
                .map(|(x, _)| x)
                .collect();
            let at = usize::from(side) * dims;
            for d in 0..dims {
                let mean = members.iter().map(|x| x[d]).sum::<f32>() / members.len() as f32;
                assert!((halves.centroids[at + d] - mean).abs() < 1e-3);
            }
        }
    }

    #[test]
    fn a_list_without_a_second_direction_stays_whole() {
        let dims = 8;
        let row: Vec<f32> = (0..dims).map(|d| d as f32 + 1.0).collect();
        // The same direction at different norms, and a lone outlier (under 5%).
        let mut rows: Vec<f32> = (0..200)
            .flat_map(|i| row.iter().map(move |v| v * (1.0 + i as f32 / 100.0)))
            .collect();
        assert_eq!(split_in_two(&rows, dims, 1), None);
        rows.extend((0..dims).map(|d| if d == 0 { -5.0 } else { 0.0 }));
        assert_eq!(split_in_two(&rows, dims, 1), None);
        assert_eq!(split_in_two(&rows[..dims], dims, 1), None);
        assert_eq!(split_in_two(&[], dims, 1), None);
        let zeros = vec![0.0; dims * 50];
        assert_eq!(split_in_two(&zeros, dims, 1), None);
    }

    #[test]
    fn thresholds_grow_with_the_table_and_match_a_build() {
        assert_eq!(split_threshold(0), MIN_SPLIT_ROWS);
        assert_eq!(split_threshold(1000), MIN_SPLIT_ROWS);
        let mut last = 0;
        for rows in [10_000, 100_000, 1_000_000, 10_000_000] {
            let threshold = split_threshold(rows);
            assert!(threshold >= last);
            last = threshold;
            let mean = rows as f64 / default_lists(rows) as f64;
            assert!(
                (threshold as f64 / mean - 1.5).abs() < 0.02,
                "{rows}: {threshold}"
            );
        }
    }
}
