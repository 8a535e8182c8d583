//! `scan --write/--dequantized/--packed` on checkpoints the tests write:
//! x̂ equal to `quantize --dequantized`, kept tensors byte for byte, packed
//! sizes from bits per weight, GGUF blocks equal to `quantize --packed`,
//! and every bad output refused with nothing left behind.

use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use tempfile::TempDir;

mod common;
use common::{f32s, fails, json, run, s};

fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n).map(|i| ((((i * 37 + seed * 11) % 101) as f32) - 50.0) / 400.0 + (i % 7) as f32 * 1e-3).collect()
}

fn bf16s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|&x| half::bf16::from_f32(x).to_le_bytes()).collect()
}

/// Two weights (f32 and bf16), a norm, integer ids and `__metadata__`.
fn model(dir: &Path) -> PathBuf {
    let ids: Vec<u8> = (0..3i64).flat_map(|x| x.to_le_bytes()).collect();
    let tensors = [
        ("layers.0.q_proj.weight", Dtype::F32, vec![8, 256], f32s(&values(2048, 1))),
        ("layers.0.k_proj.weight", Dtype::BF16, vec![4, 256], bf16s(&values(1024, 2))),
        ("layers.0.norm.weight", Dtype::F32, vec![16], f32s(&values(16, 3))),
        ("position_ids", Dtype::I64, vec![3], ids),
    ];
    let views: Vec<(String, TensorView<'_>)> =
        tensors.iter().map(|(n, d, sh, b)| (n.to_string(), TensorView::new(*d, sh.clone(), b).unwrap())).collect();
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    let path = dir.join("model.safetensors");
    std::fs::write(&path, safetensors::serialize(views, Some(meta)).unwrap()).unwrap();
    path
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// `quantize --dequantized` of one tensor under `settings`.
fn quantize_xhat(dir: &Path, model: &Path, tensor: &str, settings: &str) -> Vec<f32> {
    let config = dir.join("q.toml");
    std::fs::write(&config, format!("[quant]\n{settings}\n")).unwrap();
    let (codes, xhat) = (dir.join("codes.npy"), dir.join("xhat.npy"));
    let args = ["--config", s(&config), "--weights", s(model), "--tensor", tensor, "quantize"];
    let o = run(&[&args[..], &["--out", s(&codes), "--dequantized", s(&xhat)]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = ArrayD::<f32>::read_npy(std::fs::File::open(&xhat).unwrap()).unwrap();
    a.iter().copied().collect()
}

fn floats(bytes: &[u8], dtype: Dtype) -> Vec<f32> {
    match dtype {
        Dtype::F32 => bytes.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
        Dtype::BF16 => bytes.chunks(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        Dtype::F16 => bytes.chunks(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        d => panic!("{d:?}"),
    }
}

#[test]
fn dequantized_output_is_quantize_s_x_hat_with_the_rest_kept_byte_for_byte() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let input = std::fs::read(&m).unwrap();
    let original = SafeTensors::deserialize(&input).unwrap();
    for (format, settings) in [
        ("q4_0", "format = \"q4_0\""),
        ("int8-sym-pc", "bits = 8\nscheme = \"symmetric\"\ngranularity = \"per-channel\"\ncalibration = \"min-max\""),
    ] {
        let out = dir.path().join(format!("{format}.safetensors"));
        json(&["scan", s(&m), "--formats", format, "--dequantized", s(&out), "--format", "json"]);
        let bytes = std::fs::read(&out).unwrap();
        let written = SafeTensors::deserialize(&bytes).unwrap();
        let mut names = written.names();
        names.sort();
        let mut want = original.names();
        want.sort();
        assert_eq!(names, want);
        for name in ["layers.0.q_proj.weight", "layers.0.k_proj.weight"] {
            let t = written.tensor(name).unwrap();
            assert_eq!((t.dtype(), t.shape()), (Dtype::F32, original.tensor(name).unwrap().shape()));
            assert_eq!(floats(t.data(), t.dtype()), quantize_xhat(dir.path(), &m, name, settings), "{format} {name}");
        }
        for name in ["layers.0.norm.weight", "position_ids"] {
            let (a, b) = (written.tensor(name).unwrap(), original.tensor(name).unwrap());
            assert_eq!((a.dtype(), a.shape(), a.data()), (b.dtype(), b.shape(), b.data()), "{name} kept");
        }
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = meta.metadata().clone().unwrap();
        assert_eq!(meta["format"], "pt", "the input's metadata is kept");
        let recipe: serde_json::Value = serde_json::from_str(&meta["qmc.recipe"]).unwrap();
        assert_eq!(recipe["assignments"]["layers.0.q_proj.weight"], format);
    }
}

#[test]
fn dequantized_bf16_is_x_hat_rounded_to_nearest_even() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let (f32_out, bf16_out) = (dir.path().join("a.safetensors"), dir.path().join("b.safetensors"));
    json(&["scan", s(&m), "--formats", "q4_k", "--dequantized", s(&f32_out), "--format", "json"]);
    json(&["scan", s(&m), "--formats", "q4_k", "--dequantized", s(&bf16_out), "--dtype", "bf16", "--format", "json"]);
    let (a, b) = (std::fs::read(&f32_out).unwrap(), std::fs::read(&bf16_out).unwrap());
    let (a, b) = (SafeTensors::deserialize(&a).unwrap(), SafeTensors::deserialize(&b).unwrap());
    let name = "layers.0.q_proj.weight";
    let (x, y) = (a.tensor(name).unwrap(), b.tensor(name).unwrap());
    assert_eq!(y.dtype(), Dtype::BF16);
    let rounded: Vec<u8> = bf16s(&floats(x.data(), Dtype::F32));
    assert_eq!(y.data(), &rounded[..]);
}

/// The packed output's tensors of `weight`, and their total bytes.
fn packed_parts(out: &Path, weight: &str) -> (Vec<(String, Dtype, Vec<usize>)>, usize) {
    let bytes = std::fs::read(out).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut parts: Vec<_> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| n.starts_with(&format!("{weight}.")))
        .map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().len()))
        .collect();
    parts.sort_by(|a, b| a.0.cmp(&b.0));
    let total = parts.iter().map(|p| p.3).sum();
    (parts.into_iter().map(|(n, d, sh, _)| (n, d, sh)).collect(), total)
}

#[test]
fn packed_sizes_are_bits_per_weight_times_count_over_eight() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    for format in ["q4_0", "q6_k", "int4-asym-g128", "int8-sym-pc", "nf4", "mxfp8", "nvfp4", "fp8-e4m3", "codebook"] {
        let out = dir.path().join("p.safetensors");
        let v = json(&["scan", s(&m), "--formats", format, "--packed", s(&out), "--format", "json"]);
        for t in v["tensors"].as_array().unwrap().iter().filter(|t| t["skipped"] == false) {
            let name = t["name"].as_str().unwrap();
            let bits = t["results"][0]["bpw"].as_f64().unwrap() * t["count"].as_f64().unwrap();
            let (parts, total) = packed_parts(&out, name);
            assert_eq!(total, (bits / 8.0).ceil() as usize, "{format} {name}: {parts:?}");
        }
    }
    let out = dir.path().join("int.safetensors");
    json(&["scan", s(&m), "--formats", "int4-asym-g128", "--packed", s(&out), "--format", "json"]);
    let (parts, _) = packed_parts(&out, "layers.0.q_proj.weight");
    let want = [
        ("layers.0.q_proj.weight.codes", Dtype::U8, vec![1024]),
        ("layers.0.q_proj.weight.scales", Dtype::F32, vec![16]),
        ("layers.0.q_proj.weight.zero_points", Dtype::I32, vec![16]),
    ];
    assert_eq!(parts, want.map(|(n, d, sh)| (n.to_string(), d, sh)));
    let out = dir.path().join("q4.safetensors");
    json(&["scan", s(&m), "--formats", "q4_0", "--packed", s(&out), "--format", "json"]);
    let (parts, _) = packed_parts(&out, "layers.0.q_proj.weight");
    assert_eq!(parts, [("layers.0.q_proj.weight.blocks".to_string(), Dtype::U8, vec![8, 8 * 18])]);
}

