//! The supervisor: a background worker that publishes the service's configuration, forks the
//! runner, notices when it ends, fails the texts it held, and starts it again. It never loads
//! the model itself.

use super::runner::{self, RunnerSettings, EXIT_LOAD_FAILED, EXIT_STOPPED};
use super::shmem;
use crate::encode::model::configured_library;
use crate::encode::settings::{text_setting, DEVICE, MODEL_DIR, PREPACK_WEIGHTS};
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tasb_service::{Failure, FailureKind, RunnerState, ServiceStatus, Shared};

pub fn register() {
    BackgroundWorkerBuilder::new("tasb encoder service")
        .set_type("tasb encoder service")
        .set_library("tasb")
        .set_function("tasb_service_main")
        .enable_shmem_access(None)
        .set_restart_time(Some(Duration::from_secs(1)))
        .load();
}

struct Running {
    pid: libc::pid_t,
    generation: u64,
    started: Instant,
    /// When the configuration moved on: the runner should stop by itself soon after.
    superseded: Option<Instant>,
}

struct Supervisor {
    shared: &'static Shared,
    /// The settings behind the published configuration (None: nothing to serve).
    settings: Option<RunnerSettings>,
    enabled: bool,
    generation: u64,
    runner: Option<Running>,
    /// A generation whose model failed to load: not retried until the configuration changes or
    /// the server's configuration is reloaded.
    failed_generation: Option<u64>,
    backoff: Duration,
    next_start: Instant,
    logged: (u64, RunnerState),
}

fn wanted() -> (bool, Option<RunnerSettings>) {
    let enabled = super::SERVICE.get();
    let settings = text_setting(&MODEL_DIR).and_then(|model_dir| {
        Some(RunnerSettings {
            model_dir,
            library: configured_library()?,
            device: DEVICE.get().device(),
            threads: super::SERVICE_THREADS.get().max(0) as usize,
            prepack_weights: PREPACK_WEIGHTS.get(),
        })
    });
    (enabled, settings)
}

impl Supervisor {
    fn status(&self, state: RunnerState) -> ServiceStatus {
        ServiceStatus {
            generation: self.generation,
            state,
            dimensions: 0,
            threads: 0,
            pid: 0,
            device: String::new(),
            message: String::new(),
            hint: String::new(),
        }
    }

    /// Publishes a new configuration when the settings changed (or a failed load should be
    /// retried), and starts a runner when one is wanted and none runs.
    fn reconcile(&mut self, reloaded: bool) {
        let (enabled, settings) = wanted();
        let retry = reloaded && self.failed_generation == Some(self.generation);
        if enabled != self.enabled || settings != self.settings || retry || self.generation == 0 {
            let serving = enabled && settings.is_some();
            let model_dir = settings.as_ref().map_or("", |s| s.model_dir.as_str());
            let identity = settings.as_ref().map_or(String::new(), |s| {
                super::model_identity(&s.model_dir, &s.library, DEVICE.get())
            });
            self.generation = self.shared.publish_config(serving, model_dir, &identity);
            self.shared.notify_server(); // a runner of the old generation stops at once
            self.enabled = enabled;
            self.settings = settings;
            self.failed_generation = None;
            self.backoff = Duration::ZERO;
            self.next_start = Instant::now();
            if let Some(r) = self.runner.as_mut() {
                r.superseded.get_or_insert_with(Instant::now);
            }
            if !serving && self.runner.is_none() {
                self.shared.publish_status(&self.status(RunnerState::Off));
            }
        }
        if let Some(r) = &self.runner {
            // A runner that does not stop by itself after its generation ended (a model call
            // that never returns) is killed.
            if r.superseded
                .is_some_and(|t| t.elapsed() > Duration::from_secs(30))
            {
                // SAFETY: signals our own child, which we have not reaped yet.
                unsafe { libc::kill(r.pid, libc::SIGKILL) };
            }
            return;
        }
        let Some(settings) = self.settings.clone() else {
            return;
        };
        if !self.enabled || self.failed_generation == Some(self.generation) {
            return;
        }
        if Instant::now() < self.next_start {
            return;
        }
        self.shared
            .publish_status(&self.status(RunnerState::Starting));
        match runner::spawn(self.shared, self.generation, &settings) {
            Ok(pid) => {
                self.runner = Some(Running {
                    pid,
                    generation: self.generation,
                    started: Instant::now(),
                    superseded: None,
                })
            }
            Err(e) => {
                warning!("tasb encoder service: cannot start its process: {e}");
                self.next_start = Instant::now() + Duration::from_secs(5);
            }
        }
    }

