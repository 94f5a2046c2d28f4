//! From the model's last hidden state `[batch, tokens, dims]` to one vector per text.

use crate::model_dir::Pooling;
use crate::EncoderError;

/// Pools each text's token vectors. `hidden` is row-major `[batch][seq][dims]`, `mask` is
/// `[batch][seq]` with 1 for real tokens and 0 for padding.
pub fn pool(
    hidden: &[f32],
    mask: &[i64],
    batch: usize,
    seq: usize,
    dims: usize,
    pooling: Pooling,
    normalize: bool,
) -> Vec<Vec<f32>> {
    (0..batch)
        .map(|b| {
            // Out-of-range rows (sizes the caller did not check) give zeros, never a panic.
            let tokens = hidden
                .get(b * seq * dims..(b + 1) * seq * dims)
                .unwrap_or(&[]);
            let text_mask = mask.get(b * seq..(b + 1) * seq).unwrap_or(&[]);
            let mut v = match pooling {
                Pooling::Cls => match tokens.get(..dims) {
                    Some(first) => first.to_vec(),
                    None => vec![0.0; dims],
                },
                Pooling::Mean => mean(tokens, text_mask, dims),
            };
            if normalize {
                l2_normalize(&mut v);
            }
            v
        })
        .collect()
}

/// Mean over the tokens the mask keeps, accumulated in f64 as sentence-transformers does in f32
/// (the difference is below f32 resolution for real lengths).
fn mean(tokens: &[f32], mask: &[i64], dims: usize) -> Vec<f32> {
    let mut sum = vec![0f64; dims];
    let mut count = 0usize;
    for (token, &m) in tokens.chunks_exact(dims.max(1)).zip(mask) {
        if m != 0 {
            count += 1;
            for (s, &x) in sum.iter_mut().zip(token) {
                *s += f64::from(x);
            }
        }
    }
    // sentence-transformers clamps the count to at least 1e-9; an all-padding text gives zeros.
    let denominator = (count as f64).max(1e-9);
    sum.iter().map(|s| (s / denominator) as f32).collect()
}

/// Fails when a vector holds NaN or an infinity (an fp16 model that overflowed, broken weights):
/// such a vector would poison every score and index it reaches, so it never leaves the encoder.
pub fn check_finite(vectors: &[Vec<f32>]) -> Result<(), EncoderError> {
    for (text, v) in vectors.iter().enumerate() {
        if let Some((dim, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(EncoderError::new(format!(
                "the model returned {x} (dimension {dim} of text {} in its batch) instead of a finite number",
                text + 1
            ))
            .with_hint("fp16 models can overflow on some inputs: use the model's fp32 or int8 export (scripts/export_model.py writes both), or check its weights."));
        }
    }
    Ok(())
}

/// Scales to unit length; a zero vector stays zero (as torch.nn.functional.normalize).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt()
        .max(1e-12);
    for x in v.iter_mut() {
        *x = (f64::from(*x) / norm) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two texts, three token slots, two dims; the second text has one padding slot.
    const HIDDEN: [f32; 12] = [
        1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 10.0, 20.0, 30.0, 40.0, 99.0, 99.0,
    ];
    const MASK: [i64; 6] = [1, 1, 1, 1, 1, 0];

    #[test]
    fn cls_takes_the_first_token() {
        let v = pool(&HIDDEN, &MASK, 2, 3, 2, Pooling::Cls, false);
        assert_eq!(v, vec![vec![1.0, 2.0], vec![10.0, 20.0]]);
    }

    #[test]
    fn mean_skips_padding() {
        let v = pool(&HIDDEN, &MASK, 2, 3, 2, Pooling::Mean, false);
        assert_eq!(v, vec![vec![3.0, 4.0], vec![20.0, 30.0]]);
    }

    #[test]
    fn normalisation_gives_unit_length_and_keeps_zero() {
        let v = pool(&HIDDEN, &MASK, 2, 3, 2, Pooling::Cls, true);
        for x in &v {
            let n: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
            assert!((n - 1.0).abs() < 1e-6);
        }
        let mut zero = vec![0.0f32; 3];
        l2_normalize(&mut zero);
        assert_eq!(zero, vec![0.0; 3]);
    }

    #[test]
    fn nan_and_infinity_are_errors() {
        assert!(check_finite(&[vec![1.0, -2.0], vec![f32::MAX, f32::MIN_POSITIVE]]).is_ok());
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let e = check_finite(&[vec![1.0, 2.0], vec![3.0, bad]]).unwrap_err();
            assert!(
                e.message.contains("dimension 1 of text 2") && e.hint.is_some(),
                "{e}"
            );
        }
        // Pooling passes them through, normalisation included; the check catches them after.
        let hidden = [f32::INFINITY, 1.0, 2.0, 3.0];
        for normalize in [false, true] {
            let v = pool(&hidden, &[1, 1], 1, 2, 2, Pooling::Mean, normalize);
            assert!(check_finite(&v).is_err(), "{v:?}");
        }
    }

    #[test]
    fn sizes_that_do_not_match_give_zeros_not_a_panic() {
        let v = pool(&[1.0, 2.0], &[1], 2, 1, 2, Pooling::Cls, false);
        assert_eq!(v, vec![vec![1.0, 2.0], vec![0.0, 0.0]]);
        let v = pool(&[], &[], 1, 0, 3, Pooling::Cls, false);
        assert_eq!(v, vec![vec![0.0; 3]]);
        let v = pool(&[1.0], &[1, 1], 1, 2, 2, Pooling::Mean, false);
        assert_eq!(v, vec![vec![0.0; 2]]);
    }
}
