//! The algorithm behind tasb's index access method, free of Postgres so it is testable with
//! `cargo test`: maximum inner product search over unnormalised vectors (TAS-B's norms vary).
//!
//! - [`mips`]: the Euclidean transform that turns "largest dot product" into "nearest neighbour",
//!   so a graph built for Euclidean distance serves inner-product queries.
//! - [`graph`]: a Vamana-style proximity graph (DiskANN's RobustPrune) built by insertion.
//! - [`search`]: greedy beam search over the graph.
//!
//! This is the in-memory core; the Postgres access method will map nodes onto pages.

pub mod graph;
pub mod mips;
pub mod search;
pub mod synthetic;

pub use graph::{BuildParams, Graph};
pub use search::{search, Hit};
