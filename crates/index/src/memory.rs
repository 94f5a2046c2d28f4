//! An in-memory IVF index over the same codes and scan as the access method: the reference the
//! recall tests and the parameter sweep run against, without Postgres.

use crate::block::BlockLayout;
use crate::ivf::{self, encode_entry, KMEANS_ITERATIONS, ROTATION_SEED};
use crate::kmeans;
use crate::rng::Rng;
use crate::rotation::Rotation;
use crate::scan::{Scan, Step};
use crate::tune::{self, Calibration};
use crate::vector::dot;
use rayon::prelude::*;

/// Seed of the training sample.
const SAMPLE_SEED: u64 = 17;

/// Bytes a block may take: about what a Postgres page holds, so blocks are laid out as on pages.
const BLOCK_LIMIT: usize = 8_000;

pub struct MemoryIndex {
    dims: usize,
    rotation: Rotation,
    centroids: Vec<f32>,
    /// Per list: 1 / |c|.
    norms: Vec<f32>,
    /// Per list: blocks of entries whose payload is the row id (u32).
    lists: Vec<Vec<Vec<u8>>>,
    layout: BlockLayout,
    vectors: Vec<f32>,
    deleted: Vec<bool>,
    default_probes: tune::DefaultProbes,
}

impl MemoryIndex {
    /// Trains `lists` centroids on (a sample of) `data` and adds every row.
    pub fn build(dims: usize, data: &[f32], lists: usize) -> Self {
        let rows = data.len() / dims;
        let lists = lists.clamp(1, rows.max(1));
        let sample_rows = (lists * ivf::TRAINING_ROWS_PER_LIST).min(rows);
        // A seeded random sample, as the access method's (a reservoir): an evenly spaced one
        // aliased with the MS MARCO file, whose passages come in runs per query. On 51,796
        // MiniLM encodings (341 lists) it cost recall: 0.650 against 0.754 at 2 probes, 0.837
        // against 0.911 at 16.
        let mut rows_left: Vec<usize> = (0..rows).collect();
        let mut rng = Rng(SAMPLE_SEED);
        let sample: Vec<f32> = (0..sample_rows)
            .flat_map(|i| {
                let pick = i + (rng.next_u64() as usize) % (rows - i);
                rows_left.swap(i, pick);
                let row = rows_left[i];
                data[row * dims..(row + 1) * dims].iter().copied()
            })
            .collect();
        let centroids = kmeans::train(&sample, dims, lists, KMEANS_ITERATIONS, 7, |_| {});
        let mut index = MemoryIndex {
            dims,
            rotation: Rotation::new(dims, ROTATION_SEED),
            norms: kmeans::inverse_norms(&centroids, dims),
            centroids,
            lists: vec![Vec::new(); lists],
            layout: BlockLayout::fitting(dims, 4, BLOCK_LIMIT).expect("block of a page's size"),
            vectors: Vec::new(),
            deleted: Vec::new(),
            default_probes: tune::DefaultProbes {
                probes: 1,
                estimated_recall: 1.0,
            },
        };
        let encoded: Vec<(usize, Vec<u8>)> = data.par_chunks(dims).map(|x| index.code(x)).collect();
        let mut assigned = Vec::with_capacity(rows);
        for (row, (list, code)) in encoded.into_iter().enumerate() {
            index.add(list, row as u32, &code);
            assigned.push(list as u32);
        }
        // The first rows of the training sample act as the calibration queries.
        let query_rows = tune::QUERIES.min(sample_rows);
        let mut calibration = Calibration::new(&sample[..query_rows * dims], dims);
        calibration.observe(data, &assigned);
        index.default_probes = calibration.probes(&index.centroids, &index.norms);
        index.vectors = data.to_vec();
        index.deleted = vec![false; rows];
        index
    }

    fn code(&self, x: &[f32]) -> (usize, Vec<u8>) {
        let list = kmeans::nearest(&self.centroids, &self.norms, self.dims, x);
        let mut code = Vec::with_capacity(self.layout.code_bytes());
        let centroid = &self.centroids[list * self.dims..(list + 1) * self.dims];
        encode_entry(
            &self.rotation,
            centroid,
            x,
            self.layout.ex_planes(),
            &mut code,
        );
        (list, code)
    }

    /// Appends an entry to the list's last block, or to a new block when that one is full.
    fn add(&mut self, list: usize, id: u32, code: &[u8]) {
        let payload = id.to_le_bytes();
        let blocks = &mut self.lists[list];
        let added = blocks
            .last_mut()
            .is_some_and(|last| self.layout.push(last, code, &payload));
        if !added {
            blocks.push(self.layout.with_entry(code, &payload));
        }
    }

