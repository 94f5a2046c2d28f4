//! In-server tests (`cargo pgrx test`), added per feature.
#[pgrx::pg_schema]
mod tests {}
