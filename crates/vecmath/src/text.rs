//! The text form shared with pgvector: `[1,2.5,-3e-2]`, whitespace allowed around every token.

use crate::{decimal, ElementError, MAX_DIM};
use std::fmt::Write;

/// A malformed literal; `position` is the 1-based character position of the problem.
#[derive(Debug, Clone, PartialEq)]
pub enum ParseError {
    Syntax {
        position: usize,
        expected: &'static str,
        found: String,
    },
    InvalidNumber {
        position: usize,
        token: String,
    },
    Element {
        position: usize,
        error: ElementError,
    },
}

impl ParseError {
    /// True for a malformed literal, false for well-formed text with unacceptable values.
    pub fn is_syntax(&self) -> bool {
        !matches!(self, ParseError::Element { .. })
    }

    /// What was wrong and where, for the DETAIL line.
    pub fn detail(&self) -> String {
        match self {
            ParseError::Syntax {
                position,
                expected,
                found,
            } => {
                format!("Expected {expected} at character {position}, found {found}.")
            }
            ParseError::InvalidNumber { position, token } => {
                format!("\"{token}\" at character {position} is not a valid number.")
            }
            ParseError::Element { position, error } => {
                let text = error.to_string();
                let mut chars = text.chars();
                let first: String = chars
                    .next()
                    .map(|c| c.to_uppercase().collect())
                    .unwrap_or_default();
                format!("{first}{}, at character {position}.", chars.as_str())
            }
        }
    }
}

struct Cursor<'a> {
    text: &'a str,
    byte: usize,
}

impl<'a> Cursor<'a> {
    /// Byte-wise for ASCII (a query vector is thousands of bytes, parsed per query); other
    /// characters are decoded, so Unicode whitespace still separates.
    fn skip_whitespace(&mut self) {
        let bytes = self.text.as_bytes();
        while let Some(&b) = bytes.get(self.byte) {
            if b.is_ascii() {
                if !is_ascii_space(b) {
                    return;
                }
                self.byte += 1;
            } else {
                match self.peek() {
                    Some(c) if c.is_whitespace() => self.byte += c.len_utf8(),
                    _ => return,
                }
            }
        }
    }
    fn peek(&self) -> Option<char> {
        self.text[self.byte..].chars().next()
    }
    fn position(&self) -> usize {
        position_of(self.text, self.byte)
    }
    fn describe_next(&self) -> String {
        match self.peek() {
            None => "end of input".to_string(),
            Some(c) => format!("\"{c}\""),
        }
    }
    fn syntax(&self, expected: &'static str) -> ParseError {
        ParseError::Syntax {
            position: self.position(),
            expected,
            found: self.describe_next(),
        }
    }
    /// A number runs until a separator, so that "1x" is reported whole, not as "1" then "x".
    fn take_token(&mut self) -> &'a str {
        let rest = &self.text[self.byte..];
        let bytes = rest.as_bytes();
        let mut len = 0;
        while let Some(&b) = bytes.get(len) {
            if b.is_ascii() {
                if matches!(b, b',' | b']' | b'[') || is_ascii_space(b) {
                    break;
                }
                len += 1;
            } else {
                // Only reached at a character boundary: every byte before was ASCII or a whole
                // character.
                let c = rest[len..].chars().next().unwrap_or(' ');
                if c.is_whitespace() {
                    break;
                }
                len += c.len_utf8();
            }
        }
        self.byte += len;
        &rest[..len]
    }
}

/// The ASCII characters `char::is_whitespace` accepts (tab to carriage return, and space).
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t'..=b'\r')
}

/// 1-based character position of byte offset `byte`. Only computed for errors: counting
/// characters for every element made parsing quadratic in the number of dimensions.
fn position_of(text: &str, byte: usize) -> usize {
    text[..byte].chars().count() + 1
}

