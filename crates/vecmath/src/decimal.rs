//! A fast path for decimal literals such as `-0.012345678901234567` or `3e-2`, the bulk of a query
//! vector's text (Python's repr of each float, 17 significant digits). `str::parse::<f32>` spent
//! about 150 ns on each of those in a backend's profile. Anything unusual (more than 19
//! significant digits, large exponents, values near the f32 limits, results too close to a
//! rounding tie to decide) returns None and the caller uses `str::parse`, so results are
//! always the correctly rounded f32. [`crate::text::parse`] tries it on each element first.

/// Powers of ten that f64 holds exactly.
const POWERS: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Significant digits a u64 always holds.
const MAX_DIGITS: u32 = 19;

/// f64 mantissa bits dropped when rounding to f32.
const DROPPED_BITS: u32 = 52 - 23;

/// A decimal number at the start of `bytes`: its correctly rounded f32 and the bytes it took, or
/// None when the fast path cannot tell (the caller then parses the token with `str::parse`).
pub fn parse_prefix(bytes: &[u8]) -> Option<(f32, usize)> {
    let mut at = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            at = 1;
            true
        }
        Some(b'+') => {
            at = 1;
            false
        }
        _ => false,
    };
    let mut number = Digits::default();
    let integer_start = at;
    number.take(bytes, &mut at)?;
    let mut seen_digit = at > integer_start;
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        let fraction_start = at;
        number.take(bytes, &mut at)?;
        number.scale -= (at - fraction_start) as i32;
        seen_digit |= at > fraction_start;
    }
    if !seen_digit {
        return None;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        let exponent_negative = match bytes.get(at) {
            Some(b'-') => {
                at += 1;
                true
            }
            Some(b'+') => {
                at += 1;
                false
            }
            _ => false,
        };
        let start = at;
        let mut exponent = 0i32;
        while let Some(&b) = bytes.get(at) {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 || exponent > 1000 {
                break;
            }
            exponent = exponent * 10 + digit as i32;
            at += 1;
        }
        if at == start {
            return None;
        }
        number.scale += if exponent_negative {
            -exponent
        } else {
            exponent
        };
    }
    let magnitude = number.to_f32()?;
    Some((if negative { -magnitude } else { magnitude }, at))
}

/// A decimal mantissa being read: its significant digits, and the power of ten they are scaled by.
#[derive(Default)]
struct Digits {
    mantissa: u64,
    /// Digits in `mantissa` (leading zeros are not kept).
    count: u32,
    scale: i32,
}

impl Digits {
    /// Reads a run of digits, 8 at a time where it can; None past [`MAX_DIGITS`] significant ones.
    fn take(&mut self, bytes: &[u8], at: &mut usize) -> Option<()> {
        if self.mantissa == 0 {
            // Leading zeros add nothing (after the point they still count for the scale, which
            // the caller takes from the bytes read).
            while bytes.get(*at) == Some(&b'0') {
                *at += 1;
            }
        }
        while let Some(chunk) = bytes.get(*at..*at + 8) {
            let chunk = u64::from_le_bytes([
                chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
            ]);
            if !eight_digits(chunk) || self.count + 8 > MAX_DIGITS {
                break;
            }
            self.mantissa = self.mantissa * 100_000_000 + eight_digit_value(chunk);
            self.count += 8;
            *at += 8;
        }
        while let Some(&b) = bytes.get(*at) {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            self.count += 1;
            if self.count > MAX_DIGITS {
                return None;
            }
            self.mantissa = self.mantissa * 10 + digit as u64;
            *at += 1;
        }
        Some(())
    }

    fn to_f32(&self) -> Option<f32> {
        if self.mantissa == 0 {
            return Some(0.0);
        }
        let power = *POWERS.get(self.scale.unsigned_abs() as usize)?;
        // One rounding when the mantissa is exact in f64 (Clinger's fast path), else two: the
        // result is within 2 units in the last place of the exact value either way.
        let value = if self.scale >= 0 {
            self.mantissa as f64 * power
        } else {
            self.mantissa as f64 / power
        };
        if !(f32::MIN_POSITIVE as f64..f32::MAX as f64).contains(&value) {
            return None;
        }
        // Rounding to f32 drops 29 bits. Only when those are within a few units of half (a
        // tie) could the exact value round the other way.
        let dropped = value.to_bits() & ((1 << DROPPED_BITS) - 1);
        if dropped.abs_diff(1 << (DROPPED_BITS - 1)) <= 8 {
            return None;
        }
        Some(value as f32)
    }
}

