//! GGUF files on the command line: `tensors` lists them with types, bits
//! per weight, bytes and totals, and writes them decoded; `scan` scans the
//! decoded tensors; `--weights FILE.gguf --tensor NAME` opens one; broken
//! files fail with one paragraph naming the field, never a panic.

mod common;

use common::{fails, gguf_bytes, json, q8_0_block, run, s};
use qmc_tui::compute::checkpoint::write::gguf::Value;

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A q8_0 [2, 32] weight (codes -16..16 at scale 0.5, the second row
/// shifted by one), an f32 [2, 2, 3] tensor, an f32 norm, an IQ4_NL
/// tensor and one of an unknown type.
fn model() -> Vec<u8> {
    let codes = |shift: i8| std::array::from_fn::<i8, 32, _>(|j| j as i8 - 16 + shift);
    let mut q8 = q8_0_block(0.5, &codes(0));
    q8.extend(q8_0_block(0.5, &codes(1)));
    let cube: Vec<f32> = (0..12).map(|i| i as f32 - 6.0).collect();
    let metadata =
        [("general.architecture", Value::Str("llama".into())), ("llama.attention.head_count", Value::U32(4))];
    gguf_bytes(
        &metadata,
        &[
            ("blk.0.attn_q.weight", vec![2, 32], 8, q8),
            ("blk.0.experts.weight", vec![2, 2, 3], 0, f32_bytes(&cube)),
            ("blk.0.attn_norm.weight", vec![4], 0, f32_bytes(&[1.0, 1.5, 2.0, 0.5])),
            ("blk.0.iq.weight", vec![1, 32], 20, vec![0; 18]),
            ("blk.0.odd.weight", vec![1, 32], 99, vec![0; 32]),
        ],
    )
}

fn written(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn tensors_lists_types_bits_bytes_and_totals_in_the_original_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(&dir, "m.gguf", &model());
    let out = run(&["tensors", s(&path)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let row = |name: &str| text.lines().find(|l| l.starts_with(name)).unwrap().split_whitespace().collect::<Vec<_>>();
    assert_eq!(row("blk.0.attn_q.weight "), ["blk.0.attn_q.weight", "2×32", "q8_0", "8.5000", "68"]);
    assert_eq!(row("blk.0.experts.weight"), ["blk.0.experts.weight", "2×2×3", "f32", "32.0000", "48"]);
    assert_eq!(row("blk.0.iq.weight"), ["blk.0.iq.weight", "1×32", "iq4_nl", "4.5000", "18", "not", "decoded"]);
    assert_eq!(
        row("blk.0.odd.weight"),
        ["blk.0.odd.weight", "1×32", "ggml", "type", "99", "(unknown)", "?", "?", "not", "decoded"]
    );
    assert_eq!(row("f32 "), ["f32", "2", "16", "32.0000", "64"]);
    assert_eq!(row("q8_0 "), ["q8_0", "1", "64", "8.5000", "68"]);
    // 68 + 64 + 18 bytes over 64 + 16 + 32 known values, the unknown one's 32 counted as parameters.
    assert_eq!(row("total")[..5], ["total", "5", "144", "8.3333", "150"]);
}

#[test]
fn tensors_dequantized_writes_the_decoded_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(&dir, "m.gguf", &model());
    let out_path = dir.path().join("d.safetensors");
    let out = run(&["tensors", s(&path), "--dequantized", s(&out_path)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&out_path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    assert_eq!(names, ["blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.experts.weight"]);
    let values = |name: &str| {
        let view = file.tensor(name).unwrap();
        (
            view.shape().to_vec(),
            view.data().chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect::<Vec<_>>(),
        )
    };
    let (shape, q) = values("blk.0.attn_q.weight");
    assert_eq!(shape, [2, 32]);
    let want: Vec<f32> = (0..64).map(|i| ((i % 32) as f32 - 16.0 + (i / 32) as f32) * 0.5).collect();
    assert_eq!(q, want);
    assert_eq!(values("blk.0.experts.weight"), (vec![2, 2, 3], (0..12).map(|i| i as f32 - 6.0).collect()));
}

#[test]
fn scan_scans_decoded_tensors_and_skips_the_undecoded_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(&dir, "m.gguf", &model());
    let v = json(&["scan", s(&path), "--formats", "q8_0", "--format", "json"]);
    let tensors = v["tensors"].as_array().unwrap();
    let find = |name: &str| tensors.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name}: {v}"));
    let q = find("blk.0.attn_q.weight");
    assert_eq!((q["dtype"].as_str(), q["shape"].clone()), (Some("q8_0"), serde_json::json!([2, 32])));
    assert_eq!((q["stats"]["max_abs"].as_f64(), q["results"][0]["format"].as_str()), (Some(8.0), Some("q8_0")), "{q}");
    let iq = find("blk.0.iq.weight");
    assert!(iq["skip_reason"].as_str().unwrap().contains("iq4_nl: listed but not decoded"), "{iq}");
    let odd = find("blk.0.odd.weight");
    assert!(odd["skip_reason"].as_str().unwrap().contains("ggml type 99 (unknown)"), "{odd}");
}

#[test]
fn weights_opens_one_gguf_tensor_dequantized() {
    let dir = tempfile::tempdir().unwrap();
    let path = written(&dir, "m.gguf", &model());
    let v = json(&["report", "--weights", s(&path), "--tensor", "blk.0.attn_q.weight", "--format", "json"]);
    let w = &v["weights"];
    assert_eq!((w["dtype"].as_str(), w["shape"].clone()), (Some("q8_0"), serde_json::json!([2, 32])));
    assert_eq!((w["min"].as_f64(), w["max"].as_f64()), (Some(-8.0), Some(8.0)));
    let err = fails(&["report", "--weights", s(&path), "--tensor", "blk.0.iq.weight"]);
    assert!(err.contains("blk.0.iq.weight is iq4_nl, which is listed but not decoded"), "{err}");
    let err = fails(&["report", "--weights", s(&path), "--tensor", "blk.0.odd.weight"]);
    assert!(err.contains("ggml type 99, which this version does not know"), "{err}");
    let err = fails(&["report", "--weights", s(&path), "--tensor", "nope"]);
    assert!(err.contains("has no tensor named \"nope\""), "{err}");
}

/// `bytes` with the u64 at `at` replaced.
fn patched(mut bytes: Vec<u8>, at: usize, v: u64) -> Vec<u8> {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
    bytes
}

fn position(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap()
}

#[test]
fn broken_files_fail_with_one_paragraph_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let good = model();
    let header_end = position(&good, b"blk.0.odd.weight") + 16 + 4 + 16 + 4 + 8;
    // The first tensor's offset field: after its name, n_dims, two dims and its type.
    let offset_at = position(&good, b"blk.0.attn_q.weight") + 19 + 4 + 16 + 4;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated header", good[..header_end - 10].to_vec(), "is cut short: the type of tensor blk.0.odd.weight"),
        ("absurd tensor count", patched(good.clone(), 8, 4_000_000_000), "tensor count 4000000000 in"),
        (
            "string length past the end",
            patched(good.clone(), 24, 1 << 40),
            "the length of metadata key 0 1099511627776 in",
        ),
        ("offset past the end", patched(good.clone(), offset_at, 1 << 20), "tensor blk.0.attn_q.weight spans bytes"),
        ("misaligned offset", patched(good.clone(), offset_at, 8), "not a multiple of general.alignment 32"),
        ("bad magic", [b"GGML".as_slice(), &good[4..]].concat(), "not the magic \"GGUF\""),
    ];
    for (what, bytes, expected) in cases {
        let path = written(&dir, "bad.gguf", &bytes);
        for args in [vec!["tensors", s(&path)], vec!["scan", s(&path)]] {
            let err = fails(&args);
            assert!(err.contains(expected), "{what} ({args:?}): {err}");
        }
    }
    let bad_alignment = gguf_bytes(&[("general.alignment", Value::U32(48))], &[("t", vec![8], 0, vec![0; 32])]);
    let path = written(&dir, "align.gguf", &bad_alignment);
    let err = fails(&["tensors", s(&path)]);
    assert!(err.contains("general.alignment is 48, but it must be a power of two"), "{err}");
}
