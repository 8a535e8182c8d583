//! `.safetensors` checkpoints: many named tensors behind one JSON header.

use std::path::Path;

use ::safetensors::{Dtype, SafeTensors};

use super::{TensorInfo, ToF32, Weights, WeightsError, checked_len, decode, file_weights, invalid};

/// Every tensor in the header, sorted by name.
pub(super) fn list(path: &Path, buf: &[u8]) -> Result<Vec<TensorInfo>, WeightsError> {
    let (_, metadata) = SafeTensors::read_metadata(buf).map_err(|e| invalid(path, "safetensors", e.to_string()))?;
    let mut infos: Vec<TensorInfo> = metadata
        .tensors()
        .into_iter()
        .map(|(name, info)| TensorInfo { name, shape: info.shape.clone(), dtype: dtype_name(info.dtype) })
        .collect();
    infos.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(infos)
}

pub(super) fn load(path: &Path, buf: &[u8], tensor: Option<&str>) -> Result<Weights, WeightsError> {
    let shown = path.display().to_string();
    let file = SafeTensors::deserialize(buf).map_err(|e| invalid(path, "safetensors", e.to_string()))?;
    let mut names: Vec<String> = file.names().into_iter().map(str::to_string).collect();
    names.sort();

    let name = match tensor {
        Some(name) => name.to_string(),
        None => match names.as_slice() {
            [] => return Err(WeightsError::NoTensors { path: shown }),
            [only] => only.clone(),
            _ => {
                return Err(WeightsError::TensorRequired { path: shown, available: names });
            }
        },
    };
    let view = match file.tensor(&name) {
        Ok(view) => view,
        Err(_) if names.is_empty() => return Err(WeightsError::NoTensors { path: shown }),
        Err(_) => {
            return Err(WeightsError::TensorNotFound { path: shown, name, available: names });
        }
    };

    if !matches!(view.dtype(), Dtype::F32 | Dtype::F64 | Dtype::F16 | Dtype::BF16 | Dtype::F8_E4M3 | Dtype::F8_E5M2) {
        return Err(WeightsError::NotFloat { path: shown, name, dtype: dtype_name(view.dtype()) });
    }
    let shape = view.shape().to_vec();
    checked_len(path, &shape)?;
    let data = view.data();
    let values = match view.dtype() {
        Dtype::F32 => decode(data, f32::from_le_bytes),
        Dtype::F64 => decode(data, |c| f64::from_le_bytes(c) as f32),
        Dtype::F16 => decode(data, |c| half::f16::from_le_bytes(c).to_f32()),
        Dtype::BF16 => decode(data, |c| half::bf16::from_le_bytes(c).to_f32()),
        Dtype::F8_E4M3 => decode(data, |[c]| fp8_to_f32(c, Fp8::E4M3)),
        Dtype::F8_E5M2 => decode(data, |[c]| fp8_to_f32(c, Fp8::E5M2)),
        Dtype::I8 => decode(data, |c| i8::from_le_bytes(c).to_f32()),
        Dtype::U8 => decode(data, |c| u8::from_le_bytes(c).to_f32()),
        Dtype::I16 => decode(data, |c| i16::from_le_bytes(c).to_f32()),
        Dtype::U16 => decode(data, |c| u16::from_le_bytes(c).to_f32()),
        Dtype::I32 => decode(data, |c| i32::from_le_bytes(c).to_f32()),
        Dtype::U32 => decode(data, |c| u32::from_le_bytes(c).to_f32()),
        Dtype::I64 => decode(data, |c| i64::from_le_bytes(c).to_f32()),
        Dtype::U64 => decode(data, |c| u64::from_le_bytes(c).to_f32()),
        other => {
            return Err(WeightsError::UnsupportedDtype { path: shown, dtype: dtype_name(other) });
        }
    };
    let dtype = dtype_name(view.dtype());
    Ok(file_weights(path, values, shape, dtype, Some(name)))
}
/// The two FP8 dtypes of safetensors (`torch.float8_e4m3fn`, `torch.float8_e5m2`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Fp8 {
    E4M3,
    E5M2,
}

/// One FP8 code as f32. E4M3FN has no infinities and one NaN per sign
/// (`S.1111.111`); E5M2 is IEEE-like, with Inf and NaN at exponent 31.
pub(super) fn fp8_to_f32(code: u8, kind: Fp8) -> f32 {
    let (mantissa_bits, bias) = match kind {
        Fp8::E4M3 => (3, 7),
        Fp8::E5M2 => (2, 15),
    };
    let sign = if code & 0x80 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((code & 0x7f) >> mantissa_bits);
    let mantissa = f32::from(code & ((1 << mantissa_bits) - 1));
    let top = (1 << (7 - mantissa_bits)) - 1;
    match kind {
        Fp8::E4M3 if exponent == top && mantissa == 7.0 => return f32::NAN,
        Fp8::E5M2 if exponent == top => return if mantissa == 0.0 { sign * f32::INFINITY } else { f32::NAN },
        _ => {}
    }
    let scale = (1u32 << mantissa_bits) as f32;
    let magnitude = if exponent == 0 {
        mantissa / scale * 2f32.powi(1 - bias)
    } else {
        (1.0 + mantissa / scale) * 2f32.powi(exponent - bias)
    };
    sign * magnitude
}

fn dtype_name(dtype: Dtype) -> String {
    dtype.to_string().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::formats::minifloat::{E4M3, E5M2, Minifloat, Ties};

    #[test]
    fn fp8_codes_decode_to_their_known_values() {
        // S.EEEE.MMM: max normal, min normal, min subnormal, one, NaN.
        assert_eq!(fp8_to_f32(0x7e, Fp8::E4M3), 448.0);
        assert_eq!(fp8_to_f32(0x08, Fp8::E4M3), 2f32.powi(-6));
        assert_eq!(fp8_to_f32(0x01, Fp8::E4M3), 2f32.powi(-9));
        assert_eq!(fp8_to_f32(0x38, Fp8::E4M3), 1.0);
        assert_eq!(fp8_to_f32(0xb8, Fp8::E4M3), -1.0);
        assert!(fp8_to_f32(0x7f, Fp8::E4M3).is_nan() && fp8_to_f32(0xff, Fp8::E4M3).is_nan());
        // S.EEEEE.MM: max normal, min subnormal, one, Inf, NaN.
        assert_eq!(fp8_to_f32(0x7b, Fp8::E5M2), 57344.0);
        assert_eq!(fp8_to_f32(0x01, Fp8::E5M2), 2f32.powi(-16));
        assert_eq!(fp8_to_f32(0x3c, Fp8::E5M2), 1.0);
        assert_eq!(fp8_to_f32(0xfc, Fp8::E5M2), f32::NEG_INFINITY);
        assert!(fp8_to_f32(0x7d, Fp8::E5M2).is_nan());
    }

    /// Every finite code decodes to the value the fp8 cast (checked against
    /// `ml_dtypes` in scripts/crosscheck_formats.py) maps back to that code.
    #[test]
    fn every_finite_fp8_code_round_trips_through_the_cast() {
        let kinds: [(Fp8, Minifloat); 2] = [(Fp8::E4M3, E4M3), (Fp8::E5M2, E5M2)];
        for (kind, format) in kinds {
            for code in 0..=255u8 {
                let x = fp8_to_f32(code, kind);
                if !x.is_finite() {
                    continue;
                }
                let back = format.cast(x, Ties::Even);
                assert_eq!(back.value.to_bits(), x.to_bits(), "{kind:?} code {code:#04x}");
                assert_eq!(back.code, u16::from(code), "{kind:?} code {code:#04x}");
            }
        }
    }
}
