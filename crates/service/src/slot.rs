//! One request slot: a state word and the data the state lends to one process at a time.
//!
//! The word holds a ticket (bumped at every claim, so a compare-and-swap never succeeds on a
//! slot that was freed and claimed again in between) and a state. Who owns `data` in each state:
//!
//! | state | data owned by | next |
//! |---|---|---|
//! | Free | nobody | Claimed (a client) |
//! | Claimed | the client, writing | Piece or Queued |
//! | Piece | nobody (published) | PieceTaking (server) |
//! | PieceTaking | the server, copying | PieceTaken |
//! | PieceTaken | the client, writing the next piece | Piece or Queued |
//! | Queued | nobody (published) | Running (server) |
//! | Running | the server | Done or Failed |
//! | Failing | whoever failed it | Failed |
//! | Done, Failed | the client, reading | Free |
//! | Abandoned | the server (or failer) that still holds it | Free |
//!
//! A client that gives up (a cancelled query) frees a slot that is its own or published, and
//! marks one the server holds Abandoned, so the server frees it when it lets go.

use crate::{MAX_DIMENSIONS, MESSAGE_BYTES, PIECE_BYTES};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum SlotState {
    Free = 0,
    Claimed = 1,
    Piece = 2,
    PieceTaking = 3,
    PieceTaken = 4,
    Queued = 5,
    Running = 6,
    Failing = 7,
    Done = 8,
    Failed = 9,
    Abandoned = 10,
}

impl SlotState {
    fn from_u32(value: u32) -> SlotState {
        use SlotState::*;
        [
            Free,
            Claimed,
            Piece,
            PieceTaking,
            PieceTaken,
            Queued,
            Running,
            Failing,
            Done,
            Failed,
            Abandoned,
        ]
        .get(value as usize)
        .copied()
        // Only this module writes the word, always from the list above.
        .unwrap_or(Abandoned)
    }
}

/// What a slot carries: a request going in, a vector or a failure coming out.
#[repr(C)]
pub struct SlotData {
    /// The client's wake-up address (a PGPROC number in Postgres).
    pub owner: u32,
    pub piece_len: u32,
    /// The configuration generation the client routed to: only that model may answer.
    pub generation: u64,
    pub total_len: u64,
    /// Where this piece starts in the whole text.
    pub piece_offset: u64,
    pub submitted_us: u64,
    pub dimensions: u32,
    pub failure_kind: u32,
    pub message_len: u32,
    pub hint_len: u32,
    pub text: [u8; PIECE_BYTES],
    pub vector: [f32; MAX_DIMENSIONS],
    pub message: [u8; MESSAGE_BYTES],
}

#[repr(C)]
pub struct Slot {
    word: AtomicU64,
    data: UnsafeCell<SlotData>,
}

fn pack(ticket: u32, state: SlotState) -> u64 {
    (u64::from(ticket) << 32) | state as u64
}

impl Slot {
    /// The slot's ticket and state.
    pub fn load(&self) -> (u32, SlotState) {
        let word = self.word.load(Ordering::Acquire);
        ((word >> 32) as u32, SlotState::from_u32(word as u32))
    }

    /// Moves the slot from `from` to `to` if it still holds `ticket` in `from`.
    pub fn transition(&self, ticket: u32, from: SlotState, to: SlotState) -> bool {
        self.word
            .compare_exchange(
                pack(ticket, from),
                pack(ticket, to),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Claims a free slot for a new request: its new ticket.
    pub fn claim(&self) -> Option<u32> {
        let (ticket, state) = self.load();
        if state != SlotState::Free {
            return None;
        }
        let next = ticket.wrapping_add(1);
        self.word
            .compare_exchange(
                pack(ticket, SlotState::Free),
                pack(next, SlotState::Claimed),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .ok()
            .map(|_| next)
    }

    /// The slot's data. Dereferencing it is sound only in a state that lends the data to the
    /// caller (the table in the module documentation), after the transition that entered it.
    pub fn data(&self) -> *mut SlotData {
        self.data.get()
    }

    /// Gives up the slot from the client's side: frees it, or marks it Abandoned when the server
    /// or a failer holds it. Does nothing once the ticket has moved on.
    pub fn abandon(&self, ticket: u32) {
        use SlotState::*;
        loop {
            let (current, state) = self.load();
            if current != ticket {
                return;
            }
            let to = match state {
                Claimed | Piece | PieceTaken | Queued | Done | Failed => Free,
                PieceTaking | Running | Failing => Abandoned,
                Free | Abandoned => return,
            };
            if self.transition(ticket, state, to) {
                return;
            }
        }
    }

    /// Ends the holder's turn (`from` is PieceTaking, Running or Failing): to `to`, or to Free
    /// when the client abandoned the slot meanwhile. True when the client should be woken.
    pub fn release_to(&self, ticket: u32, from: SlotState, to: SlotState) -> bool {
        if self.transition(ticket, from, to) {
            return true;
        }
        self.transition(ticket, SlotState::Abandoned, SlotState::Free);
        false
    }
}

/// Writes a failure into slot data the caller owns.
pub fn write_failure(data: &mut SlotData, failure: &crate::Failure) {
    let hint = failure.hint.as_deref().unwrap_or("");
    let cut = |s: &str, max: usize| {
        let mut end = s.len().min(max);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        end
    };
    let message_len = cut(&failure.message, MESSAGE_BYTES / 2);
    let hint_len = cut(hint, MESSAGE_BYTES - message_len);
    data.message[..message_len].copy_from_slice(&failure.message.as_bytes()[..message_len]);
    data.message[message_len..message_len + hint_len].copy_from_slice(&hint.as_bytes()[..hint_len]);
    data.message_len = message_len as u32;
    data.hint_len = if failure.hint.is_some() {
        hint_len as u32
    } else {
        u32::MAX
    };
    data.failure_kind = failure.kind as u32;
}

/// Reads the failure written by [`write_failure`] from slot data the caller owns.
pub fn read_failure(data: &SlotData) -> crate::Failure {
    let message_len = (data.message_len as usize).min(MESSAGE_BYTES);
    let text =
        |range: std::ops::Range<usize>| String::from_utf8_lossy(&data.message[range]).into_owned();
    let hint = (data.hint_len != u32::MAX).then(|| {
        let end = (message_len + data.hint_len as usize).min(MESSAGE_BYTES);
        text(message_len..end)
    });
    crate::Failure {
        kind: crate::FailureKind::from_u32(data.failure_kind),
        message: text(0..message_len),
        hint,
    }
}
