//! A model directory as the ecosystem writes it, with no format of our own:
//!
//! - `config.json` (Hugging Face): architecture, hidden size, position count, vocabulary size;
//! - `tokenizer.json`, optionally `tokenizer_config.json` (`model_max_length`);
//! - `model.onnx` (optimum's export: int64 `input_ids`, `attention_mask`, for BERT also
//!   `token_type_ids`; output `last_hidden_state`);
//! - optionally sentence-transformers' `modules.json`, `1_Pooling/config.json` and
//!   `sentence_bert_config.json`, which choose mean pooling, L2 normalisation and the maximum length.
//!
//! Without the sentence-transformers files the defaults are TAS-B's: [CLS] pooling, no normalisation.

use crate::EncoderError;
use serde::Deserialize;
use std::fs;
use std::path::{Path, PathBuf};

/// The most dimensions a model may output: the most a `tasbvec`/`tasbhalf` can hold.
pub const MAX_DIMENSIONS: usize = 16_000;

/// How token vectors become one text vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The first token's ([CLS]) last hidden state: TAS-B, DPR.
    Cls,
    /// The attention-masked mean over all tokens: most sentence-transformers models.
    Mean,
}

/// Everything the runner needs to know about a model directory.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub dir: PathBuf,
    pub model_type: String,
    /// Output dimensions (`dim` for DistilBERT, `hidden_size` for BERT).
    pub dimensions: usize,
    /// Rows of the token embedding table (`vocab_size`); 0 when config.json does not say.
    pub vocab_size: usize,
    /// Rows of the token type (segment) embedding table (`type_vocab_size`, BERT's default 2).
    pub type_vocab_size: usize,
    /// Tokens per text after truncation, [CLS] and [SEP] included.
    pub max_length: usize,
    pub pooling: Pooling,
    pub normalize: bool,
}

impl ModelConfig {
    pub fn model_path(&self) -> PathBuf {
        self.dir.join("model.onnx")
    }
    pub fn tokenizer_path(&self) -> PathBuf {
        self.dir.join("tokenizer.json")
    }

    /// Reads and checks a model directory.
    pub fn load(dir: &Path) -> Result<ModelConfig, EncoderError> {
        if !dir.is_dir() {
            return Err(EncoderError::new(format!(
                "model directory \"{}\" does not exist",
                dir.display()
            ))
            .with_hint("Set tasb.model_dir to a directory made by scripts/export_model.py."));
        }
        for required in ["config.json", "tokenizer.json", "model.onnx"] {
            if !dir.join(required).is_file() {
                return Err(EncoderError::new(format!(
                    "model directory \"{}\" has no {required}",
                    dir.display()
                ))
                .with_hint("A model directory holds config.json, tokenizer.json and model.onnx; scripts/export_model.py writes one."));
            }
        }
        Self::parse(dir, |path| {
            if !path.is_file() {
                return Ok(None);
            }
            fs::read_to_string(path)
                .map(Some)
                .map_err(|e| EncoderError::new(format!("cannot read {}: {e}", path.display())))
        })
    }

