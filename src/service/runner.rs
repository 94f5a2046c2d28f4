//! The runner: a child of the supervisor (not of the postmaster) that loads the model and serves.
//! After the fork it never returns into Postgres code and never raises a Postgres error: it runs
//! the pure serving loop, wakes sessions with SetLatch (which cannot fail), and ends with
//! `_exit`, so none of the supervisor's exit callbacks run twice.

use pgrx::pg_sys;
use std::path::Path;
use tasb_encoder::{ActiveDevice, Device, Encoder, LoadOptions};
use tasb_service::batch::BatchPolicy;
use tasb_service::server::{Server, Wake};
use tasb_service::{RunnerState, ServiceStatus, Shared, MAX_DIMENSIONS};

/// Exit codes the supervisor tells apart.
pub const EXIT_STOPPED: i32 = 0;
pub const EXIT_LOAD_FAILED: i32 = 3;
pub const EXIT_PANICKED: i32 = 70;

/// What the runner loads: the server's configuration when the supervisor forked it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerSettings {
    pub model_dir: String,
    pub library: String,
    pub device: Device,
    pub threads: usize,
    pub prepack_weights: bool,
}

/// Sets a session's latch, found by its PGPROC number.
struct LatchWake;

impl Wake for LatchWake {
    fn wake(&self, owner: u32) {
        wake_session(owner);
    }
}

/// Sets the latch of the process with PGPROC number `owner` (ignored when out of range).
pub fn wake_session(owner: u32) {
    // SAFETY: ProcGlobal and its allProcs array live in shared memory for the server's lifetime;
    // the index is checked against allProcCount. SetLatch on another process's latch only sets
    // a flag and signals its owner; it raises no error. A PGPROC reused by a new process gets at
    // worst a spurious wake-up, which every waiter tolerates.
    unsafe {
        let global = pg_sys::ProcGlobal;
        if global.is_null() || owner >= (*global).allProcCount {
            return;
        }
        let proc_ = (*global).allProcs.add(owner as usize);
        pg_sys::SetLatch(&raw mut (*proc_).procLatch);
    }
}

/// Forks the runner for configuration `generation`. Returns its pid in the supervisor.
pub fn spawn(
    shared: &'static Shared,
    generation: u64,
    settings: &RunnerSettings,
) -> std::io::Result<libc::pid_t> {
    // SAFETY: getpid cannot fail.
    let supervisor = unsafe { libc::getpid() };
    // SAFETY: the supervisor is single-threaded (it never loads ONNX Runtime, whose threads
    // would not survive a fork), so the child gets a consistent copy of its memory.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => child_main(shared, generation, settings, supervisor),
        pid => Ok(pid),
    }
}

fn child_main(
    shared: &'static Shared,
    generation: u64,
    settings: &RunnerSettings,
    supervisor: libc::pid_t,
) -> ! {
    // SAFETY: in the new child, before anything else runs: die with the supervisor (and so with
    // the postmaster), drop Postgres's signal handlers (they assume a PGPROC of our own) for the
    // default actions, unblock signals, and take our own pid for SetLatch's "is it me" check.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != supervisor {
            libc::_exit(EXIT_STOPPED);
        }
        for signal in 1..32 {
            if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                libc::signal(signal, libc::SIG_DFL);
            }
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        pg_sys::MyProcPid = libc::getpid();
    }
    // A panic ends the process with a code the supervisor reports; nothing is reused after it.
    let serving = std::panic::AssertUnwindSafe(|| serve(shared, generation, settings, supervisor));
    let code = std::panic::catch_unwind(serving).unwrap_or(EXIT_PANICKED);
    // SAFETY: ends the child without running atexit or Postgres exit callbacks (those belong to
    // the supervisor's PGPROC and shared-memory attachments).
    unsafe { libc::_exit(code) }
}

fn serve(
    shared: &'static Shared,
    generation: u64,
    settings: &RunnerSettings,
    supervisor: libc::pid_t,
) -> i32 {
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() };
    let threads = if settings.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        settings.threads
    };
    let mut status = ServiceStatus {
        generation,
        state: RunnerState::Starting,
        dimensions: 0,
        threads: threads as u32,
        pid,
        device: String::new(),
        message: String::new(),
        hint: String::new(),
    };
    shared.publish_status(&status);
    let options = LoadOptions {
        intra_threads: threads,
        device: settings.device,
        prepack_weights: settings.prepack_weights,
    };
    let loaded = Encoder::load(
        Path::new(&settings.model_dir),
        Path::new(&settings.library),
        &options,
    );
    let encoder = match loaded {
        Ok(encoder) if encoder.config().dimensions <= MAX_DIMENSIONS => encoder,
        Ok(encoder) => {
            status.state = RunnerState::Failed;
            status.message = format!(
                "the model in {} has {} dimensions, more than the encoder service carries ({MAX_DIMENSIONS})",
                settings.model_dir,
                encoder.config().dimensions
            );
            status.hint = "Set tasb.service = off to run it in each session.".into();
            shared.publish_status(&status);
            return EXIT_LOAD_FAILED;
        }
        Err(e) => {
            status.state = RunnerState::Failed;
            status.message = format!(
                "the tasb encoder service cannot load its model: {}",
                e.message
            );
            status.hint = e.hint.unwrap_or_else(|| {
                "Fix tasb.model_dir or tasb.onnxruntime_path in postgresql.conf, then SELECT pg_reload_conf()."
                    .into()
            });
            shared.publish_status(&status);
            return EXIT_LOAD_FAILED;
        }
    };
    status.state = RunnerState::Ready;
    status.dimensions = encoder.config().dimensions as u32;
    status.device = encoder.device().to_string();
    shared.publish_status(&status);
    let policy = BatchPolicy::for_device(encoder.device() == ActiveDevice::Cuda);
    let mut server = Server::new(shared, generation, encoder, LatchWake, policy);
    // SAFETY: getppid cannot fail.
    server.serve(&mut || unsafe { libc::getppid() } == supervisor);
    EXIT_STOPPED
}
