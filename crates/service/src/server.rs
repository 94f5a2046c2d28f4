//! The serving loop: collect what clients queued, run the model a batch at a time, answer.

use crate::batch::{next_batch, BatchPolicy, Waiting};
use crate::model::Model;
use crate::slot::{write_failure, SlotState};
use crate::{futex, now_us, Failure, FailureKind, Shared, MAX_DIMENSIONS, SLOTS};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Wakes a client, given the owner number it wrote into its slot.
pub trait Wake {
    fn wake(&self, owner: u32);
}

struct Pending<T> {
    slot: usize,
    ticket: u32,
    tokens: T,
    count: usize,
    queued_us: u64,
}

/// A text arriving in pieces: the slot's ticket and the bytes so far.
struct Partial {
    ticket: u32,
    bytes: Vec<u8>,
}

pub struct Server<'a, M: Model, W: Wake> {
    shared: &'a Shared,
    generation: u64,
    model: M,
    wake: W,
    policy: BatchPolicy,
    partial: Vec<Option<Partial>>,
    pending: Vec<Pending<M::Tokens>>,
}

impl<'a, M: Model, W: Wake> Server<'a, M, W> {
    /// A server answering the requests routed to configuration `generation`.
    pub fn new(
        shared: &'a Shared,
        generation: u64,
        model: M,
        wake: W,
        policy: BatchPolicy,
    ) -> Self {
        Server {
            shared,
            generation,
            model,
            wake,
            policy,
            partial: (0..SLOTS).map(|_| None).collect(),
            pending: Vec::new(),
        }
    }

    /// Serves until the configuration moves to another generation or `keep_running` says stop;
    /// then fails what it still holds with [`FailureKind::Retry`] (nothing of it was encoded).
    pub fn serve(&mut self, keep_running: &mut dyn FnMut() -> bool) {
        loop {
            let sequence = self.shared.queue_sequence.load(Ordering::Acquire);
            if !keep_running() || self.shared.config().generation != self.generation {
                self.drain();
                return;
            }
            let collected = self.collect();
            let ran = self.run_next_batch();
            if !collected && !ran {
                futex::wait(
                    &self.shared.queue_sequence,
                    sequence,
                    Duration::from_millis(200),
                );
            }
        }
    }

    /// One round without sleeping (tests drive the server with it): true when it did anything.
    pub fn step(&mut self) -> bool {
        let collected = self.collect();
        self.run_next_batch() || collected
    }

    /// Takes published pieces and queued texts. True when it took any.
    fn collect(&mut self) -> bool {
        let mut took = false;
        for index in 0..SLOTS {
            let slot = self.shared.slot(index);
            let (ticket, state) = slot.load();
            match state {
                SlotState::Piece => took |= self.take_piece(index, ticket),
                SlotState::Queued => took |= self.take_queued(index, ticket),
                _ => {}
            }
        }
        took
    }

    fn take_piece(&mut self, index: usize, ticket: u32) -> bool {
        let slot = self.shared.slot(index);
        if !slot.transition(ticket, SlotState::Piece, SlotState::PieceTaking) {
            return false;
        }
        // SAFETY: PieceTaking lends the data to the server.
        let data = unsafe { &*slot.data() };
        let offset = data.piece_offset as usize;
        let piece = &data.text[..(data.piece_len as usize).min(data.text.len())];
        let partial = self.partial[index].get_or_insert_with(|| Partial {
            ticket,
            bytes: Vec::new(),
        });
        if offset == 0 || partial.ticket != ticket {
            partial.ticket = ticket;
            partial.bytes.clear();
        }
        if partial.bytes.len() != offset {
            // The start of this text went to a process that is gone.
            self.partial[index] = None;
            return self.answer_from(index, ticket, SlotState::PieceTaking, Err(&lost_start()));
        }
        partial.bytes.extend_from_slice(piece);
        let owner = data.owner;
        if slot.release_to(ticket, SlotState::PieceTaking, SlotState::PieceTaken) {
            self.wake.wake(owner);
        } else {
            self.partial[index] = None;
        }
        true
    }

    fn take_queued(&mut self, index: usize, ticket: u32) -> bool {
        let slot = self.shared.slot(index);
        if !slot.transition(ticket, SlotState::Queued, SlotState::Running) {
            return false;
        }
        // SAFETY: Running lends the data to the server.
        let data = unsafe { &*slot.data() };
        if data.generation != self.generation {
            return self.answer(index, ticket, Err(&Failure::model_changed()));
        }
        let piece = &data.text[..(data.piece_len as usize).min(data.text.len())];
        let offset = data.piece_offset as usize;
        let whole: Vec<u8> = if offset == 0 {
            piece.to_vec()
        } else {
            match self.partial[index].take() {
                Some(mut p) if p.ticket == ticket && p.bytes.len() == offset => {
                    p.bytes.extend_from_slice(piece);
                    p.bytes
                }
                _ => return self.answer(index, ticket, Err(&lost_start())),
            }
        };
        let queued_us = data.submitted_us;
        let text = match String::from_utf8(whole) {
            Ok(text) => text,
            Err(_) => {
                let failure = Failure::new(
                    FailureKind::Input,
                    "the text reached the encoder service damaged (not UTF-8)",
                    Some("This is a bug in tasb; the backend path (SET tasb.service = off) avoids it."),
                );
                return self.answer(index, ticket, Err(&failure));
            }
        };
        match self.model.tokenize(&text) {
            Ok(tokens) => {
                let count = M::token_count(&tokens);
                self.pending.push(Pending {
                    slot: index,
                    ticket,
                    tokens,
                    count,
                    queued_us,
                });
            }
            Err(failure) => {
                self.answer(index, ticket, Err(&failure));
            }
        }
        true
    }

