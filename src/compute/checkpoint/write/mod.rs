//! The quantized checkpoint's bytes, for `scan --write/--dequantized/--packed`:
//! which format each tensor gets, each output's header (every size is
//! known from the shapes and bits per weight, so it comes first), then one
//! tensor's bytes at a time, so memory is bounded by the largest tensor.
//! Pure: `io` writes the bytes, the CLI joins the two.

pub mod gguf;
pub mod safetensors_out;

use std::collections::BTreeMap;

use super::scan::Scan;
use super::select::FormatSpec;
use super::{Checkpoint, CheckpointError, Entry, header};
use crate::compute::analysis::AnalysisError;
use crate::compute::{formats, weights};
use safetensors_out::{Item, PackedLayout};

/// The float type of a dequantized file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatDtype {
    F32,
    F16,
    Bf16,
}

impl FloatDtype {
    fn name(self) -> &'static str {
        match self {
            FloatDtype::F32 => "F32",
            FloatDtype::F16 => "F16",
            FloatDtype::Bf16 => "BF16",
        }
    }

    fn width(self) -> usize {
        if self == FloatDtype::F32 { 4 } else { 2 }
    }

    /// Little-endian bytes, rounded to nearest even (`half`'s casts).
    fn encode(self, values: &[f32]) -> Vec<u8> {
        match self {
            FloatDtype::F32 => values.iter().flat_map(|x| x.to_le_bytes()).collect(),
            FloatDtype::F16 => values.iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect(),
            FloatDtype::Bf16 => values.iter().flat_map(|&x| half::bf16::from_f32(x).to_le_bytes()).collect(),
        }
    }
}

/// The kind of file written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Gguf,
    Dequantized(FloatDtype),
    Packed,
}

/// A tensor of the checkpoint and the format it gets (`None`: written as
/// it is, in its dtype and bytes).
#[derive(Clone, Copy)]
pub struct Assigned<'a> {
    pub entry: &'a Entry,
    pub spec: Option<&'a FormatSpec>,
}

/// Why the model cannot be written as asked; each names the tensor or format.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(
        "writing the model needs one format per tensor, but --formats names {count} ({names}) and no budget chooses between them; give one format (--formats q4_0) or a budget (--budget-bpw X or --budget-mb Y) to plan one per tensor"
    )]
    NeedsOneFormat { count: usize, names: String },
    #[error(
        "format {format} cannot apply to tensor {tensor}: {reason}; leave it out with --exclude (it is then kept as it is) or plan with a budget"
    )]
    CannotApply { format: String, tensor: String, reason: String },
    #[error("tensor {tensor} has {dims} dimensions; GGUF holds at most 4")]
    TooManyDimensions { tensor: String, dims: usize },
    #[error(
        "format {format} (tensor {tensor}) has no llama.cpp type, so it cannot go in a GGUF; --packed OUT.safetensors writes it with its codes and scales, --dequantized OUT.safetensors as floats"
    )]
    NoGgmlType { format: String, tensor: String },
    #[error(
        "tensor {tensor} has rows of {row} values, not a multiple of {format}'s block of {block}, so GGUF cannot hold it; leave it out with --exclude or plan with a budget"
    )]
    RowsNotBlocks { tensor: String, row: usize, format: String, block: usize },
    #[error(
        "tensor {tensor} is {dtype}, which GGUF has no type for; --dequantized or --packed OUT.safetensors keep it as it is"
    )]
    NoKeptType { tensor: String, dtype: String },
    #[error(
        "tensor {tensor} is kept as it is, but its type {dtype} ({reason}) has no safetensors dtype and cannot be decoded to floats; --write OUT.gguf copies its blocks as they are"
    )]
    KeptNotDecoded { tensor: String, dtype: String, reason: String },
    #[error(
        "the packed tensor {name} would have the name of a tensor of the checkpoint; rename it or write --dequantized"
    )]
    PackedNameTaken { name: String },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("cannot quantize {tensor}: {source}")]
    Quantize {
        tensor: String,
        #[source]
        source: AnalysisError,
    },
    #[error("format {format} has no packed layout (tensor {tensor})")]
    NoPackedLayout { format: String, tensor: String },
    #[error(
        "tensor {tensor} came to {got} bytes where its bits per weight promised {want}; this is a bug in its format, please report it"
    )]
    SizeMismatch { tensor: String, want: usize, got: usize },
}

