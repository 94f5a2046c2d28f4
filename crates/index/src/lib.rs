//! The algorithm behind tasb's index access method, free of Postgres so it is testable with
//! `cargo test`: maximum inner product search over unnormalised vectors (TAS-B's norms vary).
//!
//! An inverted file (IVF): k-means lists, each entry a one-bit RaBitQ code of the vector's
//! residual from its centroid, re-ranked with exact dot products.
//! - [`kmeans`]: the lists' centroids, trained on worker threads.
//! - [`rotation`], [`rabitq`]: codes and their estimates with error bounds.
//! - [`block`], [`fastscan`]: codes stored 32 to a block, transposed so that table lookups
//!   (pshufb) estimate a whole block at once.
//! - [`scan`]: the ordered, resumable scan the access method drives page by page.
//! - [`split`]: lists that split in two as rows arrive after the build.
//! - [`tune`]: the default number of probes, chosen at build time from the data.
//! - [`page`]: bounds-checked reading of index pages as bytes (corrupt pages are errors).
//! - [`memory`]: the same index in memory, the reference for recall tests and sweeps.

pub mod block;
pub mod fastscan;
pub mod ivf;
pub mod kmeans;
pub mod memory;
pub mod page;
pub mod rabitq;
pub mod rng;
pub mod rotation;
pub mod scan;
pub mod split;
pub mod synthetic;
pub mod tune;
pub mod vector;

pub use memory::MemoryIndex;
pub use scan::{Scan, Step};
