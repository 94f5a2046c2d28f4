//! In-server tests (`cargo pgrx test`).

mod encode;
mod types;
