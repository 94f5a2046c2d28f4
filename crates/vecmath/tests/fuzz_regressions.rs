//! Inputs the fuzz targets in fuzz/ found (see fuzz/README.md), kept as plain tests.

use tasb_vecmath::binary::{decode_f16, decode_f32};
use tasb_vecmath::f16;
use tasb_vecmath::half_conv::{f32_to_f16_checked, f64_to_f16_checked};

/// vecmath_binary, crash-6890ab8d: an f64 just above the midpoint of two f16 rounded to the lower
/// one. `f16::from_f64` rounds to the nearest f32 first (with F16C), which made the value the tie
/// itself, and the tie went to even. (1 + 2^-11 + 2^-40 is 1.0004882812509095.)
#[test]
fn f64_just_past_an_f16_tie_rounds_up() {
    let above = 1.0 + f64::powi(2.0, -11) + f64::powi(2.0, -40);
    let got = f64_to_f16_checked(&[above, 65519.99]).unwrap();
    assert_eq!(
        got.iter().map(|h| h.to_bits()).collect::<Vec<_>>(),
        [0x3c01, 0x7bff]
    );
    // Just below a tie, and the ties themselves (to even), on both sides of zero.
    let below = 1.0 + f64::powi(2.0, -11) - f64::powi(2.0, -40);
    let tie_even = 1.0 + f64::powi(2.0, -11);
    let tie_odd = 1.0 + 3.0 * f64::powi(2.0, -11);
    let got = f64_to_f16_checked(&[below, tie_even, tie_odd, -above]).unwrap();
    assert_eq!(
        got.iter().map(|h| h.to_bits()).collect::<Vec<_>>(),
        [0x3c00, 0x3c00, 0x3c02, 0xbc01]
    );
    // The same just past a tie in the subnormals and at the top of the range.
    let subnormal = f64::powi(2.0, -25) + f64::powi(2.0, -60);
    assert_eq!(f64_to_f16_checked(&[subnormal]).unwrap()[0].to_bits(), 1);
    assert!(f64_to_f16_checked(&[65520.0]).is_err());
    assert_eq!(
        f64_to_f16_checked(&[65519.999999]).unwrap()[0],
        f16::from_f32(65504.0)
    );
}

/// f32 input converts as before: exact in f64, so one rounding.
#[test]
fn f32_to_f16_is_unchanged() {
    let v = [
        1.0f32 + f32::EPSILON * 1024.0 * 0.5 + f32::EPSILON,
        6e-8,
        -2.5,
    ];
    let got = f32_to_f16_checked(&v).unwrap();
    let expected: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
    assert_eq!(got, expected);
}

/// Headers and lengths from the binary target's corpus: errors, never panics.
#[test]
fn binary_receive_rejects_damaged_input() {
    for bytes in [
        &[][..],
        &[0],
        &[0, 1, 0],
        &[0xff, 0xff, 0, 0],
        &[0x3e, 0x81, 0, 0],
        &[0, 1, 0, 0, 0x7c, 0],
        &[0, 1, 0, 0, 0x3c],
        &[0, 2, 0, 0, 0x3f, 0x80, 0, 0, 0x7f, 0xc0, 0, 0],
    ] {
        assert!(decode_f32(bytes).is_err(), "{bytes:?}");
        assert!(decode_f16(bytes).is_err(), "{bytes:?}");
    }
}
