//! tasb: dense passage retrieval inside PostgreSQL. This crate is thin pgrx glue; the
//! algorithms live in the pure crates under `crates/`.

::pgrx::pg_module_magic!(name, version);

mod errors;
mod operators;
mod types;

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
