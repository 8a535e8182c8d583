//! Checkpoints on disk that try to leave their folder or change while open:
//! shards named outside the index's folder are refused with their name, and
//! a shard cut short after it was opened is an error naming the file (no
//! memory map, so no SIGBUS), for a scan and for `--weights`.

use std::path::{Path, PathBuf};

use qmc_tui::compute::checkpoint::{self, CheckpointError, scan, select};
use qmc_tui::compute::watch::Watch;
use qmc_tui::compute::weights::{self, WeightsError};
use safetensors::Dtype;
use tempfile::TempDir;

mod common;
use common::{f32s, safetensors_bytes};

fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

fn shard(seed: f32) -> Vec<u8> {
    let v: Vec<f32> = (0..512).map(|i| ((i % 37) as f32 - 18.0) * seed).collect();
    safetensors_bytes(&[("w", Dtype::F32, vec![4, 128], f32s(&v))])
}

/// An index in `dir` placing tensor `w` in the shard named `shard`.
fn index(dir: &Path, shard: &str) -> PathBuf {
    let text = serde_json::json!({ "metadata": {}, "weight_map": { "w": shard } }).to_string();
    write(&dir.join("model.safetensors.index.json"), text.as_bytes())
}

fn refused_outside(index: &Path, shard: &str, says: &str) {
    let err = checkpoint::open(index, false).err().expect("refused");
    assert!(
        matches!(&err, CheckpointError::ShardOutside { shard: s, tensor, .. } if s == shard && tensor == "w"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(shard) && msg.contains(says) && msg.contains("inside its own folder"), "{msg}");
}

#[test]
fn a_shard_named_with_dotdot_is_refused_even_when_it_exists() {
    let root = TempDir::new().unwrap();
    let inner = root.path().join("model");
    std::fs::create_dir(&inner).unwrap();
    write(&root.path().join("outside.safetensors"), &shard(1.0));
    refused_outside(&index(&inner, "../outside.safetensors"), "../outside.safetensors", "`..`");
    // Climbing out and back in is refused too: the name is judged as written.
    write(&inner.join("in.safetensors"), &shard(1.0));
    refused_outside(&index(&inner, "sub/../../model/in.safetensors"), "sub/../../model/in.safetensors", "`..`");
}

#[test]
fn a_shard_named_by_an_absolute_path_is_refused() {
    let root = TempDir::new().unwrap();
    let elsewhere = TempDir::new().unwrap();
    let target = write(&elsewhere.path().join("abs.safetensors"), &shard(1.0));
    let name = target.to_str().unwrap();
    refused_outside(&index(root.path(), name), name, "absolute path");
}

#[test]
fn a_shard_that_is_a_symlink_to_outside_is_refused_and_one_inside_is_not() {
    let root = TempDir::new().unwrap();
    let elsewhere = TempDir::new().unwrap();
    let target = write(&elsewhere.path().join("real.safetensors"), &shard(1.0));
    std::os::unix::fs::symlink(&target, root.path().join("link.safetensors")).unwrap();
    refused_outside(&index(root.path(), "link.safetensors"), "link.safetensors", "symbolic link");

    let inside = TempDir::new().unwrap();
    write(&inside.path().join("real.safetensors"), &shard(1.0));
    std::os::unix::fs::symlink(inside.path().join("real.safetensors"), inside.path().join("link.safetensors")).unwrap();
    let ck = checkpoint::open(&index(inside.path(), "link.safetensors"), false).unwrap();
    assert_eq!(ck.tensors.len(), 1);
}

fn two_shards(dir: &Path) -> PathBuf {
    let a = safetensors_bytes(&[("a", Dtype::F32, vec![4, 128], f32s(&vec![0.25; 512]))]);
    let b = safetensors_bytes(&[("b", Dtype::F32, vec![4, 128], f32s(&vec![0.5; 512]))]);
    write(&dir.join("a.safetensors"), &a);
    write(&dir.join("b.safetensors"), &b);
    let text = serde_json::json!({ "weight_map": { "a": "a.safetensors", "b": "b.safetensors" } }).to_string();
    write(&dir.join("model.safetensors.index.json"), text.as_bytes())
}

#[test]
fn a_shard_truncated_after_open_is_an_error_naming_it_not_a_crash() {
    let dir = TempDir::new().unwrap();
    let ck = checkpoint::open(&two_shards(dir.path()), false).unwrap();
    let b = dir.path().join("b.safetensors");
    // Another program cuts the second shard short while it is open.
    let len = std::fs::metadata(&b).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&b).unwrap().set_len(len - 100).unwrap();
    let specs = select::parse_formats("int8-sym-pc").unwrap();
    let all = vec![true; ck.tensors.len()];
    let mut rows = 0;
    let err = scan::scan_streaming(&ck, &all, &specs, &Watch::NONE, &mut |_, _, _| rows += 1).unwrap_err();
    assert_eq!(rows, 1, "the first shard's tensor was measured before the cut one");
    assert!(
        matches!(&err, CheckpointError::ShortRead { path, size, .. } if path.ends_with("b.safetensors") && *size == len - 100),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("b.safetensors") && msg.contains("truncated while open"), "{msg}");
}

#[test]
fn a_file_truncated_before_its_tensor_is_read_fails_weights_loading_cleanly() {
    // `--weights` reads the header, then the tensor: cut in between by
    // opening it as the loader does and truncating before the tensor read.
    let dir = TempDir::new().unwrap();
    let path = write(&dir.path().join("w.safetensors"), &shard(0.5));
    let ck = checkpoint::open(&path, true).unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 100).unwrap();
    let err = ck.load(&ck.tensors[0]).unwrap_err();
    assert!(matches!(err, CheckpointError::ShortRead { .. }), "{err:?}");
    // Opened afresh, the short file is refused from its header, naming it.
    let err = weights::load_file(&path, None).unwrap_err();
    assert!(matches!(&err, WeightsError::File(e) if matches!(**e, CheckpointError::CutShort { .. })), "{err:?}");
    assert!(err.to_string().contains("w.safetensors"), "{err}");
}

#[test]
fn a_header_length_of_two_to_the_sixty_is_refused_without_reading_it() {
    let dir = TempDir::new().unwrap();
    let mut bytes = (1u64 << 60).to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    let path = write(&dir.path().join("huge.safetensors"), &bytes);
    let err = checkpoint::open(&path, false).err().unwrap();
    assert!(matches!(err, CheckpointError::HeaderPastEnd { header, .. } if header == 1 << 60), "{err:?}");
    // Asking a shard for more than it holds is refused before allocating.
    let ck = checkpoint::Checkpoint::from_bytes("mem", vec![("m".into(), shard(1.0))], false).unwrap();
    let err = ck.shards[0].read(8, 1 << 60).unwrap_err();
    assert!(matches!(err, CheckpointError::ShortRead { len, .. } if len == 1 << 60), "{err:?}");
}
