//! `scan ORIGINAL --against QUANTIZED`: the true error of a quantized model
//! against its original, tensor by tensor, and what the planner would have
//! made at the same size.
//!
//! The quantized side is anything that lists and decodes tensors
//! ([`Quantized`]): a GGUF, or a safetensors of dequantized values, both
//! opened as a [`Checkpoint`]. Names are matched through a [`NameMap`]; the
//! rows llama.cpp's converter reorders in q_proj/k_proj are put back
//! (`permute.rs`) so every value is compared with its own original. The
//! figures are the analysis' (`metrics::metrics_of` on running sums), summed
//! in f64 so they match numpy's to rounding.

mod error;
pub mod names;
pub mod permute;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

pub use error::AgainstError;
pub use names::NameMap;
use names::{PERMUTED, Rule};

use super::scan::{self, Budget, Overrides};
use super::select::{self, FormatSpec};
use super::{Checkpoint, CheckpointError, Entry};
use crate::compute::kernel::Sums;
use crate::compute::metrics::metrics_of;
use crate::compute::watch::Watch;
use crate::compute::weights;

/// A tensor of the quantized model as its file lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedInfo {
    pub name: String,
    /// Outermost first, as the original's (GGUF's reversed dimensions turned back).
    pub shape: Vec<usize>,
    /// Its type in the file: a ggml type (`q4_k`) or a dtype (`f32`).
    pub type_name: String,
    pub bpw: f64,
    pub bytes: u64,
    /// Why it cannot be decoded, if it cannot.
    pub not_decoded: Option<String>,
}

/// What the quantized file says about the model, for names and row order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelMeta {
    pub architecture: Option<String>,
    pub head_count: Option<u64>,
    pub head_count_kv: Option<u64>,
}

/// The tensors of a quantized model: GGUF, or a safetensors checkpoint of
/// dequantized values.
pub trait Quantized {
    /// The file, for messages and the report.
    fn path(&self) -> &str;
    fn tensors(&self) -> Vec<QuantizedInfo>;
    /// One tensor's values, row-major in its file's row order.
    fn decode(&self, name: &str) -> Result<Vec<f32>, CheckpointError>;
    fn metadata(&self) -> Result<ModelMeta, CheckpointError>;
}

impl Quantized for Checkpoint {
    fn path(&self) -> &str {
        &self.path
    }

    fn tensors(&self) -> Vec<QuantizedInfo> {
        self.tensors.iter().map(info_of).collect()
    }

    fn decode(&self, name: &str) -> Result<Vec<f32>, CheckpointError> {
        let entry = self.tensors.iter().find(|t| t.name == name);
        let entry = entry.ok_or_else(|| CheckpointError::BadHeader {
            path: self.path.clone(),
            reason: format!("it holds no tensor {name}"),
        })?;
        Ok(self.load(entry)?.values)
    }

    /// A GGUF's architecture and head counts (re-read from its header);
    /// nothing for safetensors, whose names are the original's.
    fn metadata(&self) -> Result<ModelMeta, CheckpointError> {
        let Some(shard) = self.tensors.iter().find(|t| t.gguf.is_some()).map(|t| &self.shards[t.shard]) else {
            return Ok(ModelMeta::default());
        };
        let header = super::gguf::read_header(shard)?;
        let get = |key: &str| header.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let architecture = get("general.architecture").and_then(|v| v.as_str()).map(str::to_string);
        let count = |suffix: &str| {
            let arch = architecture.as_deref()?;
            // A key that is there but not a count reads 0, which divides
            // nothing: an error naming it, never a silent fallback.
            get(&format!("{arch}.attention.{suffix}")).map(|v| v.as_u64().unwrap_or(0))
        };
        Ok(ModelMeta { head_count: count("head_count"), head_count_kv: count("head_count_kv"), architecture })
    }
}

