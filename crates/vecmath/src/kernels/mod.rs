//! Inner loops over f32 slices, chosen once per process by CPU feature detection.
//!
//! Every kernel computes the same sums with its own accumulation order, so results differ only
//! by f32 rounding; tests check each available kernel against an f64 reference.

#[cfg(target_arch = "aarch64")]
mod neon;
mod scalar;
#[cfg(test)]
pub(crate) mod tests_rng;
#[cfg(target_arch = "x86_64")]
mod x86;

use half::f16;
use std::sync::OnceLock;

/// The instruction set a kernel uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Scalar,
    Avx2Fma,
    Avx512,
    Neon,
}

/// (a·b, a·a, b·b) of two slices.
pub(crate) type DotAndNorms = fn(&[f32], &[f32]) -> (f32, f32, f32);

/// Sums over two equally long slices (callers guarantee equal length).
#[derive(Clone, Copy)]
pub(crate) struct Kernels {
    pub kernel: Kernel,
    pub dot: fn(&[f32], &[f32]) -> f32,
    pub squared_l2: fn(&[f32], &[f32]) -> f32,
    /// (a·b, a·a, b·b) in one pass, for cosine.
    pub dot_and_norms: DotAndNorms,
    /// Widens f16 to f32 (`dst.len() == src.len()`).
    pub widen_f16: fn(&[f16], &mut [f32]),
    /// a·b for half-precision operands, accumulated in f32 (the hot loop of `tasbhalf <#>`).
    pub dot_f16: fn(&[f16], &[f16]) -> f32,
    /// a·b for a half-precision and a single-precision operand.
    pub dot_f16_f32: fn(&[f16], &[f32]) -> f32,
}

const SCALAR: Kernels = Kernels {
    kernel: Kernel::Scalar,
    dot: scalar::dot,
    squared_l2: scalar::squared_l2,
    dot_and_norms: scalar::dot_and_norms,
    widen_f16: scalar::widen_f16,
    dot_f16: scalar::dot_f16,
    dot_f16_f32: scalar::dot_f16_f32,
};

/// All kernels this CPU can run, best last.
pub(crate) fn available() -> Vec<Kernels> {
    #[allow(unused_mut)]
    let mut kernels = vec![SCALAR];
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c");
        if avx2 {
            kernels.push(x86::AVX2_FMA);
        }
        // The AVX-512 set reuses the F16C half-precision dots, so it needs AVX2 too.
        if avx2 && std::arch::is_x86_feature_detected!("avx512f") {
            kernels.push(x86::AVX512);
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            kernels.push(neon::NEON);
        }
    }
    kernels
}

static ACTIVE: OnceLock<Kernels> = OnceLock::new();

#[inline]
pub(crate) fn active() -> &'static Kernels {
    ACTIVE.get_or_init(|| *available().last().unwrap_or(&SCALAR))
}

/// Which kernel this process uses, for diagnostics (`tasb_simd_kernel()`).
pub fn active_kernel_name() -> &'static str {
    match active().kernel {
        Kernel::Scalar => "scalar",
        Kernel::Avx2Fma => "avx2+fma",
        Kernel::Avx512 => "avx512f",
        Kernel::Neon => "neon",
    }
}

#[cfg(test)]
mod tests {
    use super::tests_rng::XorShift;
    use super::*;

    fn reference(a: &[f32], b: &[f32]) -> (f64, f64, f64, f64) {
        let mut dot = 0.0;
        let mut aa = 0.0;
        let mut bb = 0.0;
        let mut l2 = 0.0;
        for (&x, &y) in a.iter().zip(b) {
            let (x, y) = (f64::from(x), f64::from(y));
            dot += x * y;
            aa += x * x;
            bb += y * y;
            l2 += (x - y) * (x - y);
        }
        (dot, aa, bb, l2)
    }

    /// f32 accumulation error is bounded by about n * eps * sum(|x*y|).
    fn close(got: f32, want: f64, scale: f64, n: usize) -> bool {
        (f64::from(got) - want).abs() <= 2.0 * n as f64 * f64::from(f32::EPSILON) * scale + 1e-30
    }

