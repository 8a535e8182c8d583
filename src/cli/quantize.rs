//! `quantize`: the integer codes (and optionally x_hat and the parameters)
//! of a weights file, written only once all of them are encoded.

use std::fmt::Write as _;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{WritableElement, WriteNpyExt};
// The crate's own value type of `.npy` headers, not `weights::py_literal`.
use py_literal::Value as NpyHeaderValue;
use serde::Serialize;

use super::{Cli, CliError, describe, load, shape_text, write_stdout};
use crate::compute::analysis::{self, Layout};
use crate::compute::formats;
use crate::compute::quant::{QParams, QuantConfig};
use crate::compute::weights::Weights;
use crate::io::{self, PieceError, WriteError};
use crate::settings;

/// The narrowest integer dtype that holds every code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeDtype {
    Int8,
    Int16,
    Int32,
}

impl CodeDtype {
    fn fitting(qmin: i32, qmax: i32) -> Self {
        let fits = |lo: i32, hi: i32| qmin >= lo && qmax <= hi;
        if fits(i8::MIN.into(), i8::MAX.into()) {
            CodeDtype::Int8
        } else if fits(i16::MIN.into(), i16::MAX.into()) {
            CodeDtype::Int16
        } else {
            CodeDtype::Int32
        }
    }

    fn name(self) -> &'static str {
        match self {
            CodeDtype::Int8 => "int8",
            CodeDtype::Int16 => "int16",
            CodeDtype::Int32 => "int32",
        }
    }
}

/// One file `quantize` writes: an array (its shape already checked, so
/// only the disk can fail) or bytes encoded beforehand.
enum Output<'a> {
    Npy(Box<dyn NpyArray + 'a>),
    Bytes(Vec<u8>),
}

/// An array `.npy` can hold, of any element type.
trait NpyArray {
    fn write_to(&self, out: &mut dyn std::io::Write) -> Result<(), ndarray_npy::WriteNpyError>;
}

impl<T: WritableElement> NpyArray for ArrayD<T> {
    fn write_to(&self, out: &mut dyn std::io::Write) -> Result<(), ndarray_npy::WriteNpyError> {
        self.write_npy(out)
    }
}

/// `values` in `shape`, to be written as `.npy`.
fn npy<'a, T: WritableElement + 'a>(
    values: Vec<T>,
    shape: &[usize],
    what: &'static str,
) -> Result<Output<'a>, CliError> {
    let array = ArrayD::from_shape_vec(IxDyn(shape), values).map_err(|source| CliError::Shape {
        what,
        shape: shape_text(shape),
        source,
    })?;
    Ok(Output::Npy(Box::new(array)))
}

/// A code below 256, held as the pipeline's u16 and written to `.npy` as
/// uint8: no narrowed copy of the whole tensor is made first.
#[derive(Clone, Copy)]
#[repr(transparent)]
struct Uint8Code(u16);

impl WritableElement for Uint8Code {
    fn type_descriptor() -> NpyHeaderValue {
        u8::type_descriptor()
    }

    fn write<W: std::io::Write>(&self, writer: W) -> Result<(), ndarray_npy::WriteDataError> {
        (self.0 as u8).write(writer)
    }

    fn write_slice<W: std::io::Write>(codes: &[Self], mut writer: W) -> Result<(), ndarray_npy::WriteDataError> {
        let mut bytes = [0u8; 1 << 16];
        for chunk in codes.chunks(bytes.len()) {
            bytes.iter_mut().zip(chunk).for_each(|(b, c)| *b = c.0 as u8);
            writer.write_all(&bytes[..chunk.len()])?;
        }
        Ok(())
    }
}

/// Writes every output, each atomically, once all of them are computed (a
/// refused setting or shape writes nothing); arrays of a checked shape
/// stream straight to their file (no second copy in memory), so only the
/// disk can fail once the first file is written.
fn write_outputs(outputs: Vec<(&Path, Output)>) -> Result<(), CliError> {
    for (path, output) in outputs {
        match output {
            Output::Bytes(bytes) => io::write_atomic(path, &bytes)?,
            Output::Npy(array) => io::write_streaming(path, |out| {
                array.write_to(out).map_err(|e| match e {
                    ndarray_npy::WriteNpyError::Io(e) => PieceError::Io(e),
                    e => PieceError::Refused(format!("cannot encode it as .npy: {e}")),
                })
            })?,
        }
    }
    Ok(())
}