/// Writing needs one format per tensor: a budget's plan, or one format.
pub fn check_formats(specs: &[FormatSpec], planned: bool) -> Result<(), WriteError> {
    if planned || specs.len() == 1 {
        return Ok(());
    }
    let names: Vec<&str> = specs.iter().map(|s| s.label.as_str()).collect();
    Err(WriteError::NeedsOneFormat { count: names.len(), names: names.join(", ") })
}

/// Every tensor of the checkpoint with its format: the plan's when the scan
/// has one, else the one format; tensors not scanned or skipped are kept.
/// A format that cannot apply to a tensor is refused, naming both.
pub fn assign<'a>(ck: &'a Checkpoint, scan: &Scan, specs: &'a [FormatSpec]) -> Result<Vec<Assigned<'a>>, WriteError> {
    check_formats(specs, scan.plan.is_some())?;
    let scanned: BTreeMap<&str, _> = scan.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut out = Vec::with_capacity(ck.tensors.len());
    for entry in &ck.tensors {
        let t = scanned.get(entry.name.as_str()).filter(|t| !t.skipped);
        let label = match (t, &scan.plan) {
            (None, _) => None,
            (Some(_), Some(plan)) => plan.assignments.get(&entry.name).map(String::as_str),
            (Some(_), None) => Some(specs[0].label.as_str()),
        };
        let spec = label.and_then(|l| specs.iter().position(|s| s.label == l));
        if let (Some(t), Some(i)) = (t, spec)
            && let Some(e) = t.results.get(i).and_then(|r| r.error.as_ref())
        {
            let (format, tensor, reason) = (specs[i].label.clone(), entry.name.clone(), e.clone());
            return Err(WriteError::CannotApply { format, tensor, reason });
        }
        out.push(Assigned { entry, spec: spec.map(|i| &specs[i]) });
    }
    Ok(out)
}

/// The recipe stored in an output's metadata: each quantized tensor's format.
pub fn recipe_json(assigned: &[Assigned], scan: &Scan) -> String {
    let formats: BTreeMap<&str, &str> =
        assigned.iter().filter_map(|a| Some((a.entry.name.as_str(), a.spec?.label.as_str()))).collect();
    let mut recipe = serde_json::json!({"tool": "qmc-tui", "assignments": formats});
    if let Some(plan) = &scan.plan {
        recipe["budget_bpw"] = serde_json::json!(plan.budget_bpw);
    }
    recipe.to_string()
}

/// A tensor's place in an output: the lengths of its parts (one, or a
/// packed tensor's codes and parameters) and the zero padding after it.
pub struct Piece<'a> {
    pub assigned: Assigned<'a>,
    pub parts: Vec<usize>,
    pub padding: usize,
    layout: Option<PackedLayout>,
}

/// One output file: its header, then each piece's parts and padding.
pub struct OutputPlan<'a> {
    pub target: Target,
    pub header: Vec<u8>,
    pub pieces: Vec<Piece<'a>>,
}

impl OutputPlan<'_> {
    /// The file's length in bytes.
    pub fn len(&self) -> usize {
        self.header.len() + self.pieces.iter().map(|p| p.parts.iter().sum::<usize>() + p.padding).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a GGUF's metadata says beyond the tensors.
pub struct GgufNames<'a> {
    pub architecture: &'a str,
    pub name: &'a str,
    pub recipe: &'a str,
}

/// ⌈count · bpw / 8⌉: the packed bytes of a tensor (`formats::pack`).
fn packed_len(entry: &Entry, spec: &FormatSpec) -> usize {
    let (rows, cols) = crate::compute::weights::matrix_dims(&entry.shape);
    let bits = spec.cfg.format.format().bits_per_weight(&spec.cfg, rows, cols) * entry.count as f64;
    // bpw is bits / count, so the product can land a hair above a whole byte.
    (bits / 8.0 - 1e-6).ceil().max(0.0) as usize
}

/// The raw bytes of a kept tensor: its data as the input stores it (a GGUF
/// type's blocks with their scales, or a safetensors dtype's values).
fn raw_len(entry: &Entry) -> usize {
    usize::try_from(entry.data.end - entry.data.start).unwrap_or(usize::MAX)
}