/// A tensor as its file stores it: a dtype or a ggml type, its bytes in the
/// file (GGUF blocks with their scales), decoded when it is a float type.
fn info_of(e: &Entry) -> QuantizedInfo {
    let bytes = e.data.end - e.data.start;
    // A GGUF type we do not decode has its reason in `skipped` already.
    let not_decoded = (!weights::is_float_dtype(&e.dtype))
        .then(|| e.skipped.clone().unwrap_or_else(|| format!("its type {} is not a float weight", e.dtype)));
    QuantizedInfo {
        name: e.name.clone(),
        shape: e.shape.clone(),
        type_name: e.dtype.clone(),
        bpw: if e.count > 0 { bytes as f64 * 8.0 / e.count as f64 } else { 0.0 },
        bytes,
        not_decoded,
    }
}

/// The comparison, as `scan --against --format json` prints it under `against`.
#[derive(Debug, Clone, Serialize)]
pub struct Against {
    /// The quantized model's file.
    pub path: String,
    pub tensors: Vec<TensorAgainst>,
    pub unmatched: Vec<Unmatched>,
    pub totals: Totals,
    pub plan_at_same_size: Option<PlanAtSameSize>,
    /// Why there is no plan, when there is none.
    #[serde(skip)]
    pub plan_note: Option<String>,
}

/// One original tensor against its quantized copy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorAgainst {
    pub name: String,
    pub quantized_name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub bpw: f64,
    /// 10·log10(Σx²/Σe²); null when the copy is exact.
    pub sqnr_db: Option<f64>,
    /// √(Σe²/Σx²).
    pub rel_rmse: f64,
    pub max_abs_error: f64,
    pub cosine: f64,
    /// The original's file it was read from (the Checkpoint pane opens it there).
    #[serde(skip)]
    pub file: String,
    /// Whether it counts in the totals and the plan: a tensor the scan
    /// quantizes (rank ≥ 2 unless `--include-1d`).
    #[serde(skip)]
    pub in_totals: bool,
    #[serde(skip)]
    pub shape: Vec<usize>,
    #[serde(skip)]
    pub bytes: u64,
    /// Σx² and Σe² over the finite original values.
    #[serde(skip)]
    pub signal: f64,
    #[serde(skip)]
    pub noise: f64,
    #[serde(skip)]
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unmatched {
    pub name: String,
    pub reason: String,
}

/// Over the compared tensors that count in the totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    pub bytes: u64,
    /// 8 · bytes / values.
    pub bpw: f64,
    /// Pooled: 10·log10(ΣΣx² / ΣΣe²).
    pub sqnr_db: Option<f64>,
}

/// The planner's choice at the quantized model's size, llama.cpp types only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanAtSameSize {
    pub bpw: f64,
    pub sqnr_db: Option<f64>,
    pub assignments: BTreeMap<String, String>,
}

/// The candidates of the plan: the llama.cpp types we write
/// (`write::gguf::QUANTIZED`) but the ternary one, which only a model
/// trained ternary can use.
pub fn plan_candidates() -> Vec<&'static str> {
    super::write::gguf::QUANTIZED.iter().map(|t| t.format).filter(|f| *f != "tq2_0").collect()
}

/// One original tensor and the quantized tensor it is compared with.
struct Pair<'a> {
    original: &'a Entry,
    quantized: &'a QuantizedInfo,
    /// Heads to put the converter's row order back with, and their key.
    heads: Option<(usize, String)>,
}

/// What [`against_streaming`] reports while it works.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// The `done`th pair of `total` compared.
    Compared { done: usize, total: usize, tensor: &'a TensorAgainst },
    /// The plan at the same size: `done` of `total` original tensors scanned.
    Planning { done: usize, total: usize },
}

/// Compares every original tensor that has a counterpart in `quantized`
/// (rank-1 tensors count in the totals and the plan when `original` was
/// opened with `include_1d`, so they are not `skipped`); with `plan`, also
/// plans at the same size, which scans the original with every candidate
/// and takes most of the time.
pub fn against(
    original: &Checkpoint,
    quantized: &dyn Quantized,
    map: &NameMap,
    plan: bool,
    watch: &Watch,
) -> Result<Against, AgainstError> {
    against_streaming(original, quantized, map, plan, watch, &mut |_| {})
}

