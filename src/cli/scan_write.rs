//! `scan --write OUT.gguf`, `--dequantized OUT.safetensors [--dtype]`,
//! `--packed OUT.safetensors`: the scanned checkpoint written one tensor at
//! a time, each file atomically (`io::write_streaming`). Every refusal
//! (formats, outputs onto inputs, a format GGUF cannot hold) comes before
//! any file is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::compute::checkpoint::scan::Scan;
use crate::compute::checkpoint::select::FormatSpec;
use crate::compute::checkpoint::write::{self, Assigned, FloatDtype, GgufNames, OutputPlan, Target};
use crate::compute::checkpoint::{self, Checkpoint};
use crate::io::{self, PieceError};

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
}

/// Refusals that need no tensor, before the scan: one format per tensor,
/// distinct outputs in folders that exist, none of them an input file.
pub(super) fn check(flags: &WriteFlags, input: &Path, specs: &[FormatSpec], planned: bool) -> Result<(), String> {
    let outputs = flags.outputs();
    if outputs.is_empty() {
        return Ok(());
    }
    write::check_formats(specs, planned)?;
    for (i, (flag, path, _)) in outputs.iter().enumerate() {
        if let Some((first, ..)) = outputs[..i].iter().find(|(_, p, _)| same_file(p, path) || p == path) {
            return Err(format!("{first} and {flag} are both {}; give different files", path.display()));
        }
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(format!("cannot write {}: the directory {} does not exist", path.display(), dir.display()));
        }
    }
    let ck = checkpoint::open(input, false).map_err(|e| e.to_string())?;
    let inputs = input_files(input, &ck);
    for (flag, path, _) in &outputs {
        if let Some(file) = inputs.iter().find(|f| same_file(f, path)) {
            return Err(format!(
                "{flag} {} is the input file {}; writing it would destroy the checkpoint being read: give another path",
                path.display(),
                file.display()
            ));
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
pub(super) fn write_outputs(
    flags: &WriteFlags,
    input: &Path,
    include_1d: bool,
    scan: &Scan,
    specs: &[FormatSpec],
) -> Result<(), String> {
    let outputs = flags.outputs();
    if outputs.is_empty() {
        return Ok(());
    }
    let ck = checkpoint::open(input, include_1d).map_err(|e| e.to_string())?;
    let assigned = write::assign(&ck, scan, specs)?;
    let recipe = write::recipe_json(&assigned, scan);
    let mut plans = Vec::with_capacity(outputs.len());
    for (_, path, target) in &outputs {
        let plan = plan_output(&ck, input, &assigned, *target, &recipe)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        plans.push((*path, plan));
    }
    let cancelled = cancel_flag();
    for (path, plan) in &plans {
        write_one(&ck, path, plan, &cancelled)?;
        eprintln!("wrote {} ({} tensors, {} bytes)", path.display(), plan.pieces.len(), plan.len());
    }
    Ok(())
}

fn plan_output<'a>(
    ck: &Checkpoint,
    input: &Path,
    assigned: &[Assigned<'a>],
    target: Target,
    recipe: &str,
) -> Result<OutputPlan<'a>, String> {
    match target {
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
    }
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

fn write_one(ck: &Checkpoint, path: &Path, plan: &OutputPlan, cancelled: &AtomicBool) -> Result<(), String> {
    let zeros = [0u8; write::gguf::ALIGNMENT];
    io::write_streaming(path, |out| {
        out.write_all(&plan.header)?;
        for piece in &plan.pieces {
            if cancelled.load(Ordering::Relaxed) {
                return Err(PieceError::Refused("cancelled by a signal".into()));
            }
            for part in write::encode(ck, piece, plan.target).map_err(PieceError::Refused)? {
                out.write_all(&part)?;
            }
            out.write_all(&zeros[..piece.padding])?;
        }
        Ok(())
    })
    .map_err(|e| e.to_string())
}
