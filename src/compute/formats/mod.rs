//! Number formats as plug-ins. A format is one type implementing
//! [`NumberFormat`] (its settings, how it groups the values, how it
//! quantizes a group, its levels, its true size and its parameters in its
//! own ecosystem's names), and one line in [`BUILTIN_FORMATS`].
//!
//! `int` (the affine quantizer) keeps its own fast pipeline in
//! `analysis.rs` for per-tensor and per-channel parameters; every other
//! format, and `int` in groups, runs through [`run`], which only needs the
//! trait.

use std::fmt;

use super::UnknownName;
use super::quant::{InvalidSetting, QuantConfig};

pub mod run;
pub mod table;

mod binary;
mod codebook;
mod float;
mod int;
mod kquants;
mod llama;
pub(crate) mod minifloat;
mod mx;
mod nf4;
pub mod pack;

pub use pack::Packed;
pub use run::{FormatSummary, dequantized, packed};

/// How the values of a `[rows, cols]` tensor share parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One set of parameters for the whole tensor.
    Tensor,
    /// One per channel along `quant.channel_axis`.
    Channel,
    /// One per `n` consecutive values in row-major order: blocks along the
    /// rows (the input dimension of an `[out, in]` weight).
    Groups(usize),
}

/// What a format may need to know of the whole tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorFacts {
    pub rows: usize,
    pub cols: usize,
    /// The largest finite |x| of the whole tensor (0 when there is none).
    pub amax: f32,
}

/// Where a format writes one group's result, value by value.
pub struct Quantized<'a> {
    pub xhat: &'a mut [f32],
    /// The code each value is stored as, below 2^`code_bits`.
    pub codes: &'a mut [u16],
    /// Whether the value was beyond the range the group's codes span.
    pub clipped: &'a mut [bool],
}

/// A group's parameters fitted once over all its values: what
/// [`NumberFormat::levels`] and [`NumberFormat::params`] give, and what
/// [`NumberFormat::quantize_part`] reads.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupFit {
    /// The values the group's codes can take, ascending.
    pub levels: Vec<f32>,
    /// Its parameters in the ecosystem's names, as stored.
    pub params: Vec<(&'static str, f64)>,
}

impl GroupFit {
    /// The parameter called `name` (0 when there is none).
    pub fn param(&self, name: &str) -> f64 {
        self.params.iter().find(|p| p.0 == name).map_or(0.0, |p| p.1)
    }
}

/// A number format: everything the pipeline, the report and the panes ask
/// of one. `xs` is always one group of [`NumberFormat::grouping`], finite
/// (non-finite values are handed over as 0, or ±amax of the group for ±Inf).
pub trait NumberFormat: Sync + Send {
    /// The name in `[quant] format = "…"`.
    fn name(&self) -> &'static str;

    /// One line: the family, the layout and what is stored.
    fn summary(&self) -> &'static str;