fn parse_element(text: &str, start: usize, token: &str, index: usize) -> Result<f32, ParseError> {
    let value: f32 = token.parse().map_err(|_| ParseError::InvalidNumber {
        position: position_of(text, start),
        token: token.to_string(),
    })?;
    if value.is_finite() {
        return Ok(value);
    }
    let position = position_of(text, start);
    let lower = token.to_ascii_lowercase();
    let error = if lower.contains("nan") || lower.contains("inf") {
        ElementError::NotFinite { index }
    } else {
        // A finite literal that overflows f32, e.g. 1e39.
        ElementError::OutOfRange {
            index,
            value: token.parse::<f64>().unwrap_or(f64::INFINITY),
            max_text: "3.4028235e38",
        }
    };
    Err(ParseError::Element { position, error })
}

/// Parses the text form into f32 elements, checking count (1..=MAX_DIM) and finiteness.
pub fn parse(text: &str) -> Result<Vec<f32>, ParseError> {
    let mut cur = Cursor { text, byte: 0 };
    cur.skip_whitespace();
    if cur.peek() != Some('[') {
        return Err(cur.syntax("\"[\""));
    }
    cur.byte += 1;
    cur.skip_whitespace();
    let mut values = Vec::new();
    if cur.peek() == Some(']') {
        return Err(ParseError::Element {
            position: cur.position(),
            error: ElementError::Empty,
        });
    }
    let bytes = text.as_bytes();
    loop {
        cur.skip_whitespace();
        let start = cur.byte;
        // The common case in one pass: a plain number followed by a separator.
        let fast = decimal::parse_prefix(&bytes[start..]).filter(|&(_, used)| {
            let after = bytes.get(start + used).copied().unwrap_or(b' ');
            values.len() < MAX_DIM && (matches!(after, b',' | b']') || is_ascii_space(after))
        });
        let value = if let Some((value, used)) = fast {
            cur.byte = start + used;
            value
        } else {
            let token = cur.take_token();
            if token.is_empty() {
                return Err(cur.syntax("a number"));
            }
            if values.len() == MAX_DIM {
                // Count the rest so the message can say how many there were.
                let dims = MAX_DIM + 1 + text[cur.byte..].matches(',').count();
                return Err(ParseError::Element {
                    position: position_of(text, start),
                    error: ElementError::TooManyDimensions { dims },
                });
            }
            parse_element(text, start, token, values.len())?
        };
        values.push(value);
        cur.skip_whitespace();
        match cur.peek() {
            Some(',') => cur.byte += 1,
            Some(']') => {
                cur.byte += 1;
                break;
            }
            _ => return Err(cur.syntax("\",\" or \"]\"")),
        }
    }
    cur.skip_whitespace();
    if cur.peek().is_some() {
        return Err(cur.syntax("end of input"));
    }
    Ok(values)
}

