//! The encoder service: one model per server. A background worker (the supervisor, started when
//! tasb is in `shared_preload_libraries`) runs the model in a child process of its own (the
//! runner) and every session sends its texts there through shared memory (`tasb_service`, the
//! pure crate, holds the protocol). The runner is not a postmaster child: when it dies (kill -9,
//! a crash inside ONNX Runtime), only the texts it held fail; the supervisor restarts it, and
//! the postmaster never restarts the server for it.

pub mod client;
pub mod functions;
pub mod runner;
pub mod shmem;
pub mod supervisor;

use crate::encode::settings::DeviceSetting;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// What decides a model's vectors, as one string: the service serves a session only when the
/// session's settings give the same (another tasb.model_dir, tasb.onnxruntime_path or
/// tasb.device in a session runs that session's own model).
pub fn model_identity(model_dir: &str, library: &str, device: DeviceSetting) -> String {
    format!("{model_dir}\n{library}\n{device:?}")
}

pub static SERVICE: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static SERVICE_THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);

pub fn register() {
    GucRegistry::define_bool_guc(
        c"tasb.service",
        c"Encode through the server's encoder service (one model for every session) when it serves the session's model.",
        c"In postgresql.conf (or ALTER SYSTEM, then pg_reload_conf()): off stops the service. A superuser's SET tasb.service = off makes that session run its own model. Needs tasb in shared_preload_libraries.",
        &SERVICE,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"tasb.service_threads",
        c"ONNX Runtime threads of the encoder service (0: one per core).",
        c"Takes effect on pg_reload_conf(): the service reloads its model.",
        &SERVICE_THREADS,
        0,
        256,
        GucContext::Sighup,
        GucFlags::default(),
    );
    // SAFETY: reading a backend-global flag Postgres sets while loading preload libraries.
    if unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress } {
        shmem::request();
        supervisor::register();
    }
}
