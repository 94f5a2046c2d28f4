//! The shared region: what the supervisor publishes (configuration), what the serving process
//! publishes (its status), counters, and the request slots.

use crate::seqlock::{AtomicText, SeqLock};
use crate::slot::{write_failure, Slot, SlotState};
use crate::stats::Counters;
use crate::{futex, Failure, SLOTS};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

const MAGIC: u64 = 0x7461_7362_5f73_7663; // "tasb_svc"

/// What the service serves, as the server's configuration says. Generation 0: never published.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceConfig {
    /// Bumped at every change; a request names the generation it was routed to.
    pub generation: u64,
    pub enabled: bool,
    pub model_dir: String,
    /// Everything that decides the vectors (model directory, ONNX Runtime library, device): a
    /// session whose own settings give another identity runs its own model.
    pub identity: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum RunnerState {
    /// No serving process (the service is off, or has no model configured).
    Off = 0,
    /// Loading the model, or about to start.
    Starting = 1,
    Ready = 2,
    /// The model could not be loaded: every request gets the status's message.
    Failed = 3,
}

impl RunnerState {
    fn from_u32(value: u32) -> RunnerState {
        match value {
            1 => RunnerState::Starting,
            2 => RunnerState::Ready,
            3 => RunnerState::Failed,
            _ => RunnerState::Off,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RunnerState::Off => "off",
            RunnerState::Starting => "starting",
            RunnerState::Ready => "ready",
            RunnerState::Failed => "failed",
        }
    }
}

/// The serving process's account of itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceStatus {
    /// The configuration generation this status belongs to.
    pub generation: u64,
    pub state: RunnerState,
    pub dimensions: u32,
    pub threads: u32,
    pub pid: i32,
    pub device: String,
    /// When Failed: why (and what to do).
    pub message: String,
    pub hint: String,
}

#[repr(C)]
pub struct Shared {
    magic: AtomicU64,
    config_lock: SeqLock,
    config_generation: AtomicU64,
    config_enabled: AtomicU32,
    config_model_dir: AtomicText<128>,
    config_identity: AtomicText<400>,
    status_lock: SeqLock,
    status_generation: AtomicU64,
    status_state: AtomicU32,
    status_dimensions: AtomicU32,
    status_threads: AtomicU32,
    status_pid: AtomicI32,
    status_device: AtomicText<2>,
    status_message: AtomicText<96>,
    status_hint: AtomicText<96>,
    /// Bumped (and futex-woken) whenever a client publishes work; the server sleeps on it.
    pub queue_sequence: AtomicU32,
    pub counters: Counters,
    slots: [Slot; SLOTS],
}

// SAFETY: every field is an atomic except the slots' data, whose access is serialised by each
// slot's state word (see `slot`): only the state's owner touches the data, after the acquiring
// transition that handed it over and before the releasing one that hands it on.
unsafe impl Sync for Shared {}
// SAFETY: as above; the region is plain memory with no thread affinity.
unsafe impl Send for Shared {}

impl Shared {
    pub const SIZE: usize = std::mem::size_of::<Shared>();

    /// Makes `region` (at least [`Shared::SIZE`] bytes, 8-aligned, exclusively the caller's
    /// until this returns) an empty region and returns it.
    ///
    /// # Safety
    /// `region` must be valid for writes of `SIZE` bytes, aligned to 8, not accessed by anyone
    /// else during the call, and live as long as the returned reference is used.
    pub unsafe fn init<'a>(region: *mut u8) -> &'a Shared {
        // All zeroes is a valid Shared: every atomic zero, every slot Free with ticket 0.
        std::ptr::write_bytes(region, 0, Self::SIZE);
        let shared = &*(region as *const Shared);
        shared.magic.store(MAGIC, Ordering::Release);
        shared
    }

    /// A region on the heap, for tests and tools outside Postgres.
    pub fn boxed() -> Box<Shared> {
        let layout = std::alloc::Layout::new::<Shared>();
        // SAFETY: the layout is Shared's own (non-zero size); all zeroes is a valid Shared (see
        // `init`), so the zeroed allocation is one, owned by the Box from here on.
        unsafe {
            let region = std::alloc::alloc_zeroed(layout);
            if region.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            let shared = Box::from_raw(region as *mut Shared);
            shared.magic.store(MAGIC, Ordering::Release);
            shared
        }
    }

    pub fn is_initialised(&self) -> bool {
        self.magic.load(Ordering::Acquire) == MAGIC
    }

