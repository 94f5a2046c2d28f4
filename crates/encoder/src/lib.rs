//! The encoder behind `tasb_encode`, free of Postgres so it is testable with `cargo test`.
//!
//! - [`model_dir`]: reads a model directory as Hugging Face / optimum / sentence-transformers
//!   write it, and decides pooling, normalisation and the maximum length.
//! - [`tokenize`]: a `tokenizer.json` with padding off and truncation at the maximum length.
//! - [`chunk`]: long texts split into passages that fit the model's token limit.
//! - [`batching`]: length-sorted batches, so padding (wasted model work) stays small.
//! - [`pooling`]: [CLS] or mean pooling of the last hidden state, optional L2 normalisation.
//!
//! - [`runtime`]: ONNX Runtime loaded once per process from a library file, threads signal-free.
//! - [`device`]: CPU or CUDA.
//! - [`encoder`]: the whole path, text in, vectors out.

pub mod batching;
pub mod chunk;
pub mod device;
pub mod encoder;
pub mod error;
pub mod model_dir;
pub mod pooling;
pub mod runtime;
pub mod tokenize;

pub use device::{ActiveDevice, Device};
pub use encoder::{EncodeStats, Encoder, LoadOptions};
pub use error::EncoderError;
