//! Splitting long texts into passages that fit a model's token limit, at the best boundary in
//! reach: a line break, then a sentence end, then a word boundary, and inside a word only when one
//! word alone is longer than the limit. Works on a tokenization's byte offsets, so it needs no
//! tokenizer itself; [`crate::tokenize::TextTokenizer::token_offsets`] gives them.

use crate::tokenize::TextTokenizer;
use crate::EncoderError;
use std::ops::Range;

/// A passage of a split text: its byte range and its token count, as the tokenizer counts the
/// passage on its own (special tokens not counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextPassage {
    pub bytes: Range<usize>,
    pub tokens: usize,
}

/// Texts are tokenized in pieces of about this many bytes, cut at line breaks or spaces, so that
/// `keep_going` (query cancel) runs often even on a document of a gigabyte.
const SEGMENT_BYTES: usize = 64 * 1024;

/// Splits `text` with `tokenizer` into passages as `options` say (made for this tokenizer's limit
/// by [`ChunkOptions::for_limit`]). `keep_going` runs between pieces of the text; returning false
/// stops with an error. Overlap does not reach across the line breaks or spaces where a long text
/// is cut into pieces (every [`SEGMENT_BYTES`]).
pub fn split_text(
    tokenizer: &TextTokenizer,
    text: &str,
    options: ChunkOptions,
    keep_going: &mut dyn FnMut() -> bool,
) -> Result<Vec<TextPassage>, EncoderError> {
    let max_tokens = options.max_tokens;
    let mut out = Vec::new();
    for segment in segments(text, SEGMENT_BYTES) {
        if !keep_going() {
            return Err(EncoderError::new("splitting the text was cancelled"));
        }
        let piece = &text[segment.clone()];
        for passage in split(piece, &tokenizer.token_offsets(piece)?, options) {
            let bytes = segment.start + passage.bytes.start..segment.start + passage.bytes.end;
            fit_alone(tokenizer, text, bytes, max_tokens, &mut out)?;
        }
    }
    Ok(out)
}

/// Consecutive byte ranges covering `text`, each at most about `target` bytes, ending at the last
/// line break in their second half, else the last whitespace there, else at a character boundary.
fn segments(text: &str, target: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while text.len() - start > target {
        let mut limit = start + target;
        while !text.is_char_boundary(limit) {
            limit -= 1;
        }
        let mut half = start + target / 2;
        while !text.is_char_boundary(half) {
            half -= 1;
        }
        let window = &text[half..limit];
        let cut = window
            .rfind('\n')
            .or_else(|| window.rfind(char::is_whitespace))
            .map_or(limit, |i| half + i + 1);
        out.push(start..cut);
        start = cut;
    }
    if start < text.len() {
        out.push(start..text.len());
    }
    out
}

/// Appends the passage at `bytes`, split further while it holds more than `max_tokens` tokens
/// tokenized on its own: a cut inside a word can tokenize differently alone (WordPiece's "##"
/// pieces). Each round splits a passage into strictly shorter ones; a piece that cannot be split
/// (one character of several tokens) stays as it is.
fn fit_alone(
    tokenizer: &TextTokenizer,
    text: &str,
    bytes: Range<usize>,
    max_tokens: usize,
    out: &mut Vec<TextPassage>,
) -> Result<(), EncoderError> {
    let piece = &text[bytes.clone()];
    let offsets = tokenizer.token_offsets(piece)?;
    if offsets.len() <= max_tokens {
        out.push(TextPassage {
            bytes,
            tokens: offsets.len(),
        });
        return Ok(());
    }
    let parts = split(piece, &offsets, ChunkOptions::new(max_tokens, 0)?);
    if parts.len() < 2 || parts.iter().any(|p| p.bytes.len() >= piece.len()) {
        out.push(TextPassage {
            bytes,
            tokens: offsets.len(),
        });
        return Ok(());
    }
    for part in parts {
        let sub = bytes.start + part.bytes.start..bytes.start + part.bytes.end;
        fit_alone(tokenizer, text, sub, max_tokens, out)?;
    }
    Ok(())
}

