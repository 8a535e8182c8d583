//! `.npy` files: the header, the dtype descriptor and the data in either order.

use std::path::Path;

use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};
use ndarray_npy::{ReadNpyExt, ReadableElement, ViewElement, ViewNpyError, ViewNpyExt};

use super::py_literal::{Lit, LiteralError, PyParser};
use super::{TensorInfo, ToF32, Weights, WeightsError, checked_len, decode, file_weights, invalid};

/// The one tensor of a `.npy` file, named after the file.
pub(super) fn list(path: &Path, buf: &[u8]) -> Result<Vec<TensorInfo>, WeightsError> {
    let header = NpyHeader::parse(buf).map_err(|e| invalid(path, "npy", e.to_string()))?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(vec![TensorInfo { name, shape: header.shape, dtype: header.dtype.name() }])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elem {
    F16,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
}

impl Elem {
    fn size(self) -> usize {
        match self {
            Elem::I8 | Elem::U8 => 1,
            Elem::F16 | Elem::I16 | Elem::U16 => 2,
            Elem::F32 | Elem::I32 | Elem::U32 => 4,
            Elem::F64 | Elem::I64 | Elem::U64 => 8,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Elem::F16 => "f16",
            Elem::F32 => "f32",
            Elem::F64 => "f64",
            Elem::I8 => "i8",
            Elem::I16 => "i16",
            Elem::I32 => "i32",
            Elem::I64 => "i64",
            Elem::U8 => "u8",
            Elem::U16 => "u16",
            Elem::U32 => "u32",
            Elem::U64 => "u64",
        }
    }
}

/// An `.npy` dtype: either one we can load, or the name to put in the error.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NpyDtype {
    Supported { elem: Elem, big_endian: bool },
    Unsupported(String),
}

impl NpyDtype {
    fn from_descr(descr: &str) -> NpyDtype {
        let (big_endian, code) = match descr.as_bytes().first() {
            Some(b'>') => (true, &descr[1..]),
            Some(b'!') => (true, &descr[1..]),
            Some(b'<' | b'|' | b'=') => (cfg!(target_endian = "big"), &descr[1..]),
            _ => (cfg!(target_endian = "big"), descr),
        };
        let elem = match code {
            "f2" | "e" => Some(Elem::F16),
            "f4" | "f" => Some(Elem::F32),
            "f8" | "d" => Some(Elem::F64),
            "i1" | "b" => Some(Elem::I8),
            "i2" | "h" => Some(Elem::I16),
            "i4" => Some(Elem::I32),
            "i8" | "q" => Some(Elem::I64),
            "u1" | "B" => Some(Elem::U8),
            "u2" | "H" => Some(Elem::U16),
            "u4" => Some(Elem::U32),
            "u8" | "Q" => Some(Elem::U64),
            _ => None,
        };
        if let Some(elem) = elem {
            return NpyDtype::Supported { elem, big_endian };
        }
        let friendly = match code {
            "b1" | "?" => "bool".to_string(),
            "c8" | "F" => "complex64".to_string(),
            "c16" | "D" => "complex128".to_string(),
            "f16" | "g" => "float128".to_string(),
            _ => match code.chars().next() {
                Some('U') => "str".to_string(),
                Some('S') | Some('a') => "bytes".to_string(),
                Some('O') => "object".to_string(),
                Some('M') => "datetime64".to_string(),
                Some('m') => "timedelta64".to_string(),
                Some('V') => "void".to_string(),
                _ => return NpyDtype::Unsupported(format!("'{descr}'")),
            },
        };
        NpyDtype::Unsupported(format!("{friendly} ('{descr}')"))
    }

    fn name(&self) -> String {
        match self {
            NpyDtype::Supported { elem, .. } => elem.name().to_string(),
            NpyDtype::Unsupported(name) => name.clone(),
        }
    }
}

/// The parsed `.npy` header. ndarray-npy keeps its own `Header` private, and
/// its readers only report a shape after touching the data, so we parse the
/// header here to list tensors and to validate the shape against the file
/// length before anything is allocated.
#[derive(Debug, Clone, PartialEq)]
struct NpyHeader {
    dtype: NpyDtype,
    fortran_order: bool,
    shape: Vec<usize>,
    data_offset: usize,
}

