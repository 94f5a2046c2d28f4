//! Text in, vectors out: tokenize, batch by length, run the ONNX model, pool.

use crate::batching::length_sorted_batches;
use crate::device::{library_has_cuda, register_cuda, ActiveDevice, Device};
use crate::model_dir::ModelConfig;
use crate::pooling::{check_finite, pool};
use crate::runtime::{ensure_runtime, with_signals_blocked};
use crate::tokenize::{pad_batch, TextTokenizer, TokenLimits, Tokens};
use crate::EncoderError;
use ort::environment::Environment;
use ort::ep::{ExecutionProvider, CPU};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{Outlet, Tensor, TensorElementType};
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
    limits: TokenLimits,
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
        // Every id the tokenizer can produce must have a row in the embeddings: ONNX Runtime's
        // Gather does not check its indices on every execution provider.
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
        check_hidden_state_outlet(session.outputs(), &model_path, config.dimensions)?;
        let limits = TokenLimits {
            vocab_size: config.vocab_size,
            type_vocab_size: if takes_token_type_ids {
                config.type_vocab_size
            } else {
                0
            },
            max_length: config.max_length,
        };
        Ok(Encoder {
            config,
            tokenizer,
            session,
            takes_token_type_ids,
            limits,
            device: active_device,
            stats: EncodeStats::default(),
        })
    }

    /// Where the model runs.
    pub fn device(&self) -> ActiveDevice {
        self.device
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn stats(&self) -> EncodeStats {
        self.stats
    }

    /// Encodes texts, in input order. `keep_going` runs between model calls; returning false
    /// stops early with an error (query cancel). Every vector has `config().dimensions` finite
    /// elements: a model output of another shape, or with NaN or an infinity, is an error.
    pub fn encode(
        &mut self,
        texts: &[&str],
        batch_size: usize,
        keep_going: &mut dyn FnMut() -> bool,
    ) -> Result<Vec<Vec<f32>>, EncoderError> {
        let tokens: Vec<Tokens> = texts
            .iter()
            .map(|t| self.tokenize(t))
            .collect::<Result<_, EncoderError>>()?;
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

    /// One text's tokens, checked against the model's vocabulary and positions.
    pub fn tokenize(&self, text: &str) -> Result<Tokens, EncoderError> {
        let tokens = self.tokenizer.encode(text)?;
        tokens.check(&self.limits)?;
        Ok(tokens)
    }

    /// One model call over texts already tokenized by [`Encoder::tokenize`]: their vectors, in
    /// order. Callers that batch by their own policy (the encoder service) use this.
    pub fn encode_tokens(&mut self, members: &[&Tokens]) -> Result<Vec<Vec<f32>>, EncoderError> {
        self.run_batch(members)
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
            .map_err(|e| {
                EncoderError::new(format!("model run failed: {e}"))
                    .with_hint("model.onnx does not accept what config.json and tokenizer.json describe (for instance more max_position_embeddings than the graph has); export the directory's files together (scripts/export_model.py).")
            })?;
        let (out_shape, hidden) = outputs
            .get("last_hidden_state")
            .ok_or_else(|| {
                EncoderError::new("the model has no output \"last_hidden_state\"")
                    .with_hint("Export with scripts/export_model.py, which names outputs as Hugging Face optimum does.")
            })?
            .try_extract_tensor::<f32>()
            .map_err(|e| {
                EncoderError::new(format!("last_hidden_state is not a float32 tensor: {e}"))
                    .with_hint(OUTPUT_HINT)
            })?;
        let dims = self.config.dimensions;
        check_hidden_state(out_shape, hidden.len(), padded.batch, padded.seq_len, dims)?;
        let vectors = pool(
            hidden,
            &padded.attention_mask,
            padded.batch,
            padded.seq_len,
            dims,
            self.config.pooling,
            self.config.normalize,
        );
        check_finite(&vectors)?;
        self.stats.model_calls += 1;
        self.stats.texts += members.len() as u64;
        self.stats.tokens += members.iter().map(|t| t.ids.len() as u64).sum::<u64>();
        self.stats.model_time += started.elapsed();
        Ok(vectors)
    }
}

const OUTPUT_HINT: &str = "model.onnx must output float32 last_hidden_state [batch, tokens, dim] with dim as config.json's \"dim\" (DistilBERT) or \"hidden_size\" (BERT); export config.json and model.onnx together (scripts/export_model.py).";

/// Checks, at load, what the graph declares about `last_hidden_state`: present, a float32
/// tensor, and where its rank and last dimension are known, `[batch, tokens, dimensions]`.
/// What the graph leaves open is checked on every output by [`check_hidden_state`].
fn check_hidden_state_outlet(
    outputs: &[Outlet],
    model_path: &Path,
    dimensions: usize,
) -> Result<(), EncoderError> {
    let Some(outlet) = outputs.iter().find(|o| o.name() == "last_hidden_state") else {
        let names: Vec<&str> = outputs.iter().map(|o| o.name()).collect();
        return Err(EncoderError::new(format!(
            "{} has no output \"last_hidden_state\" (outputs: {})",
            model_path.display(),
            names.join(", ")
        ))
        .with_hint("Export with scripts/export_model.py, which names outputs as Hugging Face optimum does."));
    };
    let dtype = outlet.dtype();
    if dtype.tensor_type() != Some(TensorElementType::Float32) {
        return Err(EncoderError::new(format!(
            "{}: last_hidden_state is {dtype}, not a float32 tensor",
            model_path.display()
        ))
        .with_hint(OUTPUT_HINT));
    }
    // ONNX Runtime reports an unknown rank as no dimensions and an unknown size as -1.
    let shape: &[i64] = dtype.tensor_shape().map_or(&[], |s| s);
    let last = shape.last().copied().unwrap_or(-1);
    if (!shape.is_empty() && shape.len() != 3) || (last >= 0 && last as u64 != dimensions as u64) {
        return Err(EncoderError::new(format!(
            "{}: last_hidden_state has shape {shape:?}, config.json gives [batch, tokens, {dimensions}]",
            model_path.display()
        ))
        .with_hint(OUTPUT_HINT));
    }
    Ok(())
}

/// Checks a model output before pooling reads it: exactly `[batch, seq_len, dims]` with that many
/// elements. A model that disagrees with config.json would otherwise be read out of bounds.
pub fn check_hidden_state(
    shape: &[i64],
    elements: usize,
    batch: usize,
    seq_len: usize,
    dims: usize,
) -> Result<(), EncoderError> {
    let expected = [batch, seq_len, dims].map(|n| n as i64);
    let count = batch.checked_mul(seq_len).and_then(|n| n.checked_mul(dims));
    if shape != expected || count != Some(elements) {
        return Err(EncoderError::new(format!(
            "the model returned last_hidden_state of shape {shape:?} ({elements} values), expected {expected:?} from the input and config.json"
        ))
        .with_hint(OUTPUT_HINT));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_of_another_shape_is_an_error_before_pooling() {
        assert!(check_hidden_state(&[2, 3, 4], 24, 2, 3, 4).is_ok());
        for (shape, elements) in [
            (vec![2, 3, 5], 30),    // config.json's dim is wrong
            (vec![2, 3], 6),        // rank 2
            (vec![2, 3, 4, 1], 24), // rank 4
            (vec![1, 3, 4], 12),    // fewer texts
            (vec![2, 2, 4], 16),    // fewer tokens
            (vec![2, 3, 4], 23),    // elements disagree with the shape
            (vec![-1, 3, 4], 24),   // a negative size
            (vec![], 1),            // a scalar
        ] {
            let e = check_hidden_state(&shape, elements, 2, 3, 4).unwrap_err();
            assert!(
                e.message.contains("last_hidden_state") && e.hint.is_some(),
                "{shape:?}: {e}"
            );
        }
    }
}
