//! `.safetensors` checkpoints: many named tensors behind one JSON header.

use std::path::Path;

use super::{TensorInfo, Weights, WeightsError, checked_len, decode_into, is_float_dtype};
use crate::compute::checkpoint::{self, Checkpoint};

/// The file opened as a one-shard checkpoint: its header read and checked
/// by `checkpoint`'s reader (pread, no memory map), nothing skipped.
fn open(path: &Path) -> Result<Checkpoint, WeightsError> {
    checkpoint::open(path, true).map_err(WeightsError::from_checkpoint)
}

/// Every tensor in the header, sorted by name.
pub(super) fn list(path: &Path) -> Result<Vec<TensorInfo>, WeightsError> {
    let ck = open(path)?;
    let mut infos: Vec<TensorInfo> =
        ck.tensors.into_iter().map(|t| TensorInfo { name: t.name, shape: t.shape, dtype: t.dtype }).collect();
    infos.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(infos)
}

/// One tensor: only the header and that tensor's bytes are read.
pub(super) fn load(path: &Path, tensor: Option<&str>) -> Result<Weights, WeightsError> {
    let shown = path.display().to_string();
    let ck = open(path)?;
    let mut names: Vec<String> = ck.tensors.iter().map(|t| t.name.clone()).collect();
    names.sort();
    let name = match (tensor, names.as_slice()) {
        (_, []) => return Err(WeightsError::NoTensors { path: shown }),
        (Some(name), _) => name.to_string(),
        (None, [only]) => only.clone(),
        (None, _) => return Err(WeightsError::TensorRequired { path: shown, available: names }),
    };
    let Some(entry) = ck.tensors.iter().find(|t| t.name == name) else {
        return Err(WeightsError::TensorNotFound { path: shown, name, available: names });
    };
    ck.load(entry).map_err(WeightsError::from_checkpoint)
}

/// How many values tensor `name` holds, once its dtype is one decoded
/// and its `bytes` are the size of its `shape`: what must hold before its
/// bytes are decoded (or read straight into f32s).
pub(super) fn check_tensor(
    path: &Path,
    name: &str,
    dtype: &str,
    shape: &[usize],
    bytes: usize,
) -> Result<usize, WeightsError> {
    let shown = path.display().to_string();
    let Some(size) = float_bytes(dtype) else {
        let not_float = dtype == "bool" || dtype.starts_with('i') || dtype.starts_with('u');
        return Err(if not_float {
            WeightsError::NotFloat { path: shown, name: name.to_string(), dtype: dtype.to_string() }
        } else {
            WeightsError::UnsupportedDtype { path: shown, dtype: dtype.to_string() }
        });
    };
    let n = checked_len(path, shape)?;
    if bytes / size != n {
        let reason = format!("tensor {name} has {bytes} bytes, not the size of its shape {shape:?}");
        return Err(WeightsError::InvalidFile { path: shown, format: "safetensors", reason });
    }
    Ok(n)
}

/// The bytes of one value of a float dtype `decode_values` reads, None for any other.
fn float_bytes(dtype: &str) -> Option<usize> {
    let size = match dtype {
        "f64" => 8,
        "f32" => 4,
        "f16" | "bf16" => 2,
        _ => 1,
    };
    is_float_dtype(dtype).then_some(size)
}

/// The values of `data` (`out.len()` of them, of a dtype `check_tensor` accepted) as f32.
pub(super) fn decode_values(dtype: &str, data: &[u8], out: &mut [f32]) {
    match dtype {
        "f32" => decode_into(data, out, f32::from_le_bytes),
        "f64" => decode_into(data, out, |c| f64::from_le_bytes(c) as f32),
        "f16" => decode_into(data, out, |c| half::f16::from_le_bytes(c).to_f32()),
        "bf16" => decode_into(data, out, |c| half::bf16::from_le_bytes(c).to_f32()),
        "f8_e4m3" => decode_into(data, out, |[c]| fp8_to_f32(c, Fp8::E4M3)),
        // f8_e5m2, the last dtype `is_float_dtype` admits.
        _ => decode_into(data, out, |[c]| fp8_to_f32(c, Fp8::E5M2)),
    }
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
