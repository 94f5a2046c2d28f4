//! Lists grown by splits against lists trained on the whole table, in memory: the share of noisy
//! queries' exact top-10 held by the first p lists a scan probes (tune's recall curve).
//!
//! cargo run --release -p tasb-index --example grow -- [rows] [dims] [start_share] [reassign]

use tasb_index::ivf::default_lists;
use tasb_index::kmeans;
use tasb_index::split::{split_in_two, split_threshold};
use tasb_index::synthetic::{dataset, Rng};
use tasb_index::tune::Calibration;

fn curve(data: &[f32], dims: usize, centroids: &[f32], lists: &[u32]) -> Vec<f64> {
    let queries: Vec<f32> = (0..64)
        .flat_map(|i| data[i * 97 * dims..(i * 97 + 1) * dims].to_vec())
        .collect();
    let mut calibration = Calibration::new(&queries, dims);
    calibration.observe(data, lists);
    calibration.recall_curve(centroids, &kmeans::inverse_norms(centroids, dims))
}

/// The same share for queries that are rows themselves (as tasb_ivf_recall samples them).
fn row_curve(data: &[f32], dims: usize, centroids: &[f32], lists: &[u32]) -> Vec<f64> {
    let norms = kmeans::inverse_norms(centroids, dims);
    let count = centroids.len() / dims;
    let mut found = vec![0usize; count];
    let mut total = 0;
    for i in 0..100 {
        let q = &data[i * 191 * dims..(i * 191 + 1) * dims];
        let top = tasb_index::synthetic::exact_top(data, dims, q, 10);
        let order = tasb_index::scan::probe_order(q, centroids, dims, &norms);
        let mut position = vec![0; count];
        for (rank, (list, _)) in order.iter().enumerate() {
            position[*list as usize] = rank;
        }
        for r in top {
            found[position[lists[r as usize] as usize]] += 1;
            total += 1;
        }
    }
    let mut covered = 0;
    found
        .iter()
        .map(|c| {
            covered += c;
            covered as f64 / total as f64
        })
        .collect()
}

fn show(label: &str, curve: &[f64], lists: usize) {
    let at = |p: usize| curve.get(p.min(curve.len()) - 1).copied().unwrap_or(1.0);
    let needed = curve
        .iter()
        .position(|&r| r >= 0.95)
        .map_or(lists, |p| p + 1);
    println!(
        "{label:<28} lists {lists:>4}  p4 {:.3}  p8 {:.3}  p16 {:.3}  p32 {:.3}  p55 {:.3}  probes for 0.95: {needed} ({:.1}%)",
        at(4), at(8), at(16), at(32), at(55), 100.0 * needed as f64 / lists as f64
    );
}

