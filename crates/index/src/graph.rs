//! A Vamana-style proximity graph (the graph of DiskANN) over the augmented vectors of
//! [`crate::mips`]: each node keeps at most `max_degree` neighbours chosen by RobustPrune, which
//! keeps close neighbours and long-range ones in directions not yet covered (`alpha` > 1).

use crate::mips::{augmented_distance, dot, extra_coordinate};
use crate::search::{beam_search, Scored};
use rayon::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuildParams {
    /// Most neighbours per node (R).
    pub max_degree: usize,
    /// Beam width of the search that finds an inserted node's neighbour candidates (L).
    pub build_beam: usize,
    /// RobustPrune's distance factor: larger keeps more long edges.
    pub alpha: f32,
}

impl Default for BuildParams {
    fn default() -> Self {
        BuildParams {
            max_degree: 32,
            build_beam: 100,
            alpha: 1.2,
        }
    }
}

pub struct Graph {
    dims: usize,
    params: BuildParams,
    /// The largest norm the transform allows; larger inserts are clamped (extra coordinate 0).
    max_norm: f32,
    vectors: Vec<f32>,
    extra: Vec<f32>,
    neighbors: Vec<Vec<u32>>,
    entry: Option<u32>,
}

impl Graph {
    /// An empty graph for vectors of `dims` dimensions whose norms stay below `max_norm`.
    pub fn new(dims: usize, max_norm: f32, params: BuildParams) -> Graph {
        Graph {
            dims,
            params,
            max_norm,
            vectors: Vec::new(),
            extra: Vec::new(),
            neighbors: Vec::new(),
            entry: None,
        }
    }

    /// Builds a graph over `data` (`n * dims` values), inserting the vector nearest the centroid
    /// first so that it is the entry point. Node ids follow `data`'s order.
    pub fn build(dims: usize, data: &[f32], params: BuildParams) -> Graph {
        let n = data.len() / dims.max(1);
        let row = |i: usize| &data[i * dims..(i + 1) * dims];
        let max_norm = (0..n)
            .map(|i| dot(row(i), row(i)).sqrt())
            .fold(0.0, f32::max);
        let mut centroid = vec![0.0f32; dims];
        for i in 0..n {
            for (c, x) in centroid.iter_mut().zip(row(i)) {
                *c += x / n as f32;
            }
        }
        let medoid = (0..n)
            .min_by(|&a, &b| {
                augmented_distance(row(a), 0.0, &centroid, 0.0).total_cmp(&augmented_distance(
                    row(b),
                    0.0,
                    &centroid,
                    0.0,
                ))
            })
            .unwrap_or(0);
        let mut graph = Graph::new(dims, max_norm, params);
        graph.vectors = data[..n * dims].to_vec();
        graph.extra = (0..n)
            .map(|i| extra_coordinate(dot(row(i), row(i)), max_norm))
            .collect();
        graph.neighbors = vec![Vec::new(); n];
        graph.link(medoid as u32);
        let rest: Vec<u32> = (0..n as u32).filter(|&i| i != medoid as u32).collect();
        // Batches that grow with the graph (prefix doubling, at most 2% of the nodes): the nodes
        // of a batch search the graph as it was before the batch, in parallel, so the result does
        // not depend on the number of threads.
        let largest = (n / 50).max(1);
        let mut done = 0;
        while done < rest.len() {
            let size = (done + 1).min(largest); // as many as are linked already
            let batch = &rest[done..(done + size).min(rest.len())];
            graph.link_batch(batch, false);
            done += batch.len();
        }
        // A second pass (as DiskANN does): early nodes were linked when the graph was small;
        // searching again over the finished graph gives them better neighbours.
        let all: Vec<u32> = (0..n as u32).collect();
        for batch in all.chunks(largest) {
            graph.link_batch(batch, true);
        }
        graph
    }

