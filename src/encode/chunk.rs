//! `tasb_chunk`: long documents split into passages that fit the loaded model's input, by its
//! own tokenizer (the algorithm is `tasb_encoder::chunk`).

use super::model::{raise_encoder_error, with_model};
use crate::errors::raise;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use tasb_encoder::chunk::{split_text, ChunkOptions, TextPassage};

/// Splits a document into passages of at most `max_tokens` tokens (NULL: as many as the model
/// takes), at line breaks, sentence ends or words, each starting with up to `overlap` tokens of
/// the previous one. `substr(document, start_char, length(passage)) = passage`. A NULL or blank
/// document has no passages.
#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_restricted)]
fn tasb_chunk(
    document: Option<&str>,
    max_tokens: default!(Option<i32>, "NULL"),
    overlap: default!(Option<i32>, 0),
) -> TableIterator<
    'static,
    (
        name!(ordinal, i32),
        name!(passage, String),
        name!(tokens, i32),
        name!(start_char, i32),
    ),
> {
    let Some(document) = document else {
        return TableIterator::new(Vec::new());
    };
    let passages = with_model(|model| {
        let tokenizer = model.encoder.tokenizer();
        let options = ChunkOptions::for_limit(
            tokenizer.text_token_limit(),
            max_tokens.map(i64::from),
            overlap.map_or(0, i64::from),
        )
        .unwrap_or_else(|e| {
            raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                e.message,
                None,
                e.hint.as_deref(),
            )
        });
        let mut keep_going = || {
            pgrx::check_for_interrupts!();
            true
        };
        split_text(tokenizer, document, options, &mut keep_going)
            .unwrap_or_else(|e| raise_encoder_error(e))
    });
    TableIterator::new(rows(document, passages))
}

/// The SQL rows, with 1-based character positions counted as the passages advance.
fn rows(document: &str, passages: Vec<TextPassage>) -> Vec<(i32, String, i32, i32)> {
    let (mut counted_bytes, mut counted_chars) = (0, 0);
    passages
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            if p.bytes.start < counted_bytes {
                // An overlapping passage starts before the last one ended: count from the start.
                (counted_bytes, counted_chars) = (0, 0);
            }
            counted_chars += document[counted_bytes..p.bytes.start].chars().count();
            counted_bytes = p.bytes.start;
            let passage = document[p.bytes].to_string();
            (
                i as i32 + 1,
                passage,
                p.tokens as i32,
                counted_chars as i32 + 1,
            )
        })
        .collect()
}
