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
            .with_hint("The library must be ONNX Runtime 1.31 or newer for this platform: libonnxruntime.so.1.32.0 from the PyPI wheel onnxruntime==1.32.0 (scripts/setup.sh), or for CUDA onnxruntime-gpu==1.31.1 (scripts/setup_gpu.sh).")
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
/// the previous mask is restored afterwards, also when `f` panics (the guard restores it on drop).
pub fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    let _guard = SignalsBlocked::new();
    f()
}

/// Blocks every signal in this thread while it lives; dropping it restores the mask it replaced.
/// Not `Send`: the mask is per thread, so it must be restored by the thread that changed it.
pub struct SignalsBlocked {
    previous: libc::sigset_t,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl SignalsBlocked {
    pub fn new() -> SignalsBlocked {
        // SAFETY: an all-zero sigset_t is a valid value of this plain C struct (sigemptyset
        // would give the same on Linux), and both are fully written before use: sigfillset fills
        // `all`, and pthread_sigmask writes the current mask into `previous`. Both calls take
        // pointers to these live, aligned stack values and keep no pointer after returning;
        // pthread_sigmask changes only the calling thread's mask. With valid arguments (SIG_SETMASK
        // and valid pointers) neither call can fail.
        let previous = unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
            previous
        };
        SignalsBlocked {
            previous,
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Default for SignalsBlocked {
    fn default() -> Self {
        SignalsBlocked::new()
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `new` on this same thread (the guard is not Send);
        // `self.previous` is a valid sigset_t written by pthread_sigmask, and the call keeps no
        // pointer to it.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether SIGUSR1 is blocked in this thread right now.
    fn sigusr1_blocked() -> bool {
        // SAFETY: pthread_sigmask with a null new set only reads the current mask into the valid
        // local `current`; sigismember reads that initialised set.
        unsafe {
            let mut current: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut current);
            libc::sigismember(&current, libc::SIGUSR1) == 1
        }
    }

    #[test]
    fn the_mask_is_restored_after_a_panic() {
        // Own thread: the test harness's threads are shared with other tests.
        std::thread::spawn(|| {
            assert!(!sigusr1_blocked());
            assert!(with_signals_blocked(sigusr1_blocked));
            assert!(!sigusr1_blocked());
            let result = std::panic::catch_unwind(|| {
                with_signals_blocked(|| {
                    assert!(sigusr1_blocked());
                    panic!("inside");
                })
            });
            assert!(result.is_err());
            assert!(
                !sigusr1_blocked(),
                "the mask must be restored after a panic"
            );
        })
        .join()
        .unwrap();
    }
}