/// How to split: at most `max_tokens` tokens per passage (special tokens not counted), each
/// passage starting with up to `overlap` tokens of the end of the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOptions {
    pub max_tokens: usize,
    pub overlap: usize,
}

impl ChunkOptions {
    /// Options from a caller's numbers, checked against what the model takes: `limit` tokens of
    /// text ([`TextTokenizer::text_token_limit`]). No `max_tokens` means all of them.
    pub fn for_limit(
        limit: usize,
        max_tokens: Option<i64>,
        overlap: i64,
    ) -> Result<Self, EncoderError> {
        let Ok(overlap) = usize::try_from(overlap) else {
            return Err(
                EncoderError::new(format!("overlap must not be negative, not {overlap}"))
                    .with_hint("Pass 0 for passages that do not overlap."),
            );
        };
        let max_tokens = match max_tokens {
            None => limit,
            Some(m) if m < 1 => {
                return Err(
                    EncoderError::new(format!("max_tokens must be at least 1, not {m}"))
                        .with_hint("Leave max_tokens NULL to fill the model's input."),
                )
            }
            Some(m) => usize::try_from(m).unwrap_or(usize::MAX),
        };
        if max_tokens > limit {
            return Err(EncoderError::new(format!(
                "max_tokens {max_tokens} is more than the model takes: {limit} tokens of text"
            ))
            .with_hint("Leave max_tokens NULL to fill the model's input, or pass a smaller one."));
        }
        Self::new(max_tokens, overlap)
    }

    pub fn new(max_tokens: usize, overlap: usize) -> Result<Self, EncoderError> {
        if max_tokens == 0 {
            return Err(EncoderError::new("max_tokens must be at least 1"));
        }
        if overlap >= max_tokens {
            return Err(EncoderError::new(format!(
                "an overlap of {overlap} tokens does not fit passages of {max_tokens} tokens"
            ))
            .with_hint(
                "Use an overlap smaller than max_tokens; a tenth to a fifth of it is usual.",
            ));
        }
        Ok(ChunkOptions {
            max_tokens,
            overlap,
        })
    }
}

/// One passage: a byte range of the text and the tokens `[first_token, end_token)` it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    pub bytes: Range<usize>,
    pub tokens: Range<usize>,
}

/// How good a place is to end a passage before a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Boundary {
    InsideWord,
    Word,
    Sentence,
    Line,
}

/// The boundary before token `i` (`i >= 1`), from the text between it and the token before.
fn boundary_before(text: &str, offsets: &[(usize, usize)], i: usize) -> Boundary {
    let previous = offsets[i - 1];
    let gap = text.get(previous.1..offsets[i].0).unwrap_or("");
    if gap.contains('\n') {
        return Boundary::Line;
    }
    if !gap.chars().any(char::is_whitespace) {
        // Tokens that touch: a subword, or punctuation against its word.
        return if is_punctuation_token(text, previous) || is_punctuation_token(text, offsets[i]) {
            Boundary::Word
        } else {
            Boundary::InsideWord
        };
    }
    let previous_text = text.get(previous.0..previous.1).unwrap_or("");
    if previous_text.ends_with(['.', '!', '?', ';', '。', '！', '？']) {
        Boundary::Sentence
    } else {
        Boundary::Word
    }
}

fn is_punctuation_token(text: &str, (start, end): (usize, usize)) -> bool {
    text.get(start..end)
        .is_some_and(|t| !t.is_empty() && t.chars().all(|c| !c.is_alphanumeric()))
}