/// `quantize --packed` of one tensor: its GGUF blocks.
fn quantize_packed(dir: &Path, model: &Path, tensor: &str, format: &str) -> Vec<u8> {
    let config = dir.join("p.toml");
    std::fs::write(&config, format!("[quant]\nformat = \"{format}\"\n")).unwrap();
    let (codes, bin) = (dir.join("c.npy"), dir.join("b.bin"));
    let args = ["--config", s(&config), "--weights", s(model), "--tensor", tensor, "quantize", "--out", s(&codes)];
    let o = run(&[&args[..], &["--packed", s(&bin)]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(&bin).unwrap()
}

#[test]
fn gguf_holds_quantize_s_blocks_at_aligned_offsets_and_the_kept_tensors() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    for format in ["q4_0", "q8_0", "q6_k"] {
        let out = dir.path().join(format!("{format}.gguf"));
        json(&["scan", s(&m), "--formats", format, "--write", s(&out), "--format", "json"]);
        let gguf = std::fs::read(&out).unwrap();
        assert_eq!(&gguf[..8], b"GGUF\x03\0\0\0");
        assert_eq!(u64::from_le_bytes(gguf[8..16].try_into().unwrap()), 4, "every tensor");
        for name in ["layers.0.q_proj.weight", "layers.0.k_proj.weight"] {
            let blocks = quantize_packed(dir.path(), &m, name, format);
            let at = gguf.windows(blocks.len()).position(|w| w == blocks).unwrap_or_else(|| panic!("{format} {name}"));
            assert_eq!(at % 32, 0);
        }
        let norm = f32s(&values(16, 3));
        assert!(gguf.windows(norm.len()).any(|w| w == norm), "the norm is kept as F32");
    }
}

#[test]
fn a_budget_s_plan_picks_each_tensor_s_format() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let out = dir.path().join("plan.safetensors");
    let v = json(&[
        "scan",
        s(&m),
        "--formats",
        "q4_0,q8_0",
        "--budget-bpw",
        "6.5",
        "--packed",
        s(&out),
        "--format",
        "json",
    ]);
    let bytes = std::fs::read(&out).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let recipe: serde_json::Value = serde_json::from_str(&meta.metadata().clone().unwrap()["qmc.recipe"]).unwrap();
    assert_eq!(recipe["assignments"], v["plan"]["assignments"]);
    let gguf = dir.path().join("plan.gguf");
    json(&["scan", s(&m), "--formats", "q4_0,q8_0", "--budget-bpw", "6.5", "--write", s(&gguf), "--format", "json"]);
    assert!(gguf.is_file());
}

