//! An ordered scan over the lists of an IVF index, shared by the in-memory index and the Postgres
//! access method (which reads lists and vectors from pages and feeds them in).
//!
//! Lists are probed in rounds, most promising first: by the cosine between the query and the
//! list's centroid, the measure rows were assigned to lists by (see [`probe_order`]). Every entry
//! of a probed list becomes
//! a candidate with an upper bound on its dot product (estimate + error bound). Candidates are
//! re-ranked with exact dot products, best bound first, and a result is emitted once its exact
//! score is at least every remaining bound, so results come out in exact order among the probed
//! lists and only a few vectors are read in full. When a round is used up, the next round of lists
//! (twice as many) is probed, so a filtered query keeps getting rows until the whole index has
//! been read. Order is exact within a round and relaxed between rounds, as in pgvector's
//! iterative scans.

use crate::block::{BlockLayout, MAX_CAPACITY};
use crate::rabitq::QueryLut;
use crate::rotation::Rotation;
use crate::vector::dot;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// What the caller must do next.
#[derive(Debug, PartialEq)]
pub enum Step<P> {
    /// The next result and its exact dot product with the query.
    Emit(P, f32),
    /// Read these lists and [`Scan::push_block`] each block with the list's base score, then call
    /// [`Scan::next`] again.
    ReadLists(Vec<(u32, f32)>),
    /// Every list has been read and every entry emitted.
    Done,
}

struct Ranked<P> {
    key: f32,
    payload: P,
}

impl<P> PartialEq for Ranked<P> {
    fn eq(&self, other: &Self) -> bool {
        self.key.total_cmp(&other.key) == Ordering::Equal
    }
}
impl<P> Eq for Ranked<P> {}
impl<P> PartialOrd for Ranked<P> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<P> Ord for Ranked<P> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.total_cmp(&other.key)
    }
}

/// (list, q.c) for every list, in the order a scan probes them: by q.c / |c|, the cosine between
/// the query and the centroid. `inverse_norms` holds 1 / |c| per list
/// ([`crate::kmeans::inverse_norms`]). A list is a cone of directions, so the angle to its axis
/// says where a query's best rows are; q.c itself (a list's mean score) favours lists whose rows
/// agree in direction over the wide lists that hold the extremes, and a bonus for a list's
/// spread overshoots on some data and undershoots on others (measured in bench/README.md).
pub fn probe_order(
    query: &[f32],
    centroids: &[f32],
    dims: usize,
    inverse_norms: &[f32],
) -> Vec<(u32, f32)> {
    let mut order = ProbeOrder::new(query, centroids, dims, inverse_norms);
    order.next(order.ranked.len())
}

/// Lists ranked for probing, sorted only as far as a scan has asked: a query that stops after
/// its first round sorts `probes` lists, not all of them (sorting 212 lists was 2.4% of a
/// 16-probe query).
struct ProbeOrder {
    /// (probing score, list, q.c); sorted best first up to `sorted`.
    ranked: Vec<(f32, u32, f32)>,
    sorted: usize,
    /// Lists handed out so far.
    probed: usize,
}

impl ProbeOrder {
    fn new(query: &[f32], centroids: &[f32], dims: usize, inverse_norms: &[f32]) -> Self {
        assert_eq!(
            centroids.len(),
            dims * inverse_norms.len(),
            "one inverse norm per centroid"
        );
        let ranked = centroids
            .chunks(dims)
            .zip(inverse_norms)
            .enumerate()
            .map(|(list, (c, inverse_norm))| {
                let base = dot(query, c);
                (base * inverse_norm, list as u32, base)
            })
            .collect();
        ProbeOrder {
            ranked,
            sorted: 0,
            probed: 0,
        }
    }

    fn remaining(&self) -> usize {
        self.ranked.len() - self.probed
    }

    /// The next `count` lists (fewer at the end), best first, as (list, q.c).
    fn next(&mut self, count: usize) -> Vec<(u32, f32)> {
        let end = (self.probed + count).min(self.ranked.len());
        let best_first = |a: &(f32, u32, f32), b: &(f32, u32, f32)| b.0.total_cmp(&a.0);
        if end > self.sorted {
            let rest = &mut self.ranked[self.sorted..];
            let take = end - self.sorted;
            if take < rest.len() {
                rest.select_nth_unstable_by(take - 1, best_first);
            }
            rest[..take].sort_unstable_by(best_first);
            self.sorted = end;
        }
        let lists = self.ranked[self.probed..end]
            .iter()
            .map(|&(_, list, base)| (list, base))
            .collect();
        self.probed = end;
        lists
    }
}

/// How many results a scan expects to be asked for before it is stopped (LIMIT is not passed to
/// index scans; 10 is the common case). Only a speed assumption: asking for more stays correct.
const EXPECTED_RESULTS: usize = 10;

pub struct Scan<P> {
    query: Vec<f32>,
    lut: QueryLut,
    order: ProbeOrder,
    probes_per_round: usize,
    /// Candidates by upper bound, best first.
    candidates: BinaryHeap<Ranked<P>>,
    /// Candidates whose upper bound was below [`EXPECTED_RESULTS`] other candidates' lower bounds
    /// when pushed: they cannot be among the first results, so they wait unordered (an append
    /// instead of a heap insert) until a scan asks for more results than that.
    deferred: Vec<Ranked<P>>,
    /// The best upper bound in `deferred`.
    deferred_best: f32,
    /// The [`EXPECTED_RESULTS`] best lower bounds pushed so far, worst on top.
    lower_bounds: BinaryHeap<std::cmp::Reverse<Ranked<()>>>,
    exact: BinaryHeap<Ranked<P>>,
    reranked: usize,
}