/// `against`, handing each compared tensor to `on_step` as soon as it is
/// measured, then the plan's progress (the Checkpoint pane fills in its
/// rows while the rest run).
pub fn against_streaming(
    original: &Checkpoint,
    quantized: &dyn Quantized,
    map: &NameMap,
    plan: bool,
    watch: &Watch,
    on_step: &mut dyn FnMut(Step),
) -> Result<Against, AgainstError> {
    let listed = quantized.tensors();
    let meta = quantized.metadata()?;
    let (pairs, unmatched) = pair_up(original, quantized.path(), &listed, map, &meta)?;
    let mut tensors = Vec::with_capacity(pairs.len());
    for (i, pair) in pairs.iter().enumerate() {
        watch.check().map_err(CheckpointError::from)?;
        let t = compare(original, quantized, pair)?;
        on_step(Step::Compared { done: i + 1, total: pairs.len(), tensor: &t });
        tensors.push(t);
        watch.progress(i + 1, pairs.len());
    }
    let totals = totals(&tensors);
    let (plan_at_same_size, plan_note) = match plan {
        true => plan_at_same_size(original, &tensors, &totals, watch, on_step)?,
        false => (None, Some("not asked for (--no-plan)".to_string())),
    };
    Ok(Against { path: quantized.path().to_string(), tensors, unmatched, totals, plan_at_same_size, plan_note })
}

/// How many tensors would be compared, or why none can be: the names,
/// shapes and head counts checked from the headers alone, nothing decoded
/// (the TUI's check before it starts).
pub fn check_pairs(original: &Checkpoint, quantized: &dyn Quantized, map: &NameMap) -> Result<usize, AgainstError> {
    let listed = quantized.tensors();
    let meta = quantized.metadata()?;
    Ok(pair_up(original, quantized.path(), &listed, map, &meta)?.0.len())
}

/// The pairs to compare, and every tensor of either side left out, with why.
fn pair_up<'a>(
    original: &'a Checkpoint,
    quantized_path: &str,
    listed: &'a [QuantizedInfo],
    map: &NameMap,
    meta: &ModelMeta,
) -> Result<(Vec<Pair<'a>>, Vec<Unmatched>), AgainstError> {
    let by_name: HashMap<&str, &QuantizedInfo> = listed.iter().map(|q| (q.name.as_str(), q)).collect();
    let arch = meta.architecture.as_deref();
    let mut claimed: HashMap<&str, &str> = HashMap::new();
    let (mut pairs, mut unmatched) = (Vec::new(), Vec::new());
    // A name found with another shape: when nothing pairs up, that is why.
    let mut first_reshaped: Option<(String, String)> = None;
    let mut leave = |name: &str, reason: String| unmatched.push(Unmatched { name: name.to_string(), reason });
    for e in &original.tensors {
        if !weights::is_float_dtype(&e.dtype) {
            // Its namesake (a buffer kept as it was) is not listed again.
            if let Some((&name, _)) = by_name.get_key_value(e.name.as_str()) {
                claimed.insert(name, e.name.as_str());
            }
            leave(&e.name, e.skipped.clone().unwrap_or_else(|| format!("{}: not a float weight", e.dtype)));
            continue;
        }
        let (target, rule) = map.target(&e.name, arch, |n| by_name.contains_key(n));
        let Some(q) = by_name.get(target.as_str()).copied() else {
            leave(&e.name, format!("{quantized_path} holds no tensor {target}"));
            continue;
        };
        if q.shape != e.shape {
            let reason = format!("shape {:?} here but {:?} in {quantized_path} ({target})", e.shape, q.shape);
            first_reshaped.get_or_insert_with(|| (e.name.clone(), reason.clone()));
            leave(&e.name, reason);
            continue;
        }
        if let Some(why) = &q.not_decoded {
            leave(&e.name, format!("{target} in {quantized_path} is not compared: {why}"));
            continue;
        }
        if let Some(first) = claimed.insert(q.name.as_str(), e.name.as_str()) {
            leave(&e.name, format!("{target} in {quantized_path} is already compared with {first}"));
            continue;
        }
        let heads = if rule == Rule::Gguf && arch.is_some_and(|a| PERMUTED.contains(&a)) {
            permutation_heads(quantized_path, &e.name, &q.name, e.shape[0], meta)?
        } else {
            None
        };
        pairs.push(Pair { original: e, quantized: q, heads });
    }
    for q in listed.iter().filter(|q| !claimed.contains_key(q.name.as_str())) {
        unmatched.push(Unmatched {
            name: q.name.clone(),
            reason: format!("in {quantized_path} only: no original tensor maps to it"),
        });
    }
    if let (true, Some((tensor, reason))) = (pairs.is_empty(), first_reshaped) {
        let (original, quantized) = (original.path.clone(), quantized_path.to_string());
        return Err(AgainstError::ShapesDiffer { original, quantized, tensor, reason });
    }
    if pairs.is_empty() {
        let example = |names: Vec<&str>| names.into_iter().take(3).collect::<Vec<_>>().join(", ");
        return Err(AgainstError::NothingMatched {
            original: original.path.clone(),
            quantized: quantized_path.to_string(),
            architecture: arch.unwrap_or("not given").to_string(),
            original_example: example(original.tensors.iter().map(|t| t.name.as_str()).collect()),
            quantized_example: example(listed.iter().map(|q| q.name.as_str()).collect()),
        });
    }
    Ok((pairs, unmatched))
}

