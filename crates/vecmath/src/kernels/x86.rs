//! AVX2+FMA and AVX-512F kernels.
//!
//! The safe wrappers below call `#[target_feature]` functions. That is sound only on CPUs with
//! those features, so the `Kernels` constants here are handed out exclusively by
//! `super::available()`, after `is_x86_feature_detected!` confirmed the features.

use super::{Kernel, Kernels};
use half::f16;
use std::arch::x86_64::*;

pub(super) const AVX2_FMA: Kernels = Kernels {
    kernel: Kernel::Avx2Fma,
    dot: |a, b| unsafe { avx2_dot(a, b) },
    squared_l2: |a, b| unsafe { avx2_squared_l2(a, b) },
    dot_and_norms: |a, b| unsafe { avx2_dot_and_norms(a, b) },
    widen_f16: |src, dst| unsafe { f16c_widen(src, dst) },
    dot_f16: |a, b| unsafe { f16c_dot_f16(a, b) },
    dot_f16_f32: |a, b| unsafe { f16c_dot_f16_f32(a, b) },
};

pub(super) const AVX512: Kernels = Kernels {
    kernel: Kernel::Avx512,
    dot: |a, b| unsafe { avx512_dot(a, b) },
    squared_l2: |a, b| unsafe { avx512_squared_l2(a, b) },
    dot_and_norms: |a, b| unsafe { avx512_dot_and_norms(a, b) },
    widen_f16: |src, dst| unsafe { avx512_widen(src, dst) },
    dot_f16: |a, b| unsafe { f16c_dot_f16(a, b) },
    dot_f16_f32: |a, b| unsafe { f16c_dot_f16_f32(a, b) },
};

#[target_feature(enable = "avx2")]
fn hsum256(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps::<1>(v);
    let s = _mm_add_ps(lo, hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
    _mm_cvtss_f32(s)
}

/// # Safety
/// The CPU must support AVX2 and FMA. Reads stay within `min(a.len(), b.len())`.
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY (all loads): i + width <= n, so every load is inside both slices.
    while i + 32 <= n {
        for (k, acc_k) in acc.iter_mut().enumerate() {
            let x = unsafe { _mm256_loadu_ps(pa.add(i + 8 * k)) };
            let y = unsafe { _mm256_loadu_ps(pb.add(i + 8 * k)) };
            *acc_k = _mm256_fmadd_ps(x, y, *acc_k);
        }
        i += 32;
    }
    while i + 8 <= n {
        let x = unsafe { _mm256_loadu_ps(pa.add(i)) };
        let y = unsafe { _mm256_loadu_ps(pb.add(i)) };
        acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
        i += 8;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut total = hsum256(sum);
    while i < n {
        total += a[i] * b[i];
        i += 1;
    }
    total
}

/// # Safety
/// The CPU must support AVX2 and FMA. Reads stay within `min(a.len(), b.len())`.
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_squared_l2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY (all loads): i + width <= n.
    while i + 32 <= n {
        for (k, acc_k) in acc.iter_mut().enumerate() {
            let x = unsafe { _mm256_loadu_ps(pa.add(i + 8 * k)) };
            let y = unsafe { _mm256_loadu_ps(pb.add(i + 8 * k)) };
            let d = _mm256_sub_ps(x, y);
            *acc_k = _mm256_fmadd_ps(d, d, *acc_k);
        }
        i += 32;
    }
    while i + 8 <= n {
        let x = unsafe { _mm256_loadu_ps(pa.add(i)) };
        let y = unsafe { _mm256_loadu_ps(pb.add(i)) };
        let d = _mm256_sub_ps(x, y);
        acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
        i += 8;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut total = hsum256(sum);
    while i < n {
        let d = a[i] - b[i];
        total += d * d;
        i += 1;
    }
    total
}

/// # Safety
/// The CPU must support AVX2 and FMA. Reads stay within `min(a.len(), b.len())`.
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_dot_and_norms(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut ab, mut aa, mut bb) = (
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
    );
    let mut i = 0;
    // SAFETY (all loads): i + 8 <= n.
    while i + 8 <= n {
        let x = unsafe { _mm256_loadu_ps(pa.add(i)) };
        let y = unsafe { _mm256_loadu_ps(pb.add(i)) };
        ab = _mm256_fmadd_ps(x, y, ab);
        aa = _mm256_fmadd_ps(x, x, aa);
        bb = _mm256_fmadd_ps(y, y, bb);
        i += 8;
    }
    let (mut sab, mut saa, mut sbb) = (hsum256(ab), hsum256(aa), hsum256(bb));
    while i < n {
        sab += a[i] * b[i];
        saa += a[i] * a[i];
        sbb += b[i] * b[i];
        i += 1;
    }
    (sab, saa, sbb)
}