/// bench/common.py's synthetic_mips: a shared direction plus 1,000 topics on a 6-dimensional
/// manifold, norms 9-11.
fn mips(n: usize, dims: usize) -> Vec<f32> {
    let mut rng = Rng(5);
    let unit = |v: Vec<f32>| {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect::<Vec<f32>>()
    };
    let shared = unit((0..dims).map(|_| rng.normal()).collect());
    let latent = 6;
    let basis: Vec<f32> = (0..latent * dims)
        .map(|_| rng.normal() / (dims as f32).sqrt())
        .collect();
    let centres: Vec<f32> = (0..1000 * latent).map(|_| rng.normal()).collect();
    let mut out = Vec::with_capacity(n * dims);
    for _ in 0..n {
        let t = (rng.next_u64() % 1000) as usize;
        let z: Vec<f32> = (0..latent)
            .map(|k| centres[t * latent + k] + 0.35 * rng.normal())
            .collect();
        let manifold = unit(
            (0..dims)
                .map(|d| (0..latent).map(|k| z[k] * basis[k * dims + d]).sum())
                .collect(),
        );
        let v = unit(
            (0..dims)
                .map(|d| {
                    0.866 * shared[d]
                        + 0.44 * manifold[d]
                        + 0.2 * rng.normal() / (dims as f32).sqrt()
                })
                .collect(),
        );
        let norm = 9.0 + 2.0 * rng.uniform();
        out.extend(v.into_iter().map(|x| x * norm));
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let dims: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(64);
    let start_share: f64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(0.0);
    let reassign: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(0);
    let data = if let Ok(path) = std::env::var("FILE") {
        let bytes = std::fs::read(path).unwrap();
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect::<Vec<f32>>()[..n * dims]
            .to_vec()
    } else if std::env::var("MIPS").is_ok() {
        mips(n, dims)
    } else {
        dataset(&mut Rng(11), n, dims)
    };

    let fresh_lists = default_lists(n);
    let centroids = kmeans::train(&data, dims, fresh_lists, 10, 7, |_| {});
    let assigned: Vec<u32> = kmeans::assign_all(&centroids, dims, &data)
        .into_iter()
        .map(|l| l as u32)
        .collect();
    show(
        "fresh build",
        &curve(&data, dims, &centroids, &assigned),
        fresh_lists,
    );
    show(
        "fresh build, row queries",
        &row_curve(&data, dims, &centroids, &assigned),
        fresh_lists,
    );

    // Built on the first start_share of the rows, then the rest inserted one by one.
    let start = (n as f64 * start_share) as usize;
    let (mut centroids, mut assigned): (Vec<f32>, Vec<u32>) = if start > 0 {
        let lists = default_lists(start);
        let c = kmeans::train(&data[..start * dims], dims, lists, 10, 7, |_| {});
        let a = kmeans::assign_all(&c, dims, &data[..start * dims])
            .into_iter()
            .map(|l| l as u32)
            .collect();
        (c, a)
    } else {
        (vec![0.0; dims], Vec::new())
    };
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); centroids.len() / dims];
    for (row, &list) in assigned.iter().enumerate() {
        members[list as usize].push(row);
    }
    let mut splits = 0;
    for row in assigned.len()..n {
        let x = &data[row * dims..(row + 1) * dims];
        let norms = kmeans::inverse_norms(&centroids, dims);
        let list = kmeans::nearest(&centroids, &norms, dims, x);
        assigned.push(list as u32);
        members[list].push(row);
        if members[list].len() > split_threshold(row + 1) {
            let rows: Vec<f32> = members[list]
                .iter()
                .flat_map(|&r| data[r * dims..(r + 1) * dims].to_vec())
                .collect();
            let Some(halves) = split_in_two(&rows, dims, row as u64) else {
                continue;
            };
            splits += 1;
            let new_list = members.len();
            centroids[list * dims..(list + 1) * dims].copy_from_slice(&halves.centroids[..dims]);
            centroids.extend_from_slice(&halves.centroids[dims..]);
            let old = std::mem::take(&mut members[list]);
            members.push(Vec::new());
            for (&r, &second) in old.iter().zip(&halves.second) {
                let target = if second { new_list } else { list };
                assigned[r] = target as u32;
                members[target].push(r);
            }
            if reassign > 0 {
                // Rows of the nearest lists that are now closer to one of the two new centroids.
                let norms = kmeans::inverse_norms(&centroids, dims);
                let c = &centroids[list * dims..(list + 1) * dims];
                let mut near: Vec<(f32, usize)> = (0..members.len())
                    .filter(|&l| l != list && l != new_list)
                    .map(|l| {
                        (
                            tasb_index::vector::dot(c, &centroids[l * dims..(l + 1) * dims])
                                * norms[l],
                            l,
                        )
                    })
                    .collect();
                near.sort_by(|a, b| b.0.total_cmp(&a.0));
                for &(_, l) in near.iter().take(reassign) {
                    let rows = std::mem::take(&mut members[l]);
                    for r in rows {
                        let x = &data[r * dims..(r + 1) * dims];
                        let best = kmeans::nearest(&centroids, &norms, dims, x);
                        let target = if best == list || best == new_list {
                            best
                        } else {
                            l
                        };
                        assigned[r] = target as u32;
                        members[target].push(r);
                    }
                }
            }
        }
    }
    let lists = members.len();
    let sizes: Vec<usize> = members.iter().map(Vec::len).collect();
    println!(
        "{splits} splits, largest list {}, smallest {}",
        sizes.iter().max().unwrap(),
        sizes.iter().min().unwrap()
    );
    show(
        &format!("grown from {start} rows, reassign {reassign}"),
        &curve(&data, dims, &centroids, &assigned),
        lists,
    );
    show(
        "grown, row queries",
        &row_curve(&data, dims, &centroids, &assigned),
        lists,
    );
}
