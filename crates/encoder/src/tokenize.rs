//! Tokenization with `tokenizers`: padding off (batches are padded by us, to their own longest
//! text), truncation at the model's maximum length, as Hugging Face transformers does.

use crate::EncoderError;
use std::path::Path;
use tokenizers::{PostProcessor, Tokenizer, TruncationParams};

/// One batch ready for the model: row-major `[batch][seq_len]` int64 tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBatch {
    pub batch: usize,
    pub seq_len: usize,
    pub input_ids: Vec<i64>,
    pub attention_mask: Vec<i64>,
    pub token_type_ids: Vec<i64>,
}

pub struct TextTokenizer {
    inner: Tokenizer,
    /// The same tokenizer without truncation or special tokens' room: for splitting long texts.
    untruncated: Tokenizer,
    special_tokens: usize,
    max_length: usize,
}

/// One text's tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Tokens {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
}

impl TextTokenizer {
    pub fn from_file(path: &Path, max_length: usize) -> Result<Self, EncoderError> {
        let inner = without_panics(|| Tokenizer::from_file(path)).map_err(|e| {
            EncoderError::new(format!("cannot load tokenizer {}: {e}", path.display()))
                .with_hint("tokenizer.json must be a Hugging Face fast-tokenizer file.")
        })?;
        Self::new(inner, max_length)
    }

    /// As [`TextTokenizer::from_file`], from the file's contents.
    pub fn from_bytes(json: &[u8], max_length: usize) -> Result<Self, EncoderError> {
        let inner = without_panics(|| Tokenizer::from_bytes(json)).map_err(|e| {
            EncoderError::new(format!("cannot load tokenizer: {e}"))
                .with_hint("tokenizer.json must be a Hugging Face fast-tokenizer file.")
        })?;
        Self::new(inner, max_length)
    }

    pub fn new(mut inner: Tokenizer, max_length: usize) -> Result<Self, EncoderError> {
        // `tokenizers` takes the special tokens ([CLS], [SEP]) off the maximum length unchecked:
        // past zero it panicked in debug builds and did not truncate at all in release ones.
        let special = inner
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        if max_length <= special {
            return Err(EncoderError::new(format!(
                "a maximum length of {max_length} tokens leaves no room for text after the {special} special tokens"
            ))
            .with_hint("Check max_seq_length in sentence_bert_config.json, model_max_length in tokenizer_config.json and max_position_embeddings in config.json."));
        }
        inner.with_padding(None);
        let mut untruncated = inner.clone();
        untruncated
            .with_truncation(None)
            .map_err(|e| EncoderError::new(format!("cannot turn truncation off: {e}")))?;
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(|e| {
                EncoderError::new(format!("cannot set truncation to {max_length}: {e}"))
            })?;
        Ok(TextTokenizer {
            inner,
            untruncated,
            special_tokens: special,
            max_length,
        })
    }

    /// The most tokens of text one model input holds: the maximum length less [CLS] and [SEP].
    pub fn text_token_limit(&self) -> usize {
        self.max_length - self.special_tokens
    }

    /// The byte offsets in `text` of all its tokens, without special tokens and untruncated.
    pub fn token_offsets(&self, text: &str) -> Result<Vec<(usize, usize)>, EncoderError> {
        let encode = std::panic::AssertUnwindSafe(|| self.untruncated.encode(text, false));
        match std::panic::catch_unwind(encode) {
            Ok(Ok(encoding)) => Ok(encoding.get_offsets().to_vec()),
            Ok(Err(e)) => Err(EncoderError::new(format!("tokenization failed: {e}"))),
            Err(_) => Err(EncoderError::new(
                "tokenization failed: the tokenizers crate panicked (tokenizer.json is malformed)",
            )),
        }
    }

    /// Fails when the tokenizer can produce ids the model's embedding table does not have
    /// (`model_vocab_size` rows, from config.json; 0 means config.json does not say, an error too:
    /// an id past the table would reach the model's Gather). Added tokens count by their ids,
    /// which may lie past the base vocabulary.
    pub fn check_vocabulary(&self, model_vocab_size: usize) -> Result<(), EncoderError> {
        if model_vocab_size == 0 {
            return Err(EncoderError::new(
                "config.json gives no \"vocab_size\" (the rows of the model's token embeddings)",
            )
            .with_hint("Hugging Face writes vocab_size into every BERT/DistilBERT config.json; re-export the model with scripts/export_model.py."));
        }
        let largest_id = self.inner.get_vocab(true).values().copied().max();
        let needed = largest_id
            .map_or(0, |id| id as usize + 1)
            .max(self.inner.get_vocab_size(true));
        if needed > model_vocab_size {
            return Err(EncoderError::new(format!(
                "the tokenizer has {needed} tokens but the model's vocabulary has {model_vocab_size}"
            ))
            .with_hint("tokenizer.json and model.onnx come from different models (or config.json's vocab_size is wrong); export them together."));
        }
        Ok(())
    }

