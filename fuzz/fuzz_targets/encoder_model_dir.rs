//! A model directory's JSON files from arbitrary bytes, through `ModelConfig::parse` (what
//! `ModelConfig::load` runs on the files it reads): config.json, tokenizer_config.json,
//! sentence_bert_config.json, modules.json and the pooling module's config.json, the input split
//! on 0xff bytes (never in UTF-8) in that order, an empty part meaning "no such file". Errors must
//! be `Err`; an accepted configuration must work with the tokenizer: the tiny DistilBERT fixture's
//! tokenizer.json set to its maximum length, which then bounds every text's token count.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;
use tasb_encoder::model_dir::ModelConfig;
use tasb_encoder::tokenize::TextTokenizer;
use tokenizers::Tokenizer;

const TOKENIZER: &str = include_str!("../../tests/fixtures/tiny-distilbert/tokenizer.json");

fn tokenizer() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| TOKENIZER.parse().expect("fixture tokenizer.json"))
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0xff).map(|p| {
        if p.is_empty() {
            None
        } else {
            Some(String::from_utf8_lossy(p).into_owned())
        }
    });
    let mut next = || parts.next().flatten();
    let files = [next(), next(), next(), next(), next()];
    let dir = Path::new("/model");
    let mut asked = Vec::new();
    let parsed = ModelConfig::parse(dir, |path| {
        asked.push(path.to_path_buf());
        let name = path.strip_prefix(dir).ok().and_then(|p| p.to_str());
        let index = match name {
            Some("config.json") => 0,
            Some("tokenizer_config.json") => 1,
            Some("sentence_bert_config.json") => 2,
            Some("modules.json") => 3,
            _ => 4,
        };
        Ok(files[index].clone())
    });
    let config = match parsed {
        Ok(config) => config,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(asked.len() <= 5, "{asked:?}");
    let Ok(text_tokenizer) = TextTokenizer::new(tokenizer().clone(), config.max_length) else {
        return;
    };
    let tokens = text_tokenizer
        .encode("what is the transformers library? what is the transformers library?")
        .expect("encode");
    assert!(
        tokens.ids.len() <= config.max_length,
        "{} tokens, maximum length {}",
        tokens.ids.len(),
        config.max_length
    );
});