/// Mask selecting the first `rest` (< 16) lanes.
#[inline]
fn tail_mask(rest: usize) -> __mmask16 {
    ((1u32 << rest) - 1) as __mmask16
}

/// # Safety
/// The CPU must support AVX-512F. Full loads stay within `n`; the tail uses masked loads, which
/// do not touch memory in masked-off lanes.
#[target_feature(enable = "avx512f")]
unsafe fn avx512_dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= n {
        for (k, acc_k) in acc.iter_mut().enumerate() {
            let x = unsafe { _mm512_loadu_ps(pa.add(i + 16 * k)) };
            let y = unsafe { _mm512_loadu_ps(pb.add(i + 16 * k)) };
            *acc_k = _mm512_fmadd_ps(x, y, *acc_k);
        }
        i += 64;
    }
    while i + 16 <= n {
        let x = unsafe { _mm512_loadu_ps(pa.add(i)) };
        let y = unsafe { _mm512_loadu_ps(pb.add(i)) };
        acc[0] = _mm512_fmadd_ps(x, y, acc[0]);
        i += 16;
    }
    if i < n {
        let m = tail_mask(n - i);
        let x = unsafe { _mm512_maskz_loadu_ps(m, pa.add(i)) };
        let y = unsafe { _mm512_maskz_loadu_ps(m, pb.add(i)) };
        acc[1] = _mm512_fmadd_ps(x, y, acc[1]);
    }
    _mm512_reduce_add_ps(_mm512_add_ps(
        _mm512_add_ps(acc[0], acc[1]),
        _mm512_add_ps(acc[2], acc[3]),
    ))
}

/// # Safety
/// As [`avx512_dot`].
#[target_feature(enable = "avx512f")]
unsafe fn avx512_squared_l2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= n {
        for (k, acc_k) in acc.iter_mut().enumerate() {
            let x = unsafe { _mm512_loadu_ps(pa.add(i + 16 * k)) };
            let y = unsafe { _mm512_loadu_ps(pb.add(i + 16 * k)) };
            let d = _mm512_sub_ps(x, y);
            *acc_k = _mm512_fmadd_ps(d, d, *acc_k);
        }
        i += 64;
    }
    while i + 16 <= n {
        let x = unsafe { _mm512_loadu_ps(pa.add(i)) };
        let y = unsafe { _mm512_loadu_ps(pb.add(i)) };
        let d = _mm512_sub_ps(x, y);
        acc[0] = _mm512_fmadd_ps(d, d, acc[0]);
        i += 16;
    }
    if i < n {
        let m = tail_mask(n - i);
        let x = unsafe { _mm512_maskz_loadu_ps(m, pa.add(i)) };
        let y = unsafe { _mm512_maskz_loadu_ps(m, pb.add(i)) };
        let d = _mm512_sub_ps(x, y);
        acc[1] = _mm512_fmadd_ps(d, d, acc[1]);
    }
    _mm512_reduce_add_ps(_mm512_add_ps(
        _mm512_add_ps(acc[0], acc[1]),
        _mm512_add_ps(acc[2], acc[3]),
    ))
}

/// # Safety
/// As [`avx512_dot`].
#[target_feature(enable = "avx512f")]
unsafe fn avx512_dot_and_norms(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut ab, mut aa, mut bb) = (
        _mm512_setzero_ps(),
        _mm512_setzero_ps(),
        _mm512_setzero_ps(),
    );
    let mut i = 0;
    while i < n {
        let m = if i + 16 <= n {
            0xFFFF
        } else {
            tail_mask(n - i)
        };
        let x = unsafe { _mm512_maskz_loadu_ps(m, pa.add(i)) };
        let y = unsafe { _mm512_maskz_loadu_ps(m, pb.add(i)) };
        ab = _mm512_fmadd_ps(x, y, ab);
        aa = _mm512_fmadd_ps(x, x, aa);
        bb = _mm512_fmadd_ps(y, y, bb);
        i += 16;
    }
    (
        _mm512_reduce_add_ps(ab),
        _mm512_reduce_add_ps(aa),
        _mm512_reduce_add_ps(bb),
    )
}