    /// Adds a row after the build (centroids stay as trained); returns its id.
    pub fn insert(&mut self, x: &[f32]) -> u32 {
        let id = self.deleted.len() as u32;
        let (list, code) = self.code(x);
        self.add(list, id, &code);
        self.vectors.extend_from_slice(x);
        self.deleted.push(false);
        id
    }

    /// Marks a row deleted; [`MemoryIndex::vacuum`] drops its entry.
    pub fn delete(&mut self, id: u32) {
        self.deleted[id as usize] = true;
    }

    /// Removes the entries of deleted rows, as VACUUM does on pages. Returns how many.
    pub fn vacuum(&mut self) -> usize {
        let mut removed = 0;
        let layout = self.layout;
        for block in self.lists.iter_mut().flatten() {
            // Descending slots: each removal moves an already-kept entry into the hole.
            for slot in (0..layout.len(block)).rev() {
                if self.deleted[row_id(layout.payload(block, slot)) as usize] {
                    layout.remove(block, slot);
                    removed += 1;
                }
            }
        }
        removed
    }

    pub fn entries(&self) -> usize {
        self.lists
            .iter()
            .flatten()
            .map(|block| self.layout.len(block))
            .sum()
    }

    /// Probes chosen at build time for this data (see [`crate::tune`]).
    pub fn default_probes(&self) -> usize {
        self.default_probes.probes
    }

    /// The recall@10 the build's calibration queries reach at [`MemoryIndex::default_probes`].
    pub fn estimated_recall(&self) -> f64 {
        self.default_probes.estimated_recall
    }

    pub fn lists(&self) -> usize {
        self.lists.len()
    }

    /// The first `k` results (row id, dot product) probing `probes` lists per round, plus the
    /// number of vectors read in full.
    pub fn search(&self, query: &[f32], probes: usize, k: usize) -> (Vec<(u32, f32)>, usize) {
        let mut scan = Scan::new(query, &self.rotation, &self.centroids, &self.norms, probes);
        let mut results = Vec::with_capacity(k);
        while results.len() < k {
            let vectors = &self.vectors;
            let dims = self.dims;
            match scan.next(|&id| {
                let row = id as usize;
                Some(dot(query, &vectors[row * dims..(row + 1) * dims]))
            }) {
                Step::Emit(id, score) => results.push((id, score)),
                Step::ReadLists(lists) => {
                    for (list, base) in lists {
                        for block in &self.lists[list as usize] {
                            scan.push_block(base, &self.layout, block, row_id);
                        }
                    }
                }
                Step::Done => break,
            }
        }
        let reranked = scan.reranked();
        (results, reranked)
    }
}

fn row_id(payload: &[u8]) -> u32 {
    u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::synthetic::dataset;

    /// A scan that reads every list (as a filtered query does) while its caller keeps the
    /// candidates within a memory budget, as the access method does with work_mem: every row comes
    /// out once, and the heaps never hold much more than the budget.
    #[test]
    fn bounded_full_scan_returns_every_row_once() {
        let dims = 32;
        let n = 3000;
        let data = dataset(&mut Rng(11), n, dims);
        let index = MemoryIndex::build(dims, &data, 30);
        let budget = 4096;
        let largest_list = index
            .lists
            .iter()
            .map(|blocks| blocks.iter().map(|b| index.layout.len(b)).sum::<usize>())
            .max()
            .unwrap_or(0);
        let mut scan = Scan::new(
            &data[..dims],
            &index.rotation,
            &index.centroids,
            &index.norms,
            4,
        );
        let mut seen = vec![false; n];
        let mut peak = 0;
        let mut rounds = 0;
        loop {
            match scan.next(|&id| {
                let row = id as usize;
                Some(dot(&data[..dims], &data[row * dims..(row + 1) * dims]))
            }) {
                Step::Emit(id, _) => {
                    assert!(!seen[id as usize], "row {id} twice");
                    seen[id as usize] = true;
                }
                Step::ReadLists(lists) => {
                    rounds += 1;
                    let count = lists.len();
                    for (i, (list, base)) in lists.into_iter().enumerate() {
                        for block in &index.lists[list as usize] {
                            scan.push_block(base, &index.layout, block, row_id);
                        }
                        peak = peak.max(scan.memory_used());
                        if i + 1 < count && scan.memory_used() >= budget {
                            scan.unread(count - i - 1);
                            break;
                        }
                    }
                }
                Step::Done => break,
            }
        }
        assert!(seen.iter().all(|&s| s), "every row comes out");
        assert!(
            peak <= budget + largest_list * 64,
            "peak {peak} over budget {budget} plus one list of {largest_list}"
        );
        // Unbounded, rounds of 4, 8, 16 and 32 lists read the 30 lists in 4.
        assert!(rounds > 4, "the budget split rounds: {rounds}");
    }
}