    /// Notices a runner that ended: fails what it held and decides when to start the next.
    fn reap(&mut self) {
        let Some(r) = &self.runner else { return };
        let mut wait_status = 0;
        // SAFETY: waits (without blocking) for our own child; writes only `wait_status`.
        let reaped = unsafe { libc::waitpid(r.pid, &mut wait_status, libc::WNOHANG) };
        if reaped != r.pid {
            return;
        }
        let (pid, generation, ran) = (r.pid, r.generation, r.started.elapsed());
        self.runner = None;
        self.shared.repair_status();
        let exited = libc::WIFEXITED(wait_status).then(|| libc::WEXITSTATUS(wait_status));
        let failure = match exited {
            Some(EXIT_STOPPED) => Failure::model_changed(),
            Some(EXIT_LOAD_FAILED) => {
                self.failed_generation = Some(generation);
                let status = self.shared.status();
                Failure::new(
                    FailureKind::Model,
                    status.message,
                    (!status.hint.is_empty()).then_some(status.hint.as_str()),
                )
            }
            _ => {
                let how = match exited {
                    Some(code) => format!("exited with code {code}"),
                    None => format!("was killed by signal {}", libc::WTERMSIG(wait_status)),
                };
                warning!(
                    "tasb encoder service: its process {pid} {how}; the texts it held failed, starting it again"
                );
                self.shared
                    .counters
                    .restarts
                    .fetch_add(1, Ordering::Relaxed);
                // A process that keeps dying young is started less and less often.
                self.backoff = if ran < Duration::from_secs(10) {
                    (self.backoff * 2 + Duration::from_millis(250)).min(Duration::from_secs(30))
                } else {
                    Duration::ZERO
                };
                self.next_start = Instant::now() + self.backoff;
                if generation == self.generation {
                    self.shared
                        .publish_status(&self.status(RunnerState::Starting));
                }
                Failure::ended(&how)
            }
        };
        self.shared
            .fail_in_flight(generation, &failure, &runner::wake_session);
        if generation == self.generation && !(self.enabled && self.settings.is_some()) {
            self.shared.publish_status(&self.status(RunnerState::Off));
        }
    }

    /// Logs the runner's transitions to ready or failed, once each.
    fn log_status(&mut self) {
        let status = self.shared.status();
        if (status.generation, status.state) == self.logged {
            return;
        }
        self.logged = (status.generation, status.state);
        match status.state {
            RunnerState::Ready => log!(
                "tasb encoder service: serving {} on {} with {} threads (process {})",
                self.settings.as_ref().map_or("", |s| s.model_dir.as_str()),
                status.device,
                status.threads,
                status.pid
            ),
            RunnerState::Failed => warning!("{} (hint: {})", status.message, status.hint),
            _ => {}
        }
    }

    /// At shutdown: stops the runner and fails what it held.
    fn stop(&mut self) {
        self.generation = self.shared.publish_config(false, "", "");
        self.shared.notify_server();
        if let Some(r) = self.runner.take() {
            let mut wait_status = 0;
            // SAFETY: kills and reaps our own child.
            unsafe {
                libc::kill(r.pid, libc::SIGKILL);
                libc::waitpid(r.pid, &mut wait_status, 0);
            }
            self.shared.repair_status();
            let failure = Failure::new(
                FailureKind::Retry,
                "the tasb encoder service stopped before encoding this text",
                Some("The server is shutting down or the service was terminated; run the statement again."),
            );
            self.shared
                .fail_in_flight(u64::MAX, &failure, &runner::wake_session);
        }
        self.shared.publish_status(&self.status(RunnerState::Off));
    }
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn tasb_service_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let Some(shared) = shmem::shared() else {
        // SAFETY: ends this worker; nothing follows.
        unsafe { pg_sys::proc_exit(0) };
    };
    let mut supervisor = Supervisor {
        shared,
        settings: None,
        enabled: false,
        generation: 0,
        runner: None,
        failed_generation: None,
        backoff: Duration::ZERO,
        next_start: Instant::now(),
        logged: (0, RunnerState::Off),
    };
    supervisor.reconcile(false);
    // Every 50 ms: a dead runner's waiting sessions hear of it well within a second.
    while BackgroundWorker::wait_latch(Some(Duration::from_millis(50))) {
        let reloaded = BackgroundWorker::sighup_received();
        if reloaded {
            // SAFETY: re-reads postgresql.conf in this process, as any backend does on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        supervisor.reap();
        supervisor.reconcile(reloaded);
        supervisor.log_status();
    }
    supervisor.stop();
    // Exit code 1: the postmaster restarts a worker that was terminated, but not at shutdown.
    // SAFETY: proc_exit runs the process's exit callbacks and ends it; nothing follows.
    unsafe { pg_sys::proc_exit(1) };
}