/// Whether a kept tensor goes into a safetensors file as its decoded
/// values (F32): a GGUF block type (q4_0, q4_k, …) safetensors has no dtype
/// for. Other dtypes (f32, f16, bf16, integers, from either kind of input)
/// are copied byte for byte.
fn kept_decoded(entry: &Entry) -> bool {
    header::dtype_bits(&entry.dtype).is_none()
}

/// The ggml type a kept tensor goes into a GGUF as: a GGUF input's own
/// type (its blocks copied), else the one of its safetensors dtype.
fn kept_ggml_type(entry: &Entry) -> Option<u32> {
    match &entry.gguf {
        Some(info) => info.len.map(|_| info.type_id),
        None => gguf::kept_type(&entry.dtype),
    }
}

/// The GGUF of `assigned`: refuses a format without a ggml type, a row
/// length that cuts a block, or a kept dtype GGUF has no type for.
pub fn plan_gguf<'a>(assigned: &[Assigned<'a>], names: &GgufNames) -> Result<OutputPlan<'a>, WriteError> {
    let mut infos = Vec::with_capacity(assigned.len());
    let mut weight_by_type: BTreeMap<u32, usize> = BTreeMap::new();
    for a in assigned {
        let e = a.entry;
        if e.shape.len() > 4 {
            return Err(WriteError::TooManyDimensions { tensor: e.name.clone(), dims: e.shape.len() });
        }
        let (ggml_type, len) = match a.spec {
            Some(spec) => {
                let t = gguf::quantized_type(spec.cfg.format.name())
                    .ok_or_else(|| WriteError::NoGgmlType { format: spec.label.clone(), tensor: e.name.clone() })?;
                let row = e.shape.last().copied().unwrap_or(1);
                if !row.is_multiple_of(t.block) {
                    let (tensor, format, block) = (e.name.clone(), spec.label.clone(), t.block);
                    return Err(WriteError::RowsNotBlocks { tensor, row, format, block });
                }
                *weight_by_type.entry(t.file_type).or_default() += e.count;
                (t.id, packed_len(e, spec))
            }
            None => {
                let id = kept_ggml_type(e)
                    .ok_or_else(|| WriteError::NoKeptType { tensor: e.name.clone(), dtype: e.dtype.clone() })?;
                (id, raw_len(e))
            }
        };
        infos.push(gguf::TensorInfo { name: e.name.clone(), shape: e.shape.clone(), ggml_type, len });
    }
    // The type most weights are in (ALL_F32 when none is quantized).
    let file_type = weight_by_type.iter().max_by_key(|(t, n)| (**n, std::cmp::Reverse(**t))).map_or(0, |(t, _)| *t);
    let metadata = [
        ("general.architecture", gguf::Value::Str(names.architecture.into())),
        ("general.name", gguf::Value::Str(names.name.into())),
        ("general.file_type", gguf::Value::U32(file_type)),
        ("general.quantization_version", gguf::Value::U32(2)),
        ("general.alignment", gguf::Value::U32(gguf::ALIGNMENT as u32)),
        ("qmc.recipe", gguf::Value::Str(names.recipe.into())),
    ];
    let header = gguf::header(&metadata, &infos);
    let pieces = assigned
        .iter()
        .zip(&infos)
        .map(|(a, i)| Piece { assigned: *a, parts: vec![i.len], padding: gguf::padding(i.len), layout: None })
        .collect();
    Ok(OutputPlan { target: Target::Gguf, header, pieces })
}

