//! `scan --write OUT.gguf`, `--dequantized OUT.safetensors [--dtype]`,
//! `--packed OUT.safetensors`: the scanned checkpoint written one tensor at
//! a time, each file atomically (`io::write_streaming`). Every refusal
//! (formats, outputs onto inputs, a format GGUF cannot hold) comes before
//! any file is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::CliError;
use super::scan::Setup;
use crate::compute::checkpoint::against::names::{LLAMA_FAMILY, gguf_name};
use crate::compute::checkpoint::recipe::{KEEP, Recipe};
use crate::compute::checkpoint::scan::Scan;
use crate::compute::checkpoint::write::{self, Assigned, FloatDtype, GgufNames, OutputPlan, Target};
use crate::compute::checkpoint::{self, Checkpoint};
use crate::io::{self, PieceError, WriteError};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DequantizedDtype {
    F32,
    F16,
    Bf16,
}

/// The outputs `scan` may write.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct WriteFlags {
    /// Write the quantized model as GGUF (llama.cpp types; one --formats
    /// entry or a budget's plan)
    #[arg(long, value_name = "OUT.gguf")]
    pub write: Option<PathBuf>,
    /// Write x̂ of every quantized tensor as safetensors (others as they are)
    #[arg(long, value_name = "OUT.safetensors")]
    pub dequantized: Option<PathBuf>,
    /// The float type of --dequantized
    #[arg(long, value_enum, value_name = "DTYPE", requires = "dequantized")]
    pub dtype: Option<DequantizedDtype>,
    /// Write every quantized tensor's codes and parameters as named
    /// safetensors tensors (README "Writing the model")
    #[arg(long, value_name = "OUT.safetensors")]
    pub packed: Option<PathBuf>,
    /// Write the recipe (budget, candidates, selection, pins and every
    /// tensor's format) as TOML; --recipe loads it back
    #[arg(long, value_name = "FILE.toml")]
    pub recipe_out: Option<PathBuf>,
    /// Write one name=type line per quantized tensor, for llama-quantize
    /// --tensor-type (llama.cpp's type names: q4_0, q4_k, q8_0, f16, …)
    #[arg(long, value_name = "FILE")]
    pub tensor_types_out: Option<PathBuf>,
}

impl WriteFlags {
    fn outputs(&self) -> Vec<(&'static str, &Path, Target)> {
        let dtype = match self.dtype.unwrap_or(DequantizedDtype::F32) {
            DequantizedDtype::F32 => FloatDtype::F32,
            DequantizedDtype::F16 => FloatDtype::F16,
            DequantizedDtype::Bf16 => FloatDtype::Bf16,
        };
        let all = [
            ("--write", &self.write, Target::Gguf),
            ("--dequantized", &self.dequantized, Target::Dequantized(dtype)),
            ("--packed", &self.packed, Target::Packed),
        ];
        all.into_iter().filter_map(|(flag, p, t)| Some((flag, p.as_deref()?, t))).collect()
    }

    /// Every file asked for, the models' and the text ones.
    fn paths(&self) -> Vec<(&'static str, &Path)> {
        let text = [("--recipe-out", &self.recipe_out), ("--tensor-types-out", &self.tensor_types_out)];
        let text = text.into_iter().filter_map(|(flag, p)| Some((flag, p.as_deref()?)));
        self.outputs().into_iter().map(|(flag, p, _)| (flag, p)).chain(text).collect()
    }
}

/// Refusals that need no tensor, before the scan: one format per tensor,
/// distinct outputs in folders that exist, none of them an input file
/// (the checkpoint's or the recipe).
pub(super) fn check(flags: &WriteFlags, input: &Path, setup: &Setup) -> Result<(), CliError> {
    let outputs = flags.paths();
    if outputs.is_empty() {
        return Ok(());
    }
    write::check_formats(&setup.specs, setup.planned()).map_err(|e| CliError::Refused(e.to_string()))?;
    for (i, (flag, path)) in outputs.iter().enumerate() {
        if let Some((first, _)) = outputs[..i].iter().find(|(_, p)| same_file(p, path) || p == path) {
            return Err(CliError::SameOutput { first, second: flag, path: path.display().to_string() });
        }
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(WriteError::NoDirectory { path: path.to_path_buf(), dir: dir.to_path_buf() }.into());
        }
    }
    let ck = checkpoint::open(input, false)?;
    let mut inputs = input_files(input, &ck);
    inputs.extend(setup.recipe.as_ref().map(|(_, file)| file.clone()));
    for (flag, path) in &outputs {
        if let Some(file) = inputs.iter().find(|f| same_file(f, path)) {
            return Err(CliError::OntoInput { flag, path: path.to_path_buf(), file: file.clone() });
        }
    }
    Ok(())
}

