//! The vector text form (`tasbvec_in` / `tasbhalf_in` call `tasb_vecmath::text::parse`), held to
//! a slow reference: trim, strip the brackets, split on commas, `str::parse::<f32>` each trimmed
//! token. Both must accept the same texts and give the same bits; errors must have a position
//! inside the text; accepted vectors must survive `format` -> `parse` unchanged.
//!
//! The first byte picks how the rest is read:
//! - 0: as UTF-8 text, whatever it holds;
//! - 1: each byte one character of a small alphabet of digits, signs, '.', 'e', brackets, commas
//!   and spaces (the decimal fast path's territory);
//! - 2: each byte one character of a number's alphabet, the whole string one element;
//! - 3: a decimal string near the midpoint between two adjacent f32 (where a fast path that
//!   rounds twice would go wrong), with a chosen number of digits and a chosen last digit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tasb_vecmath::text::{format, parse, ParseError};
use tasb_vecmath::MAX_DIM;

const TEXT_ALPHABET: &[u8] = b"0123456789012345678901234567890.......eeEE++--,,,,[]    \t\n";
const NUMBER_ALPHABET: &[u8] = b"00112233445566778899.eE+-";

fn reference(text: &str) -> Option<Vec<f32>> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
    let mut out = Vec::new();
    for token in inner.split(',') {
        let value: f32 = token.trim().parse().ok()?;
        if !value.is_finite() {
            return None;
        }
        out.push(value);
    }
    if out.is_empty() || out.len() > MAX_DIM {
        return None;
    }
    Some(out)
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn check(text: &str) {
    let got = parse(text);
    let expected = reference(text);
    match (&got, &expected) {
        (Ok(got), Some(expected)) => {
            assert_eq!(bits(got), bits(expected), "{text:?}");
            let again = format(got.iter().copied());
            assert_eq!(
                bits(&parse(&again).unwrap()),
                bits(got),
                "{text:?} -> {again:?}"
            );
        }
        (Err(e), None) => {
            let position = match e {
                ParseError::Syntax { position, .. }
                | ParseError::InvalidNumber { position, .. }
                | ParseError::Element { position, .. } => *position,
            };
            let chars = text.chars().count();
            assert!(
                (1..=chars + 1).contains(&position),
                "{text:?}: position {position} of {chars} characters: {e:?}"
            );
            let _ = e.detail();
            let _ = e.is_syntax();
        }
        _ => panic!("{text:?}: parse gives {got:?}, the reference {expected:?}"),
    }
}

fn mapped(bytes: &[u8], alphabet: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| alphabet[b as usize % alphabet.len()] as char)
        .collect()
}

/// One element near the midpoint of `x` and the next f32 up, `digits` significant digits, the
/// last one replaced by `last` (when < 10); in exponent or plain notation.
fn near_tie(data: &[u8]) -> Option<String> {
    let (head, _) = data.split_first_chunk::<7>()?;
    let bits = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff;
    let x = f32::from_bits(bits);
    let next = f32::from_bits(bits + 1);
    if !next.is_finite() {
        return None;
    }
    let mid = (x as f64 + next as f64) / 2.0; // exact: 25 significant bits
    let digits = (head[4] % 26) as usize;
    let mut text = if head[6] & 1 == 0 {
        format!("{mid:.digits$e}")
    } else {
        format!("{mid:.digits$}")
    };
    let last = head[5] % 16;
    if last < 10 {
        let end = text.find(['e', 'E']).unwrap_or(text.len());
        if let Some(at) = text[..end].rfind(|c: char| c.is_ascii_digit()) {
            text.replace_range(at..at + 1, &((b'0' + last) as char).to_string());
        }
    }
    if head[6] & 2 != 0 {
        text.insert(0, '-');
    }
    Some(text)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                check(text);
            }
        }
        1 => check(&mapped(rest, TEXT_ALPHABET)),
        2 => {
            let token = mapped(rest, NUMBER_ALPHABET);
            check(&format!("[{token}]"));
            check(&format!("[ {token} ,{token}]"));
        }
        _ => {
            if let Some(token) = near_tie(rest) {
                let got = parse(&format!("[{token}]"));
                let expected = token.parse::<f32>().unwrap();
                match got {
                    Ok(v) => assert_eq!(v[0].to_bits(), expected.to_bits(), "{token}"),
                    // Only a value that overflows f32 may be refused.
                    Err(e) => assert!(!expected.is_finite(), "{token}: {e:?}"),
                }
            }
        }
    }
});