/// Why a `.npy` header cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum HeaderError {
    #[error("it does not start with the .npy magic bytes")]
    NoMagic,
    #[error("unsupported .npy format version {0}.{1}")]
    Version(u8, u8),
    #[error("the header is truncated")]
    Truncated,
    #[error("the header is not valid text")]
    NotText,
    #[error(transparent)]
    Literal(#[from] LiteralError),
    #[error("the header is not a dictionary")]
    NotDict,
    #[error("the header has no '{0}' entry")]
    Missing(&'static str),
    #[error("'fortran_order' in the header is not True or False")]
    FortranOrder,
    #[error("'shape' in the header is not a tuple of non-negative integers")]
    ShapeDims,
    #[error("'shape' in the header is not a tuple")]
    ShapeNotTuple,
}

/// Why a `.npy` file's data, past a good header, cannot be read.
#[derive(Debug, thiserror::Error)]
enum DataError {
    #[error(transparent)]
    View(ViewNpyError),
    #[error(transparent)]
    Read(ndarray_npy::ReadNpyError),
    #[error(transparent)]
    Shape(ndarray::ShapeError),
}

impl NpyHeader {
    fn parse(buf: &[u8]) -> Result<NpyHeader, HeaderError> {
        const MAGIC: &[u8] = b"\x93NUMPY";
        if buf.len() < MAGIC.len() + 2 || !buf.starts_with(MAGIC) {
            return Err(HeaderError::NoMagic);
        }
        let (major, minor) = (buf[6], buf[7]);
        let (len_bytes, start) = match major {
            1 => (2, 10),
            2 | 3 => (4, 12),
            _ => return Err(HeaderError::Version(major, minor)),
        };
        let len_field = buf.get(8..8 + len_bytes).ok_or(HeaderError::Truncated)?;
        let header_len = len_field.iter().rev().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let end = start + header_len;
        let text = buf.get(start..end).ok_or(HeaderError::Truncated)?;
        let text = std::str::from_utf8(text).map_err(|_| HeaderError::NotText)?;

        let dict = match PyParser::parse(text)? {
            Lit::Dict(entries) => entries,
            _ => return Err(HeaderError::NotDict),
        };
        let get = |key: &'static str| {
            dict.iter()
                .find(|(k, _)| matches!(k, Lit::Str(s) if s == key))
                .map(|(_, v)| v)
                .ok_or(HeaderError::Missing(key))
        };
        let dtype = match get("descr")? {
            Lit::Str(descr) => NpyDtype::from_descr(descr),
            _ => NpyDtype::Unsupported("structured (record) dtype".to_string()),
        };
        let fortran_order = match get("fortran_order")? {
            Lit::Bool(b) => *b,
            _ => return Err(HeaderError::FortranOrder),
        };
        let shape = match get("shape")? {
            Lit::Seq(dims) => dims
                .iter()
                .map(|d| match d {
                    Lit::Int(i) => usize::try_from(*i).ok(),
                    _ => None,
                })
                .collect::<Option<Vec<usize>>>()
                .ok_or(HeaderError::ShapeDims)?,
            _ => return Err(HeaderError::ShapeNotTuple),
        };
        Ok(NpyHeader { dtype, fortran_order, shape, data_offset: end })
    }
}