/// Whether all 8 bytes (first byte lowest) are ASCII digits.
fn eight_digits(chunk: u64) -> bool {
    (chunk & 0xf0f0_f0f0_f0f0_f0f0)
        | ((chunk.wrapping_add(0x0606_0606_0606_0606) & 0xf0f0_f0f0_f0f0_f0f0) >> 4)
        == 0x3333_3333_3333_3333
}

/// The value of 8 ASCII digits, first byte lowest and most significant: pairs, then fours, then
/// all eight, combined with multiplies.
fn eight_digit_value(chunk: u64) -> u64 {
    let digits = chunk - 0x3030_3030_3030_3030;
    let pairs = digits.wrapping_mul(10).wrapping_add(digits >> 8);
    let low = (pairs & 0x0000_00ff_0000_00ff).wrapping_mul(100 + (1_000_000 << 32));
    let high = ((pairs >> 16) & 0x0000_00ff_0000_00ff).wrapping_mul(1 + (10_000 << 32));
    low.wrapping_add(high) >> 32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The correctly rounded f32 of a whole token, or None when the fast path cannot tell.
    fn parse_f32(token: &str) -> Option<f32> {
        match parse_prefix(token.as_bytes()) {
            Some((value, used)) if used == token.len() => Some(value),
            _ => None,
        }
    }

    #[test]
    fn eight_digits_at_a_time() {
        for text in ["00000000", "12345678", "99999999", "10000001", "07310459"] {
            let chunk = u64::from_le_bytes(text.as_bytes().try_into().unwrap());
            assert!(eight_digits(chunk));
            assert_eq!(eight_digit_value(chunk), text.parse::<u64>().unwrap());
        }
        for text in ["1234567/", "1234567:", "a2345678", " 2345678", "1234.678"] {
            let chunk = u64::from_le_bytes(text.as_bytes().try_into().unwrap());
            assert!(!eight_digits(chunk), "{text}");
        }
    }

    /// Against the standard library's parser (correctly rounded), on every form a fast path
    /// takes and the ones it must refuse.
    #[test]
    fn agrees_with_the_standard_parser() {
        let mut tokens: Vec<String> = [
            "0",
            "-0",
            "+0",
            "0.0",
            "-0.0",
            "1",
            "-1",
            "1.5",
            ".5",
            "5.",
            "-.25",
            "1e3",
            "1E+3",
            "2.5e-3",
            "123456789",
            "0.000001",
            "1e22",
            "1e-22",
            "1e23",
            "1e-23",
            "3.4028235e38",
            "1e39",
            "1.17549435e-38",
            "1e-45",
            "16777217",
            "0.1",
            "0.2",
            "0.3",
            "9999999999999999999",
            "99999999999999999999",
            "1.00000005960464477539062",
            "1.000000059604644775390625",
            "00000.000001",
            "1e",
            "e5",
            "-",
            ".",
            "1.2.3",
            "1e5x",
            "nan",
            "inf",
            "-infinity",
            "0x10",
            "1_000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let bits = next() as u32;
            let value = f32::from_bits(bits);
            if !value.is_finite() {
                continue;
            }
            tokens.push(format!("{}", value as f64)); // up to 17 digits, as Python's repr
            tokens.push(format!("{value}"));
            tokens.push(format!("{value:e}"));
            let small = (next() % 2_000_000) as f64 / 1e8 - 0.01;
            tokens.push(format!("{small:.17}"));
            tokens.push(format!("{:.9}", small * 10.0));
        }
        let mut fast = 0;
        for token in &tokens {
            let expected = token.parse::<f32>().ok();
            if let Some(got) = parse_f32(token) {
                fast += 1;
                let expected = expected.unwrap_or_else(|| panic!("{token}: std rejects it"));
                assert_eq!(got.to_bits(), expected.to_bits(), "{token}");
            }
        }
        for token in &tokens {
            // As a prefix of the text that follows it in a literal.
            let text = format!("{token},1]");
            if let Some((got, used)) = parse_prefix(text.as_bytes()) {
                if used == token.len() {
                    assert_eq!(
                        Some(got.to_bits()),
                        token.parse::<f32>().ok().map(f32::to_bits)
                    );
                }
            }
        }
        // The fast path takes nearly all of them (the rest: tiny or huge values, long digits).
        assert!(
            fast as f64 > 0.5 * tokens.len() as f64,
            "{fast} of {}",
            tokens.len()
        );
    }
}