/// The heads the converter permuted `original`'s rows with, if it did:
/// `head_count` for q_proj, `head_count_kv` (when given) for k_proj.
fn permutation_heads(
    path: &str,
    original: &str,
    tensor: &str,
    rows: usize,
    meta: &ModelMeta,
) -> Result<Option<(usize, String)>, AgainstError> {
    let is = |part: &str| [".weight", ".bias"].iter().any(|s| original.ends_with(&format!("{part}{s}")));
    let arch = meta.architecture.as_deref().unwrap_or_default();
    let key = |k: &str| format!("{arch}.attention.{k}");
    let (heads, key) = if is("q_proj") {
        (meta.head_count, key("head_count"))
    } else if is("k_proj") {
        match meta.head_count_kv {
            Some(kv) => (Some(kv), key("head_count_kv")),
            None => (meta.head_count, key("head_count")),
        }
    } else {
        return Ok(None);
    };
    let heads = heads.ok_or_else(|| AgainstError::NoHeadCount {
        path: path.to_string(),
        tensor: tensor.to_string(),
        key: key.clone(),
    })? as usize;
    if !permute::divides(rows, heads) {
        return Err(AgainstError::HeadsDoNotDivide {
            path: path.to_string(),
            tensor: tensor.to_string(),
            rows,
            heads,
            key,
        });
    }
    Ok(Some((heads, key)))
}

/// One pair decoded, lined up and measured; both copies dropped after.
fn compare(original: &Checkpoint, quantized: &dyn Quantized, pair: &Pair) -> Result<TensorAgainst, AgainstError> {
    let (e, q) = (pair.original, pair.quantized);
    let x = original.load(e)?.values;
    let mut xh = quantized.decode(&q.name)?;
    if xh.len() != x.len() {
        let (path, tensor, shape) = (quantized.path().to_string(), q.name.clone(), q.shape.clone());
        return Err(AgainstError::WrongCount { path, tensor, shape, got: xh.len(), want: x.len() });
    }
    if let Some((heads, _)) = &pair.heads {
        xh = permute::from_gguf_order(&xh, e.shape[0], *heads);
    }
    let sums = error_sums(&x, &xh);
    let m = metrics_of(&sums, 0, 0);
    let exact = sums.sq == 0.0;
    Ok(TensorAgainst {
        name: e.name.clone(),
        quantized_name: q.name.clone(),
        type_name: q.type_name.clone(),
        bpw: q.bpw,
        sqnr_db: (!exact).then_some(m.sqnr_db),
        rel_rmse: if sums.x2 > 0.0 { (sums.sq / sums.x2).sqrt() } else { 0.0 },
        max_abs_error: m.max_abs_error,
        cosine: m.cosine,
        file: original.shards[e.shard].path.clone(),
        in_totals: e.skipped.is_none(),
        shape: e.shape.clone(),
        bytes: q.bytes,
        signal: sums.x2,
        noise: sums.sq,
        count: e.count,
    })
}

