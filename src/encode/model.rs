//! The backend's loaded model: created lazily on first use (never in the postmaster), reloaded
//! when the settings that define it change, with a small cache of recent query encodings so a
//! statement that calls `tasb_encode('...')` once per row runs the model once.

use super::settings::{
    text_setting, DEVICE, INTRA_OP_THREADS, MODEL_DIR, ONNXRUNTIME_PATH, PREPACK_WEIGHTS,
};
use crate::errors::raise;
use pgrx::{pg_sys, PgSqlErrorCode};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{c_char, CStr};
use std::path::Path;
use tasb_encoder::{EncodeStats, Encoder, EncoderError, LoadOptions};

const CACHE_ENTRIES: usize = 16;

pub struct LoadedModel {
    pub dir: String,
    library: String,
    options: LoadOptions,
    pub encoder: Encoder,
    pub cache: QueryCache,
}

/// Recent query encodings of one model, most recent first.
#[derive(Default)]
pub struct QueryCache {
    entries: VecDeque<(String, Vec<f32>)>,
    pub hits: u64,
}

impl QueryCache {
    /// The cached encoding of `text`, counting the hit.
    pub fn cached(&mut self, text: &str) -> Option<Vec<f32>> {
        let position = self.entries.iter().position(|(t, _)| t == text)?;
        let entry = self.entries.remove(position)?;
        let vector = entry.1.clone();
        self.entries.push_front(entry);
        self.hits += 1;
        Some(vector)
    }

    pub fn remember(&mut self, text: &str, vector: &[f32]) {
        self.entries.push_front((text.to_string(), vector.to_vec()));
        self.entries.truncate(CACHE_ENTRIES);
    }

    /// Forgets every entry (they belong to another model), keeping the count of hits.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

thread_local! {
    // Postgres backends are single-threaded; this is touched only from the backend's main thread.
    static LOADED: RefCell<Option<LoadedModel>> = const { RefCell::new(None) };
}

/// Raises an encoder error as a Postgres ERROR with its hint.
pub fn raise_encoder_error(e: EncoderError) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
        e.message,
        None,
        e.hint.as_deref(),
    )
}

fn required_setting(value: Option<String>, name: &str, hint: &str) -> String {
    value.unwrap_or_else(|| {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("{name} is not set"),
            None,
            Some(hint),
        )
    })
}

/// ONNX Runtime where the Debian package, the Docker image and scripts/install.sh put it, beside
/// the extension: used when tasb.onnxruntime_path is not set.
fn bundled_onnxruntime() -> Option<String> {
    // SAFETY: pkglib_path is a NUL-terminated MAXPGPATH buffer that the postmaster fills once at
    // startup, before any library is loaded, and never writes again; addr_of! makes no reference.
    let pkglib =
        unsafe { CStr::from_ptr(std::ptr::addr_of!(pg_sys::pkglib_path).cast::<c_char>()) };
    let path = Path::new(pkglib.to_str().ok()?)
        .join("tasb")
        .join("libonnxruntime.so.1.32.0");
    path.is_file().then(|| path.to_string_lossy().into_owned())
}

/// The ONNX Runtime library the settings name (or the bundled one).
pub fn configured_library() -> Option<String> {
    text_setting(&ONNXRUNTIME_PATH).or_else(bundled_onnxruntime)
}

/// Runs `f` on the model the current settings name, loading it first if needed.
pub fn with_model<T>(f: impl FnOnce(&mut LoadedModel) -> T) -> T {
    let dir = required_setting(
        text_setting(&MODEL_DIR),
        "tasb.model_dir",
        "SET tasb.model_dir = '/path/to/model' (a directory made by scripts/export_model.py), as a superuser or in postgresql.conf.",
    );
    let library = required_setting(
        configured_library(),
        "tasb.onnxruntime_path",
        "Set tasb.onnxruntime_path to libonnxruntime.so.1.32.0 (scripts/setup.sh installs it) in postgresql.conf, or install it as $libdir/tasb/libonnxruntime.so.1.32.0 as the Debian package does.",
    );
    let options = LoadOptions {
        intra_threads: INTRA_OP_THREADS.get().max(0) as usize,
        device: DEVICE.get().device(),
        prepack_weights: PREPACK_WEIGHTS.get(),
    };
    LOADED.with(|cell| {
        let mut slot = cell.borrow_mut();
        let model = match slot.take() {
            Some(m) if m.dir == dir && m.library == library && m.options == options => {
                slot.insert(m)
            }
            old => {
                // Drop the old model first so two never sit in memory together.
                drop(old);
                let encoder = Encoder::load(Path::new(&dir), Path::new(&library), &options)
                    .unwrap_or_else(|e| raise_encoder_error(e));
                slot.insert(LoadedModel {
                    dir,
                    library,
                    options,
                    encoder,
                    cache: QueryCache::default(),
                })
            }
        };
        f(model)
    })
}

/// Statistics of this backend's model, if one is loaded.
pub fn stats() -> Option<ModelStats> {
    LOADED.with(|cell| {
        cell.borrow().as_ref().map(|m| ModelStats {
            dir: m.dir.clone(),
            device: m.encoder.device().to_string(),
            encode: m.encoder.stats(),
            cache_hits: m.cache.hits,
        })
    })
}

pub struct ModelStats {
    pub dir: String,
    pub device: String,
    pub encode: EncodeStats,
    pub cache_hits: u64,
}