    /// The `[quant]` keys this format reads, besides `format`.
    fn settings(&self) -> &'static [&'static str];

    /// Refuses settings this format cannot use, naming the key; `cols` is
    /// the row length of the 2-D view (`None` before a tensor is known).
    fn check(&self, cfg: &QuantConfig, cols: Option<usize>) -> Result<(), InvalidSetting>;

    fn grouping(&self, cfg: &QuantConfig) -> Grouping;

    /// Bits of one code: a group can use at most 2^code_bits levels.
    fn code_bits(&self, cfg: &QuantConfig) -> u32;

    /// Storage cost per weight, counting every scale, zero point, codebook
    /// and super-block of a tensor of `rows × cols`.
    fn bits_per_weight(&self, cfg: &QuantConfig, rows: usize, cols: usize) -> f64;

    /// Quantizes one group.
    fn quantize(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], out: Quantized<'_>);

    /// Quantizes `xs`, consecutive groups of `size` values (the last may
    /// be shorter), each as `quantize` does. The default takes them one at
    /// a time; a format whose groups are quicker side by side (the
    /// K-quants, two super-blocks in 16 AVX-512 lanes) takes several at once.
    fn quantize_each(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32], size: usize, out: Quantized<'_>) {
        let Quantized { xhat, codes, clipped } = out;
        let groups = xs.chunks(size).zip(xhat.chunks_mut(size)).zip(codes.chunks_mut(size));
        for (((xs, xhat), codes), clipped) in groups.zip(clipped.chunks_mut(size)) {
            self.quantize(cfg, tensor, xs, Quantized { xhat, codes, clipped });
        }
    }

    /// The values one group's codes can take, ascending: what the weight
    /// histogram draws.
    fn levels(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32]) -> Vec<f32>;

    /// One group's parameters in the format's own ecosystem's names
    /// (llama.cpp's `d` and `m`, bitsandbytes' `absmax`, …), as stored.
    fn params(&self, cfg: &QuantConfig, tensor: &TensorFacts, xs: &[f32]) -> Vec<(&'static str, f64)>;

    /// [`NumberFormat::levels`] and [`NumberFormat::params`] of one group
    /// together, as the summary shows them: from [`NumberFormat::fit`] when
    /// the format has one, so that a costly fit is made once.
    fn levels_and_params(
        &self,
        cfg: &QuantConfig,
        tensor: &TensorFacts,
        xs: &[f32],
    ) -> (Vec<f32>, Vec<(&'static str, f64)>) {
        match self.fit(cfg, tensor, xs) {
            Some(fit) => (fit.levels, fit.params),
            None => (self.levels(cfg, tensor, xs), self.params(cfg, tensor, xs)),
        }
    }

    /// For a format with one group per tensor or channel: the group's
    /// parameters, a reduction over all its values, fitted once, so that
    /// the pipeline can quantize the parts of a long group on every core
    /// ([`NumberFormat::quantize_part`]) and show the fit without fitting
    /// again. `None` (the default): each group is quantized whole.
    fn fit(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, _xs: &[f32]) -> Option<GroupFit> {
        None
    }

    /// Quantizes `xs`, a run of consecutive values of a group whose
    /// [`NumberFormat::fit`] is `fit`, exactly as `quantize` quantizes them
    /// within the whole group. Called only when `fit` gave one; the default,
    /// `quantize` of the run, is right only for a format whose values do
    /// not depend on each other.
    fn quantize_part(&self, cfg: &QuantConfig, tensor: &TensorFacts, _fit: &GroupFit, xs: &[f32], out: Quantized<'_>) {
        self.quantize(cfg, tensor, xs, out)
    }

    /// Its name where it is deployed: `GGML_TYPE_Q4_0`, `torch.float8_e4m3fn`, …
    fn ecosystem(&self, cfg: &QuantConfig) -> String;

    /// Its rows in the Formats table: (label, settings), from `base` (the
    /// defaults with `format` set to this one). One row by default; a
    /// format with a size to choose lists the sizes worth comparing.
    fn compare_rows(&self, base: &QuantConfig) -> Vec<(String, QuantConfig)> {
        vec![(self.name().to_string(), base.clone())]
    }

    /// Appends one group to the tensor's packed form (see [`pack`] for the
    /// layout): a block of its ecosystem (GGUF's) to `out.blocks()`, or its
    /// codes to `out.codes` and its parameters as stored; true when it did,
    /// false when the format has no packed layout (a plug-in may have none).
    fn pack(&self, _cfg: &QuantConfig, _tensor: &TensorFacts, _xs: &[f32], _out: &mut Packed) -> bool {
        false
    }
}

/// A handle on a [`NumberFormat`], named by it in settings and reports.
#[derive(Clone, Copy)]
pub struct FormatKind(&'static dyn NumberFormat);

#[allow(non_upper_case_globals)]
impl FormatKind {
    pub const Int: FormatKind = BUILTIN_FORMATS[0];

    /// A format of one's own (a plug-in not in [`BUILTIN_FORMATS`]).
    pub const fn new(format: &'static dyn NumberFormat) -> FormatKind {
        FormatKind(format)
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    pub fn format(self) -> &'static dyn NumberFormat {
        self.0
    }

    /// The affine quantizer, whose own pipeline measures it per tensor and per channel.
    pub fn is_int(self) -> bool {
        self.name() == "int"
    }

    /// The next (or previous) built-in format, wrapping around.
    pub fn cycle(self, forward: bool) -> FormatKind {
        let all = BUILTIN_FORMATS;
        let i = all.iter().position(|k| *k == self).unwrap_or(0);
        let n = all.len();
        all[if forward { (i + 1) % n } else { (i + n - 1) % n }]
    }
}

/// Every built-in format, in the order a key cycles them.
pub const BUILTIN_FORMATS: &[FormatKind] = &[
    FormatKind(&int::Int),
    FormatKind(&llama::Q8_0),
    FormatKind(&llama::Q4_0),
    FormatKind(&llama::Q4_1),
    FormatKind(&llama::Q5_0),
    FormatKind(&llama::Q5_1),
    FormatKind(&kquants::Q4_K),
    FormatKind(&kquants::Q6_K),
    FormatKind(&kquants::TQ2_0),
    FormatKind(&float::FP8_E4M3),
    FormatKind(&float::FP8_E5M2),
    FormatKind(&float::FP4_E2M1),
    FormatKind(&mx::MXFP8),
    FormatKind(&mx::MXFP4),
    FormatKind(&mx::NVFP4),
    FormatKind(&nf4::Nf4),
    FormatKind(&binary::Binary),
    FormatKind(&binary::Ternary),
    FormatKind(&codebook::Codebook),
];

/// The built-in format called `name`.
pub fn find(name: &str) -> Result<FormatKind, UnknownName> {
    BUILTIN_FORMATS
        .iter()
        .copied()
        .find(|k| k.name() == name)
        .ok_or_else(|| UnknownName::new("format", name, BUILTIN_FORMATS.iter().map(|k| k.name())))
}

impl Default for FormatKind {
    fn default() -> Self {
        FormatKind::Int
    }
}

impl PartialEq for FormatKind {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for FormatKind {}

impl fmt::Debug for FormatKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for FormatKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for FormatKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        find(s)
    }
}

impl serde::Serialize for FormatKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for FormatKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        find(&name).map_err(serde::de::Error::custom)
    }
}

