//! `scan FILE.gguf` with tensors kept as they are (a `keep` pin, a rank-1
//! norm): the plan costs them at their stored type's bits per weight, and
//! `--dequantized`, `--packed` and `--write` write them (decoded to F32 in
//! safetensors, their blocks copied in GGUF), on GGUFs the test makes with
//! the project's own writer.

use std::path::{Path, PathBuf};

use qmc_tui::compute::checkpoint;
use safetensors::{Dtype, SafeTensors};
use tempfile::TempDir;

mod common;
use common::{f32s, fails, json, run, s, safetensors_bytes};

fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n).map(|i| ((((i * 37 + seed * 11) % 101) as f32) - 50.0) / 400.0 + 0.01 * (i % 7) as f32).collect()
}

/// Two 8×256 matrices and a norm, written as GGUF with `format` (norm kept f32).
fn gguf(dir: &Path, format: &str) -> PathBuf {
    let model = dir.join("model.safetensors");
    let bytes = safetensors_bytes(&[
        ("a.weight", Dtype::F32, vec![8, 256], f32s(&values(2048, 1))),
        ("b.weight", Dtype::F32, vec![8, 256], f32s(&values(2048, 2))),
        ("norm.weight", Dtype::F32, vec![16], f32s(&values(16, 3))),
    ]);
    std::fs::write(&model, bytes).unwrap();
    let out = dir.join(format!("{format}.gguf"));
    let done = run(&["scan", s(&model), "--formats", format, "--write", s(&out)]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    out
}

#[test]
fn a_kept_gguf_tensor_costs_its_stored_type_s_bits_not_f32_s() {
    let dir = TempDir::new().unwrap();
    // a kept (q4_0: 18 bytes per 32 values, 4.5 bpw; q4_1: 20 bytes, 5.0), b as q8_0 (8.5).
    for (format, kept_bpw) in [("q4_0", 4.5), ("q4_1", 5.0)] {
        let g = gguf(dir.path(), format);
        let v = json(&["scan", s(&g), "--formats", "q8_0", "--keep", "a.weight", "--format", "json"]);
        let plan = &v["plan"];
        assert_eq!(plan["assignments"]["a.weight"], "keep");
        let want = (kept_bpw * 2048.0 + 8.5 * 2048.0) / 4096.0;
        assert_eq!(plan["bpw"].as_f64(), Some(want), "{format}: {plan}");
        assert_eq!(plan["bytes"].as_u64(), Some(((kept_bpw + 8.5) * 2048.0 / 8.0) as u64), "{plan}");
        // llama-quantize's override list names the kept tensor's own type.
        let types = dir.path().join(format!("types-{format}.txt"));
        json(&[
            "scan",
            s(&g),
            "--formats",
            "q8_0",
            "--keep",
            "a.weight",
            "--tensor-types-out",
            s(&types),
            "--format",
            "json",
        ]);
        let text = std::fs::read_to_string(&types).unwrap();
        let upper = format.to_ascii_uppercase();
        assert!(text.lines().any(|l| l == format!("^a\\.weight$={upper}")), "{text}");
    }
}

/// gguf-py's `dequantize_blocks` of Q4_0: x = (q − 8)·d, the low nibbles
/// first (values 0..15 of the block), then the high ones.
fn q4_0_by_hand(blocks: &[u8]) -> Vec<f32> {
    let mut out = Vec::new();
    for b in blocks.chunks(18) {
        let d = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
        let q = &b[2..];
        out.extend(q.iter().map(|&x| ((x & 0x0f) as i32 - 8) as f32 * d));
        out.extend(q.iter().map(|&x| ((x >> 4) as i32 - 8) as f32 * d));
    }
    out
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// A GGUF tensor's stored bytes, through the reader `scan` uses.
fn stored(path: &Path, name: &str) -> (String, Vec<u8>) {
    let ck = checkpoint::open(path, true).unwrap();
    let e = ck.tensors.iter().find(|t| t.name == name).unwrap();
    (e.dtype.clone(), ck.raw_bytes(e).unwrap())
}

#[test]
fn kept_gguf_tensors_go_into_safetensors_decoded_and_into_gguf_as_their_blocks() {
    let dir = TempDir::new().unwrap();
    let g = gguf(dir.path(), "q4_0");
    let (dtype, blocks) = stored(&g, "a.weight");
    assert_eq!((dtype.as_str(), blocks.len()), ("q4_0", 1152));
    let (_, norm) = stored(&g, "norm.weight");
    let (deq, packed, gg) =
        (dir.path().join("d.safetensors"), dir.path().join("p.safetensors"), dir.path().join("w.gguf"));
    let args = ["scan", s(&g), "--formats", "q8_0", "--keep", "a.weight"];
    let outputs = ["--dequantized", s(&deq), "--packed", s(&packed), "--write", s(&gg)];
    let done = run(&[&args[..], &outputs[..]].concat());
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let want = q4_0_by_hand(&blocks);
    for path in [&deq, &packed] {
        let bytes = std::fs::read(path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let a = st.tensor("a.weight").unwrap();
        assert_eq!((a.dtype(), a.shape()), (Dtype::F32, &[8usize, 256][..]), "{}", path.display());
        assert_eq!(floats(a.data()), want, "the decoded values, bit for bit: {}", path.display());
        // The rank-1 norm was f32 in the GGUF: its bytes as they were.
        assert_eq!(st.tensor("norm.weight").unwrap().data(), &norm[..]);
    }
    let bytes = std::fs::read(&packed).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("b.weight.blocks").unwrap().shape(), &[8, 272], "b packed as q8_0 blocks");
    // In a GGUF the kept tensor keeps its type and blocks; b is q8_0.
    assert_eq!(stored(&gg, "a.weight"), ("q4_0".to_string(), blocks));
    assert_eq!(stored(&gg, "b.weight").0, "q8_0");
    assert_eq!(stored(&gg, "norm.weight").1, norm);
}

#[test]
fn every_tensor_quantized_from_a_gguf_writes_too() {
    let dir = TempDir::new().unwrap();
    let g = gguf(dir.path(), "q4_1");
    let deq = dir.path().join("d.safetensors");
    let done = run(&["scan", s(&g), "--formats", "q8_0", "--dequantized", s(&deq)]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let bytes = std::fs::read(&deq).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("a.weight").unwrap().dtype(), Dtype::F32);
    // Onto the input: refused, nothing written.
    let err = fails(&["scan", s(&g), "--formats", "q8_0", "--write", s(&g)]);
    assert!(err.contains("input file"), "{err}");
}
