//! Reading a GGUF header (v2 and v3) from its bytes: the magic, version,
//! counts, metadata and tensor infos, then the checks that tie them to the
//! file (alignment, block sizes, data ranges). Every count and length is
//! checked against the bytes left before anything is allocated for it, so
//! a corrupt or hostile header costs at most a small multiple of its size.

use super::error::GgufError;
use super::types::ggml_type;

/// `GGML_MAX_DIMS`: ggml tensors have at most four dimensions.
pub const MAX_DIMS: u32 = 4;

/// The alignment of a file without `general.alignment`.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// The largest `general.alignment` accepted (real files use 32; llama.cpp
/// takes any power of two, but beyond a page size it is only a way to put
/// the data past the end).
pub const MAX_ALIGNMENT: u64 = 1 << 16;

/// How deep metadata arrays may nest (real files nest at most once).
pub const MAX_DEPTH: usize = 8;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    /// Not valid UTF-8 is read lossily (gguf-py does the same for display).
    Str(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    /// An unsigned integer of any width (a negative or non-integer is None).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        if let Value::Str(s) = self { Some(s) } else { None }
    }
}

/// One tensor's info as the header gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// Outermost first, as PyTorch and safetensors give it (GGUF stores
    /// `ne`, innermost first; this is `ne` reversed).
    pub shape: Vec<usize>,
    pub type_id: u32,
    /// From the start of the file (the data section's start plus the
    /// header's offset).
    pub start: u64,
    /// Bytes of data; None for a type we do not know (its size is unknown).
    pub len: Option<u64>,
}

impl TensorInfo {
    pub fn count(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A parsed header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub version: u32,
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Where the data section starts: the header's end, aligned up.
    pub data_start: u64,
}

/// A cursor over the header's bytes whose every read checks what is left.
struct Reader<'a> {
    path: &'a str,
    /// The file's first bytes (all of it, or a prefix read to parse the header).
    bytes: &'a [u8],
    at: usize,
    /// The whole file's length, which counts are checked against.
    file_len: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn file_left(&self) -> usize {
        self.file_len.saturating_sub(self.at)
    }

    fn take(&mut self, n: u64, field: &dyn Fn() -> String) -> Result<&'a [u8], GgufError> {
        if n > self.left() as u64 {
            let (path, at, len) = (self.path.to_string(), self.at, self.bytes.len());
            return Err(GgufError::CutShort { path, field: field(), at, need: n, len });
        }
        let out = &self.bytes[self.at..self.at + n as usize];
        self.at += n as usize;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &dyn Fn() -> String) -> Result<[u8; N], GgufError> {
        Ok(self.take(N as u64, field)?.try_into().expect("took N bytes"))
    }

    fn u32(&mut self, field: &dyn Fn() -> String) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &dyn Fn() -> String) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// A count of items that take at least `min` bytes each, refused when
    /// the bytes left could not hold them.
    fn count(&mut self, field: &dyn Fn() -> String, min: u64) -> Result<u64, GgufError> {
        let value = self.u64(field)?;
        if value.saturating_mul(min) > self.file_left() as u64 {
            let (path, left, len) = (self.path.to_string(), self.file_left(), self.file_len);
            return Err(GgufError::AbsurdCount { path, field: field(), value, min, left, len });
        }
        Ok(value)
    }

    fn string(&mut self, field: &dyn Fn() -> String) -> Result<String, GgufError> {
        let len = self.count(&|| format!("the length of {}", field()), 1)?;
        Ok(String::from_utf8_lossy(self.take(len, field)?).into_owned())
    }

    fn value_type(&mut self, field: &dyn Fn() -> String) -> Result<u32, GgufError> {
        let value_type = self.u32(&|| format!("the value type of {}", field()))?;
        if value_type > 12 {
            return Err(GgufError::ValueType { path: self.path.to_string(), field: field(), value_type });
        }
        Ok(value_type)
    }

    fn value(&mut self, value_type: u32, key: &str, depth: usize) -> Result<Value, GgufError> {
        let field = || format!("metadata {key}");
        Ok(match value_type {
            0 => Value::U8(u8::from_le_bytes(self.array(&field)?)),
            1 => Value::I8(i8::from_le_bytes(self.array(&field)?)),
            2 => Value::U16(u16::from_le_bytes(self.array(&field)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(&field)?)),
            4 => Value::U32(u32::from_le_bytes(self.array(&field)?)),
            5 => Value::I32(i32::from_le_bytes(self.array(&field)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(&field)?)),
            7 => Value::Bool(self.array::<1>(&field)?[0] != 0),
            8 => Value::Str(self.string(&field)?),
            9 => self.array_value(key, depth + 1)?,
            10 => Value::U64(u64::from_le_bytes(self.array(&field)?)),
            11 => Value::I64(i64::from_le_bytes(self.array(&field)?)),
            _ => Value::F64(f64::from_le_bytes(self.array(&field)?)),
        })
    }

    fn array_value(&mut self, key: &str, depth: usize) -> Result<Value, GgufError> {
        if depth > MAX_DEPTH {
            return Err(GgufError::TooDeep {
                path: self.path.to_string(),
                key: key.to_string(),
                depth,
                max: MAX_DEPTH,
            });
        }
        let item_type = self.value_type(&|| format!("the items of metadata {key}"))?;
        let n = self.count(&|| format!("the array length of metadata {key}"), min_value_bytes(item_type))?;
        // `count` bounded n by the file's bytes left; the bytes at hand bound the allocation.
        let mut items = Vec::with_capacity((n as usize).min(self.left()));
        for _ in 0..n {
            items.push(self.value(item_type, key, depth)?);
        }
        Ok(Value::Array(items))
    }
}

