//! Greedy beam search: keep the `beam` best nodes seen, expand the closest unexpanded one, stop
//! when no unexpanded node can improve the beam. Used with augmented Euclidean distances while
//! building and with negative dot products for queries.

use crate::graph::Graph;
use crate::mips::dot;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashSet};

/// A scored node; ordered by distance (smaller is better).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub distance: f32,
    pub node: u32,
}

impl Eq for Scored {}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then(self.node.cmp(&other.node))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The best `beam` nodes found (closest first), and every node whose distance was computed.
pub fn beam_search(
    graph: &Graph,
    start: u32,
    beam: usize,
    distance: impl Fn(u32) -> f32,
) -> (Vec<Scored>, Vec<Scored>) {
    let beam = beam.max(1);
    let mut seen: HashSet<u32> = HashSet::with_capacity(beam * 8);
    let mut evaluated = Vec::with_capacity(beam * 8);
    let mut frontier = BinaryHeap::new();
    let mut best: BinaryHeap<Scored> = BinaryHeap::new();
    let first = Scored {
        distance: distance(start),
        node: start,
    };
    seen.insert(start);
    evaluated.push(first);
    frontier.push(Reverse(first));
    best.push(first);
    while let Some(Reverse(current)) = frontier.pop() {
        if best.len() >= beam && best.peek().is_some_and(|worst| current > *worst) {
            break;
        }
        for &next in graph.neighbors(current.node) {
            if !seen.insert(next) {
                continue;
            }
            let scored = Scored {
                distance: distance(next),
                node: next,
            };
            evaluated.push(scored);
            if best.len() < beam || best.peek().is_some_and(|worst| scored < *worst) {
                frontier.push(Reverse(scored));
                best.push(scored);
                if best.len() > beam {
                    best.pop();
                }
            }
        }
    }
    (best.into_sorted_vec(), evaluated)
}

/// A query result: a node and its dot product with the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub node: u32,
    pub dot: f32,
}

/// The `k` nodes with the largest dot product with `query` that a beam of `beam` finds.
pub fn search(graph: &Graph, query: &[f32], k: usize, beam: usize) -> Vec<Hit> {
    let Some(entry) = graph.entry() else {
        return Vec::new();
    };
    let (best, _) = beam_search(graph, entry, beam.max(k), |node| {
        -dot(query, graph.vector(node))
    });
    best.into_iter()
        .take(k)
        .map(|s| Hit {
            node: s.node,
            dot: -s.distance,
        })
        .collect()
}