    pub fn encode(&self, text: &str) -> Result<Tokens, EncoderError> {
        let e = self.encoding(text)?;
        Ok(Tokens {
            ids: e.get_ids().to_vec(),
            type_ids: e.get_type_ids().to_vec(),
        })
    }

    /// Token strings, for tests and diagnostics.
    pub fn token_strings(&self, text: &str) -> Result<Vec<String>, EncoderError> {
        Ok(self.encoding(text)?.get_tokens().to_vec())
    }

    /// `tokenizers` can also panic while encoding with a file it accepted (a template naming a
    /// special token its map files under another key): that is an error too.
    fn encoding(&self, text: &str) -> Result<tokenizers::Encoding, EncoderError> {
        let encode = std::panic::AssertUnwindSafe(|| self.inner.encode(text, true));
        match std::panic::catch_unwind(encode) {
            Ok(Ok(encoding)) => Ok(encoding),
            Ok(Err(e)) => Err(EncoderError::new(format!("tokenization failed: {e}"))),
            Err(_) => Err(EncoderError::new(
                "tokenization failed: the tokenizers crate panicked (tokenizer.json is malformed)",
            )
            .with_hint("tokenizer.json must be a Hugging Face fast-tokenizer file.")),
        }
    }
}

/// What the model's embedding tables and position count allow (from config.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLimits {
    pub vocab_size: usize,
    /// 0: the model takes no token_type_ids, so they are not checked.
    pub type_vocab_size: usize,
    pub max_length: usize,
}

impl Tokens {
    /// Fails unless every id has a row in the model's embedding tables and the text fits the
    /// positions: the last line of defence before the ids reach the model's Gather, which on
    /// some execution providers does not check its indices.
    pub fn check(&self, limits: &TokenLimits) -> Result<(), EncoderError> {
        let hint = "tokenizer.json does not match the model's config.json; export them together (scripts/export_model.py).";
        if self.ids.is_empty() {
            return Err(EncoderError::new("the tokenizer gave no tokens for a text")
                .with_hint("tokenizer.json should add [CLS] and [SEP] (a BERT post-processor); export it with the model."));
        }
        if self.ids.len() > limits.max_length {
            return Err(EncoderError::new(format!(
                "the tokenizer gave {} tokens, more than the model's maximum length {}",
                self.ids.len(),
                limits.max_length
            ))
            .with_hint(hint));
        }
        if let Some(&id) = self
            .ids
            .iter()
            .find(|&&id| id as usize >= limits.vocab_size)
        {
            return Err(EncoderError::new(format!(
                "the tokenizer gave token id {id}, outside the model's vocabulary of {}",
                limits.vocab_size
            ))
            .with_hint(hint));
        }
        if limits.type_vocab_size > 0 {
            if let Some(&ty) = self
                .type_ids
                .iter()
                .find(|&&ty| ty as usize >= limits.type_vocab_size)
            {
                return Err(EncoderError::new(format!(
                    "the tokenizer gave token type id {ty}, outside the model's {} token types",
                    limits.type_vocab_size
                ))
                .with_hint(hint));
            }
        }
        Ok(())
    }
}

/// `tokenizers` panics on some malformed files instead of failing (an `expect` on the decoder's
/// deserialisation: `{"decoder": x}`); a panic while loading is a malformed file too.
fn without_panics(
    load: impl FnOnce() -> tokenizers::Result<Tokenizer> + std::panic::UnwindSafe,
) -> tokenizers::Result<Tokenizer> {
    std::panic::catch_unwind(load)
        .unwrap_or_else(|_| Err("malformed file (the tokenizers crate panicked reading it)".into()))
}