/// A dequantized (x̂ in `dtype`) or packed safetensors file of `assigned`,
/// with `metadata` (the input's, plus the recipe) in `__metadata__`.
pub fn plan_safetensors<'a>(
    assigned: &[Assigned<'a>],
    target: Target,
    mut metadata: BTreeMap<String, String>,
) -> Result<OutputPlan<'a>, WriteError> {
    let mut items: Vec<Item> = Vec::new();
    let mut pieces = Vec::with_capacity(assigned.len());
    let mut packed_info = BTreeMap::new();
    for a in assigned {
        let e = a.entry;
        let kept = Item { name: e.name.clone(), dtype: e.dtype.to_ascii_uppercase(), shape: e.shape.clone(), len: 0 };
        let (new, layout) = match (a.spec, target) {
            (None, _) if kept_decoded(e) => {
                if let Some(why) = &e.skipped
                    && !weights::is_float_dtype(&e.dtype)
                {
                    let (tensor, dtype, reason) = (e.name.clone(), e.dtype.clone(), why.clone());
                    return Err(WriteError::KeptNotDecoded { tensor, dtype, reason });
                }
                (vec![Item { dtype: FloatDtype::F32.name().into(), len: e.count * 4, ..kept }], None)
            }
            (None, _) => (vec![Item { len: raw_len(e), ..kept }], None),
            (Some(_), Target::Dequantized(d)) => {
                (vec![Item { dtype: d.name().into(), len: e.count * d.width(), ..kept }], None)
            }
            (Some(spec), _) => {
                let layout = safetensors_out::packed_layout(&spec.cfg, e.count, packed_len(e, spec));
                let parts = layout.items(&e.name, &e.shape);
                let info = serde_json::json!({
                    "format": spec.label,
                    "shape": e.shape,
                    "dtype": e.dtype,
                    "code_bits": spec.cfg.format.format().code_bits(&spec.cfg),
                    "groups": layout.groups,
                    "tensors": parts.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
                });
                packed_info.insert(e.name.clone(), info);
                (parts, Some(layout))
            }
        };
        pieces.push(Piece { assigned: *a, parts: new.iter().map(|i| i.len).collect(), padding: 0, layout });
        items.extend(new);
    }
    if let Some(name) = repeated_name(&items) {
        return Err(WriteError::PackedNameTaken { name: name.to_string() });
    }
    if target == Target::Packed {
        metadata.insert("qmc.packed".into(), serde_json::Value::from_iter(packed_info).to_string());
    }
    let header = safetensors_out::header(&metadata, &items);
    Ok(OutputPlan { target, header, pieces })
}

fn repeated_name(items: &[Item]) -> Option<&str> {
    let mut seen = std::collections::HashSet::new();
    items.iter().map(|i| i.name.as_str()).find(|n| !seen.insert(*n))
}

/// The input's `__metadata__`: every shard's, the first shard's value
/// kept when two disagree.
pub fn input_metadata(ck: &Checkpoint) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for shard in &ck.shards {
        let Ok(header) = header::parse(shard) else { continue };
        for (k, v) in header.metadata {
            out.entry(k).or_insert(v);
        }
    }
    out
}

/// A piece's bytes, part by part, each checked against the length its
/// header promised. The tensor is decoded only for this call.
pub fn encode(ck: &Checkpoint, piece: &Piece, target: Target) -> Result<Vec<Vec<u8>>, WriteError> {
    let entry = piece.assigned.entry;
    let parts = match piece.assigned.spec {
        None if target != Target::Gguf && kept_decoded(entry) => vec![FloatDtype::F32.encode(&ck.load(entry)?.values)],
        None => vec![ck.raw_bytes(entry)?],
        Some(spec) => {
            let w = ck.load(entry)?;
            let fail = |source| WriteError::Quantize { tensor: entry.name.clone(), source };
            match target {
                Target::Dequantized(d) => vec![d.encode(&formats::dequantized(&w, &spec.cfg).map_err(fail)?.0)],
                _ => {
                    let packed = formats::packed(&w, &spec.cfg).map_err(fail)?.ok_or_else(|| {
                        WriteError::NoPackedLayout { format: spec.label.clone(), tensor: entry.name.clone() }
                    })?;
                    let promised: usize = piece.parts.iter().sum();
                    match &piece.layout {
                        _ if packed.len() != promised => return Err(size_mismatch(entry, promised, packed.len())),
                        Some(layout) => layout.split(&packed),
                        None => vec![packed],
                    }
                }
            }
        }
    };
    let lens: Vec<usize> = parts.iter().map(Vec::len).collect();
    if lens != piece.parts {
        return Err(size_mismatch(entry, piece.parts.iter().sum(), lens.iter().sum()));
    }
    Ok(parts)
}

fn size_mismatch(entry: &Entry, want: usize, got: usize) -> WriteError {
    WriteError::SizeMismatch { tensor: entry.name.clone(), want, got }
}

#[cfg(test)]
mod tests;