    /// The checks of [`ModelConfig::load`] on the JSON files `read` gives: the text of the file
    /// at a path under `dir`, or None when there is none (for fuzzing, without files).
    pub fn parse(
        dir: &Path,
        mut read: impl FnMut(&Path) -> Result<Option<String>, EncoderError>,
    ) -> Result<ModelConfig, EncoderError> {
        let hf: HfConfig = read_json(&mut read, &dir.join("config.json"))?;
        let dimensions = hf.dim.or(hf.hidden_size).ok_or_else(|| {
            EncoderError::new(format!(
                "{} gives neither \"dim\" nor \"hidden_size\"",
                dir.join("config.json").display()
            ))
            .with_hint("Only BERT-family encoders (BERT, DistilBERT, MiniLM) are supported.")
        })?;
        if dimensions == 0 || dimensions > MAX_DIMENSIONS {
            return Err(EncoderError::new(format!(
                "{} gives {dimensions} dimensions; tasb supports 1 to {MAX_DIMENSIONS}",
                dir.join("config.json").display()
            ))
            .with_hint("\"dim\" (DistilBERT) or \"hidden_size\" (BERT) in config.json must be the size of the model's last_hidden_state; re-export the model with scripts/export_model.py."));
        }
        let max_positions = hf.max_position_embeddings.unwrap_or(512);

        let tokenizer_max =
            optional_json::<TokenizerConfig>(&mut read, &dir.join("tokenizer_config.json"))?
                .and_then(|t| t.model_max_length)
                // transformers writes a huge sentinel when no limit is known
                .filter(|&m| m > 0.0 && m < 1e9)
                .map(|m| m as usize);
        let st_max =
            optional_json::<SentenceBertConfig>(&mut read, &dir.join("sentence_bert_config.json"))?
                .and_then(|s| s.max_seq_length);
        let max_length = st_max
            .or(tokenizer_max)
            .unwrap_or(max_positions)
            .min(max_positions);

        let (pooling, normalize) = sentence_transformers_head(dir, &mut read)?;
        Ok(ModelConfig {
            dir: dir.to_path_buf(),
            model_type: hf.model_type.unwrap_or_default(),
            dimensions,
            vocab_size: hf.vocab_size.unwrap_or(0),
            type_vocab_size: hf.type_vocab_size.unwrap_or(2),
            max_length,
            pooling,
            normalize,
        })
    }
}

/// Pooling and normalisation from sentence-transformers' files; TAS-B's way without them.
fn sentence_transformers_head(
    dir: &Path,
    read: &mut impl FnMut(&Path) -> Result<Option<String>, EncoderError>,
) -> Result<(Pooling, bool), EncoderError> {
    let Some(modules) = optional_json::<Vec<StModule>>(read, &dir.join("modules.json"))? else {
        return Ok((Pooling::Cls, false));
    };
    let normalize = modules.iter().any(|m| m.kind.ends_with(".Normalize"));
    let mut pooling = Pooling::Cls;
    if let Some(module) = modules.iter().find(|m| m.kind.ends_with(".Pooling")) {
        let config_path = dir.join(&module.path).join("config.json");
        let config: StPooling = read_json(read, &config_path)?;
        pooling = if config.pooling_mode_cls_token {
            Pooling::Cls
        } else if config.pooling_mode_mean_tokens {
            Pooling::Mean
        } else {
            return Err(EncoderError::new(format!(
                "{}: only CLS and mean pooling are supported",
                config_path.display()
            )));
        };
    }
    Ok((pooling, normalize))
}

fn read_json<T: for<'de> Deserialize<'de>>(
    read: &mut impl FnMut(&Path) -> Result<Option<String>, EncoderError>,
    path: &Path,
) -> Result<T, EncoderError> {
    let text = read(path)?.ok_or_else(|| {
        EncoderError::new(format!("cannot read {}: no such file", path.display()))
    })?;
    parse_json(path, &text)
}

fn parse_json<T: for<'de> Deserialize<'de>>(path: &Path, text: &str) -> Result<T, EncoderError> {
    serde_json::from_str(text).map_err(|e| {
        EncoderError::new(format!("{} is not valid: {e}", path.display()))
            .with_hint("Re-export the model with scripts/export_model.py.")
    })
}

fn optional_json<T: for<'de> Deserialize<'de>>(
    read: &mut impl FnMut(&Path) -> Result<Option<String>, EncoderError>,
    path: &Path,
) -> Result<Option<T>, EncoderError> {
    match read(path)? {
        Some(text) => parse_json(path, &text).map(Some),
        None => Ok(None),
    }
}

#[derive(Deserialize)]
struct HfConfig {
    model_type: Option<String>,
    dim: Option<usize>,
    hidden_size: Option<usize>,
    max_position_embeddings: Option<usize>,
    vocab_size: Option<usize>,
    type_vocab_size: Option<usize>,
}

