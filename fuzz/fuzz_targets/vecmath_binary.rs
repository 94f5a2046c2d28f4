//! The binary form (`tasbvec_recv` / `tasbhalf_recv` call `tasb_vecmath::binary::decode_f32` /
//! `decode_f16`) from arbitrary bytes: either an error, or vectors that are valid (1..=MAX_DIM
//! finite elements) and encode back to exactly the bytes received. Then the fp16 conversions
//! (`half_conv`, behind the casts to `tasbhalf`) on the same bytes read as f32 and as f64, held to
//! a reference round-to-nearest-even written here from the definition of binary16.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tasb_vecmath::binary::{decode_f16, decode_f32, encode_f16, encode_f32, BinaryError};
use tasb_vecmath::half_conv::{f16_to_f32, f32_to_f16_checked, f64_to_f16_checked};
use tasb_vecmath::{check_elements, ElementError, MAX_DIM};

/// The binary16 bits nearest to `v` (ties to even), None for NaN. Infinite when |v| rounds past
/// 65504.
fn reference_f16(v: f64) -> Option<u16> {
    if v.is_nan() {
        return None;
    }
    let sign = if v.is_sign_negative() { 0x8000u16 } else { 0 };
    let a = v.abs();
    if a >= 65520.0 {
        return Some(sign | 0x7c00);
    }
    // Grid of the binade (or of the subnormals), a power of two so the divisions are exact.
    let exponent = if a < f64::powi(2.0, -14) {
        -14
    } else {
        ((a.to_bits() >> 52) as i32) - 1023
    };
    let step = f64::powi(2.0, exponent - 10);
    let q = a / step;
    let mut n = q.floor();
    let frac = q - n;
    if frac > 0.5 || (frac == 0.5 && n % 2.0 == 1.0) {
        n += 1.0;
    }
    let n = n as u16;
    let bits = if exponent == -14 && n < 1024 {
        n
    } else {
        (((exponent + 15) as u16) << 10) + n - 1024
    };
    Some(sign | bits)
}

fn check_f16_conversion(values: &[f64], got: Result<Vec<tasb_vecmath::f16>, ElementError>) {
    let expected: Vec<Option<u16>> = values.iter().map(|&v| reference_f16(v)).collect();
    let first_bad = expected
        .iter()
        .position(|e| e.is_none_or(|bits| bits & 0x7c00 == 0x7c00));
    match (got, first_bad) {
        (Ok(got), None) => {
            let got: Vec<u16> = got.iter().map(|h| h.to_bits()).collect();
            let expected: Vec<u16> = expected.into_iter().map(Option::unwrap).collect();
            assert_eq!(got, expected, "{values:?}");
        }
        (Err(ElementError::NotFinite { index }), Some(bad)) => {
            assert_eq!(index, bad);
            assert!(!values[index].is_finite());
        }
        (Err(ElementError::OutOfRange { index, .. }), Some(bad)) => {
            assert_eq!(index, bad);
            assert!(values[index].is_finite());
        }
        (got, bad) => panic!("{values:?}: {got:?}, first unrepresentable {bad:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    match decode_f32(data) {
        Ok(values) => {
            assert!(check_elements(&values).is_ok());
            assert_eq!(encode_f32(&values), data);
        }
        Err(e) => {
            let _ = e.to_string();
            if let BinaryError::Length {
                expected, actual, ..
            } = e
            {
                assert_ne!(expected, actual);
            }
        }
    }
    match decode_f16(data) {
        Ok(values) => {
            assert!((1..=MAX_DIM).contains(&values.len()));
            assert!(values.iter().all(|h| h.is_finite()));
            assert_eq!(encode_f16(&values), data);
            let wide = f16_to_f32(&values);
            let back = f32_to_f16_checked(&wide).unwrap();
            assert_eq!(back, values);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let singles: Vec<f64> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
        .collect();
    let as_f32: Vec<f32> = singles.iter().map(|&v| v as f32).collect();
    check_f16_conversion(&singles, f32_to_f16_checked(&as_f32));
    let doubles: Vec<f64> = data
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    check_f16_conversion(&doubles, f64_to_f16_checked(&doubles));
});
