//! Splitting long texts with a real tokenizer (the fixture's uncased BERT WordPiece vocabulary):
//! every passage, tokenized on its own by the `tokenizers` crate as the model will see it, fits the
//! model's input, and together the passages hold every token of the text, in order.

use std::path::PathBuf;
use tasb_encoder::chunk::{split_text, ChunkOptions};
use tasb_encoder::tokenize::TextTokenizer;

const MAX_LENGTH: usize = 64;

/// Options as tasb_chunk makes them: checked against the tokenizer's limit.
fn options(
    tokenizer: &TextTokenizer,
    max_tokens: Option<usize>,
    overlap: usize,
) -> Result<ChunkOptions, tasb_encoder::EncoderError> {
    ChunkOptions::for_limit(
        tokenizer.text_token_limit(),
        max_tokens.map(|m| m as i64),
        overlap as i64,
    )
}

/// Splits with the options tasb_chunk would make, never stopping.
fn split(
    tokenizer: &TextTokenizer,
    text: &str,
    max_tokens: Option<usize>,
    overlap: usize,
) -> Vec<tasb_encoder::chunk::TextPassage> {
    let options = options(tokenizer, max_tokens, overlap).unwrap();
    split_text(tokenizer, text, options, &mut || true).unwrap()
}

fn tokenizer() -> TextTokenizer {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/tiny-distilbert/tokenizer.json");
    TextTokenizer::from_file(&path, MAX_LENGTH).unwrap()
}

/// About 1,500 tokens of English with sentences, paragraphs, numbers, punctuation, accents and
/// one "word" longer than the model's input.
fn long_text() -> String {
    let sentences = [
        "REINDEX rebuilds an index using the data stored in the index's table, replacing the old copy of the index.",
        "With CONCURRENTLY, PostgreSQL rebuilds the index without taking any locks that prevent concurrent inserts, updates, or deletes on the table!",
        "Is the café open on Sundays?",
        "Values such as 3.14159, 2,718 and 1e-9 are tokenized into several pieces.",
        "Unusual words like antidisestablishmentarianism split into many WordPiece sub-tokens.",
    ];
    let mut text = String::new();
    for i in 0..40 {
        text.push_str(sentences[i % sentences.len()]);
        text.push(if i % 7 == 6 { '\n' } else { ' ' });
    }
    text.push_str(&"x".repeat(400));
    text.push_str(" the end.");
    text
}

#[test]
fn passages_fit_the_model_and_cover_the_text() {
    let tokenizer = tokenizer();
    let text = long_text();
    let all = tokenizer.token_offsets(&text).unwrap();
    assert!(all.len() > 10 * MAX_LENGTH, "the text is not long enough");
    for (max_tokens, overlap) in [(None, 0), (Some(20), 0), (Some(20), 5), (Some(1), 0)] {
        let passages = split(&tokenizer, &text, max_tokens, overlap);
        let max = max_tokens.unwrap_or(MAX_LENGTH - 2);
        for p in &passages {
            let piece = &text[p.bytes.clone()];
            // The model's view: tokenized alone, with [CLS] and [SEP], truncated at MAX_LENGTH.
            let model_view = tokenizer.encode(piece).unwrap();
            assert!(
                p.tokens <= max,
                "{piece:?}: {} tokens for a limit of {max}",
                p.tokens
            );
            assert_eq!(model_view.ids.len(), p.tokens + 2, "truncated: {piece:?}");
            assert!(piece == piece.trim(), "untrimmed passage {piece:?}");
        }
        // No text is lost: between one passage and the next there is only whitespace, and without
        // overlap the passages do not share any text.
        for pair in passages.windows(2) {
            let (a, b) = (&pair[0].bytes, &pair[1].bytes);
            assert!(b.start > a.start);
            if b.start >= a.end {
                let gap = &text[a.end..b.start];
                assert!(gap.trim().is_empty(), "text lost between passages: {gap:?}");
            } else {
                assert!(overlap > 0, "passages {a:?} and {b:?} overlap");
            }
        }
        // The passages hold all of the text's tokens (more with overlap).
        let held: usize = passages.iter().map(|p| p.tokens).sum();
        if overlap == 0 {
            assert!(
                held >= all.len(),
                "{held} tokens in passages, {} in the text",
                all.len()
            );
        } else {
            assert!(held > all.len());
        }
        let first_tokens = passages.first().unwrap().bytes.start;
        let last_tokens = passages.last().unwrap().bytes.end;
        assert_eq!((first_tokens, last_tokens), (0, text.len()));
    }
}

#[test]
fn passages_end_at_sentences_when_they_can() {
    let tokenizer = tokenizer();
    let text = long_text();
    let passages = split(&tokenizer, &text, Some(60), 0);
    let sentence_ends = passages
        .iter()
        .filter(|p| text[p.bytes.clone()].ends_with(['.', '!', '?']))
        .count();
    // Every sentence is shorter than the limit, so all but the long word's passages end one.
    assert!(
        sentence_ends + 8 >= passages.len(),
        "{sentence_ends} of {} passages end a sentence",
        passages.len()
    );
}

#[test]
fn limits_are_checked() {
    let tokenizer = tokenizer();
    let too_many = options(&tokenizer, Some(MAX_LENGTH), 0).unwrap_err();
    assert!(
        too_many.message.contains("more than the model takes"),
        "{too_many:?}"
    );
    assert!(options(&tokenizer, Some(4), 4).is_err());
    assert!(split(&tokenizer, "", None, 0).is_empty());
    assert!(split(&tokenizer, " \n\t", None, 0).is_empty());
}

#[test]
fn long_documents_are_split_in_pieces_without_losing_text_and_can_be_stopped() {
    let tokenizer = tokenizer();
    // About 300 KB: several pieces of tokenization.
    let text = long_text().repeat(60);
    let passages = split(&tokenizer, &text, None, 0);
    for pair in passages.windows(2) {
        let gap = &text[pair[0].bytes.end..pair[1].bytes.start];
        assert!(gap.trim().is_empty(), "text lost between passages: {gap:?}");
    }
    assert_eq!(passages.first().unwrap().bytes.start, 0);
    assert_eq!(passages.last().unwrap().bytes.end, text.len());
    assert!(passages.iter().all(|p| p.tokens <= MAX_LENGTH - 2));
    let mut calls = 0;
    let stopped = split_text(
        &tokenizer,
        &text,
        options(&tokenizer, None, 0).unwrap(),
        &mut || {
            calls += 1;
            calls < 2
        },
    );
    assert!(stopped.unwrap_err().message.contains("cancelled"));
}