/// Splits a text, given its tokens' byte offsets (in order, without special tokens), into
/// passages of at most `options.max_tokens` tokens. A text without tokens has no passages.
pub fn split(text: &str, offsets: &[(usize, usize)], options: ChunkOptions) -> Vec<Passage> {
    let n = offsets.len();
    let max = options.max_tokens;
    let mut passages = Vec::new();
    let mut start = 0;
    while start < n {
        let end = if n - start <= max {
            n
        } else {
            best_cut(text, offsets, start, start + max)
        };
        passages.push(Passage {
            bytes: offsets[start].0..offsets[end - 1].1,
            tokens: start..end,
        });
        if end == n {
            break;
        }
        start = next_start(text, offsets, start, end, options.overlap);
    }
    passages
}

/// Where to end a passage that starts at `start` and may run to `limit` (exclusive): the best
/// boundary in the second half of that reach, the latest one among equals.
fn best_cut(text: &str, offsets: &[(usize, usize)], start: usize, limit: usize) -> usize {
    let earliest = start + (limit - start).div_ceil(2);
    let mut best = (Boundary::InsideWord, limit);
    for cut in (earliest.max(start + 1)..=limit).rev() {
        let boundary = boundary_before(text, offsets, cut);
        if boundary > best.0 {
            best = (boundary, cut);
            if boundary == Boundary::Line {
                break;
            }
        }
    }
    best.1
}