    pub fn slot(&self, index: usize) -> &Slot {
        &self.slots[index]
    }

    pub fn config(&self) -> ServiceConfig {
        self.config_lock.read(|| ServiceConfig {
            generation: self.config_generation.load(Ordering::Relaxed),
            enabled: self.config_enabled.load(Ordering::Relaxed) != 0,
            model_dir: self.config_model_dir.load(),
            identity: self.config_identity.load(),
        })
    }

    /// Publishes a new configuration with the next generation, which it returns. One writer: the
    /// supervisor.
    pub fn publish_config(&self, enabled: bool, model_dir: &str, identity: &str) -> u64 {
        self.config_lock.write(|| {
            let generation = self.config_generation.load(Ordering::Relaxed) + 1;
            self.config_generation.store(generation, Ordering::Relaxed);
            self.config_enabled
                .store(u32::from(enabled), Ordering::Relaxed);
            self.config_model_dir.store(model_dir);
            self.config_identity.store(identity);
            generation
        })
    }

    pub fn status(&self) -> ServiceStatus {
        self.status_lock.read(|| ServiceStatus {
            generation: self.status_generation.load(Ordering::Relaxed),
            state: RunnerState::from_u32(self.status_state.load(Ordering::Relaxed)),
            dimensions: self.status_dimensions.load(Ordering::Relaxed),
            threads: self.status_threads.load(Ordering::Relaxed),
            pid: self.status_pid.load(Ordering::Relaxed),
            device: self.status_device.load(),
            message: self.status_message.load(),
            hint: self.status_hint.load(),
        })
    }

    /// Publishes the serving process's status. One writer at a time: the serving process while
    /// it lives, the supervisor before it starts and after it ended.
    pub fn publish_status(&self, status: &ServiceStatus) {
        self.status_lock.write(|| {
            self.status_generation
                .store(status.generation, Ordering::Relaxed);
            self.status_state
                .store(status.state as u32, Ordering::Relaxed);
            self.status_dimensions
                .store(status.dimensions, Ordering::Relaxed);
            self.status_threads.store(status.threads, Ordering::Relaxed);
            self.status_pid.store(status.pid, Ordering::Relaxed);
            self.status_device.store(&status.device);
            self.status_message.store(&status.message);
            self.status_hint.store(&status.hint);
        })
    }

    /// Called by the supervisor once a serving process is gone: finishes any status write it
    /// was killed in the middle of.
    pub fn repair_status(&self) {
        self.status_lock.repair();
    }

    /// A free slot, claimed: its index and ticket.
    pub fn claim_free_slot(&self) -> Option<(usize, u32)> {
        (0..SLOTS).find_map(|i| self.slots[i].claim().map(|ticket| (i, ticket)))
    }

    /// Tells the server there is work.
    pub fn notify_server(&self) {
        self.queue_sequence.fetch_add(1, Ordering::AcqRel);
        futex::wake_all(&self.queue_sequence);
    }

    /// Slots not Free: requests being written, queued, in the model or not yet collected.
    pub fn slots_in_use(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.load().1 != SlotState::Free)
            .count()
    }

    /// After the serving process of `generation` ended: fails every request it may have held
    /// (anything in flight, and queued requests routed to it or to an older generation; a newer
    /// generation's single-piece requests stay queued for the next process), frees abandoned
    /// slots, and wakes the clients through `wake`. Returns how many requests it failed.
    pub fn fail_in_flight(&self, generation: u64, failure: &Failure, wake: &dyn Fn(u32)) -> usize {
        use SlotState::*;
        let mut failed = 0;
        for slot in &self.slots {
            let (ticket, state) = slot.load();
            match state {
                Abandoned => {
                    slot.transition(ticket, Abandoned, Free);
                }
                Piece | PieceTaking | PieceTaken | Queued | Running => {
                    if !slot.transition(ticket, state, Failing) {
                        continue; // the client moved it meanwhile (or gave it up)
                    }
                    // SAFETY: Failing lends the data to us (see `slot`).
                    let data = unsafe { &mut *slot.data() };
                    if state == Queued && data.generation > generation && data.piece_offset == 0 {
                        slot.release_to(ticket, Failing, Queued);
                        continue;
                    }
                    write_failure(data, failure);
                    let owner = data.owner;
                    if slot.release_to(ticket, Failing, Failed) {
                        wake(owner);
                    }
                    failed += 1;
                }
                Free | Claimed | Failing | Done | Failed => {}
            }
        }
        failed
    }
}