    /// Runs the next batch of pending texts. True when it ran one.
    fn run_next_batch(&mut self) -> bool {
        // Texts whose clients gave up are dropped before they cost a model call.
        let shared = self.shared;
        self.pending.retain(|p| {
            let slot = shared.slot(p.slot);
            let abandoned = slot.load() == (p.ticket, SlotState::Abandoned);
            if abandoned {
                slot.transition(p.ticket, SlotState::Abandoned, SlotState::Free);
            }
            !abandoned
        });
        let waiting: Vec<Waiting> = self
            .pending
            .iter()
            .map(|p| Waiting {
                tokens: p.count,
                queued_us: p.queued_us,
            })
            .collect();
        let mut chosen = next_batch(&waiting, self.policy);
        if chosen.is_empty() {
            return false;
        }
        let started_us = now_us();
        let started = Instant::now();
        let result = {
            let members: Vec<&M::Tokens> =
                chosen.iter().map(|&i| &self.pending[i].tokens).collect();
            self.model.run(&members)
        };
        let elapsed = started.elapsed();
        let counters = &self.shared.counters;
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters
            .texts
            .fetch_add(chosen.len() as u64, Ordering::Relaxed);
        counters.tokens.fetch_add(
            chosen.iter().map(|&i| self.pending[i].count as u64).sum(),
            Ordering::Relaxed,
        );
        counters
            .max_batch_texts
            .fetch_max(chosen.len() as u64, Ordering::Relaxed);
        counters
            .model_ns
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
        for &i in &chosen {
            counters.record_wait(started_us.saturating_sub(self.pending[i].queued_us));
        }
        let answers: Vec<(usize, u32)> = chosen
            .iter()
            .map(|&i| (self.pending[i].slot, self.pending[i].ticket))
            .collect();
        match result {
            Ok(vectors) if vectors.len() == answers.len() => {
                for (&(slot, ticket), vector) in answers.iter().zip(&vectors) {
                    self.answer(slot, ticket, Ok(vector));
                }
            }
            Ok(_) => {
                let failure = Failure::new(
                    FailureKind::Model,
                    "the model returned another number of vectors than it was given texts",
                    None,
                );
                for &(slot, ticket) in &answers {
                    self.answer(slot, ticket, Err(&failure));
                }
            }
            Err(failure) => {
                for &(slot, ticket) in &answers {
                    self.answer(slot, ticket, Err(&failure));
                }
            }
        }
        chosen.sort_unstable();
        for &i in chosen.iter().rev() {
            self.pending.swap_remove(i);
        }
        true
    }

    /// Writes a Running slot's answer and hands it back to its client.
    fn answer(&self, index: usize, ticket: u32, result: Result<&[f32], &Failure>) -> bool {
        self.answer_from(index, ticket, SlotState::Running, result)
    }

    fn answer_from(
        &self,
        index: usize,
        ticket: u32,
        held: SlotState,
        result: Result<&[f32], &Failure>,
    ) -> bool {
        let slot = self.shared.slot(index);
        // SAFETY: the caller holds the slot in `held` (Running or PieceTaking), which lends the
        // data to the server.
        let data = unsafe { &mut *slot.data() };
        let too_long;
        let result = match result {
            Ok(vector) if vector.len() > MAX_DIMENSIONS => {
                too_long = Failure::new(
                    FailureKind::Model,
                    format!(
                        "the model's vectors have {} dimensions, more than the encoder service carries ({MAX_DIMENSIONS})",
                        vector.len()
                    ),
                    Some("SET tasb.service = off runs the model in the session instead."),
                );
                Err(&too_long)
            }
            other => other,
        };
        let state = match result {
            Ok(vector) => {
                data.vector[..vector.len()].copy_from_slice(vector);
                data.dimensions = vector.len() as u32;
                SlotState::Done
            }
            Err(failure) => {
                write_failure(data, failure);
                self.shared
                    .counters
                    .failed_texts
                    .fetch_add(1, Ordering::Relaxed);
                SlotState::Failed
            }
        };
        let owner = data.owner;
        if slot.release_to(ticket, held, state) {
            self.wake.wake(owner);
        }
        true
    }

    /// Fails the texts this server holds as not encoded. Texts still queued for its generation
    /// are failed by the supervisor once this process has gone ([`Shared::fail_in_flight`]).
    fn drain(&mut self) {
        let failure = Failure::model_changed();
        for p in std::mem::take(&mut self.pending) {
            self.answer(p.slot, p.ticket, Err(&failure));
        }
        self.partial.iter_mut().for_each(|p| *p = None);
    }
}

fn lost_start() -> Failure {
    Failure::ended("restarted")
}