const LANES: usize = 8;

/// The analysis' running sums of x against x̂, over the finite x, in f64
/// (eight lanes in a fixed order: the same bits everywhere, and within
/// rounding of numpy's float64 sums).
pub fn error_sums(x: &[f32], xh: &[f32]) -> Sums {
    let mut acc = [[0f64; LANES]; 6];
    let mut max = [0f64; LANES];
    let (mut n, mut zeros) = ([0u64; LANES], [0u64; LANES]);
    for (xs, hs) in x.chunks(LANES).zip(xh.chunks(LANES)) {
        for l in 0..xs.len() {
            let (v, h) = (f64::from(xs[l]), f64::from(hs[l]));
            if !v.is_finite() {
                continue;
            }
            let e = v - h;
            n[l] += 1;
            zeros[l] += u64::from(h == 0.0);
            acc[0][l] += e;
            acc[1][l] += e.abs();
            acc[2][l] += e * e;
            acc[3][l] += v * v;
            acc[4][l] += h * h;
            acc[5][l] += v * h;
            max[l] = max[l].max(e.abs());
        }
    }
    let sum = |a: &[f64; LANES]| a.iter().sum::<f64>();
    Sums {
        n: n.iter().sum(),
        clipped: 0,
        zeros: zeros.iter().sum(),
        err: sum(&acc[0]),
        abs: sum(&acc[1]),
        sq: sum(&acc[2]),
        max_abs: max.iter().fold(0f64, |m, &v| m.max(v)),
        x2: sum(&acc[3]),
        xh2: sum(&acc[4]),
        xxh: sum(&acc[5]),
    }
}

fn totals(tensors: &[TensorAgainst]) -> Totals {
    let counted = tensors.iter().filter(|t| t.in_totals);
    let (bytes, count, signal, noise) =
        counted.fold((0u64, 0usize, 0.0, 0.0), |(b, c, s, n), t| (b + t.bytes, c + t.count, s + t.signal, n + t.noise));
    Totals {
        bytes,
        bpw: if count > 0 { bytes as f64 * 8.0 / count as f64 } else { 0.0 },
        sqnr_db: (noise > 0.0).then(|| 10.0 * (signal / noise).log10()),
    }
}

/// The original's counted tensors scanned with the llama.cpp types and
/// planned within the quantized model's bits; `None` and why when no plan fits.
fn plan_at_same_size(
    original: &Checkpoint,
    tensors: &[TensorAgainst],
    totals: &Totals,
    watch: &Watch,
    on_step: &mut dyn FnMut(Step),
) -> Result<(Option<PlanAtSameSize>, Option<String>), AgainstError> {
    let counted: std::collections::HashSet<&str> =
        tensors.iter().filter(|t| t.in_totals).map(|t| t.name.as_str()).collect();
    if counted.is_empty() {
        return Ok((None, Some("no compared tensor is quantized (rank 2 or more, or --include-1d)".into())));
    }
    let selected: Vec<bool> = original.tensors.iter().map(|t| counted.contains(t.name.as_str())).collect();
    let specs: Vec<FormatSpec> = plan_candidates()
        .into_iter()
        .map(|f| select::parse_format(f).expect("every llama.cpp type is a built-in format"))
        .collect();
    let mut on_tensor = |done, total, _: &scan::TensorScan| on_step(Step::Planning { done, total });
    let result = scan::scan_streaming(original, &selected, &specs, watch, &mut on_tensor)?;
    match scan::plan_scan_with(&result, Some(Budget::Bpw(totals.bpw)), &Overrides::default()) {
        Ok(Some(p)) => Ok((Some(PlanAtSameSize { bpw: p.bpw, sqnr_db: p.sqnr_db, assignments: p.assignments }), None)),
        Ok(None) => Ok((None, None)),
        Err(e) => Ok((None, Some(format!("no plan of {} fits: {e}", plan_candidates().join(", "))))),
    }
}

#[cfg(test)]
mod tests;
