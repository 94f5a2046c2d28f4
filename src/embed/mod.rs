//! Embedding on write: a row trigger that fills a vector column from a text column, and a
//! resumable, batched backfill for existing rows.

pub mod as_owner;
pub mod backfill;
pub mod columns;
pub mod trigger;
pub mod worker;