/// Pads the given texts' tokens to the longest among them (pad id 0, mask 0).
pub fn pad_batch(texts: &[&Tokens]) -> TokenBatch {
    let seq_len = texts.iter().map(|t| t.ids.len()).max().unwrap_or(0);
    let batch = texts.len();
    let mut out = TokenBatch {
        batch,
        seq_len,
        input_ids: vec![0; batch * seq_len],
        attention_mask: vec![0; batch * seq_len],
        token_type_ids: vec![0; batch * seq_len],
    };
    for (row, t) in texts.iter().enumerate() {
        let base = row * seq_len;
        for (i, (&id, &ty)) in t.ids.iter().zip(&t.type_ids).enumerate() {
            out.input_ids[base + i] = i64::from(id);
            out.attention_mask[base + i] = 1;
            out.token_type_ids[base + i] = i64::from(ty);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::normalizers::bert::BertNormalizer;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    use tokenizers::processors::bert::BertProcessing;

    /// A BERT-style uncased WordPiece tokenizer over a tiny vocabulary, built in code.
    fn tiny_bert(max_length: usize) -> TextTokenizer {
        let words = [
            "[PAD]",
            "[UNK]",
            "[CLS]",
            "[SEP]",
            "what",
            "is",
            "the",
            "transform",
            "##ers",
            "library",
            "?",
        ];
        // A vocab.txt, one token per line, as BERT models ship it.
        // Tests run in parallel: one file per call.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("tasb-tiny-vocab-{}-{call}.txt", std::process::id()));
        std::fs::write(&path, words.join("\n")).unwrap();
        let model = WordPiece::from_file(&path.to_string_lossy())
            .unk_token("[UNK]".into())
            .build()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        let mut t = Tokenizer::new(model);
        t.with_normalizer(Some(BertNormalizer::default())).unwrap();
        t.with_pre_tokenizer(Some(BertPreTokenizer));
        t.with_post_processor(Some(BertProcessing::new(
            ("[SEP]".into(), 3),
            ("[CLS]".into(), 2),
        )));
        TextTokenizer::new(t, max_length).unwrap()
    }

    #[test]
    fn lowercases_splits_word_pieces_and_marks_unknowns() {
        let t = tiny_bert(512);
        assert_eq!(
            t.token_strings("What is the Transformers library? 🙂")
                .unwrap(),
            [
                "[CLS]",
                "what",
                "is",
                "the",
                "transform",
                "##ers",
                "library",
                "?",
                "[UNK]",
                "[SEP]"
            ]
        );
    }

    #[test]
    fn truncates_to_the_maximum_length_keeping_special_tokens() {
        let t = tiny_bert(4);
        assert_eq!(
            t.token_strings("what is the library").unwrap(),
            ["[CLS]", "what", "is", "[SEP]"]
        );
        let long = "library ".repeat(131_072); // a 1 MB text
        assert_eq!(t.encode(&long).unwrap().ids.len(), 4);
    }

    #[test]
    fn empty_text_encodes_to_the_special_tokens() {
        assert_eq!(tiny_bert(16).token_strings("").unwrap(), ["[CLS]", "[SEP]"]);
    }

    #[test]
    fn padding_is_to_the_longest_in_the_batch() {
        let t = tiny_bert(512);
        let a = t.encode("what is").unwrap();
        let b = t.encode("the transformers library").unwrap();
        let batch = pad_batch(&[&a, &b]);
        assert_eq!((batch.batch, batch.seq_len), (2, 6));
        assert_eq!(batch.input_ids, vec![2, 4, 5, 3, 0, 0, 2, 6, 7, 8, 9, 3]);
        assert_eq!(
            batch.attention_mask,
            vec![1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]
        );
    }

    #[test]
    fn vocabulary_larger_than_the_model_is_rejected() {
        let t = tiny_bert(16);
        assert!(t.check_vocabulary(11).is_ok());
        let e = t.check_vocabulary(8).unwrap_err();
        assert!(e.message.contains("11 tokens") && e.hint.is_some(), "{e}");
        let e = t.check_vocabulary(0).unwrap_err();
        assert!(e.message.contains("vocab_size") && e.hint.is_some(), "{e}");
    }

    #[test]
    fn added_tokens_count_by_their_ids() {
        let mut t = tiny_bert(16);
        // An added token whose id lies far past the 11 base tokens.
        let mut added = tokenizers::AddedToken::from("[BIG]", true);
        added.special = true;
        t.inner.add_special_tokens([added]).unwrap();
        let id = t.inner.token_to_id("[BIG]").unwrap();
        assert!(t.check_vocabulary(id as usize).is_err());
        assert!(t.check_vocabulary(id as usize + 1).is_ok());
    }

    #[test]
    fn ids_outside_the_tables_or_too_many_tokens_are_rejected() {
        let limits = TokenLimits {
            vocab_size: 10,
            type_vocab_size: 2,
            max_length: 4,
        };
        let ok = Tokens {
            ids: vec![2, 9, 3],
            type_ids: vec![0, 1, 0],
        };
        assert!(ok.check(&limits).is_ok());
        let cases = [
            (vec![], vec![], "no tokens"),
            (vec![2, 10, 3], vec![0, 0, 0], "token id 10"),
            (vec![2, u32::MAX, 3], vec![0, 0, 0], "token id 4294967295"),
            (vec![2, 4, 3], vec![0, 2, 0], "token type id 2"),
            (vec![2, 4, 4, 4, 3], vec![0; 5], "5 tokens"),
        ];
        for (ids, type_ids, expected) in cases {
            let e = Tokens { ids, type_ids }.check(&limits).unwrap_err();
            assert!(e.message.contains(expected) && e.hint.is_some(), "{e}");
        }
        // Without token_type_ids as a model input, their values do not matter.
        let no_types = TokenLimits {
            type_vocab_size: 0,
            ..limits
        };
        let t = Tokens {
            ids: vec![2, 3],
            type_ids: vec![7, 7],
        };
        assert!(t.check(&no_types).is_ok());
    }
}