/// The fewest bytes a value of a type takes (a string its length, an
/// array its item type and length).
fn min_value_bytes(value_type: u32) -> u64 {
    match value_type {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 => 8,
        9 => 12,
        _ => 8,
    }
}

/// The fewest bytes of a metadata pair: an empty key, a type, one byte.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// The fewest bytes of a tensor info: an empty name, n_dims, one dim, type, offset.
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 8 + 4 + 8;

/// Reads and checks the header of the GGUF file `bytes` (`path` names it in errors).
pub fn parse(path: &str, bytes: &[u8]) -> Result<Header, GgufError> {
    parse_prefix(path, bytes, bytes.len() as u64)
}

/// As [`parse`], from the first bytes of a file of `file_len` bytes: a
/// header that runs past them is `CutShort` (read more and try again; with
/// the whole file it is cut short indeed).
pub fn parse_prefix(path: &str, bytes: &[u8], file_len: u64) -> Result<Header, GgufError> {
    let file_len = usize::try_from(file_len).unwrap_or(usize::MAX).max(bytes.len());
    let mut r = Reader { path, bytes, at: 0, file_len };
    let magic: [u8; 4] = r.array(&|| "the magic".into())?;
    if &magic != b"GGUF" {
        return Err(GgufError::BadMagic { path: path.to_string(), found: magic.to_vec() });
    }
    let version = r.u32(&|| "the version".into())?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::Version { path: path.to_string(), version });
    }
    let n_tensors = r.count(&|| "tensor count".into(), MIN_TENSOR_INFO_BYTES)?;
    let n_kv = r.count(&|| "metadata count".into(), MIN_KV_BYTES)?;
    let metadata = read_metadata(&mut r, n_kv)?;
    let alignment = alignment(path, &metadata)?;
    let mut infos = Vec::with_capacity((n_tensors as usize).min(r.left()));
    for i in 0..n_tensors {
        infos.push(read_tensor_info(&mut r, i)?);
    }
    let data_start = (r.at as u64).next_multiple_of(alignment);
    let tensors = place_tensors(path, file_len, infos, alignment, data_start)?;
    Ok(Header { version, metadata, tensors, alignment, data_start })
}

fn read_metadata(r: &mut Reader<'_>, n_kv: u64) -> Result<Vec<(String, Value)>, GgufError> {
    let mut metadata: Vec<(String, Value)> = Vec::with_capacity((n_kv as usize).min(r.left()));
    let mut seen = std::collections::HashSet::new();
    for i in 0..n_kv {
        let key = r.string(&|| format!("metadata key {i}"))?;
        let value_type = r.value_type(&|| format!("metadata {key}"))?;
        let value = r.value(value_type, &key, 0)?;
        if !seen.insert(key.clone()) {
            return Err(GgufError::DuplicateKey { path: r.path.to_string(), key });
        }
        metadata.push((key, value));
    }
    Ok(metadata)
}

/// `general.alignment`: a u32 power of two up to `MAX_ALIGNMENT`, else 32.
fn alignment(path: &str, metadata: &[(String, Value)]) -> Result<u64, GgufError> {
    let Some((_, value)) = metadata.iter().find(|(k, _)| k == "general.alignment") else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    let bad = |value: String, kind| GgufError::Alignment { path: path.to_string(), value, kind, max: MAX_ALIGNMENT };
    match value {
        Value::U32(a) if a.is_power_of_two() && (*a as u64) <= MAX_ALIGNMENT => Ok(*a as u64),
        Value::U32(a) => Err(bad(a.to_string(), "u32")),
        other => Err(bad(format!("{other:?}"), "value that is not a u32")),
    }
}

