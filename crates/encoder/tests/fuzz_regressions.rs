//! Inputs the fuzz targets in fuzz/ found (see fuzz/README.md), kept as plain tests.

use std::path::{Path, PathBuf};
use tasb_encoder::model_dir::ModelConfig;
use tasb_encoder::tokenize::TextTokenizer;

fn fixture_tokenizer() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/tiny-distilbert/tokenizer.json")
}

/// `ModelConfig::parse` over in-memory files: config.json, tokenizer_config.json,
/// sentence_bert_config.json (None: absent).
fn parse(config: &str, tokenizer_config: Option<&str>, st: Option<&str>) -> ModelConfig {
    let dir = Path::new("/model");
    ModelConfig::parse(dir, |path| {
        Ok(match path.strip_prefix(dir).unwrap().to_str().unwrap() {
            "config.json" => Some(config.to_string()),
            "tokenizer_config.json" => tokenizer_config.map(str::to_string),
            "sentence_bert_config.json" => st.map(str::to_string),
            _ => None,
        })
    })
    .unwrap()
}

/// encoder_model_dir: a maximum length shorter than the special tokens the tokenizer adds
/// ([CLS] and [SEP]) made `tokenizers` subtract past zero: a panic in debug builds, and in release
/// a wrapped, huge maximum, so texts were not truncated at all. Every way to say 0 or 1.
#[test]
fn a_maximum_length_without_room_for_the_special_tokens_is_an_error() {
    let configs = [
        parse(r#"{"dim":32}"#, None, Some(r#"{"max_seq_length":0}"#)),
        parse(r#"{"dim":32}"#, None, Some(r#"{"max_seq_length":1}"#)),
        parse(r#"{"dim":32,"max_position_embeddings":1}"#, None, None),
        parse(r#"{"dim":32}"#, Some(r#"{"model_max_length":0.5}"#), None),
        parse(r#"{"dim":32}"#, Some(r#"{"model_max_length":1.9}"#), None),
    ];
    for config in configs {
        assert!(config.max_length < 2, "{config:?}");
        let e = TextTokenizer::from_file(&fixture_tokenizer(), config.max_length)
            .err()
            .unwrap_or_else(|| panic!("max_length {} accepted", config.max_length));
        assert!(e.message.contains("maximum length"), "{e}");
    }
}

/// The smallest maximum length that leaves room for one token truncates to it.
#[test]
fn the_smallest_useful_maximum_length_truncates() {
    let config = parse(r#"{"dim":32}"#, None, Some(r#"{"max_seq_length":3}"#));
    let tokenizer = TextTokenizer::from_file(&fixture_tokenizer(), config.max_length).unwrap();
    let tokens = tokenizer
        .encode("what is the transformers library?")
        .unwrap();
    assert_eq!(tokens.ids.len(), 3);
}
