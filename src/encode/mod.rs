//! `tasb_encode` and friends: the encoder crate behind SQL, one loaded model per backend.

pub mod chunk;
pub mod functions;
pub mod model;
pub mod settings;
