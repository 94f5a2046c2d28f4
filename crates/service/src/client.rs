//! The session's side: whether the service serves this session's model, and sending texts.

use crate::slot::{read_failure, SlotState};
use crate::{now_us, Failure, RunnerState, Shared, MAX_IN_FLIGHT, PIECE_BYTES};
use std::time::Duration;

/// How a session waits for the service: on its latch in Postgres. `wait` may unwind (a query
/// cancel raised as an error): the client gives up its slots as the unwinding drops them.
pub trait Wait {
    fn wait(&mut self, timeout: Duration);
}

/// Where this session's texts go.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// To the service, tagged with its configuration generation.
    Service { generation: u64 },
    /// To the session's own model: no service, or it serves another model than the session's.
    Backend,
    /// The service serves this model but could not load it: every caller gets why.
    Unavailable(Failure),
}

/// The route for a session whose settings give the model identity `session_identity` (see
/// [`crate::ServiceConfig::identity`]).
pub fn route(shared: &Shared, session_identity: Option<&str>) -> Route {
    if !shared.is_initialised() {
        return Route::Backend;
    }
    let config = shared.config();
    if config.generation == 0 || !config.enabled || config.identity.is_empty() {
        return Route::Backend;
    }
    if session_identity != Some(config.identity.as_str()) {
        return Route::Backend;
    }
    let status = shared.status();
    if status.generation == config.generation && status.state == RunnerState::Failed {
        return Route::Unavailable(Failure::new(
            crate::FailureKind::Model,
            status.message,
            (!status.hint.is_empty()).then_some(status.hint.as_str()),
        ));
    }
    Route::Service {
        generation: config.generation,
    }
}

struct Held {
    slot: usize,
    ticket: u32,
    text: usize,
    /// Bytes of the text already handed over.
    sent: usize,
}

/// The slots a call holds; dropping it (also while unwinding) gives them all up.
struct HeldSlots<'a> {
    shared: &'a Shared,
    held: Vec<Held>,
}

impl Drop for HeldSlots<'_> {
    fn drop(&mut self) {
        for h in &self.held {
            self.shared.slot(h.slot).abandon(h.ticket);
        }
    }
}

pub struct Client<'a, W: Wait> {
    shared: &'a Shared,
    owner: u32,
    wait: W,
}

impl<'a, W: Wait> Client<'a, W> {
    /// A client woken through `owner` (its PGPROC number in Postgres).
    pub fn new(shared: &'a Shared, owner: u32, wait: W) -> Self {
        Client {
            shared,
            owner,
            wait,
        }
    }

    /// Vectors for `texts`, in order, from the model of configuration `generation`; the first
    /// failure ends the call (and gives up the rest).
    pub fn encode(&mut self, generation: u64, texts: &[&str]) -> Result<Vec<Vec<f32>>, Failure> {
        let mut results: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        let mut held = HeldSlots {
            shared: self.shared,
            held: Vec::new(),
        };
        let (mut next, mut answered) = (0, 0);
        while answered < texts.len() {
            let mut published = false;
            while held.held.len() < MAX_IN_FLIGHT && next < texts.len() {
                let Some((slot, ticket)) = self.shared.claim_free_slot() else {
                    break;
                };
                let mut h = Held {
                    slot,
                    ticket,
                    text: next,
                    sent: 0,
                };
                self.send_piece(&mut h, texts[next], generation, SlotState::Claimed);
                held.held.push(h);
                next += 1;
                published = true;
            }
            let mut progressed = false;
            let mut i = 0;
            while i < held.held.len() {
                let h = &mut held.held[i];
                let slot = self.shared.slot(h.slot);
                match slot.load() {
                    (t, SlotState::PieceTaken) if t == h.ticket => {
                        self.send_piece(h, texts[h.text], generation, SlotState::PieceTaken);
                        published = true;
                        i += 1;
                    }
                    (t, SlotState::Done) if t == h.ticket => {
                        // SAFETY: Done lends the data to the client.
                        let data = unsafe { &*slot.data() };
                        let dims = (data.dimensions as usize).min(data.vector.len());
                        results[h.text] = Some(data.vector[..dims].to_vec());
                        slot.transition(h.ticket, SlotState::Done, SlotState::Free);
                        held.held.swap_remove(i);
                        answered += 1;
                        progressed = true;
                    }
                    (t, SlotState::Failed) if t == h.ticket => {
                        // SAFETY: Failed lends the data to the client.
                        let failure = read_failure(unsafe { &*slot.data() });
                        return Err(failure); // `held` gives up this slot and the others
                    }
                    _ => i += 1,
                }
            }
            if published {
                self.shared.notify_server();
            } else if !progressed {
                // Woken by the server when an answer or a taken piece is ready; with nothing
                // held (every slot busy) poll for a free slot.
                let timeout = if held.held.is_empty() {
                    Duration::from_millis(2)
                } else {
                    Duration::from_secs(1)
                };
                self.wait.wait(timeout);
            }
        }
        Ok(results.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Writes the next piece of `text` into a slot the client owns (in `from`) and publishes it.
    fn send_piece(&self, h: &mut Held, text: &str, generation: u64, from: SlotState) {
        let slot = self.shared.slot(h.slot);
        let bytes = text.as_bytes();
        let end = (h.sent + PIECE_BYTES).min(bytes.len());
        {
            // SAFETY: Claimed and PieceTaken lend the data to the client, which holds it in one
            // of them (`from`) until the transition below publishes it.
            let data = unsafe { &mut *slot.data() };
            data.owner = self.owner;
            data.generation = generation;
            data.total_len = bytes.len() as u64;
            data.piece_offset = h.sent as u64;
            data.piece_len = (end - h.sent) as u32;
            data.text[..end - h.sent].copy_from_slice(&bytes[h.sent..end]);
            data.submitted_us = now_us();
        }
        h.sent = end;
        let to = if end == bytes.len() {
            SlotState::Queued
        } else {
            SlotState::Piece
        };
        slot.transition(h.ticket, from, to);
    }
}
