//! Checked conversion between f32 and IEEE fp16.

use crate::{f16, ElementError};

/// Converts to f16, rejecting values that would overflow to infinity (|v| > 65504 after rounding).
/// Values below f16's smallest subnormal round to zero, as pgvector's halfvec does.
pub fn f32_to_f16_checked(values: &[f32]) -> Result<Vec<f16>, ElementError> {
    // f32 -> f64 is exact, so rounding once from f64 gives the same f16 as rounding from f32.
    narrow(values.iter().map(|&v| f64::from(v)))
}

/// Same as [`f32_to_f16_checked`] for f64 input (`double precision[]`).
pub fn f64_to_f16_checked(values: &[f64]) -> Result<Vec<f16>, ElementError> {
    narrow(values.iter().copied())
}

fn narrow(values: impl Iterator<Item = f64>) -> Result<Vec<f16>, ElementError> {
    values
        .enumerate()
        .map(|(index, v)| {
            if !v.is_finite() {
                return Err(ElementError::NotFinite { index });
            }
            let h = f16::from_f32(round_to_odd(v));
            if h.is_infinite() {
                Err(ElementError::OutOfRange {
                    index,
                    value: v,
                    max_text: "65504",
                })
            } else {
                Ok(h)
            }
        })
        .collect()
}

/// `v` in f32, rounded toward zero with the last bit set when inexact ("round to odd"). Rounding
/// that to f16 (11 significant bits to f32's 24) gives the correctly rounded f16 of `v`; rounding
/// to the nearest f32 first (as `f16::from_f64` does with F16C) turns a value just past a tie
/// between two f16 into the tie itself, e.g. 1 + 2^-11 + 2^-40 became 1 instead of 1 + 2^-10.
fn round_to_odd(v: f64) -> f32 {
    let nearest = v as f32;
    if f64::from(nearest) == v || nearest.is_infinite() {
        return nearest;
    }
    let toward_zero = if f64::from(nearest).abs() > v.abs() {
        nearest.to_bits() - 1
    } else {
        nearest.to_bits()
    };
    f32::from_bits(toward_zero | 1)
}

/// Widens to f32 (exact).
pub fn f16_to_f32(values: &[f16]) -> Vec<f32> {
    values.iter().map(|h| h.to_f32()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_representable_values() {
        let v = [0.0f32, 1.0, -2.5, 65504.0, -65504.0, 0.000061035156];
        let h = f32_to_f16_checked(&v).unwrap();
        assert_eq!(f16_to_f32(&h), v.to_vec());
    }

    #[test]
    fn rejects_overflow_and_non_finite() {
        assert_eq!(
            f32_to_f16_checked(&[1.0, 70000.0]),
            Err(ElementError::OutOfRange {
                index: 1,
                value: 70000.0,
                max_text: "65504"
            })
        );
        assert_eq!(
            f32_to_f16_checked(&[f32::NAN]),
            Err(ElementError::NotFinite { index: 0 })
        );
        assert!(f64_to_f16_checked(&[1e300]).is_err());
    }

    #[test]
    fn tiny_values_round_to_zero() {
        assert_eq!(f32_to_f16_checked(&[1e-10]).unwrap()[0].to_f32(), 0.0);
    }
}