fn codes_npy<'a>(codes: &[i32], shape: &[usize], dtype: CodeDtype) -> Result<Output<'a>, CliError> {
    // `fitting` chose a dtype that holds every code, so the casts are exact.
    match dtype {
        CodeDtype::Int8 => npy(codes.iter().map(|&q| q as i8).collect(), shape, "codes"),
        CodeDtype::Int16 => npy(codes.iter().map(|&q| q as i16).collect(), shape, "codes"),
        CodeDtype::Int32 => npy(codes.to_vec(), shape, "codes"),
    }
}

/// x_hat = (q - zero_point) * scale with each element's channel parameters.
fn dequantized_npy<'a>(
    w: &Weights,
    cfg: &QuantConfig,
    params: &[QParams],
    codes: &[i32],
) -> Result<Output<'a>, CliError> {
    let layout = Layout::of(w, cfg);
    let x_hat: Vec<f32> = codes.iter().enumerate().map(|(i, &q)| params[layout.channel(i)].dequantize(q)).collect();
    npy(x_hat, &w.shape, "dequantized weights")
}

fn check_outputs(out: &Path, others: &[(&'static str, Option<&Path>)]) -> Result<(), CliError> {
    let mut seen = vec![("--out", out)];
    for &(flag, path) in others {
        let Some(path) = path else { continue };
        if let Some(&(first, _)) = seen.iter().find(|(_, p)| *p == path) {
            return Err(CliError::SameOutput { first, second: flag, path: path.display().to_string() });
        }
        seen.push((flag, path));
    }
    for (_, path) in seen {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(WriteError::NoDirectory { path: path.to_path_buf(), dir: dir.to_path_buf() }.into());
        }
    }
    Ok(())
}

/// `quantize` reads real weights: synthetic ones would be a surprise.
fn require_weights(cli: &Cli) -> Result<(), CliError> {
    if cli.weights.is_some() {
        return Ok(());
    }
    Err(CliError::NeedsWeights)
}

/// The parameters `quantize` used, in PyTorch's names: one scale and zero
/// point per channel along `axis` (null when per-tensor).
#[derive(Debug, Serialize)]
struct ParamsFile<'a> {
    qscheme: &'a str,
    scale: Vec<f32>,
    zero_point: Vec<i32>,
    qmin: i32,
    qmax: i32,
    axis: Option<usize>,
    dtype: &'a str,
}

fn params_json(cfg: &QuantConfig, params: &[QParams], dtype: CodeDtype) -> Result<Vec<u8>, CliError> {
    let file = ParamsFile {
        qscheme: settings::qscheme(cfg),
        scale: params.iter().map(|p| p.scale).collect(),
        zero_point: params.iter().map(|p| p.zero_point).collect(),
        qmin: params.iter().map(|p| p.qmin).min().unwrap_or(0),
        qmax: params.iter().map(|p| p.qmax).max().unwrap_or(0),
        axis: cfg.per_channel().then_some(cfg.channel_axis),
        dtype: dtype.name(),
    };
    params_bytes(&file)
}

fn params_bytes(params: &impl Serialize) -> Result<Vec<u8>, CliError> {
    serde_json::to_vec_pretty(params).map_err(|source| CliError::Json { what: "the parameters", source })
}

/// The files `quantize` writes.
pub(super) struct Outputs<'a> {
    pub codes: &'a Path,
    pub dequantized: Option<&'a Path>,
    pub params: Option<&'a Path>,
    pub packed: Option<&'a Path>,
}

