//! From the model's last hidden state `[batch, tokens, dims]` to one vector per text.

use crate::model_dir::Pooling;

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
    debug_assert_eq!(hidden.len(), batch * seq * dims);
    debug_assert_eq!(mask.len(), batch * seq);
    (0..batch)
        .map(|b| {
            let tokens = &hidden[b * seq * dims..(b + 1) * seq * dims];
            let mut v = match pooling {
                Pooling::Cls => tokens[..dims].to_vec(),
                Pooling::Mean => mean(tokens, &mask[b * seq..(b + 1) * seq], dims),
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
    for (t, &m) in mask.iter().enumerate() {
        if m != 0 {
            count += 1;
            for (s, &x) in sum.iter_mut().zip(&tokens[t * dims..(t + 1) * dims]) {
                *s += f64::from(x);
            }
        }
    }
    // sentence-transformers clamps the count to at least 1e-9; an all-padding text gives zeros.
    let denominator = (count as f64).max(1e-9);
    sum.iter().map(|s| (s / denominator) as f32).collect()
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
}