pub(crate) use crate::compute::with_avx2;

/// `t as i32` for a `t` known to be finite and below 2^30 in magnitude,
/// in one instruction that vectorizes (`as` saturates, which a loop pays
/// for with a branch per value). Clamped first, so another `t` (NaN
/// included) gives a wrong code, never undefined behaviour.
#[inline(always)]
// Not `clamp`, which keeps a NaN.
#[allow(clippy::manual_clamp)]
pub(crate) fn trunc_small(t: f32) -> i32 {
    const LIMIT: f32 = (1u32 << 30) as f32;
    // SAFETY: the clamped value is finite and within i32's range.
    unsafe { t.max(-LIMIT).min(LIMIT).to_int_unchecked::<i32>() }
}

/// `x` stored as IEEE half precision and read back (round to nearest even,
/// as numpy's `astype(np.float16)` and ggml's `GGML_FP32_TO_FP16`).
#[inline]
pub fn through_f16(x: f32) -> f32 {
    half::f16::from_f32(x).to_f32()
}

/// The refusal of a row length that is not a whole number of blocks.
pub fn whole_blocks(key: &str, block: usize, cols: Option<usize>, format: &str) -> Result<(), InvalidSetting> {
    match cols {
        Some(cols) if cols % block != 0 => Err(InvalidSetting::new(
            key,
            format!(
                "{format} stores blocks of {block} values along each row, and the rows here hold {cols}, not a multiple of {block}"
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