    /// Links a batch of stored nodes: each searches the current graph (in parallel) and keeps a
    /// pruned neighbour list; then the reverse edges are added, each target pruned once.
    /// `again`: the nodes are linked already; their current edges stay candidates.
    fn link_batch(&mut self, nodes: &[u32], again: bool) {
        let Some(entry) = self.entry else { return };
        let this = &*self;
        let chosen: Vec<Vec<u32>> = nodes
            .par_iter()
            .map(|&node| {
                let (_, mut seen) = beam_search(this, entry, this.params.build_beam, |other| {
                    this.distance(node, other)
                });
                if again {
                    seen.extend(this.scored(node, &this.neighbors[node as usize]));
                }
                this.robust_prune(node, seen)
            })
            .collect();
        let mut incoming: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for (&node, list) in nodes.iter().zip(&chosen) {
            for &target in list {
                incoming.entry(target).or_default().push(node);
            }
        }
        for (&node, list) in nodes.iter().zip(chosen) {
            self.neighbors[node as usize] = list;
        }
        let this = &*self;
        let updated: Vec<(u32, Vec<u32>)> = incoming
            .into_par_iter()
            .filter_map(|(target, new)| {
                let current = &this.neighbors[target as usize];
                let mut list = current.clone();
                for n in new {
                    if n != target && !list.contains(&n) {
                        list.push(n);
                    }
                }
                if list.len() == current.len() {
                    return None;
                }
                if list.len() > this.params.max_degree {
                    list = this.robust_prune(target, this.scored(target, &list));
                }
                Some((target, list))
            })
            .collect();
        for (target, list) in updated {
            self.neighbors[target as usize] = list;
        }
    }

    fn scored(&self, node: u32, others: &[u32]) -> Vec<Scored> {
        others
            .iter()
            .map(|&c| Scored {
                distance: self.distance(node, c),
                node: c,
            })
            .collect()
    }

    /// Adds one vector after the build; returns its node id.
    pub fn insert(&mut self, vector: &[f32]) -> u32 {
        assert_eq!(vector.len(), self.dims, "vector of the wrong size");
        let node = self.neighbors.len() as u32;
        self.vectors.extend_from_slice(vector);
        self.extra
            .push(extra_coordinate(dot(vector, vector), self.max_norm));
        self.neighbors.push(Vec::new());
        self.link(node);
        node
    }

    pub fn len(&self) -> usize {
        self.neighbors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.neighbors.is_empty()
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn entry(&self) -> Option<u32> {
        self.entry
    }

    pub fn vector(&self, node: u32) -> &[f32] {
        let i = node as usize * self.dims;
        &self.vectors[i..i + self.dims]
    }

    pub fn neighbors(&self, node: u32) -> &[u32] {
        &self.neighbors[node as usize]
    }

    fn distance(&self, a: u32, b: u32) -> f32 {
        augmented_distance(
            self.vector(a),
            self.extra[a as usize],
            self.vector(b),
            self.extra[b as usize],
        )
    }

    /// Connects a node already stored (the first becomes the entry point): a batch of one.
    fn link(&mut self, node: u32) {
        if self.entry.is_none() {
            self.entry = Some(node);
            return;
        }
        self.link_batch(&[node], false);
    }

    /// RobustPrune: take candidates closest first; drop every candidate that the taken one
    /// covers (alpha * d(taken, c) <= d(node, c)); stop at `max_degree`.
    fn robust_prune(&self, node: u32, mut candidates: Vec<Scored>) -> Vec<u32> {
        candidates.retain(|c| c.node != node);
        candidates.sort();
        candidates.dedup_by_key(|c| c.node);
        let alpha2 = self.params.alpha * self.params.alpha; // distances are squared
        let mut chosen = Vec::with_capacity(self.params.max_degree);
        let mut rest = candidates;
        while let Some(first) = rest.first().copied() {
            chosen.push(first.node);
            if chosen.len() == self.params.max_degree {
                break;
            }
            rest.retain(|c| alpha2 * self.distance(first.node, c.node) > c.distance);
        }
        chosen
    }
}
