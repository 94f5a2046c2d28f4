//! A sequence lock over records of atomics: one writer at a time, readers that never block it
//! and retry when they raced with a write. Every field is an atomic, so a racing read is
//! well-defined (merely retried), never a data race.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

#[repr(C)]
#[derive(Default)]
pub struct SeqLock {
    sequence: AtomicU64,
}

impl SeqLock {
    /// Runs `write` as one update that readers see entirely or not at all. Writers must not
    /// overlap: each record has one writing process at a time.
    pub fn write<T>(&self, write: impl FnOnce() -> T) -> T {
        self.sequence.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
        let out = write();
        self.sequence.fetch_add(1, Ordering::Release);
        out
    }

    /// A consistent snapshot made by `read`, retried while a write is in progress.
    pub fn read<T>(&self, read: impl Fn() -> T) -> T {
        let mut spins = 0u32;
        loop {
            let before = self.sequence.load(Ordering::Acquire);
            if before.is_multiple_of(2) {
                let out = read();
                fence(Ordering::Acquire);
                if self.sequence.load(Ordering::Relaxed) == before {
                    return out;
                }
            }
            spins += 1;
            if spins > 64 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// Ends a write that its process never finished (it was killed): called by the one process
    /// that may write next, once the dead writer is known to be gone.
    pub fn repair(&self) {
        if !self.sequence.load(Ordering::Acquire).is_multiple_of(2) {
            self.sequence.fetch_add(1, Ordering::Release);
        }
    }
}

/// A string of up to `WORDS * 8` bytes in atomics, for records under a [`SeqLock`].
#[repr(C)]
pub struct AtomicText<const WORDS: usize> {
    len: AtomicU32,
    words: [AtomicU64; WORDS],
}

impl<const WORDS: usize> AtomicText<WORDS> {
    pub const CAPACITY: usize = WORDS * 8;

    /// Stores `text`, cut at a character boundary if longer than the capacity.
    pub fn store(&self, text: &str) {
        let mut end = text.len().min(Self::CAPACITY);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let bytes = &text.as_bytes()[..end];
        for (i, word) in self.words.iter().enumerate() {
            let mut chunk = [0u8; 8];
            let start = (i * 8).min(bytes.len());
            let stop = (i * 8 + 8).min(bytes.len());
            chunk[..stop - start].copy_from_slice(&bytes[start..stop]);
            word.store(u64::from_le_bytes(chunk), Ordering::Relaxed);
        }
        self.len.store(end as u32, Ordering::Relaxed);
    }

    /// The stored text; a torn read (retried by the seqlock anyway) yields lossy text, not UB.
    pub fn load(&self) -> String {
        let len = (self.len.load(Ordering::Relaxed) as usize).min(Self::CAPACITY);
        let mut bytes = Vec::with_capacity(Self::CAPACITY);
        for word in &self.words {
            bytes.extend_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        bytes.truncate(len);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_cuts_at_a_character() {
        // SAFETY: all-zero atomics are valid (an empty text).
        let text: AtomicText<2> = unsafe { std::mem::zeroed() };
        assert_eq!(text.load(), "");
        text.store("/var/lib/model");
        assert_eq!(text.load(), "/var/lib/model");
        text.store("ééééééééé"); // 18 bytes into 16: cut between characters
        assert_eq!(text.load(), "éééééééé");
    }

    #[test]
    fn a_killed_writer_is_repaired() {
        let lock = SeqLock::default();
        lock.sequence.store(3, Ordering::Relaxed); // a write that never ended
        lock.repair();
        assert_eq!(lock.read(|| 7), 7);
        lock.repair(); // even: nothing to do
        assert_eq!(lock.sequence.load(Ordering::Relaxed), 4);
    }
}
