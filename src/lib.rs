//! tasb: dense passage retrieval inside PostgreSQL. This crate is thin pgrx glue; the
//! algorithms live in the pure crates under `crates/`.

::pgrx::pg_module_magic!(name, version);

mod embed;
mod encode;
mod errors;
mod index;
mod operators;
mod service;
mod types;

/// Runs when a process loads the library: registers the settings, and at preload the encoder
/// service's shared memory and supervisor. Nothing heavy happens here (models and ONNX Runtime
/// load lazily, in backends or the service's own process, never in the postmaster).
#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    encode::settings::register();
    embed::worker::register();
    index::options::register();
    service::register();
}

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        // The tiny fixture model and ONNX Runtime, where scripts/test.sh puts them.
        let home = option_env!("TASB_HOME").unwrap_or("/var/tmp/tasb");
        let library = option_env!("TASB_ORT_LIB").map(str::to_string);
        let library = library.unwrap_or_else(|| format!("{home}/lib/libonnxruntime.so.1.32.0"));
        let settings = [
            format!("tasb.onnxruntime_path = '{library}'"),
            format!("tasb.model_dir = '{home}/models/tiny-distilbert'"),
        ];
        settings
            .into_iter()
            .map(|s| &*Box::leak(s.into_boxed_str()))
            .collect()
    }
}
