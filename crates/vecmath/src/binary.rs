//! The binary form, identical to pgvector's so drivers that speak it work unchanged:
//! int16 dimensions, int16 reserved (must be 0), then each element big-endian
//! (float4 for `tasbvec`, the raw fp16 bits for `tasbhalf`).

use crate::{check_dims, f16, ElementError};

#[derive(Debug, Clone, PartialEq)]
pub enum BinaryError {
    /// Fewer than the 4 header bytes.
    ShortHeader {
        len: usize,
    },
    /// The reserved field is not 0: written by a newer format, or not a vector at all.
    Reserved {
        value: u16,
    },
    /// The byte count does not match the dimension count in the header.
    Length {
        dims: usize,
        expected: usize,
        actual: usize,
    },
    Element(ElementError),
}

impl std::fmt::Display for BinaryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BinaryError::ShortHeader { len } => write!(f, "binary vector header needs 4 bytes, got {len}"),
            BinaryError::Reserved { value } => write!(f, "binary vector reserved field must be 0, not {value}"),
            BinaryError::Length { dims, expected, actual } => write!(
                f,
                "binary vector of {dims} dimensions needs {expected} bytes of elements, got {actual}"
            ),
            BinaryError::Element(e) => e.fmt(f),
        }
    }
}

fn split_header(bytes: &[u8], element_size: usize) -> Result<(usize, &[u8]), BinaryError> {
    if bytes.len() < 4 {
        return Err(BinaryError::ShortHeader { len: bytes.len() });
    }
    let dims = u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
    let reserved = u16::from_be_bytes([bytes[2], bytes[3]]);
    if reserved != 0 {
        return Err(BinaryError::Reserved { value: reserved });
    }
    check_dims(dims).map_err(BinaryError::Element)?;
    let body = &bytes[4..];
    let expected = dims * element_size;
    if body.len() != expected {
        return Err(BinaryError::Length {
            dims,
            expected,
            actual: body.len(),
        });
    }
    Ok((dims, body))
}

fn header(dims: usize, element_size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + dims * element_size);
    out.extend_from_slice(&(dims as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out
}

pub fn decode_f32(bytes: &[u8]) -> Result<Vec<f32>, BinaryError> {
    let (_, body) = split_header(bytes, 4)?;
    let values: Vec<f32> = body
        .chunks_exact(4)
        .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    crate::check_elements(&values).map_err(BinaryError::Element)?;
    Ok(values)
}

pub fn encode_f32(values: &[f32]) -> Vec<u8> {
    let mut out = header(values.len(), 4);
    for v in values {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

pub fn decode_f16(bytes: &[u8]) -> Result<Vec<f16>, BinaryError> {
    let (_, body) = split_header(bytes, 2)?;
    let values: Vec<f16> = body
        .chunks_exact(2)
        .map(|c| f16::from_bits(u16::from_be_bytes([c[0], c[1]])))
        .collect();
    if let Some(index) = values.iter().position(|h| !h.is_finite()) {
        return Err(BinaryError::Element(ElementError::NotFinite { index }));
    }
    Ok(values)
}

pub fn encode_f16(values: &[f16]) -> Vec<u8> {
    let mut out = header(values.len(), 2);
    for v in values {
        out.extend_from_slice(&v.to_bits().to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_pgvector_layout() {
        assert_eq!(
            encode_f32(&[1.0, -2.0]),
            vec![0, 2, 0, 0, 0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0]
        );
        assert_eq!(encode_f16(&[f16::from_f32(1.0)]), vec![0, 1, 0, 0, 0x3c, 0]);
    }

    #[test]
    fn round_trips() {
        let v = vec![1.5f32, -3.25e-7, 1e30];
        assert_eq!(decode_f32(&encode_f32(&v)).unwrap(), v);
        let h = vec![f16::from_f32(0.5), f16::from_f32(-65504.0)];
        assert_eq!(decode_f16(&encode_f16(&h)).unwrap(), h);
    }

    #[test]
    fn rejects_bad_headers_and_lengths() {
        assert_eq!(
            decode_f32(&[0, 1]),
            Err(BinaryError::ShortHeader { len: 2 })
        );
        assert_eq!(
            decode_f32(&[0, 1, 0, 7, 0, 0, 0, 0]),
            Err(BinaryError::Reserved { value: 7 })
        );
        assert_eq!(
            decode_f32(&[0, 2, 0, 0, 0, 0, 0, 0]),
            Err(BinaryError::Length {
                dims: 2,
                expected: 8,
                actual: 4
            })
        );
        assert_eq!(
            decode_f32(&[0, 0, 0, 0]),
            Err(BinaryError::Element(ElementError::Empty))
        );
        let nan = encode_f32(&[f32::NAN]);
        assert_eq!(
            decode_f32(&nan),
            Err(BinaryError::Element(ElementError::NotFinite { index: 0 }))
        );
        let inf = encode_f16(&[f16::INFINITY]);
        assert!(decode_f16(&inf).is_err());
    }
}