/// Writes one element the way PostgreSQL's `float4out` does: shortest text that reads back to
/// the same f32, with exponent notation below 1e-4 and from 1e15 (`1e-05`, `1.5e+20`).
pub fn write_element(out: &mut String, value: f32) {
    let magnitude = value.abs();
    if magnitude == 0.0 || (1e-4..1e15).contains(&magnitude) {
        // Display gives the shortest round-trip digits without an exponent.
        let _ = write!(out, "{value}");
        return;
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    let _ = write!(out, "{mantissa}e{sign}{:02}", exponent.abs());
}

/// Formats elements in the text form.
pub fn format<I: IntoIterator<Item = f32>>(values: I) -> String {
    let mut out = String::from("[");
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_element(&mut out, v);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pgvector_form_with_whitespace() {
        assert_eq!(parse("[1,2.5,-3e-2]").unwrap(), vec![1.0, 2.5, -0.03]);
        assert_eq!(parse("  [ 1 ,\t2 ,\n3 ]  ").unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(parse("[+1.5E2,.5,-0]").unwrap(), vec![150.0, 0.5, -0.0]);
        // Vertical tab, form feed and Unicode spaces separate too (as char::is_whitespace says).
        assert_eq!(
            parse("[\u{b}1,\u{c}2\u{a0},\u{3000}3]").unwrap(),
            vec![1.0, 2.0, 3.0]
        );
        assert!(parse("[1\u{e9}]").is_err());
    }

    #[test]
    fn reports_where_the_literal_is_malformed() {
        assert_eq!(
            parse("1,2]"),
            Err(ParseError::Syntax {
                position: 1,
                expected: "\"[\"",
                found: "\"1\"".into()
            })
        );
        assert_eq!(
            parse("[1,2"),
            Err(ParseError::Syntax {
                position: 5,
                expected: "\",\" or \"]\"",
                found: "end of input".into()
            })
        );
        assert_eq!(
            parse("[1,,2]"),
            Err(ParseError::Syntax {
                position: 4,
                expected: "a number",
                found: "\",\"".into()
            })
        );
        assert_eq!(
            parse("[1,2x]"),
            Err(ParseError::InvalidNumber {
                position: 4,
                token: "2x".into()
            })
        );
        assert_eq!(
            parse("[1] 2"),
            Err(ParseError::Syntax {
                position: 5,
                expected: "end of input",
                found: "\"2\"".into()
            })
        );
        assert_eq!(
            parse("[1 2]"),
            Err(ParseError::Syntax {
                position: 4,
                expected: "\",\" or \"]\"",
                found: "\"2\"".into()
            })
        );
        assert_eq!(
            parse(""),
            Err(ParseError::Syntax {
                position: 1,
                expected: "\"[\"",
                found: "end of input".into()
            })
        );
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(
            parse("[é]").unwrap_err(),
            ParseError::InvalidNumber {
                position: 2,
                token: "é".into()
            }
        );
        assert_eq!(
            parse("[1,é,2 ü]").unwrap_err(),
            ParseError::InvalidNumber {
                position: 4,
                token: "é".into()
            }
        );
    }

    #[test]
    fn rejects_empty_non_finite_and_overflow() {
        assert!(matches!(
            parse("[]"),
            Err(ParseError::Element {
                error: ElementError::Empty,
                ..
            })
        ));
        assert!(matches!(
            parse("[ ]"),
            Err(ParseError::Element {
                error: ElementError::Empty,
                ..
            })
        ));
        assert!(matches!(
            parse("[1,NaN]"),
            Err(ParseError::Element {
                position: 4,
                error: ElementError::NotFinite { index: 1 }
            })
        ));
        assert!(matches!(
            parse("[-Infinity]"),
            Err(ParseError::Element {
                error: ElementError::NotFinite { .. },
                ..
            })
        ));
        assert!(matches!(
            parse("[1e39]"),
            Err(ParseError::Element {
                error: ElementError::OutOfRange { .. },
                ..
            })
        ));
    }

    #[test]
    fn rejects_too_many_dimensions() {
        let ok = format!("[{}]", vec!["1"; MAX_DIM].join(","));
        assert_eq!(parse(&ok).unwrap().len(), MAX_DIM);
        let too_many = format!("[{}]", vec!["1"; MAX_DIM + 1].join(","));
        assert!(matches!(
            parse(&too_many),
            Err(ParseError::Element {
                error: ElementError::TooManyDimensions { .. },
                ..
            })
        ));
    }

    #[test]
    fn formats_like_float4out() {
        assert_eq!(format([1.0, 2.5, -0.03]), "[1,2.5,-0.03]");
        assert_eq!(
            format([1e-5, 1.5e20, 123456.0, 0.0001]),
            "[1e-05,1.5e+20,123456,0.0001]"
        );
        assert_eq!(
            format([1e15, 3.4028235e38, -1e-45]),
            "[1e+15,3.4028235e+38,-1e-45]"
        );
    }

    #[test]
    fn text_round_trip_is_exact_for_random_floats() {
        let mut rng = crate::kernels::tests_rng::XorShift::new(7);
        for _ in 0..2000 {
            let dims = 1 + (rng.next_u64() % 40) as usize;
            let values: Vec<f32> = (0..dims).map(|_| rng.wide_f32()).collect();
            let text = format(values.iter().copied());
            let back = parse(&text).unwrap();
            assert_eq!(
                back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{text}"
            );
        }
    }
}