#[derive(Deserialize)]
struct TokenizerConfig {
    model_max_length: Option<f64>,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct StModule {
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct StPooling {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("tasb-encoder-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
        fn write(&self, name: &str, text: &str) {
            let path = self.0.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn minimal(name: &str, config: &str) -> TempDir {
        let d = TempDir::new(name);
        d.write("config.json", config);
        d.write("tokenizer.json", "{}");
        d.write("model.onnx", "");
        d
    }

    #[test]
    fn tas_b_layout_means_cls_pooling_without_normalisation() {
        let d = minimal(
            "tasb",
            r#"{"model_type":"distilbert","dim":768,"max_position_embeddings":512,"vocab_size":30522}"#,
        );
        d.write(
            "tokenizer_config.json",
            r#"{"model_max_length": 1000000000000000019884624838656}"#,
        );
        let c = ModelConfig::load(&d.0).unwrap();
        assert_eq!(
            (c.dimensions, c.vocab_size, c.max_length),
            (768, 30522, 512)
        );
        assert_eq!((c.pooling, c.normalize), (Pooling::Cls, false));
        assert_eq!(c.model_type, "distilbert");
    }

    #[test]
    fn sentence_transformers_files_select_mean_pooling_normalisation_and_length() {
        let d = minimal(
            "minilm",
            r#"{"model_type":"bert","hidden_size":384,"max_position_embeddings":512}"#,
        );
        d.write("tokenizer_config.json", r#"{"model_max_length": 512}"#);
        d.write(
            "sentence_bert_config.json",
            r#"{"max_seq_length": 256, "do_lower_case": false}"#,
        );
        d.write(
            "modules.json",
            r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
                {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
                {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]"#,
        );
        d.write(
            "1_Pooling/config.json",
            r#"{"word_embedding_dimension":384,"pooling_mode_mean_tokens":true}"#,
        );
        let c = ModelConfig::load(&d.0).unwrap();
        assert_eq!((c.dimensions, c.max_length), (384, 256));
        assert_eq!((c.pooling, c.normalize), (Pooling::Mean, true));
    }

    #[test]
    fn maximum_length_is_capped_by_the_positions() {
        let d = minimal("cap", r#"{"dim":32,"max_position_embeddings":64}"#);
        d.write("sentence_bert_config.json", r#"{"max_seq_length": 512}"#);
        assert_eq!(ModelConfig::load(&d.0).unwrap().max_length, 64);
    }

    #[test]
    fn missing_and_corrupt_files_are_clear_errors() {
        let e = ModelConfig::load(Path::new("/nonexistent/tasb-model")).unwrap_err();
        assert!(
            e.message.contains("does not exist") && e.hint.is_some(),
            "{e}"
        );

        let d = TempDir::new("missing");
        d.write("config.json", "{}");
        let e = ModelConfig::load(&d.0).unwrap_err();
        assert!(e.message.contains("has no tokenizer.json"), "{e}");

        let d = minimal("corrupt", "{not json");
        let e = ModelConfig::load(&d.0).unwrap_err();
        assert!(e.message.contains("config.json is not valid"), "{e}");

        let d = minimal("nodim", r#"{"model_type":"gpt2"}"#);
        let e = ModelConfig::load(&d.0).unwrap_err();
        assert!(e.message.contains("neither"), "{e}");
    }

    #[test]
    fn dimensions_must_fit_a_vector() {
        for (name, config) in [
            ("dim0", r#"{"dim":0}"#),
            ("hidden0", r#"{"hidden_size":0}"#),
            ("dimhuge", r#"{"dim":16001}"#),
            ("hiddenhuge", r#"{"hidden_size":1000000000}"#),
        ] {
            let d = minimal(name, config);
            let e = ModelConfig::load(&d.0).unwrap_err();
            assert!(
                e.message.contains("dimensions") && e.hint.is_some(),
                "{config}: {e}"
            );
        }
        let d = minimal("dimmax", r#"{"dim":16000}"#);
        assert_eq!(ModelConfig::load(&d.0).unwrap().dimensions, 16000);
    }
}
