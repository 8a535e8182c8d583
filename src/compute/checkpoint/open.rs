//! Finding a checkpoint's files and listing its tensors.

use std::path::{Component, Path, PathBuf};

use super::header::{self, Pairs};
use super::{Checkpoint, CheckpointError, Entry, Shard, skip_reason};

const INDEX: &str = "model.safetensors.index.json";

/// Opens a `.safetensors` or `.gguf` file, an index file, or a folder (its index if it
/// holds one, else every `.safetensors` file in it, in name order).
pub fn open(path: &Path, include_1d: bool) -> Result<Checkpoint, CheckpointError> {
    let shown = path.display().to_string();
    if path.is_dir() {
        let index = path.join(INDEX);
        if index.is_file() {
            return open_index(&shown, &index, include_1d);
        }
        let files = folder_files(path)?;
        if files.is_empty() {
            return Err(CheckpointError::EmptyFolder { path: shown });
        }
        let shards = files.iter().map(|f| Shard::open(f)).collect::<Result<_, _>>()?;
        return assemble(shown, shards, None, include_1d);
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
    if name.ends_with(".json") {
        open_index(&shown, path, include_1d)
    } else if name.ends_with(".gguf") {
        super::gguf::assemble_gguf(shown, Shard::open(path)?, include_1d)
    } else if name.ends_with(".safetensors") {
        assemble(shown, vec![Shard::open(path)?], None, include_1d)
    } else if !path.exists() {
        Err(io_error(path, std::io::Error::from(std::io::ErrorKind::NotFound)))
    } else {
        Err(CheckpointError::NotACheckpoint { path: shown })
    }
}

fn io_error(path: &Path, source: std::io::Error) -> CheckpointError {
    CheckpointError::Io { path: path.display().to_string(), source }
}

fn folder_files(dir: &Path) -> Result<Vec<PathBuf>, CheckpointError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let p = entry.map_err(|e| io_error(dir, e))?.path();
        let is_st = p.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
        if is_st && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

#[derive(serde::Deserialize)]
struct Index {
    weight_map: Pairs<String>,
}

/// The `(tensor, shard)` pairs of an index file's bytes, in file order,
/// refused if it is not JSON, its `weight_map` is empty or names a tensor twice.
pub fn parse_index(index_name: &str, text: &[u8]) -> Result<Vec<(String, String)>, CheckpointError> {
    let bad = |reason: String| CheckpointError::BadIndex { path: index_name.to_string(), reason };
    let parsed: Index = serde_json::from_slice(text).map_err(|e| bad(format!("not the JSON expected: {e}")))?;
    let map = parsed.weight_map.0;
    if let Some(name) = header::repeated(&map) {
        return Err(CheckpointError::DuplicateTensor { path: index_name.to_string(), name: name.to_string() });
    }
    if map.is_empty() {
        return Err(bad("its weight_map is empty".into()));
    }
    Ok(map)
}

/// The index's `weight_map` names the shards (resolved beside the index).
fn open_index(shown: &str, index: &Path, include_1d: bool) -> Result<Checkpoint, CheckpointError> {
    let index_name = index.display().to_string();
    let text = std::fs::read(index).map_err(|e| io_error(index, e))?;
    let map = parse_index(&index_name, &text)?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut names: Vec<&str> = map.iter().map(|(_, shard)| shard.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut shards = Vec::with_capacity(names.len());
    for shard in &names {
        let tensor = || map.iter().find(|(_, s)| s == shard).map(|(t, _)| t.clone()).unwrap_or_default();
        let outside = |reason: String| CheckpointError::ShardOutside {
            index: index_name.clone(),
            shard: shard.to_string(),
            tensor: tensor(),
            reason,
        };
        if let Some(reason) = leaves_lexically(Path::new(shard)) {
            return Err(outside(reason.into()));
        }
        let file = dir.join(shard);
        if !file.is_file() {
            return Err(CheckpointError::MissingShard {
                index: index_name,
                shard: file.display().to_string(),
                tensor: tensor(),
            });
        }
        if let Some(target) = resolves_outside(dir, &file).map_err(|e| io_error(&file, e))? {
            return Err(outside(format!("resolves (through a symbolic link) to {}, outside it", target.display())));
        }
        shards.push(Shard::open(&file)?);
    }
    let placed: Vec<(String, usize)> =
        map.iter().map(|(t, s)| (t.clone(), names.binary_search(&s.as_str()).unwrap_or(0))).collect();
    assemble(shown.to_string(), shards, Some((index_name, placed)), include_1d)
}

/// Why a shard name taken as written leaves the index's folder, if it does.
fn leaves_lexically(shard: &Path) -> Option<&'static str> {
    shard.components().find_map(|c| match c {
        Component::ParentDir => Some("climbs out of it with `..`"),
        Component::RootDir | Component::Prefix(_) => Some("is an absolute path"),
        Component::CurDir | Component::Normal(_) => None,
    })
}

/// Where `file` really is, when that is outside `dir` once every symbolic
/// link of both is followed.
fn resolves_outside(dir: &Path, file: &Path) -> std::io::Result<Option<PathBuf>> {
    let root = dir.canonicalize()?;
    let real = file.canonicalize()?;
    Ok((!real.starts_with(&root)).then_some(real))
}

/// Lists every shard's tensors; with an index, checks that each tensor it
/// places is in that shard.
pub(super) fn assemble(
    path: String,
    shards: Vec<Shard>,
    index: Option<(String, Vec<(String, usize)>)>,
    include_1d: bool,
) -> Result<Checkpoint, CheckpointError> {
    let mut tensors: Vec<Entry> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, shard) in shards.iter().enumerate() {
        let header = header::parse(shard)?;
        for t in header.tensors {
            if !seen.insert(t.name.clone()) {
                return Err(CheckpointError::DuplicateTensor { path: shard.path.clone(), name: t.name });
            }
            let skipped = skip_reason(&t.dtype, &t.shape, include_1d);
            let data = header.data_start + t.offsets[0] as u64..header.data_start + t.offsets[1] as u64;
            tensors.push(Entry {
                name: t.name,
                shape: t.shape,
                dtype: t.dtype,
                count: t.count,
                shard: i,
                data,
                skipped,
                gguf: None,
            });
        }
    }
    if let Some((index, placed)) = index {
        let found: std::collections::HashMap<&str, usize> =
            tensors.iter().map(|t| (t.name.as_str(), t.shard)).collect();
        for (name, shard) in placed {
            if found.get(name.as_str()) != Some(&shard) {
                let shard = shards[shard].path.clone();
                return Err(CheckpointError::NotInShard { index, shard, name });
            }
        }
    }
    Ok(Checkpoint { path, shards, tensors })
}