/// # Safety
/// The CPU must support AVX and F16C. Reads and writes stay within `min(src.len(), dst.len())`.
#[target_feature(enable = "avx,f16c")]
unsafe fn f16c_widen(src: &[f16], dst: &mut [f32]) {
    let n = src.len().min(dst.len());
    let (ps, pd) = (src.as_ptr() as *const u16, dst.as_mut_ptr());
    let mut i = 0;
    // SAFETY: i + 8 <= n for every 8-wide load and store.
    while i + 8 <= n {
        unsafe {
            let h = _mm_loadu_si128(ps.add(i) as *const __m128i);
            _mm256_storeu_ps(pd.add(i), _mm256_cvtph_ps(h));
        }
        i += 8;
    }
    while i < n {
        dst[i] = src[i].to_f32();
        i += 1;
    }
}

/// # Safety
/// The CPU must support AVX-512F. Reads and writes stay within `min(src.len(), dst.len())`.
#[target_feature(enable = "avx512f")]
unsafe fn avx512_widen(src: &[f16], dst: &mut [f32]) {
    let n = src.len().min(dst.len());
    let (ps, pd) = (src.as_ptr() as *const u16, dst.as_mut_ptr());
    let mut i = 0;
    // SAFETY: i + 16 <= n for every 16-wide load and store.
    while i + 16 <= n {
        unsafe {
            let h = _mm256_loadu_si256(ps.add(i) as *const __m256i);
            _mm512_storeu_ps(pd.add(i), _mm512_cvtph_ps(h));
        }
        i += 16;
    }
    while i < n {
        dst[i] = src[i].to_f32();
        i += 1;
    }
}

/// Loads 8 halves and widens them.
///
/// # Safety
/// `p` must point to 8 readable u16 values; the CPU must support F16C.
#[inline]
#[target_feature(enable = "avx,f16c")]
unsafe fn load_f16x8(p: *const u16) -> __m256 {
    unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)) }
}

/// # Safety
/// The CPU must support AVX2, FMA and F16C. Loads stay within `min(a.len(), b.len())`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f16c_dot_f16(a: &[f16], b: &[f16]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr() as *const u16, b.as_ptr() as *const u16);
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY (all loads): i + width <= n.
    while i + 32 <= n {
        for (k, acc_k) in acc.iter_mut().enumerate() {
            let x = unsafe { load_f16x8(pa.add(i + 8 * k)) };
            let y = unsafe { load_f16x8(pb.add(i + 8 * k)) };
            *acc_k = _mm256_fmadd_ps(x, y, *acc_k);
        }
        i += 32;
    }
    while i + 8 <= n {
        let x = unsafe { load_f16x8(pa.add(i)) };
        let y = unsafe { load_f16x8(pb.add(i)) };
        acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
        i += 8;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut total = hsum256(sum);
    while i < n {
        total += a[i].to_f32() * b[i].to_f32();
        i += 1;
    }
    total
}

/// # Safety
/// The CPU must support AVX2, FMA and F16C. Loads stay within `min(a.len(), b.len())`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f16c_dot_f16_f32(a: &[f16], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr() as *const u16, b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY (all loads): i + width <= n.
    while i + 32 <= n {
        for (k, acc_k) in acc.iter_mut().enumerate() {
            let x = unsafe { load_f16x8(pa.add(i + 8 * k)) };
            let y = unsafe { _mm256_loadu_ps(pb.add(i + 8 * k)) };
            *acc_k = _mm256_fmadd_ps(x, y, *acc_k);
        }
        i += 32;
    }
    while i + 8 <= n {
        let x = unsafe { load_f16x8(pa.add(i)) };
        let y = unsafe { _mm256_loadu_ps(pb.add(i)) };
        acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
        i += 8;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut total = hsum256(sum);
    while i < n {
        total += a[i].to_f32() * b[i];
        i += 1;
    }
    total
}