/// Every file the checkpoint is read from: its shards and its index.
fn input_files(input: &Path, ck: &Checkpoint) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ck.shards.iter().map(|s| PathBuf::from(&s.path)).collect();
    files.push(input.to_path_buf());
    files.push(input.join("model.safetensors.index.json"));
    files
}

/// Whether two paths are one file: the same inode (a hard link or a
/// symlink to it), or the same canonical path.
fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (ma.dev(), ma.ino()) == (mb.dev(), mb.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = (ma, mb);
        a.canonicalize().ok().is_some_and(|c| b.canonicalize().ok() == Some(c))
    }
}

/// Writes every output the flags name, after planning them all.
pub(super) fn write_outputs(flags: &WriteFlags, input: &Path, setup: &Setup, scan: &Scan) -> Result<(), CliError> {
    if flags.paths().is_empty() {
        return Ok(());
    }
    let ck = checkpoint::open(input, setup.include_1d)?;
    let assigned = write::assign(&ck, scan, &setup.specs).map_err(|e| CliError::Refused(e.to_string()))?;
    let labels = labels(&assigned, scan);
    let mut texts = Vec::new();
    if let Some(path) = &flags.recipe_out {
        texts.push((path, recipe_text(setup, scan, &labels)));
    }
    if let Some(path) = &flags.tensor_types_out {
        let architecture = architecture(input, &ck);
        texts.push((path, tensor_types(&assigned, &labels, architecture.as_deref())?));
    }
    let recipe = write::recipe_json(&assigned, scan);
    let mut plans = Vec::new();
    for (_, path, target) in flags.outputs() {
        plans.push((path, plan_output(&ck, input, &assigned, (path, target), &recipe)?));
    }
    for (path, text) in texts {
        io::write_atomic(path, text.as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    let cancelled = cancel_flag();
    for (path, plan) in &plans {
        write_one(&ck, path, plan, &cancelled)?;
        eprintln!("wrote {} ({} tensors, {} bytes)", path.display(), plan.pieces.len(), plan.len());
    }
    Ok(())
}

/// Each quantized tensor's format, `keep` for one pinned as it is.
fn labels(assigned: &[Assigned], scan: &Scan) -> BTreeMap<String, String> {
    let quantized = scan.tensors.iter().filter(|t| !t.skipped).map(|t| t.name.as_str()).collect::<Vec<_>>();
    assigned
        .iter()
        .filter(|a| quantized.contains(&a.entry.name.as_str()))
        .map(|a| (a.entry.name.clone(), a.spec.map_or(KEEP, |s| s.label.as_str()).to_string()))
        .collect()
}

/// The recipe of this scan, its totals as comments.
fn recipe_text(setup: &Setup, scan: &Scan, labels: &BTreeMap<String, String>) -> String {
    let mut recipe = Recipe {
        formats: setup.candidates.clone(),
        include: setup.include.clone(),
        exclude: setup.exclude.clone(),
        include_1d: setup.include_1d,
        pins: setup.pins.clone(),
        weights: setup.weights.clone(),
        assignments: labels.clone(),
        ..Recipe::default()
    };
    recipe.set_budget(setup.budget);
    let mut comments = vec![format!("qmc-tui scan recipe of {}; load it with --recipe FILE", scan.checkpoint.path)];
    let total = scan.plan.as_ref().map(|p| (p.bpw, p.bytes, p.sqnr_db));
    let total = total.or_else(|| scan.totals.first().map(|t| (t.bpw, t.bytes, t.sqnr_db)));
    if let Some((bpw, bytes, sqnr)) = total {
        let sqnr = sqnr.map_or("exact".to_string(), |db| format!("SQNR {db:.2} dB"));
        comments.push(format!("{} tensors: {bpw:.4} bits per weight, {bytes} bytes, {sqnr}", labels.len()));
    }
    recipe.to_toml(&comments)
}

/// `name=type` per quantized tensor, in llama.cpp's lower-case type names;
/// a tensor kept by a pin gets its own dtype, so llama-quantize keeps it too.
fn tensor_types(
    assigned: &[Assigned],
    labels: &BTreeMap<String, String>,
    architecture: Option<&str>,
) -> Result<String, CliError> {
    let mut out = String::new();
    for a in assigned.iter().filter(|a| labels.contains_key(&a.entry.name)) {
        let (name, dtype) = (&a.entry.name, &a.entry.dtype);
        let ty = match a.spec {
            Some(spec) => write::gguf::quantized_type(spec.cfg.format.name())
                .map(|t| t.format)
                .ok_or_else(|| CliError::NoGgmlType { tensor: name.clone(), format: spec.label.clone() })?,
            // Kept in a GGUF input: its own ggml type (llama-quantize reads
            // any ggml type name, in any case).
            None => match a.entry.gguf.as_ref().and_then(|g| crate::compute::gguf::ggml_type(g.type_id)) {
                Some(t) => t.name,
                None => ["f32", "f16", "bf16", "f64"]
                    .into_iter()
                    .find(|d| d == dtype)
                    .ok_or_else(|| CliError::NoKeptType { tensor: name.clone(), dtype: dtype.clone() })?,
            },
        };
        out.push_str(&format!("{}={ty}\n", tensor_pattern(&gguf_tensor_name(name, architecture))));
    }
    Ok(out)
}

/// The tensor's name in a GGUF that llama.cpp's converter makes: the
/// llama family's GGUF names (`blk.0.attn_q.weight`), else its own.
fn gguf_tensor_name(name: &str, architecture: Option<&str>) -> String {
    let llama = architecture.is_some_and(|a| LLAMA_FAMILY.contains(&a));
    llama.then(|| gguf_name(name)).flatten().unwrap_or_else(|| name.to_string())
}

/// `llama-quantize --tensor-type` takes a regex that it searches for in
/// each name, first match winning: `output.weight` alone would also catch
/// `blk.0.attn_output.weight`. Anchored, with its dots escaped, it names
/// one tensor.
fn tensor_pattern(name: &str) -> String {
    let mut out = String::from("^");
    for c in name.chars() {
        if r"\.^$|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out + "$"
}

/// The header and pieces of the file `output` names (its path and kind).
fn plan_output<'a>(
    ck: &Checkpoint,
    input: &Path,
    assigned: &[Assigned<'a>],
    (path, target): (&Path, Target),
    recipe: &str,
) -> Result<OutputPlan<'a>, CliError> {
    let plan = match target {
        Target::Gguf => {
            let architecture = architecture(input, ck).unwrap_or_else(|| "qmc".to_string());
            let name = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            write::plan_gguf(assigned, &GgufNames { architecture: &architecture, name: &name, recipe })
        }
        _ => {
            let mut metadata: BTreeMap<String, String> = write::input_metadata(ck);
            metadata.insert("qmc.recipe".into(), recipe.to_string());
            write::plan_safetensors(assigned, target, metadata)
        }
    };
    plan.map_err(|e| CliError::Output { path: path.to_path_buf(), reason: e.to_string() })
}

/// `model_type` of the `config.json` beside the checkpoint, if there is one.
fn architecture(input: &Path, ck: &Checkpoint) -> Option<String> {
    let dir = if input.is_dir() { input.to_path_buf() } else { Path::new(&ck.shards.first()?.path).parent()?.into() };
    let text = std::fs::read(dir.join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_slice(&text).ok()?;
    config["model_type"].as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// Set by SIGINT, SIGTERM or SIGHUP while the files are written, so a
/// cancel stops between tensors and the temporary file is removed.
fn cancel_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        // Without the handler a signal ends the process as before, and the
        // temporary file is left: worth a try, not worth failing for.
        let _ = signal_hook::flag::register(signal, Arc::clone(&flag));
    }
    flag
}

fn write_one(ck: &Checkpoint, path: &Path, plan: &OutputPlan, cancelled: &AtomicBool) -> Result<(), CliError> {
    let zeros = [0u8; write::gguf::ALIGNMENT];
    io::write_streaming(path, |out| {
        out.write_all(&plan.header)?;
        for piece in &plan.pieces {
            if cancelled.load(Ordering::Relaxed) {
                return Err(PieceError::Refused("cancelled by a signal".into()));
            }
            for part in write::encode(ck, piece, plan.target).map_err(|e| PieceError::Refused(e.to_string()))? {
                out.write_all(&part)?;
            }
            out.write_all(&zeros[..piece.padding])?;
        }
        Ok(())
    })?;
    Ok(())
}
