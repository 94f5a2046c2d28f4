//! A session's side of the service: route its texts there when it serves the session's model.

use super::shmem;
use crate::encode::model::configured_library;
use crate::encode::model::raise_encoder_error;
use crate::encode::settings::{text_setting, DEVICE, MODEL_DIR};
use pgrx::pg_sys;
use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tasb_encoder::EncoderError;
use tasb_service::client::{route, Client, Route, Wait};
use tasb_service::{Failure, RunnerState};

thread_local! {
    // Backends are single-threaded: this session's calls and texts answered by the service.
    static SERVICE_CALLS: Cell<u64> = const { Cell::new(0) };
    static SERVICE_TEXTS: Cell<u64> = const { Cell::new(0) };
}

/// Waits on this backend's latch, as any Postgres wait does, and notices a query cancel (an
/// ERROR that unwinds through the client, which gives up its slots on the way).
struct LatchWait;

impl Wait for LatchWait {
    fn wait(&mut self, timeout: Duration) {
        let events = pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH;
        // SAFETY: MyLatch is this backend's own latch, set up before any SQL runs.
        unsafe {
            pg_sys::WaitLatch(
                pg_sys::MyLatch,
                events as i32,
                timeout.as_millis().max(1) as std::ffi::c_long,
                pg_sys::PG_WAIT_EXTENSION,
            );
            pg_sys::ResetLatch(pg_sys::MyLatch);
        }
        pgrx::check_for_interrupts!();
    }
}

fn raise(failure: Failure) -> ! {
    raise_encoder_error(EncoderError {
        message: failure.message,
        hint: failure.hint,
    })
}

/// The service's route for this session, None when texts should go to the session's model.
fn service_generation() -> Option<(u64, &'static tasb_service::Shared)> {
    let shared = shmem::shared()?;
    if !super::SERVICE.get() {
        return None;
    }
    let identity = text_setting(&MODEL_DIR).and_then(|dir| {
        Some(super::model_identity(
            &dir,
            &configured_library()?,
            DEVICE.get(),
        ))
    });
    match route(shared, identity.as_deref()) {
        Route::Service { generation } => Some((generation, shared)),
        Route::Backend => None,
        Route::Unavailable(failure) => raise(failure),
    }
}

/// True when this session's texts go to the service.
pub fn serves_this_session() -> bool {
    service_generation().is_some()
}

/// Vectors for `texts` from the service, or None when the session's own model should encode
/// them (no service, or it serves another model). Errors are raised.
pub fn encode(texts: &[&str]) -> Option<Vec<Vec<f32>>> {
    for attempt in 0..2 {
        let (generation, shared) = service_generation()?;
        shared.counters.requests.fetch_add(1, Ordering::Relaxed);
        // SAFETY: MyProc is this backend's PGPROC, valid for the whole session.
        let owner = unsafe { (*pg_sys::MyProc).pgprocno } as u32;
        match Client::new(shared, owner, LatchWait).encode(generation, texts) {
            Ok(vectors) => {
                SERVICE_CALLS.with(|c| c.set(c.get() + 1));
                SERVICE_TEXTS.with(|c| c.set(c.get() + texts.len() as u64));
                return Some(vectors);
            }
            // The model changed before anything was encoded: route again, once.
            Err(f) if f.kind == tasb_service::FailureKind::Retry && attempt == 0 => continue,
            Err(f) => raise(f),
        }
    }
    None
}

/// The dimensions of the service's model, when it serves this session and has loaded it.
pub fn dimensions() -> Option<usize> {
    let (generation, shared) = service_generation()?;
    let status = shared.status();
    if status.generation == generation && status.state == RunnerState::Ready {
        return Some(status.dimensions as usize);
    }
    // Still loading: one empty text tells.
    encode(&[""]).and_then(|v| v.first().map(Vec::len))
}

/// This session's calls and texts answered by the service.
pub fn session_counts() -> (u64, u64) {
    (SERVICE_CALLS.with(Cell::get), SERVICE_TEXTS.with(Cell::get))
}
