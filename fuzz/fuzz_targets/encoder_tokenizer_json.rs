//! tokenizer.json from arbitrary bytes through what `TextTokenizer::from_file` does (the
//! `tokenizers` crate's loader, then padding off and truncation on), then one text encoded:
//! errors must be `Err`, never a panic, and no text may come out longer than the maximum length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tasb_encoder::tokenize::TextTokenizer;
use tokenizers::Tokenizer;

fuzz_target!(|data: &[u8]| {
    let Some((&length, json)) = data.split_first() else {
        return;
    };
    let Ok(inner) = Tokenizer::from_bytes(json) else {
        return;
    };
    let max_length = length as usize % 40;
    let Ok(tokenizer) = TextTokenizer::new(inner, max_length) else {
        return;
    };
    if let Ok(tokens) = tokenizer.encode("what is the Transformers library? ünïcödé 12345") {
        assert!(tokens.ids.len() <= max_length, "{} > {max_length}", tokens.ids.len());
        assert_eq!(tokens.ids.len(), tokens.type_ids.len());
    }
});
