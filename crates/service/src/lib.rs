//! The encoder service, free of Postgres: one process serves the model to every session.
//!
//! Sessions (clients) and the serving process meet in one fixed region of shared memory,
//! [`Shared`]: a published configuration (which model, which generation), the serving process's
//! status, counters, and [`SLOTS`] request slots. A client claims a slot, writes a text into it (in
//! pieces when it is longer than a slot holds), and waits on its own latch; the server takes what
//! is queued when the model is free, tokenizes, forms length-sorted batches under a token budget
//! ([`batch`]), runs the model, writes each vector back into its slot and wakes its owner.
//!
//! - [`slot`]: one request's slot and the state machine that says who may touch it when.
//! - [`shared`]: the region: configuration, status, counters, slots.
//! - [`client`]: routing (service or the session's own model) and submitting texts.
//! - [`server`]: the serving loop.
//! - [`batch`]: which queued texts run together.
//! - [`futex`], [`seqlock`]: the two cross-process primitives everything above is built on.
//!
//! Nothing here blocks without a timeout, and every wait on the client side goes through the
//! caller's [`client::Wait`], which is where a query cancel is noticed.

pub mod batch;
pub mod client;
pub mod failure;
pub mod futex;
pub mod model;
pub mod seqlock;
pub mod server;
pub mod shared;
pub mod slot;
pub mod stats;

pub use failure::{Failure, FailureKind};
pub use shared::{RunnerState, ServiceConfig, ServiceStatus, Shared};

/// Request slots in the region: how many texts can be queued or in the model at once.
pub const SLOTS: usize = 64;
/// Text bytes one slot carries at a time; longer texts travel in pieces.
pub const PIECE_BYTES: usize = 32 * 1024;
/// The most vector elements a slot returns; a model with more is refused at load.
pub const MAX_DIMENSIONS: usize = 4096;
/// Bytes for an error's message and hint together.
pub const MESSAGE_BYTES: usize = 2048;
/// Slots one client holds at a time, so one bulk job leaves room for everyone else's queries.
pub const MAX_IN_FLIGHT: usize = 16;

/// Microseconds on the machine's monotonic clock, comparable between processes.
pub fn now_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the current time into the live, aligned `ts` and keeps no
    // pointer; CLOCK_MONOTONIC always exists on Linux, so it cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}