#[test]
fn bad_outputs_are_refused_before_anything_is_written() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let input = std::fs::read(&m).unwrap();
    let out = dir.path().join("o.gguf");
    let e = fails(&["scan", s(&m), "--formats", "q4_0,q8_0", "--write", s(&out)]);
    assert!(e.contains("--budget-bpw") && e.contains("one format"), "{e}");
    let e = fails(&["scan", s(&m), "--formats", "nf4", "--write", s(&out)]);
    assert!(e.contains("o.gguf") && e.contains("--packed"), "{e}");
    let e = fails(&["scan", s(&m), "--formats", "q4_0", "--write", s(&m)]);
    assert!(e.contains("input file"), "{e}");
    let link = dir.path().join("link.safetensors");
    std::os::unix::fs::symlink(&m, &link).unwrap();
    let e = fails(&["scan", s(&m), "--formats", "q4_0", "--dequantized", s(&link)]);
    assert!(e.contains("input file"), "{e}");
    let hard = dir.path().join("hard.safetensors");
    std::fs::hard_link(&m, &hard).unwrap();
    let e = fails(&["scan", s(&m), "--formats", "q4_0", "--packed", s(&hard)]);
    assert!(e.contains("input file"), "{e}");
    let e = fails(&["scan", s(&m), "--formats", "q4_0", "--packed", s(&out), "--dequantized", s(&out)]);
    assert!(e.contains("different files"), "{e}");
    let missing = dir.path().join("nope").join("o.gguf");
    let e = fails(&["scan", s(&m), "--formats", "q4_0", "--write", s(&missing)]);
    assert!(e.contains("does not exist"), "{e}");
    assert_eq!(std::fs::read(&m).unwrap(), input, "the input is untouched");
    assert_eq!(names_in(dir.path()), ["hard.safetensors", "link.safetensors", "model.safetensors"]);
}