/// The next passage's first token: `end`, or up to `overlap` tokens earlier at a word start, and
/// always after `start`, so every passage moves forward.
fn next_start(
    text: &str,
    offsets: &[(usize, usize)],
    start: usize,
    end: usize,
    overlap: usize,
) -> usize {
    if overlap == 0 {
        return end;
    }
    let earliest = end.saturating_sub(overlap).max(start + 1);
    (earliest..end)
        .find(|&i| boundary_before(text, offsets, i) >= Boundary::Word)
        .unwrap_or(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whitespace-separated words as tokens, with trailing punctuation as its own token.
    fn word_offsets(text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
            if c.is_whitespace() || c == '.' || c == '?' {
                if let Some(s) = start.take() {
                    out.push((s, i));
                }
                if c == '.' || c == '?' {
                    out.push((i, i + 1));
                }
            } else if start.is_none() {
                start = Some(i);
            }
        }
        out
    }

    fn pieces(text: &str, max: usize, overlap: usize) -> Vec<String> {
        let offsets = word_offsets(text);
        split(text, &offsets, ChunkOptions::new(max, overlap).unwrap())
            .into_iter()
            .map(|p| {
                assert!(p.tokens.len() <= max, "{p:?} holds more than {max} tokens");
                text[p.bytes].to_string()
            })
            .collect()
    }

    #[test]
    fn short_text_is_one_passage_and_empty_text_none() {
        assert_eq!(pieces("one two three.", 10, 0), vec!["one two three."]);
        assert!(pieces("   \n ", 10, 0).is_empty());
    }

    #[test]
    fn cuts_at_sentence_ends_before_word_boundaries() {
        let text = "aa bb cc. dd ee ff gg hh. ii jj";
        assert_eq!(
            pieces(text, 7, 0),
            vec!["aa bb cc.", "dd ee ff gg hh.", "ii jj"]
        );
    }

    #[test]
    fn prefers_line_breaks() {
        let text = "aa bb. cc dd\nee ff. gg hh ii";
        assert_eq!(pieces(text, 9, 0), vec!["aa bb. cc dd", "ee ff. gg hh ii"]);
    }

    #[test]
    fn without_sentence_ends_cuts_at_words() {
        let text = "a b c d e f g h i j";
        assert_eq!(pieces(text, 4, 0), vec!["a b c d", "e f g h", "i j"]);
    }

    #[test]
    fn overlap_repeats_the_end_of_the_previous_passage() {
        let text = "a b c d e f g h i j";
        assert_eq!(
            pieces(text, 4, 2),
            vec!["a b c d", "c d e f", "e f g h", "g h i j"]
        );
    }

    #[test]
    fn a_word_longer_than_the_limit_is_cut_inside() {
        // One word of 7 subword tokens, as WordPiece gives "##" pieces: touching offsets.
        let text = "abcdefg hi";
        let offsets: Vec<(usize, usize)> = (0..7).map(|i| (i, i + 1)).chain([(8, 10)]).collect();
        let got: Vec<&str> = split(text, &offsets, ChunkOptions::new(3, 0).unwrap())
            .into_iter()
            .map(|p| &text[p.bytes])
            .collect();
        assert_eq!(got, vec!["abc", "def", "g hi"]);
    }

    #[test]
    fn every_token_is_in_a_passage_in_order_and_passages_advance() {
        // A pseudo-random text of words and sentence ends, over many limits and overlaps.
        let mut state = 7u64;
        let mut text = String::new();
        for _ in 0..3000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = (state >> 33) % 100;
            text.push_str(match r {
                0..=7 => ". ",
                8..=9 => "\n",
                10..=12 => "word? ",
                _ => "w ",
            });
        }
        let offsets = word_offsets(&text);
        for max in [1, 2, 3, 7, 16, 100] {
            for overlap in [0, 1, max / 3, max - 1] {
                if overlap >= max {
                    continue;
                }
                let passages = split(&text, &offsets, ChunkOptions::new(max, overlap).unwrap());
                assert_eq!(passages[0].tokens.start, 0);
                assert_eq!(passages.last().unwrap().tokens.end, offsets.len());
                for pair in passages.windows(2) {
                    let (a, b) = (&pair[0].tokens, &pair[1].tokens);
                    assert!(b.start > a.start, "no progress: {a:?} then {b:?}");
                    assert!(b.start <= a.end, "tokens skipped between {a:?} and {b:?}");
                    assert!(a.end - b.start <= overlap, "overlap beyond {overlap}");
                }
                for p in &passages {
                    assert!(p.tokens.len() <= max && !p.tokens.is_empty());
                    if max >= 7 && p.tokens.end < offsets.len() {
                        // With room to choose, a passage is never cut short of half its budget.
                        assert!(p.tokens.len() * 2 >= max, "{p:?} under half of {max}");
                    }
                }
            }
        }
    }

    #[test]
    fn segments_cover_the_text_and_end_at_spaces() {
        let words = "aaaa bbbb\ncccc dddd eeee ffff gggg hhhh";
        // Multi-byte characters without spaces: cuts land on character boundaries.
        let mixed = "aaaa é€é€é€é€é€é€é€ bbbb";
        for (text, spaced) in [(words, true), (mixed, false)] {
            for target in [4, 7, 10, 16, 1000] {
                let parts = segments(text, target);
                assert_eq!(parts.first().unwrap().start, 0);
                assert_eq!(parts.last().unwrap().end, text.len());
                for pair in parts.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start);
                }
                for p in &parts {
                    // Slicing panics off a character boundary.
                    let piece = &text[p.clone()];
                    assert!(
                        !piece.is_empty() && p.len() <= target.max(3),
                        "{p:?} for {target}"
                    );
                    if spaced && p.end < text.len() && target >= 10 {
                        assert!(piece.ends_with([' ', '\n']), "{piece:?} cut inside a word");
                    }
                }
            }
        }
        assert!(segments("", 10).is_empty());
    }

    #[test]
    fn options_are_checked() {
        assert!(ChunkOptions::new(0, 0).is_err());
        assert!(ChunkOptions::new(10, 10).is_err());
        assert!(ChunkOptions::new(10, 9).is_ok());
        let limit = |max, overlap| ChunkOptions::for_limit(62, max, overlap);
        assert_eq!(limit(None, 0).unwrap().max_tokens, 62);
        assert!(limit(Some(63), 0)
            .unwrap_err()
            .message
            .contains("more than the model takes"));
        assert!(limit(Some(0), 0)
            .unwrap_err()
            .message
            .contains("at least 1, not 0"));
        assert!(limit(Some(-5), 0)
            .unwrap_err()
            .message
            .contains("at least 1, not -5"));
        assert!(limit(Some(10), -1)
            .unwrap_err()
            .message
            .contains("not be negative"));
        assert!(limit(Some(10), 10).is_err());
    }
}
