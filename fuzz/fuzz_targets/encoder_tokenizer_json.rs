//! tokenizer.json from arbitrary bytes through `TextTokenizer::from_bytes` (what `from_file` does
//! on a file's contents: the `tokenizers` crate's loader, then padding off and truncation on),
//! then one text encoded: errors must be `Err`, never a panic, and no text may come out longer
//! than the maximum length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Once;
use tasb_encoder::tokenize::TextTokenizer;

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys's panic hook aborts even on a panic the code under test catches (as
    // `from_bytes` does around the `tokenizers` loader); an uncaught panic still aborts, in
    // libfuzzer-sys's own catch_unwind around this closure.
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let _ = std::panic::take_hook();
        std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
    });
    let Some((&length, json)) = data.split_first() else {
        return;
    };
    let max_length = length as usize % 40;
    let Ok(tokenizer) = TextTokenizer::from_bytes(json, max_length) else {
        return;
    };
    if let Ok(tokens) = tokenizer.encode("what is the Transformers library? ünïcödé 12345") {
        assert!(
            tokens.ids.len() <= max_length,
            "{} > {max_length}",
            tokens.ids.len()
        );
        assert_eq!(tokens.ids.len(), tokens.type_ids.len());
    }
});
