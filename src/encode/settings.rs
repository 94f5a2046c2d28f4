//! The `tasb.*` settings. Paths are superuser-only: loading a shared library or a model is code
//! execution in the server. So are the thread count and the batch size: they decide how many
//! threads a backend starts and how much memory one model call takes, the server's resources.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};
use std::ffi::CString;

pub static MODEL_DIR: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static ONNXRUNTIME_PATH: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `tasb.device`: where the model runs.
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeviceSetting {
    #[name = c"auto"]
    Auto,
    #[name = c"cpu"]
    Cpu,
    #[name = c"cuda"]
    Cuda,
}

impl DeviceSetting {
    pub fn device(self) -> tasb_encoder::Device {
        match self {
            DeviceSetting::Auto => tasb_encoder::Device::Auto,
            DeviceSetting::Cpu => tasb_encoder::Device::Cpu,
            DeviceSetting::Cuda => tasb_encoder::Device::Cuda,
        }
    }
}

pub static DEVICE: GucSetting<DeviceSetting> =
    GucSetting::<DeviceSetting>::new(DeviceSetting::Auto);
pub static PREPACK_WEIGHTS: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static INTRA_OP_THREADS: GucSetting<i32> = GucSetting::<i32>::new(1);
pub static BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(0);

pub fn register() {
    GucRegistry::define_string_guc(
        c"tasb.model_dir",
        c"Model directory for tasb_encode (config.json, tokenizer.json, model.onnx).",
        c"Changing it in a session loads that model on the next call.",
        &MODEL_DIR,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"tasb.onnxruntime_path",
        c"Path of libonnxruntime.so (ONNX Runtime 1.32) used by tasb_encode.",
        c"Loaded once per server process; scripts/setup.sh installs it from the PyPI wheel.",
        &ONNXRUNTIME_PATH,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"tasb.device",
        c"Where tasb_encode runs the model: auto (CUDA when present), cpu or cuda.",
        c"cuda fails with an error when the ONNX Runtime library or the machine has no CUDA; auto then uses the CPU. Takes effect when the model is (re)loaded.",
        &DEVICE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"tasb.prepack_weights",
        c"Repack the model's MatMul weights per backend at load: faster model calls, more memory.",
        c"off: every backend reads the weights from the memory-mapped model.onnx.data, shared through the page cache (about 8% slower model calls on CPU). Takes effect when the model is (re)loaded.",
        &PREPACK_WEIGHTS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"tasb.intra_op_threads",
        c"ONNX Runtime threads per backend for one model call (0: one per core; at most 256). Superuser-only.",
        c"Every backend that loads the model starts this many threads (plus ONNX Runtime's one): it is the server's CPU, so only superusers (or postgresql.conf) set it. Takes effect when the model is (re)loaded.",
        &INTRA_OP_THREADS,
        0,
        256,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"tasb.batch_size",
        c"Texts per model call in tasb_encode_batch (0: automatic, 4 on the CPU, 64 on CUDA; at most 4096). Superuser-only.",
        c"One call's activations grow with texts x tokens (a 4096-text batch of 512-token texts needs tens of GB), so only superusers (or postgresql.conf) set it. Texts are sorted by length first, so batches carry little padding.",
        &BATCH_SIZE,
        0,
        4096,
        GucContext::Suset,
        GucFlags::default(),
    );
}

pub fn text_setting(setting: &GucSetting<Option<CString>>) -> Option<String> {
    setting
        .get()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
}
