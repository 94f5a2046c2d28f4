//! NEON kernels for aarch64 (NEON is mandatory there; detection is kept for uniformity).

use super::{Kernel, Kernels};
use std::arch::aarch64::*;

pub(super) const NEON: Kernels = Kernels {
    kernel: Kernel::Neon,
    dot: |a, b| unsafe { neon_dot(a, b) },
    squared_l2: |a, b| unsafe { neon_squared_l2(a, b) },
    dot_and_norms: super::scalar::dot_and_norms,
    widen_f16: super::scalar::widen_f16,
    dot_f16: super::scalar::dot_f16,
    dot_f16_f32: super::scalar::dot_f16_f32,
};

/// # Safety
/// NEON must be present (always on aarch64). Loads stay within `min(a.len(), b.len())`.
#[target_feature(enable = "neon")]
unsafe fn neon_dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    while i + 16 <= n {
        for (k, acc_k) in acc.iter_mut().enumerate() {
            let x = unsafe { vld1q_f32(pa.add(i + 4 * k)) };
            let y = unsafe { vld1q_f32(pb.add(i + 4 * k)) };
            *acc_k = vfmaq_f32(*acc_k, x, y);
        }
        i += 16;
    }
    let mut total = vaddvq_f32(vaddq_f32(
        vaddq_f32(acc[0], acc[1]),
        vaddq_f32(acc[2], acc[3]),
    ));
    while i < n {
        total += a[i] * b[i];
        i += 1;
    }
    total
}

/// # Safety
/// As [`neon_dot`].
#[target_feature(enable = "neon")]
unsafe fn neon_squared_l2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    while i + 16 <= n {
        for (k, acc_k) in acc.iter_mut().enumerate() {
            let x = unsafe { vld1q_f32(pa.add(i + 4 * k)) };
            let y = unsafe { vld1q_f32(pb.add(i + 4 * k)) };
            let d = vsubq_f32(x, y);
            *acc_k = vfmaq_f32(*acc_k, d, d);
        }
        i += 16;
    }
    let mut total = vaddvq_f32(vaddq_f32(
        vaddq_f32(acc[0], acc[1]),
        vaddq_f32(acc[2], acc[3]),
    ));
    while i < n {
        let d = a[i] - b[i];
        total += d * d;
        i += 1;
    }
    total
}