pub(super) fn quantize_command(cli: &Cli, outputs: &Outputs) -> Result<(), CliError> {
    let Outputs { codes: out, dequantized, params: params_out, packed } = *outputs;
    require_weights(cli)?;
    check_outputs(out, &[("--dequantized", dequantized), ("--params", params_out), ("--packed", packed)])?;
    let (settings, w) = load(cli)?;
    let cfg = &settings.quant;
    if !analysis::uses_affine_kernel(cfg) {
        return quantize_format(&w, cfg, outputs);
    }
    let chosen =
        analysis::channel_params(&w, cfg).map_err(|source| CliError::Quantize { what: describe(&w), source })?;
    let params: Vec<QParams> = chosen.iter().map(|c| c.params).collect();
    let codes = analysis::quantize_codes(&w, cfg, &params);
    let qmin = params.iter().map(|p| p.qmin).min().unwrap_or(0);
    let qmax = params.iter().map(|p| p.qmax).max().unwrap_or(0);
    let dtype = CodeDtype::fitting(qmin, qmax);
    let mut files = vec![(out, codes_npy(&codes, &w.shape, dtype)?)];
    if let Some(path) = dequantized {
        files.push((path, dequantized_npy(&w, cfg, &params, &codes)?));
    }
    if let Some(path) = params_out {
        files.push((path, Output::Bytes(params_json(cfg, &params, dtype)?)));
    }
    if let Some(path) = packed {
        files.push((path, Output::Bytes(packed_bytes(&w, cfg)?)));
    }
    write_outputs(files)?;
    let mut line = quantize_summary(&w, out, dequantized, params_out, dtype);
    if let Some(path) = packed {
        let _ = write!(line, "; the packed codes and parameters to {}", path.display());
    }
    write_stdout(&line)
}

/// The tensor in the format's packed layout (`formats::pack`).
fn packed_bytes(w: &Weights, cfg: &QuantConfig) -> Result<Vec<u8>, CliError> {
    match formats::packed(w, cfg).map_err(|source| CliError::Quantize { what: describe(w), source })? {
        Some(bytes) => Ok(bytes),
        None => Err(CliError::NoPackedLayout(cfg.format)),
    }
}

/// A format of the trait: its codes (uint8 or uint16, as wide as a code),
/// x̂ and the format's own figures.
fn quantize_format(w: &Weights, cfg: &QuantConfig, outputs: &Outputs) -> Result<(), CliError> {
    let Outputs { codes: out, dequantized, params: params_out, packed } = *outputs;
    let fail = |source| CliError::Quantize { what: describe(w), source };
    let (x_hat, codes) = formats::dequantized(w, cfg).map_err(fail)?;
    let code_bits = cfg.format.format().code_bits(cfg);
    let (codes, dtype) = if code_bits <= 8 {
        // std's in-place collect reuses the u16 buffer (an optimisation,
        // not a guarantee: the bytes written are the same either way).
        (npy(codes.into_iter().map(Uint8Code).collect(), &w.shape, "codes")?, "uint8")
    } else {
        (npy(codes, &w.shape, "codes")?, "uint16")
    };
    let mut files = vec![(out, codes)];
    if let Some(path) = dequantized {
        files.push((path, npy(x_hat, &w.shape, "dequantized weights")?));
    }
    if let Some(path) = params_out {
        let summary = analysis::analyze(w, cfg).map_err(fail)?.format;
        files.push((path, Output::Bytes(params_bytes(&summary)?)));
    }
    if let Some(path) = packed {
        files.push((path, Output::Bytes(packed_bytes(w, cfg)?)));
    }
    write_outputs(files)?;
    let mut line =
        format!("wrote {} {dtype} {} codes of {} to {}", shape_text(&w.shape), cfg.format, describe(w), out.display());
    if let Some(path) = dequantized {
        let _ = write!(line, " and f32 x_hat to {}", path.display());
    }
    if let Some(path) = params_out {
        let _ = write!(line, " and the format's parameters to {}", path.display());
    }
    if let Some(path) = packed {
        let _ = write!(line, " and the packed codes and parameters to {}", path.display());
    }
    if w.non_finite > 0 {
        let _ = write!(
            line,
            "; {} non-finite values quantized as 0 (NaN) or the group's largest |x| (+-Inf)",
            w.non_finite
        );
    }
    write_stdout(&line)
}

/// One line: what was written, and how non-finite inputs were mapped.
fn quantize_summary(
    w: &Weights,
    out: &Path,
    dequantized: Option<&Path>,
    params: Option<&Path>,
    dtype: CodeDtype,
) -> String {
    let nan = w.values.iter().filter(|x| x.is_nan()).count();
    let inf = w.non_finite - nan;
    let mut line =
        format!("wrote {} {} codes of {} to {}", shape_text(&w.shape), dtype.name(), describe(w), out.display());
    if let Some(path) = dequantized {
        let _ = write!(line, " and f32 x_hat to {}", path.display());
    }
    if let Some(path) = params {
        let _ = write!(line, " and the parameters to {}", path.display());
    }
    let _ = write!(line, "; {} non-finite values ({nan} NaN -> zero_point, {inf} +-Inf -> qmax/qmin)", w.non_finite);
    line
}