pub(super) fn load(path: &Path, buf: &[u8]) -> Result<Weights, WeightsError> {
    let header = NpyHeader::parse(buf).map_err(|e| invalid(path, "npy", e.to_string()))?;
    let (elem, big_endian) = match &header.dtype {
        NpyDtype::Supported { elem, big_endian } => (*elem, *big_endian),
        NpyDtype::Unsupported(name) => {
            return Err(WeightsError::UnsupportedDtype { path: path.display().to_string(), dtype: name.clone() });
        }
    };
    let n = checked_len(path, &header.shape)?;
    let need = n * elem.size(); // cannot overflow: n <= MAX_ELEMENTS
    let have = buf.len() - header.data_offset;
    if have < need {
        return Err(invalid(
            path,
            "npy",
            format!(
                "the file is truncated (the header describes {need} bytes of data \
                 but only {have} are present)"
            ),
        ));
    }
    if have > need {
        return Err(invalid(
            path,
            "npy",
            format!("the file has {} unexpected bytes after the {need} bytes of data", have - need),
        ));
    }

    let via_ndarray_npy = match elem {
        // ndarray-npy has no f16 element type.
        Elem::F16 => None,
        Elem::F32 => npy_values::<f32>(buf),
        Elem::F64 => npy_values::<f64>(buf),
        Elem::I8 => npy_values::<i8>(buf),
        Elem::I16 => npy_values::<i16>(buf),
        Elem::I32 => npy_values::<i32>(buf),
        Elem::I64 => npy_values::<i64>(buf),
        Elem::U8 => npy_values::<u8>(buf),
        Elem::U16 => npy_values::<u16>(buf),
        Elem::U32 => npy_values::<u32>(buf),
        Elem::U64 => npy_values::<u64>(buf),
    };
    let values = match via_ndarray_npy {
        Some(result) => result,
        None => decode_npy_data(elem, big_endian, &buf[header.data_offset..], &header),
    }
    .map_err(|e| invalid(path, "npy", e.to_string()))?;

    Ok(file_weights(path, values, header.shape, elem.name().to_string(), None))
}

/// Views the mapped file in place when it can; the copying reader is only
/// used for byte-swapped or misaligned data, whose size has already been
/// checked against the file length so it cannot over-allocate. Returns `None`
/// when ndarray-npy does not know the descriptor's spelling (e.g. `'=f4'`).
fn npy_values<T>(buf: &[u8]) -> Option<Result<Vec<f32>, DataError>>
where
    T: ViewElement + ReadableElement + ToF32,
{
    Some(match ArrayViewD::<T>::view_npy(buf) {
        Ok(view) => Ok(c_order_f32(view)),
        Err(ViewNpyError::WrongDescriptor(_)) => return None,
        Err(ViewNpyError::NonNativeEndian | ViewNpyError::MisalignedData) => {
            ArrayD::<T>::read_npy(buf).map(|a| c_order_f32(a.view())).map_err(DataError::Read)
        }
        Err(e) => Err(DataError::View(e)),
    })
}

/// Decodes `.npy` data that ndarray-npy cannot (f16, unusual descriptor
/// spellings); `data` has already been checked to hold exactly the elements.
fn decode_npy_data(elem: Elem, big_endian: bool, data: &[u8], header: &NpyHeader) -> Result<Vec<f32>, DataError> {
    macro_rules! dec {
        ($t:ty) => {
            if big_endian {
                decode(data, |c| <$t>::from_be_bytes(c).to_f32())
            } else {
                decode(data, |c| <$t>::from_le_bytes(c).to_f32())
            }
        };
    }
    let memory_order = match elem {
        Elem::F16 => dec!(half::f16),
        Elem::F32 => dec!(f32),
        Elem::F64 => dec!(f64),
        Elem::I8 => dec!(i8),
        Elem::I16 => dec!(i16),
        Elem::I32 => dec!(i32),
        Elem::I64 => dec!(i64),
        Elem::U8 => dec!(u8),
        Elem::U16 => dec!(u16),
        Elem::U32 => dec!(u32),
        Elem::U64 => dec!(u64),
    };
    if header.fortran_order {
        ArrayD::from_shape_vec(IxDyn(&header.shape).f(), memory_order)
            .map(|a| a.iter().copied().collect())
            .map_err(DataError::Shape)
    } else {
        Ok(memory_order)
    }
}

fn c_order_f32<T: ToF32>(view: ArrayViewD<'_, T>) -> Vec<f32> {
    match view.as_slice() {
        Some(slice) => slice.iter().map(|&x| x.to_f32()).collect(),
        None => view.iter().map(|&x| x.to_f32()).collect(),
    }
}
