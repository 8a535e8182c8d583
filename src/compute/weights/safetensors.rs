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

    if !matches!(view.dtype(), Dtype::F32 | Dtype::F64 | Dtype::F16 | Dtype::BF16) {
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
fn dtype_name(dtype: Dtype) -> String {
    dtype.to_string().to_ascii_lowercase()
}