impl<P> Scan<P> {
    /// `centroids` is row-major, `rotation.dims()` wide, with `inverse_norms` their 1 / |c|.
    /// Lists are probed in [`probe_order`].
    pub fn new(
        query: &[f32],
        rotation: &Rotation,
        centroids: &[f32],
        inverse_norms: &[f32],
        probes: usize,
    ) -> Self {
        let order = ProbeOrder::new(query, centroids, rotation.dims(), inverse_norms);
        let mut rotated = query.to_vec();
        rotation.apply(&mut rotated);
        Scan {
            query: query.to_vec(),
            lut: QueryLut::new(&rotated),
            order,
            probes_per_round: probes.max(1),
            candidates: BinaryHeap::new(),
            deferred: Vec::new(),
            deferred_best: f32::NEG_INFINITY,
            lower_bounds: BinaryHeap::with_capacity(EXPECTED_RESULTS + 1),
            exact: BinaryHeap::new(),
            reranked: 0,
        }
    }

    pub fn query(&self) -> &[f32] {
        &self.query
    }

    /// Bytes the scan's candidate heaps hold: a caller bounds it (the access method by work_mem)
    /// by reading fewer lists of a round and handing the rest back with [`Scan::unread`].
    pub fn memory_used(&self) -> usize {
        (self.candidates.len() + self.deferred.len() + self.exact.len())
            * std::mem::size_of::<Ranked<P>>()
    }

    /// Hands back the last `count` lists of the latest [`Step::ReadLists`], unread: they come
    /// first in the next round. Order stays exact within each (now smaller) round.
    pub fn unread(&mut self, count: usize) {
        self.order.probed -= count.min(self.order.probed);
    }

    /// Vectors read in full so far (for statistics and tests).
    pub fn reranked(&self) -> usize {
        self.reranked
    }

    /// Adds the entries of one block of a list being read, `base` the list's q.c from
    /// [`Step::ReadLists`]; `payload` turns an entry's payload bytes into a `P`.
    #[inline]
    pub fn push_block(
        &mut self,
        base: f32,
        layout: &BlockLayout,
        block: &[u8],
        payload: impl Fn(&[u8]) -> P,
    ) {
        let mut upper = [0.0; MAX_CAPACITY];
        let mut lower = [0.0; MAX_CAPACITY];
        let mut sign_sums = [0; MAX_CAPACITY];
        let len = self
            .lut
            .bound_block(base, layout, block, &mut sign_sums, &mut upper, &mut lower);
        let mut threshold = self.threshold();
        // Extended codes only for blocks with an entry that may still make the first results.
        if layout.ex_planes() > 0 && upper[..len].iter().any(|&u| u >= threshold) {
            self.lut
                .refine_block(base, layout, block, &sign_sums, &mut upper, &mut lower);
        }
        for slot in 0..len {
            let candidate = Ranked {
                key: upper[slot],
                payload: payload(layout.payload(block, slot)),
            };
            if upper[slot] < threshold {
                // Cannot be among the first EXPECTED_RESULTS: waits unordered.
                self.deferred_best = self.deferred_best.max(upper[slot]);
                self.deferred.push(candidate);
                continue;
            }
            if lower[slot] > threshold {
                self.lower_bounds.push(std::cmp::Reverse(Ranked {
                    key: lower[slot],
                    payload: (),
                }));
                if self.lower_bounds.len() > EXPECTED_RESULTS {
                    self.lower_bounds.pop();
                }
                threshold = self.threshold();
            }
            self.candidates.push(candidate);
        }
    }

    /// The [`EXPECTED_RESULTS`]-th best lower bound so far (minus infinity before there are that
    /// many): upper bounds below it cannot be among the first results.
    fn threshold(&self) -> f32 {
        if self.lower_bounds.len() == EXPECTED_RESULTS {
            self.lower_bounds
                .peek()
                .map_or(f32::NEG_INFINITY, |w| w.0.key)
        } else {
            f32::NEG_INFINITY
        }
    }

    /// Moves the deferred candidates into the ordered ones once the scan reaches their bounds.
    fn undefer_if_needed(&mut self) {
        let best = self.candidates.peek().map_or(f32::NEG_INFINITY, |c| c.key);
        if !self.deferred.is_empty() && self.deferred_best >= best {
            self.candidates.extend(self.deferred.drain(..));
            self.deferred_best = f32::NEG_INFINITY;
        }
    }

    /// Advances the scan. `exact_score` returns the exact dot product of the query with an
    /// entry's vector, or None when the vector is gone (the entry is then skipped).
    pub fn next(&mut self, mut exact_score: impl FnMut(&P) -> Option<f32>) -> Step<P> {
        loop {
            self.undefer_if_needed();
            let best_bound = self.candidates.peek().map(|c| c.key);
            if let Some(top) = self.exact.peek() {
                if best_bound.is_none_or(|bound| top.key >= bound) {
                    let top = self.exact.pop().expect("peeked above");
                    return Step::Emit(top.payload, top.key);
                }
            }
            if let Some(candidate) = self.candidates.pop() {
                self.reranked += 1;
                if let Some(score) = exact_score(&candidate.payload) {
                    self.exact.push(Ranked {
                        key: score,
                        payload: candidate.payload,
                    });
                }
                continue;
            }
            if self.order.remaining() > 0 {
                let lists = self.order.next(self.probes_per_round);
                // A scan that outlives its first round is a filtered one: grow the rounds so a
                // selective filter needs few of them (and few boundaries where order is relaxed).
                self.probes_per_round *= 2;
                return Step::ReadLists(lists);
            }
            return Step::Done;
        }
    }
}
