//! The process-wide ONNX Runtime: loaded once from a library file (never downloaded), with its
//! threads created while all signals are blocked, so a host process's signal handlers (Postgres's)
//! never run on them.

use crate::EncoderError;
use ort::environment::Environment;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// ort allows one environment per process: it, and the library it came from.
static RUNTIME: OnceLock<(PathBuf, Environment)> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime from `library` and creates the environment, once per process. Later calls
/// with the same path are free; a different path is an error (the first one stays loaded).
pub fn ensure_runtime(library: &Path) -> Result<&'static Environment, EncoderError> {
    let _guard = LOADING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((previous, environment)) = RUNTIME.get() {
        if previous == library {
            return Ok(environment);
        }
        return Err(EncoderError::new(format!(
            "ONNX Runtime is already loaded from {} in this process",
            previous.display()
        ))
        .with_hint("A process can load ONNX Runtime once; reconnect to use another library."));
    }
    if !library.is_file() {
        return Err(EncoderError::new(format!("ONNX Runtime library {} does not exist", library.display()))
            .with_hint("Point tasb.onnxruntime_path at libonnxruntime.so.1.32.0 from the PyPI wheel onnxruntime==1.32.0 (scripts/setup.sh installs it)."));
    }
    let environment = with_signals_blocked(|| -> Result<Environment, EncoderError> {
        let builder = ort::init_from(library).map_err(|e| {
            EncoderError::new(format!(
                "cannot load ONNX Runtime from {}: {e}",
                library.display()
            ))
            .with_hint("The library must be ONNX Runtime 1.32 or newer for this platform.")
        })?;
        builder.with_name("tasb").build().map_err(|e| {
            EncoderError::new(format!("cannot create the ONNX Runtime environment: {e}"))
        })
    })?;
    Ok(&RUNTIME
        .get_or_init(|| (library.to_path_buf(), environment))
        .1)
}

/// Runs `f` with every signal blocked in this thread, so threads it starts inherit a full mask;
/// the previous mask is restored afterwards.
pub fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sigfillset/pthread_sigmask only read and write the local sigset_t values, which are
    // valid, initialised stack memory; pthread_sigmask affects only the calling thread.
    let previous = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        previous
    };
    let result = f();
    // SAFETY: restores the mask saved above, as above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
    }
    result
}
