//! A safetensors file's header, and how a packed tensor is cut into named
//! tensors (`NAME.codes` or `NAME.blocks`, then `NAME.scales`, …): the
//! layout the README's "Writing the model" documents.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::gguf;
use crate::compute::quant::{Granularity, QuantConfig};

/// One tensor of the file: safetensors dtype name (`F32`, `U8`, …), shape
/// and length in bytes. Data follows the header in the order given.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub len: usize,
}

/// The header: its length (u64 LE), then the JSON, padded with spaces to a
/// multiple of 8 as the safetensors crate writes it.
pub fn header(metadata: &BTreeMap<String, String>, items: &[Item]) -> Vec<u8> {
    let mut map = Map::new();
    if !metadata.is_empty() {
        map.insert("__metadata__".into(), json!(metadata));
    }
    let mut offset = 0;
    for item in items {
        map.insert(
            item.name.clone(),
            json!({"dtype": item.dtype, "shape": item.shape, "data_offsets": [offset, offset + item.len]}),
        );
        offset += item.len;
    }
    let mut text = Value::Object(map).to_string();
    text.push_str(&" ".repeat(text.len().next_multiple_of(8) - text.len()));
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out
}

/// One named part of a packed tensor's parameters: its suffix, dtype,
/// bytes per element and elements (per group for a group's field, in all
/// for a tensor's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    pub suffix: &'static str,
    pub dtype: &'static str,
    pub width: usize,
    pub count: usize,
}

const fn field(suffix: &'static str, dtype: &'static str, width: usize, count: usize) -> Field {
    Field { suffix, dtype, width, count }
}

/// How a packed tensor of `len` bytes is cut: the stream (GGUF blocks or
/// bit-packed codes), then `groups` records of `record`'s fields each,
/// interleaved as stored, then the tensor's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedLayout {
    pub stream_suffix: &'static str,
    pub stream: usize,
    pub groups: usize,
    pub record: Vec<Field>,
    pub tensor: Vec<Field>,
}

/// The parameters a format stores per group and per tensor (`pack.rs`).
fn param_fields(cfg: &QuantConfig, count: usize) -> (Vec<Field>, Vec<Field>) {
    let per_tensor = cfg.granularity == Granularity::PerTensor;
    match cfg.format.name() {
        "int" => (vec![field("scales", "F32", 4, 1), field("zero_points", "I32", 4, 1)], vec![]),
        "fp8-e4m3" | "fp8-e5m2" | "fp4-e2m1" if per_tensor => (vec![], vec![field("scale", "F32", 4, 1)]),
        "fp8-e4m3" | "fp8-e5m2" | "fp4-e2m1" => (vec![field("scales", "F32", 4, 1)], vec![]),
        "mxfp8" => (vec![field("scales_e8m0", "U8", 1, 1)], vec![]),
        "nvfp4" => (vec![field("scales_e4m3", "U8", 1, 1)], vec![field("global_scale", "F32", 4, 1)]),
        "binary" | "ternary" => (vec![field("alpha", "F32", 4, 1)], vec![]),
        "codebook" => (vec![field("codebook", "F16", 2, 1 << cfg.bits)], vec![]),
        "nf4" if cfg.double_quant => {
            let blocks = count.div_ceil(cfg.block_size.max(1));
            let tensor =
                vec![field("absmax_scales", "F32", 4, blocks.div_ceil(256)), field("absmax_mean", "F32", 4, 1)];
            (vec![field("absmax_codes", "U8", 1, 1)], tensor)
        }
        "nf4" => (vec![field("absmax", "F32", 4, 1)], vec![]),
        _ => (vec![], vec![]),
    }
}

/// The cut of a packed tensor of `count` values and `len` bytes. A layout
/// not known here (a plug-in's) keeps its parameters as one `params` U8.
pub fn packed_layout(cfg: &QuantConfig, count: usize, len: usize) -> PackedLayout {
    if gguf::quantized_type(cfg.format.name()).is_some() {
        return PackedLayout { stream_suffix: "blocks", stream: len, groups: 0, record: vec![], tensor: vec![] };
    }
    let stream = (count * cfg.format.format().code_bits(cfg) as usize).div_ceil(8).min(len);
    let params = len - stream;
    let (record, tensor) = param_fields(cfg, count);
    let record_len: usize = record.iter().map(|f| f.width * f.count).sum();
    let tensor_len: usize = tensor.iter().map(|f| f.width * f.count).sum();
    let fits = params >= tensor_len && (params - tensor_len).is_multiple_of(record_len.max(1));
    let fits = fits && (record_len > 0 || params == tensor_len);
    if !fits {
        let raw = vec![field("params", "U8", 1, 1)];
        return PackedLayout { stream_suffix: "codes", stream, groups: params, record: raw, tensor: vec![] };
    }
    let groups = (params - tensor_len).checked_div(record_len).unwrap_or(0);
    PackedLayout { stream_suffix: "codes", stream, groups, record, tensor }
}

