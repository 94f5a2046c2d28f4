//! Where the model runs: the CPU, or a GPU through ONNX Runtime's CUDA execution provider.

use crate::EncoderError;
use ort::ep::{ExecutionProvider, CUDA};
use ort::session::builder::SessionBuilder;
use std::fmt;
use std::str::FromStr;

/// What the user asked for (`tasb.device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Cpu,
    /// CUDA or an error: never a silent fall-back to a CPU that is 100x slower.
    Cuda,
    /// CUDA when the library has it and a GPU answers, the CPU otherwise.
    Auto,
}

/// Where a loaded model actually runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveDevice {
    Cpu,
    Cuda,
}

impl ActiveDevice {
    /// Texts per model call when `tasb.batch_size` is 0. On a CPU small batches win: for
    /// DistilBERT-base on MS MARCO passages (2 cores) 1-8 texts per call ran at 10.1-10.7
    /// passages/s, 32 at 7.5 and 64 at 5.1 (padding, and activations that leave the cache).
    /// A GPU needs large batches to be busy.
    pub fn default_batch_size(self) -> usize {
        match self {
            ActiveDevice::Cpu => 4,
            ActiveDevice::Cuda => 64,
        }
    }
}

impl fmt::Display for ActiveDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActiveDevice::Cpu => "cpu",
            ActiveDevice::Cuda => "cuda",
        })
    }
}

impl FromStr for Device {
    type Err = EncoderError;
    fn from_str(s: &str) -> Result<Device, EncoderError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda),
            "auto" => Ok(Device::Auto),
            other => Err(EncoderError::new(format!("unknown device \"{other}\""))
                .with_hint("Use cpu, cuda or auto.")),
        }
    }
}

/// Whether this ONNX Runtime library was built with the CUDA execution provider.
pub fn library_has_cuda() -> Result<bool, EncoderError> {
    CUDA::is_available().map_err(|e| {
        EncoderError::new(format!(
            "cannot list ONNX Runtime's execution providers: {e}"
        ))
    })
}

pub const CUDA_LIBRARY_HINT: &str = "The CPU wheel's library has no CUDA. scripts/setup_gpu.sh installs onnxruntime-gpu==1.31.1 (the newest GPU wheel) and writes its library's path into $TASB_HOME/gpu.env as TASB_GPU_ORT_LIB: point tasb.onnxruntime_path at it in a fresh session, or SET tasb.device = 'cpu'.";

pub const CUDA_RUNTIME_HINT: &str = "CUDA needs an NVIDIA GPU, its driver, and the CUDA and cuDNN 9 libraries onnxruntime-gpu was built for on the server's library path (scripts/setup_gpu.sh installs them from PyPI and writes $TASB_HOME/gpu.env, which scripts/cluster.sh sources before starting the server). SET tasb.device = 'cpu' or 'auto' to run on the CPU.";

/// Adds the CUDA execution provider to `builder`, failing if it cannot be added.
pub fn register_cuda(builder: &mut SessionBuilder) -> Result<(), EncoderError> {
    if !library_has_cuda()? {
        return Err(EncoderError::new(
            "tasb.device is cuda, but this ONNX Runtime library has no CUDA execution provider",
        )
        .with_hint(CUDA_LIBRARY_HINT));
    }
    CUDA::default().register(builder).map_err(|e| {
        EncoderError::new(format!(
            "cannot start ONNX Runtime's CUDA execution provider: {e}"
        ))
        .with_hint(CUDA_RUNTIME_HINT)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_setting_values() {
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
        assert_eq!(" CUDA ".parse::<Device>().unwrap(), Device::Cuda);
        assert_eq!("auto".parse::<Device>().unwrap(), Device::Auto);
        let e = "tpu".parse::<Device>().unwrap_err();
        assert!(e.message.contains("tpu"), "{}", e.message);
    }
}