    #[test]
    fn every_available_kernel_agrees_with_f64_reference() {
        let mut rng = XorShift::new(42);
        let kernels = available();
        assert!(!kernels.is_empty());
        // Lengths around every unroll boundary, and TAS-B's 768.
        let mut lengths: Vec<usize> = (1..=70).collect();
        lengths.extend([127, 128, 129, 255, 256, 257, 768, 769, 1536, 16_000]);
        for &n in &lengths {
            let a: Vec<f32> = (0..n).map(|_| rng.normal_f32() * 3.0).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.normal_f32() * 3.0).collect();
            let (dot, aa, bb, l2) = reference(&a, &b);
            let abs_scale: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(x * y).abs()).sum();
            for k in &kernels {
                let name = format!("{:?} n={n}", k.kernel);
                assert!(close((k.dot)(&a, &b), dot, abs_scale, n), "dot {name}");
                assert!(close((k.squared_l2)(&a, &b), l2, l2, n), "l2 {name}");
                let (d, na, nb) = (k.dot_and_norms)(&a, &b);
                assert!(close(d, dot, abs_scale, n), "dot_and_norms.dot {name}");
                assert!(close(na, aa, aa, n), "dot_and_norms.aa {name}");
                assert!(close(nb, bb, bb, n), "dot_and_norms.bb {name}");
            }
        }
    }

    #[test]
    fn kernels_agree_with_each_other_closely() {
        let mut rng = XorShift::new(3);
        let a: Vec<f32> = (0..768).map(|_| rng.normal_f32()).collect();
        let b: Vec<f32> = (0..768).map(|_| rng.normal_f32()).collect();
        let scalar = (SCALAR.dot)(&a, &b);
        for k in available() {
            let got = (k.dot)(&a, &b);
            assert!(
                (got - scalar).abs() <= 1e-3,
                "{:?}: {got} vs {scalar}",
                k.kernel
            );
        }
    }

    #[test]
    fn every_kernel_computes_half_precision_dots() {
        let mut rng = XorShift::new(9);
        for n in [1usize, 7, 8, 9, 31, 32, 33, 63, 64, 65, 255, 768, 1000] {
            let a: Vec<f16> = (0..n).map(|_| f16::from_f32(rng.normal_f32())).collect();
            let b: Vec<f16> = (0..n).map(|_| f16::from_f32(rng.normal_f32())).collect();
            let c: Vec<f32> = (0..n).map(|_| rng.normal_f32()).collect();
            let wide_a: Vec<f32> = a.iter().map(|h| h.to_f32()).collect();
            let wide_b: Vec<f32> = b.iter().map(|h| h.to_f32()).collect();
            let (want_hh, ..) = reference(&wide_a, &wide_b);
            let (want_hf, ..) = reference(&wide_a, &c);
            let scale_hh: f64 = wide_a
                .iter()
                .zip(&wide_b)
                .map(|(x, y)| f64::from(x * y).abs())
                .sum();
            let scale_hf: f64 = wide_a
                .iter()
                .zip(&c)
                .map(|(x, y)| f64::from(x * y).abs())
                .sum();
            for k in available() {
                assert!(
                    close((k.dot_f16)(&a, &b), want_hh, scale_hh, n),
                    "{:?} n={n}",
                    k.kernel
                );
                assert!(
                    close((k.dot_f16_f32)(&a, &c), want_hf, scale_hf, n),
                    "{:?} n={n}",
                    k.kernel
                );
            }
        }
    }

    #[test]
    fn every_kernel_widens_f16_exactly() {
        let mut rng = XorShift::new(5);
        for n in [1usize, 7, 8, 9, 15, 16, 17, 255, 256, 768] {
            let src: Vec<f16> = (0..n)
                .map(|_| f16::from_f32(rng.normal_f32() * 100.0))
                .collect();
            let want: Vec<f32> = src.iter().map(|h| h.to_f32()).collect();
            for k in available() {
                let mut got = vec![f32::NAN; n];
                (k.widen_f16)(&src, &mut got);
                assert_eq!(got, want, "{:?} n={n}", k.kernel);
            }
        }
    }

    #[test]
    fn exact_on_small_integers() {
        let a: Vec<f32> = (0..1000).map(|i| (i % 7) as f32).collect();
        let b: Vec<f32> = (0..1000).map(|i| (i % 5) as f32 - 2.0).collect();
        let (dot, _, _, l2) = reference(&a, &b);
        for k in available() {
            assert_eq!(f64::from((k.dot)(&a, &b)), dot, "{:?}", k.kernel);
            assert_eq!(f64::from((k.squared_l2)(&a, &b)), l2, "{:?}", k.kernel);
        }
    }
}
