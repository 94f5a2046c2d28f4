//! Text in, vectors out: tokenize, batch by length, run the ONNX model, pool.

use crate::batching::length_sorted_batches;
use crate::device::{library_has_cuda, register_cuda, ActiveDevice, Device};
use crate::model_dir::ModelConfig;
use crate::pooling::pool;
use crate::runtime::{ensure_runtime, with_signals_blocked};
use crate::tokenize::{pad_batch, TextTokenizer, Tokens};
use crate::EncoderError;
use ort::environment::Environment;
use ort::ep::{ExecutionProvider, CPU};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;
use std::path::Path;
use std::time::{Duration, Instant};

/// Counters of the work done, for `tasb_stats()`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EncodeStats {
    pub model_calls: u64,
    pub texts: u64,
    pub tokens: u64,
    pub model_time: Duration,
}

/// How to load a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// ONNX Runtime threads for one model call (0: one per core).
    pub intra_threads: usize,
    pub device: Device,
    /// Repack MatMul weights into the CPU kernels' layout at load (faster calls, but a private copy
    /// of the weights in every process).
    pub prepack_weights: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            intra_threads: 1,
            device: Device::Cpu,
            prepack_weights: true,
        }
    }
}

pub struct Encoder {
    config: ModelConfig,
    tokenizer: TextTokenizer,
    session: Session,
    takes_token_type_ids: bool,
    device: ActiveDevice,
    stats: EncodeStats,
}

impl Encoder {
    /// Loads a model directory with ONNX Runtime from `library`.
    pub fn load(
        dir: &Path,
        library: &Path,
        options: &LoadOptions,
    ) -> Result<Encoder, EncoderError> {
        let config = ModelConfig::load(dir)?;
        let tokenizer = TextTokenizer::from_file(&config.tokenizer_path(), config.max_length)?;
        tokenizer.check_vocabulary(config.vocab_size)?;
        let environment = ensure_runtime(library)?;
        let model_path = config.model_path();
        let session_on = |cuda| create_session(environment, &model_path, options, cuda);
        let (session, active_device) = match options.device {
            Device::Cpu => (session_on(false)?, ActiveDevice::Cpu),
            Device::Cuda => (session_on(true)?, ActiveDevice::Cuda),
            Device::Auto => {
                let on_gpu = if library_has_cuda()? {
                    session_on(true).ok()
                } else {
                    None
                };
                match on_gpu {
                    Some(session) => (session, ActiveDevice::Cuda),
                    None => (session_on(false)?, ActiveDevice::Cpu),
                }
            }
        };
        let input_names: Vec<String> = session
            .inputs()
            .iter()
            .map(|i| i.name().to_string())
            .collect();
        for required in ["input_ids", "attention_mask"] {
            if !input_names.iter().any(|n| n == required) {
                return Err(EncoderError::new(format!(
                    "{} has no input \"{required}\" (inputs: {})",
                    model_path.display(),
                    input_names.join(", ")
                ))
                .with_hint("Export with scripts/export_model.py, which names inputs as Hugging Face optimum does."));
            }
        }
        let takes_token_type_ids = input_names.iter().any(|n| n == "token_type_ids");
        Ok(Encoder {
            config,
            tokenizer,
            session,
            takes_token_type_ids,
            device: active_device,
            stats: EncodeStats::default(),
        })
    }