/// A full disk, then a read-only one: a 64 KiB tmpfs, mounted when the
/// tests may (root, a kernel that allows it); otherwise the test says so.
#[test]
fn a_full_or_read_only_disk_names_the_file_and_leaves_nothing() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let mount = |opts: &str| {
        let args = ["-t", "tmpfs", "-o", opts, "tmpfs"];
        std::process::Command::new("mount").args(args).arg(&disk).status().is_ok_and(|s| s.success())
    };
    if !mount("size=8k") {
        eprintln!("cannot mount a small tmpfs here: the full and read-only disk test is skipped");
        return;
    }
    let out = disk.join("o.safetensors");
    let full = run(&["scan", s(&m), "--formats", "q4_0", "--dequantized", s(&out)]);
    let left = names_in(&disk);
    let _ = std::process::Command::new("umount").arg(&disk).status();
    let read_only = mount("size=1m,ro").then(|| {
        let o = run(&["scan", s(&m), "--formats", "q4_0", "--write", s(&disk.join("o.gguf"))]);
        let left = names_in(&disk);
        let _ = std::process::Command::new("umount").arg(&disk).status();
        (o, left)
    });
    let err = String::from_utf8_lossy(&full.stderr);
    assert!(!full.status.success() && full.stdout.is_empty(), "{err}");
    assert!(err.contains("o.safetensors") && err.contains("No space left"), "{err}");
    assert!(left.is_empty(), "nothing left on the full disk: {left:?}");
    if let Some((o, left)) = read_only {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains("o.gguf") && err.contains("Read-only"), "{err}");
        assert!(left.is_empty(), "{left:?}");
    }
}

/// A checkpoint of `tensors` f32 matrices of 256 × 1024, big enough that
/// writing it takes a while.
fn many_tensors(dir: &Path, tensors: usize) -> PathBuf {
    let data: Vec<Vec<u8>> = (0..tensors).map(|i| f32s(&values(256 * 1024, i + 10))).collect();
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("layers.{i}.weight"), TensorView::new(Dtype::F32, vec![256, 1024], b).unwrap()))
        .collect();
    let path = dir.join("many.safetensors");
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    path
}

#[test]
fn a_signal_while_writing_leaves_the_old_file_and_no_temporary_one() {
    let dir = TempDir::new().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("model.gguf");
    std::fs::write(&out, b"the previous file").unwrap();
    // Larger each time the write finished before the signal reached it.
    for tensors in [48, 160] {
        let model = many_tensors(dir.path(), tensors);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_qmc-tui"))
            .args(["scan", s(&model), "--formats", "q4_k", "--write", s(&out), "--format", "json"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Signal once the temporary file is there: the write is under way.
        let started = std::time::Instant::now();
        while names_in(&out_dir).len() < 2 && started.elapsed().as_secs() < 60 {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let pid = child.id().to_string();
        let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        let output = child.wait_with_output().unwrap();
        if output.status.success() {
            // It finished first: the new file landed whole; try a larger one.
            assert_eq!(names_in(&out_dir), ["model.gguf"]);
            std::fs::write(&out, b"the previous file").unwrap();
            continue;
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("cancelled by a signal") && stderr.contains("nothing was written"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one paragraph: {stderr}");
        assert_eq!(names_in(&out_dir), ["model.gguf"], "no temporary file is left");
        assert_eq!(std::fs::read(&out).unwrap(), b"the previous file");
        return;
    }
    panic!("every write finished before the signal: make the checkpoint larger");
}