/// A tensor info as stored: `ne` in ggml order and the offset in the data.
struct RawInfo {
    name: String,
    ne: Vec<u64>,
    type_id: u32,
    offset: u64,
}

fn read_tensor_info(r: &mut Reader<'_>, i: u64) -> Result<RawInfo, GgufError> {
    let name = r.string(&|| format!("the name of tensor {i}"))?;
    let n_dims = r.u32(&|| format!("the dimension count of tensor {name}"))?;
    if n_dims == 0 || n_dims > MAX_DIMS {
        return Err(GgufError::Dims { path: r.path.to_string(), name, n_dims, max: MAX_DIMS });
    }
    let mut ne = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        ne.push(r.u64(&|| format!("the shape of tensor {name}"))?);
    }
    let type_id = r.u32(&|| format!("the type of tensor {name}"))?;
    let offset = r.u64(&|| format!("the data offset of tensor {name}"))?;
    Ok(RawInfo { name, ne, type_id, offset })
}

/// Checks each tensor's shape against its type's blocks and its data
/// range against the file and the other tensors, and gives the infos.
fn place_tensors(
    path: &str,
    file_len: usize,
    infos: Vec<RawInfo>,
    alignment: u64,
    data_start: u64,
) -> Result<Vec<TensorInfo>, GgufError> {
    let mut names = std::collections::HashSet::new();
    let mut tensors = Vec::with_capacity(infos.len());
    for raw in infos {
        let err_name = || raw.name.clone();
        if !names.insert(raw.name.clone()) {
            return Err(GgufError::DuplicateTensor { path: path.to_string(), name: raw.name });
        }
        let count = raw.ne.iter().try_fold(1u64, |n, &d| n.checked_mul(d)).filter(|&n| n <= i64::MAX as u64);
        let Some(count) = count.filter(|&c| usize::try_from(c).is_ok()) else {
            return Err(GgufError::Overflow { path: path.to_string(), name: err_name(), shape: raw.ne });
        };
        if raw.offset % alignment != 0 {
            let (name, offset) = (err_name(), raw.offset);
            return Err(GgufError::Misaligned { path: path.to_string(), name, offset, alignment });
        }
        let start = data_start.checked_add(raw.offset);
        let len = match ggml_type(raw.type_id) {
            Some(t) => {
                if raw.ne[0] % t.block as u64 != 0 {
                    let (name, type_name, block, ne0) = (err_name(), t.dtype(), t.block, raw.ne[0]);
                    return Err(GgufError::BlockMisfit { path: path.to_string(), name, type_name, block, ne0 });
                }
                let len = (count / t.block as u64).checked_mul(t.bytes as u64);
                let end = start.zip(len).and_then(|(s, len)| s.checked_add(len));
                match end {
                    Some(e) if e <= file_len as u64 => len,
                    _ => {
                        let (name, start) = (err_name(), start.unwrap_or(u64::MAX));
                        let end = end.unwrap_or(u64::MAX);
                        return Err(GgufError::DataPastEnd { path: path.to_string(), name, start, end, len: file_len });
                    }
                }
            }
            // No ggml type stores less than a bit per value: more values
            // than that would make the sums over the tensors overflow.
            None if count > (file_len as u64).saturating_mul(8) => {
                let (name, type_id) = (err_name(), raw.type_id);
                return Err(GgufError::UnknownTooLarge { path: path.to_string(), name, type_id, count, len: file_len });
            }
            None => None,
        };
        let shape = raw.ne.iter().rev().map(|&d| d as usize).collect();
        let start = start.unwrap_or(u64::MAX);
        tensors.push(TensorInfo { name: raw.name, shape, type_id: raw.type_id, start, len });
    }
    check_overlaps(path, &tensors, data_start)?;
    Ok(tensors)
}

/// No two tensors' data may share a byte.
fn check_overlaps(path: &str, tensors: &[TensorInfo], data_start: u64) -> Result<(), GgufError> {
    let mut ranges: Vec<(u64, u64, &str)> =
        tensors.iter().filter_map(|t| t.len.map(|len| (t.start, t.start + len, t.name.as_str()))).collect();
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        let ((s0, e0, first), (s1, e1, second)) = (pair[0], pair[1]);
        if s1 < e0 {
            let rel = |s: u64, e: u64| [s - data_start, e - data_start];
            let (first, second) = (first.to_string(), second.to_string());
            return Err(GgufError::Overlap { path: path.to_string(), first, second, a: rel(s0, e0), b: rel(s1, e1) });
        }
    }
    Ok(())
}
