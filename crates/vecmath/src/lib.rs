//! Vector math for tasb, free of any Postgres dependency so it is testable with `cargo test`.
//!
//! - [`text`]: the pgvector-compatible text form (`[1,2.5,-3e-2]`), parsing with positions in errors.
//! - [`binary`]: the pgvector-compatible binary form used by COPY BINARY and drivers.
//! - [`distance`]: dot product, cosine and Euclidean distance over f32 and f16, with run-time
//!   SIMD dispatch (AVX-512, AVX2+FMA, NEON) and a scalar fallback.
//! - [`half_conv`]: checked f32 <-> f16 conversion.

pub mod binary;
mod decimal;
pub mod distance;
pub mod half_conv;
mod kernels;
pub mod text;

/// Largest number of dimensions a vector may have (as pgvector's `vector`).
pub const MAX_DIM: usize = 16_000;

pub use half::f16;
pub use kernels::{active_kernel_name, Kernel};

/// Why a vector's elements were rejected, independent of how they arrived (text, binary, array).
#[derive(Debug, Clone, PartialEq)]
pub enum ElementError {
    /// No elements at all.
    Empty,
    /// More than [`MAX_DIM`] elements.
    TooManyDimensions { dims: usize },
    /// NaN or an infinity at this 0-based index.
    NotFinite { index: usize },
    /// The value does not fit the storage type at this 0-based index; `max_text` is the type's limit.
    OutOfRange {
        index: usize,
        value: f64,
        max_text: &'static str,
    },
}

impl std::fmt::Display for ElementError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ElementError::Empty => write!(f, "a vector must have at least 1 dimension"),
            ElementError::TooManyDimensions { dims } => {
                write!(
                    f,
                    "a vector can have at most {MAX_DIM} dimensions, not {dims}"
                )
            }
            ElementError::NotFinite { index } => {
                write!(
                    f,
                    "NaN and infinity are not allowed in a vector (element {})",
                    index + 1
                )
            }
            ElementError::OutOfRange {
                index,
                value,
                max_text,
                ..
            } => write!(
                f,
                "value {value:e} at element {} is out of range (largest magnitude {max_text})",
                index + 1
            ),
        }
    }
}

/// Checks the dimension count and that every element is finite.
pub fn check_elements(values: &[f32]) -> Result<(), ElementError> {
    check_dims(values.len())?;
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(ElementError::NotFinite { index }),
        None => Ok(()),
    }
}

/// Checks only the dimension count.
pub fn check_dims(dims: usize) -> Result<(), ElementError> {
    if dims == 0 {
        Err(ElementError::Empty)
    } else if dims > MAX_DIM {
        Err(ElementError::TooManyDimensions { dims })
    } else {
        Ok(())
    }
}
