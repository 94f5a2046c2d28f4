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

/// encoder_tokenizer_json, crash-20451cf3: `tokenizers` panics (an `expect` in its decoder's
/// deserialisation) on a tokenizer.json whose "decoder" is not JSON; loading must fail instead.
#[test]
fn a_tokenizer_json_that_makes_tokenizers_panic_is_an_error() {
    for json in [
        r#"{"decoder":x}"#,
        r#"{"version": "1.0", "truncation": null, "padding": null, "decoder":unl , "model": {}}"#,
    ] {
        let e = TextTokenizer::from_bytes(json.as_bytes(), 16)
            .err()
            .unwrap_or_else(|| panic!("{json} accepted"));
        assert!(e.message.contains("cannot load tokenizer"), "{e}");
        let path = std::env::temp_dir().join(format!(
            "tasb-fuzz-regression-{}-tokenizer.json",
            std::process::id()
        ));
        std::fs::write(&path, json).unwrap();
        let from_file = TextTokenizer::from_file(&path, 16);
        let _ = std::fs::remove_file(&path);
        assert!(from_file.is_err(), "{json}");
    }
}

/// The fixture's tokenizer.json loads the same from bytes as from the file.
#[test]
fn from_bytes_matches_from_file() {
    let bytes = std::fs::read(fixture_tokenizer()).unwrap();
    let a = TextTokenizer::from_bytes(&bytes, 8).unwrap();
    let b = TextTokenizer::from_file(&fixture_tokenizer(), 8).unwrap();
    let text = "what is the transformers library? a longer text than eight tokens";
    assert_eq!(a.encode(text).unwrap(), b.encode(text).unwrap());
    assert_eq!(a.encode(text).unwrap().ids.len(), 8);
}

/// encoder_tokenizer_json, crash-a29530a6: a TemplateProcessing post-processor whose template
/// names "[SEP]" while its special-token map files that token under another key ("[WEP]"):
/// `tokenizers` accepts the file, then panics on every encode ("no entry found for key").
#[test]
fn a_template_naming_a_missing_special_token_fails_to_encode() {
    let json = r###"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
        "normalizer":null,"pre_tokenizer":{"type":"Whitespace"},
        "post_processor":{"type":"TemplateProcessing",
            "single":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}},
                      {"SpecialToken":{"id":"[SEP]","type_id":0}}],
            "pair":[{"Sequence":{"id":"A","type_id":0}},{"Sequence":{"id":"B","type_id":1}}],
            "special_tokens":{"[CLS]":{"id":"[CLS]","ids":[2],"tokens":["[CLS]"]},
                              "[WEP]":{"id":"[SEP]","ids":[3],"tokens":["[SEP]"]}}},
        "decoder":null,
        "model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##",
            "max_input_chars_per_word":100,
            "vocab":{"[PAD]":0,"[UNK]":1,"[CLS]":2,"[SEP]":3,"what":4,"is":5}}}"###;
    let Ok(tokenizer) = TextTokenizer::from_bytes(json.as_bytes(), 16) else {
        return; // refusing the file is as good
    };
    let e = tokenizer.encode("what is").unwrap_err();
    assert!(e.message.contains("tokenization failed"), "{e}");
    assert!(tokenizer.token_strings("what is").is_err());
}