impl PackedLayout {
    /// The named tensors of weight `name` of `shape`, in data order.
    pub fn items(&self, name: &str, shape: &[usize]) -> Vec<Item> {
        let stream_shape = match self.stream_suffix {
            "blocks" => {
                let rows = shape.iter().rev().skip(1).product::<usize>().max(1);
                vec![rows, self.stream / rows]
            }
            _ => vec![self.stream],
        };
        let mut items = vec![Item {
            name: format!("{name}.{}", self.stream_suffix),
            dtype: "U8".into(),
            shape: stream_shape,
            len: self.stream,
        }];
        let group_shape = |f: &Field| if f.count > 1 { vec![self.groups, f.count] } else { vec![self.groups] };
        for (f, shape) in
            self.record.iter().map(|f| (f, group_shape(f))).chain(self.tensor.iter().map(|f| (f, vec![f.count])))
        {
            let len = shape.iter().product::<usize>() * f.width;
            items.push(Item { name: format!("{name}.{}", f.suffix), dtype: f.dtype.into(), shape, len });
        }
        items
    }

    /// `packed` cut into the bytes of [`PackedLayout::items`], in order.
    pub fn split(&self, packed: &[u8]) -> Vec<Vec<u8>> {
        let (stream, rest) = packed.split_at(self.stream);
        let mut parts = vec![stream.to_vec()];
        let record_len: usize = self.record.iter().map(|f| f.width * f.count).sum();
        let (records, mut tail) = rest.split_at(record_len * self.groups);
        let mut offset = 0;
        for f in &self.record {
            let size = f.width * f.count;
            let part = records.chunks(record_len.max(1)).flat_map(|r| &r[offset..offset + size]).copied().collect();
            parts.push(part);
            offset += size;
        }
        for f in &self.tensor {
            let (part, next) = tail.split_at(f.width * f.count);
            parts.push(part.to_vec());
            tail = next;
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::formats::find;

    #[test]
    fn int_records_are_split_into_scales_and_zero_points() {
        let cfg = QuantConfig { format: find("int").unwrap(), bits: 4, ..QuantConfig::default() };
        // 8 codes of 4 bits (4 bytes), then two channels of (scale, zero point).
        let mut packed = vec![0x10, 0x32, 0x54, 0x76];
        for (s, z) in [(0.5f32, 3i32), (0.25, 7)] {
            packed.extend_from_slice(&s.to_le_bytes());
            packed.extend_from_slice(&z.to_le_bytes());
        }
        let layout = packed_layout(&cfg, 8, packed.len());
        assert_eq!((layout.stream, layout.groups), (4, 2));
        let items = layout.items("w", &[2, 4]);
        let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["w.codes", "w.scales", "w.zero_points"]);
        let parts = layout.split(&packed);
        assert_eq!(parts[1], [0.5f32.to_le_bytes(), 0.25f32.to_le_bytes()].concat());
        assert_eq!(parts[2], [3i32.to_le_bytes(), 7i32.to_le_bytes()].concat());
        assert_eq!(items.iter().map(|i| i.len).collect::<Vec<_>>(), parts.iter().map(Vec::len).collect::<Vec<_>>());
    }

    #[test]
    fn the_header_is_padded_to_eight_and_offsets_follow_each_other() {
        let items = [
            Item { name: "a".into(), dtype: "F32".into(), shape: vec![2], len: 8 },
            Item { name: "b".into(), dtype: "U8".into(), shape: vec![3], len: 3 },
        ];
        let h = header(&BTreeMap::from([("k".to_string(), "v".to_string())]), &items);
        let n = u64::from_le_bytes(h[..8].try_into().unwrap()) as usize;
        assert_eq!((n % 8, h.len()), (0, 8 + n));
        let v: Value = serde_json::from_slice(&h[8..]).unwrap();
        assert_eq!(v["b"]["data_offsets"], json!([8, 11]));
        assert_eq!(v["__metadata__"]["k"], "v");
    }
}