    /// Where the model runs.
    pub fn device(&self) -> ActiveDevice {
        self.device
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn stats(&self) -> EncodeStats {
        self.stats
    }

    /// Encodes texts, in input order. `keep_going` runs between model calls; returning false
    /// stops early with an error (query cancel).
    pub fn encode(
        &mut self,
        texts: &[&str],
        batch_size: usize,
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<Vec<Vec<f32>>, EncoderError> {
        let tokens: Vec<Tokens> = texts
            .iter()
            .map(|t| self.tokenizer.encode(t))
            .collect::<Result<_, _>>()?;
        let lengths: Vec<usize> = tokens.iter().map(|t| t.ids.len()).collect();
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for batch in length_sorted_batches(&lengths, batch_size) {
            if !keep_going() {
                return Err(EncoderError::new("encoding was cancelled"));
            }
            let members: Vec<&Tokens> = batch.iter().map(|&i| &tokens[i]).collect();
            let vectors = self.run_batch(&members)?;
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn run_batch(&mut self, members: &[&Tokens]) -> Result<Vec<Vec<f32>>, EncoderError> {
        let padded = pad_batch(members);
        let shape = [padded.batch, padded.seq_len];
        let tensor = |data: Vec<i64>| {
            Tensor::from_array((shape, data))
                .map_err(|e| EncoderError::new(format!("cannot build input tensor: {e}")))
        };
        let mut inputs = ort::inputs![
            "input_ids" => tensor(padded.input_ids.clone())?,
            "attention_mask" => tensor(padded.attention_mask.clone())?,
        ];
        if self.takes_token_type_ids {
            inputs.push((
                "token_type_ids".into(),
                tensor(padded.token_type_ids.clone())?.into(),
            ));
        }
        let started = Instant::now();
        let outputs = self
            .session
            .run(inputs)
            .map_err(|e| EncoderError::new(format!("model run failed: {e}")))?;
        let (out_shape, hidden) = outputs
            .get("last_hidden_state")
            .ok_or_else(|| {
                EncoderError::new("the model has no output \"last_hidden_state\"")
                    .with_hint("Export with scripts/export_model.py, which names outputs as Hugging Face optimum does.")
            })?
            .try_extract_tensor::<f32>()
            .map_err(|e| EncoderError::new(format!("last_hidden_state is not a float32 tensor: {e}")))?;
        let dims = out_shape.last().copied().unwrap_or(0) as usize;
        if out_shape.len() != 3 || dims != self.config.dimensions {
            return Err(EncoderError::new(format!(
                "the model returned shape {out_shape:?}, expected [batch, tokens, {}] from config.json",
                self.config.dimensions
            )));
        }
        let vectors = pool(
            hidden,
            &padded.attention_mask,
            padded.batch,
            padded.seq_len,
            dims,
            self.config.pooling,
            self.config.normalize,
        );
        self.stats.model_calls += 1;
        self.stats.texts += members.len() as u64;
        self.stats.tokens += members.iter().map(|t| t.ids.len() as u64).sum::<u64>();
        self.stats.model_time += started.elapsed();
        Ok(vectors)
    }
}

/// One ONNX Runtime session for `model_path`, optionally with the CUDA execution provider.
fn create_session(
    environment: &Environment,
    model_path: &Path,
    options: &LoadOptions,
    cuda: bool,
) -> Result<Session, EncoderError> {
    let load_error = |e: ort::Error| {
        let hint = if cuda {
            crate::device::CUDA_RUNTIME_HINT
        } else {
            "model.onnx must be an ONNX export of a BERT-family encoder (scripts/export_model.py)."
        };
        EncoderError::new(format!("cannot load {}: {e}", model_path.display())).with_hint(hint)
    };
    with_signals_blocked(|| {
        let mut builder = Session::builder(environment)
            .map_err(load_error)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| load_error(e.into()))?
            .with_intra_threads(options.intra_threads)
            .map_err(|e| load_error(e.into()))?;
        if !options.prepack_weights {
            // Without prepacking, MatMul reads its weights where ONNX Runtime loaded them: from a
            // memory-mapped model.onnx.data, pages the kernel shares among all backends.
            builder = builder
                .with_config_entry("session.disable_prepacking", "1")
                .map_err(|e| load_error(e.into()))?;
        }
        if cuda {
            register_cuda(&mut builder)?;
        }
        // No arena: it keeps the largest batch's activations (hundreds of MB) for the backend's
        // lifetime; without it they go back to the system after each call.
        CPU::default()
            .with_arena_allocator(false)
            .register(&mut builder)
            .map_err(load_error)?;
        builder.commit_from_file(model_path).map_err(load_error)
    })
}
