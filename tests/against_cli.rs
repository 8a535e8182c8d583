//! `qmc-tui scan ORIGINAL --against QUANTIZED` on models the tests write:
//! the JSON keys, figures equal to the scan's own for a copy `scan
//! --dequantized` made, the map file, the text and CSV forms, and every bad
//! input as a one-paragraph error.

use std::path::{Path, PathBuf};

use safetensors::Dtype;
use serde_json::Value;
use tempfile::TempDir;

mod common;
use common::{f32s, fails, json, run, s, safetensors_bytes};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n).map(|i| ((((i * 37 + seed * 11) % 101) as f32) - 50.0) / 400.0).collect()
}

fn model(dir: &Path) -> PathBuf {
    let ids: Vec<u8> = (0..3i64).flat_map(|x| x.to_le_bytes()).collect();
    let bytes = safetensors_bytes(&[
        ("layers.0.q_proj.weight", Dtype::F32, vec![8, 256], f32s(&values(2048, 1))),
        ("layers.0.k_proj.weight", Dtype::F32, vec![4, 128], f32s(&values(512, 2))),
        ("layers.0.norm.weight", Dtype::F32, vec![16], f32s(&values(16, 3))),
        ("position_ids", Dtype::I64, vec![3], ids),
    ]);
    write(dir, "model.safetensors", &bytes)
}

/// The model with every matrix through `format`, as `scan --dequantized` writes it.
fn dequantized(dir: &Path, model: &Path, format: &str) -> PathBuf {
    let out = dir.join(format!("{format}.safetensors"));
    let args = ["scan", s(model), "--formats", format, "--dequantized", s(&out), "--format", "json"];
    assert!(run(&args).status.success());
    out
}

fn tensor<'a>(v: &'a Value, name: &str) -> &'a Value {
    let all = v["against"]["tensors"].as_array().unwrap();
    all.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name} in {v}"))
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[test]
fn the_json_has_exactly_the_keys_of_the_issue() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let q = dequantized(dir.path(), &m, "q8_0");
    let v = json(&["scan", s(&m), "--against", s(&q), "--format", "json"]);
    assert_eq!(keys(&v), ["against"]);
    let a = &v["against"];
    assert_eq!(keys(a), ["path", "plan_at_same_size", "tensors", "totals", "unmatched"]);
    assert_eq!(a["path"], s(&q));
    let t = tensor(&v, "layers.0.q_proj.weight");
    let want = ["bpw", "cosine", "max_abs_error", "name", "quantized_name", "rel_rmse", "sqnr_db", "type"];
    assert_eq!(keys(t), want);
    assert_eq!(keys(&a["totals"]), ["bpw", "bytes", "sqnr_db"]);
    assert_eq!(keys(&a["plan_at_same_size"]), ["assignments", "bpw", "sqnr_db"]);
    assert_eq!(keys(&a["unmatched"][0]), ["name", "reason"]);
}

#[test]
fn a_dequantized_copy_shows_the_scans_own_error_for_that_format() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let q = dequantized(dir.path(), &m, "q4_0");
    let scan = json(&["scan", s(&m), "--formats", "q4_0", "--format", "json"]);
    let v = json(&["scan", s(&m), "--against", s(&q), "--format", "json"]);
    for name in ["layers.0.q_proj.weight", "layers.0.k_proj.weight"] {
        let ours = tensor(&v, name);
        let theirs = scan["tensors"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap();
        let fig = &theirs["results"][0];
        // The scan sums in f32 blocks, --against in f64: equal to about 1e-6.
        for key in ["sqnr_db", "rel_rmse", "max_abs_error"] {
            let (a, b) = (ours[key].as_f64().unwrap(), fig[key].as_f64().unwrap());
            assert!((a - b).abs() <= 1e-5 * b.abs(), "{name} {key}: {a} vs {b}");
        }
        assert_eq!(ours["type"], "f32");
        assert_eq!(ours["quantized_name"], name);
        assert!(ours["cosine"].as_f64().unwrap() > 0.99);
    }
    // The norm is compared (kept as it was: exact) but not in the totals, which are the two matrices.
    assert_eq!(tensor(&v, "layers.0.norm.weight")["sqnr_db"], Value::Null);
    let totals = &v["against"]["totals"];
    assert_eq!(totals["bytes"], (2048 + 512) * 4);
    assert_eq!(totals["bpw"], 32.0);
    let unmatched = v["against"]["unmatched"].as_array().unwrap();
    assert_eq!(unmatched.len(), 1, "{unmatched:?}");
    assert_eq!(unmatched[0]["name"], "position_ids");
    // At 32 bpw the plan can give every matrix q8_0, the largest candidate.
    let plan = &v["against"]["plan_at_same_size"];
    assert!(plan["assignments"].as_object().unwrap().values().all(|f| f == "q8_0"), "{plan}");
    assert_eq!(plan["bpw"], 8.5);
    // --no-plan: the same comparison, no plan.
    let quick = json(&["scan", s(&m), "--against", s(&q), "--no-plan", "--format", "json"]);
    assert_eq!(quick["against"]["plan_at_same_size"], Value::Null);
    assert_eq!(quick["against"]["tensors"], v["against"]["tensors"]);
}

#[test]
fn a_map_file_pairs_renamed_tensors_and_the_rest_are_listed_with_why() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let renamed = safetensors_bytes(&[
        ("enc.q", Dtype::F32, vec![8, 256], f32s(&values(2048, 1))),
        ("enc.k", Dtype::F32, vec![8, 64], f32s(&values(512, 2))),
    ]);
    let q = write(dir.path(), "renamed.safetensors", &renamed);
    let map =
        write(dir.path(), "map.toml", b"\"layers.0.q_proj.weight\" = \"enc.q\"\nlayers.0.k_proj.weight = \"enc.k\"\n");
    let v = json(&["scan", s(&m), "--against", s(&q), "--map", s(&map), "--format", "json"]);
    let t = tensor(&v, "layers.0.q_proj.weight");
    assert_eq!((t["quantized_name"].as_str(), &t["sqnr_db"]), (Some("enc.q"), &Value::Null));
    let reasons: Vec<(String, String)> = v["against"]["unmatched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["name"].as_str().unwrap().to_string(), u["reason"].as_str().unwrap().to_string()))
        .collect();
    let why = |n: &str| reasons.iter().find(|(name, _)| name == n).map(|(_, r)| r.clone()).unwrap();
    assert!(why("layers.0.k_proj.weight").starts_with("shape [4, 128] here but [8, 64]"), "{reasons:?}");
    assert!(why("layers.0.norm.weight").contains("holds no tensor layers.0.norm.weight"));
    assert!(why("enc.k").contains("only"));
}

#[test]
fn text_and_csv_carry_the_same_figures() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let q = dequantized(dir.path(), &m, "q4_0");
    let v = json(&["scan", s(&m), "--against", s(&q), "--format", "json"]);
    let out = run(&["scan", s(&m), "--against", s(&q)]);
    let text = String::from_utf8(out.stdout).unwrap();
    let sqnr = tensor(&v, "layers.0.q_proj.weight")["sqnr_db"].as_f64().unwrap();
    assert!(text.contains(&format!("{sqnr:.2} dB")), "{text}");
    assert!(text.contains("totals") && text.contains("plan") && text.contains("position_ids"), "{text}");
    let out = run(&["scan", s(&m), "--against", s(&q), "--format", "csv"]);
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("name,quantized_name,type,bpw,sqnr_db,rel_rmse,max_abs_error,cosine,in_totals,reason")
    );
    let row = csv.lines().find(|l| l.starts_with("layers.0.q_proj.weight,")).unwrap();
    let cells: Vec<&str> = row.split(',').collect();
    assert_eq!(cells[4].parse::<f64>().unwrap(), sqnr, "full precision");
    assert!(csv.lines().any(|l| l.starts_with("position_ids,") && l.contains("not a weight")), "{csv}");
}

#[test]
fn bad_inputs_are_one_paragraph_each() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let q = dequantized(dir.path(), &m, "q8_0");
    let missing = dir.path().join("nope.gguf");
    let e = fails(&["scan", s(&m), "--against", s(&missing)]);
    assert!(e.contains("nope.gguf"), "{e}");
    let text = write(dir.path(), "notes.txt", b"hello");
    let e = fails(&["scan", s(&m), "--against", s(&text)]);
    assert!(e.contains("notes.txt") && e.contains("expected"), "{e}");

    let cases: [(&str, &[u8], &str); 4] = [
        ("bad.toml", b"a = = b", "is not valid TOML"),
        ("number.toml", b"\"layers.0.q_proj.weight\" = 3", "which is not a string"),
        ("twice.toml", b"a = \"t\"\nb = \"t\"", "sends both a and b to t"),
        ("missing.toml", b"", ""),
    ];
    for (name, body, want) in &cases[..3] {
        let map = write(dir.path(), name, body);
        let e = fails(&["scan", s(&m), "--against", s(&q), "--map", s(&map)]);
        assert!(e.contains(name) && e.contains(want), "{name}: {e}");
    }
    let e = fails(&["scan", s(&m), "--against", s(&q), "--map", s(&dir.path().join(cases[3].0))]);
    assert!(e.contains("cannot read the name map"), "{e}");

    let other = write(
        dir.path(),
        "other.safetensors",
        &safetensors_bytes(&[("enc.w", Dtype::F32, vec![4, 4], f32s(&values(16, 1)))]),
    );
    let e = fails(&["scan", s(&m), "--against", s(&other)]);
    assert!(e.contains("no tensor of") && e.contains("enc.w") && e.contains("--map"), "{e}");

    // clap's own refusal (with its usage lines) for a flag --against fixes.
    let out = run(&["scan", s(&m), "--against", s(&q), "--budget-bpw", "4"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--budget-bpw"));
}

const Q: &str = "model.layers.0.self_attn.q_proj.weight";
const K: &str = "model.layers.0.self_attn.k_proj.weight";

/// A llama-style original: q of 4 heads of 4 rows, k of 2 kv heads, 32 columns, a norm.
fn llama_model(dir: &Path) -> (PathBuf, Vec<f32>, Vec<f32>, Vec<f32>) {
    let (q, k, norm) = (values(16 * 32, 1), values(8 * 32, 2), values(32, 3));
    let bytes = safetensors_bytes(&[
        (Q, Dtype::F32, vec![16, 32], f32s(&q)),
        (K, Dtype::F32, vec![8, 32], f32s(&k)),
        ("model.norm.weight", Dtype::F32, vec![32], f32s(&norm)),
    ]);
    (write(dir, "llama.safetensors", &bytes), q, k, norm)
}

/// Its F32 GGUF as the converter writes it: GGUF names, q/k rows permuted.
fn llama_gguf(dir: &Path, name: &str, heads: Option<u32>, kv_heads: Option<u32>) -> PathBuf {
    use qmc_tui::compute::checkpoint::against::permute::to_gguf_order;
    use qmc_tui::compute::checkpoint::write::gguf::Value;
    let (_, q, k, norm) = llama_model(dir);
    let mut metadata = vec![("general.architecture", Value::Str("llama".into()))];
    metadata.extend(heads.map(|h| ("llama.attention.head_count", Value::U32(h))));
    metadata.extend(kv_heads.map(|h| ("llama.attention.head_count_kv", Value::U32(h))));
    let bytes = common::gguf_bytes(
        &metadata,
        &[
            ("blk.0.attn_q.weight", vec![16, 32], 0, f32s(&to_gguf_order(&q, 16, 4))),
            ("blk.0.attn_k.weight", vec![8, 32], 0, f32s(&to_gguf_order(&k, 8, 2))),
            ("output_norm.weight", vec![32], 0, f32s(&norm)),
        ],
    );
    write(dir, name, &bytes)
}

#[test]
fn an_f32_gguf_of_a_llama_model_is_exact_once_its_q_k_rows_are_put_back() {
    let dir = TempDir::new().unwrap();
    let (m, ..) = llama_model(dir.path());
    let g = llama_gguf(dir.path(), "f32.gguf", Some(4), Some(2));
    let v = json(&["scan", s(&m), "--against", s(&g), "--format", "json"]);
    let a = &v["against"];
    assert_eq!(a["tensors"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(a["unmatched"], serde_json::json!([]));
    for t in a["tensors"].as_array().unwrap() {
        assert_eq!(
            (&t["sqnr_db"], &t["max_abs_error"], &t["type"]),
            (&Value::Null, &serde_json::json!(0.0), &serde_json::json!("f32")),
            "{t}"
        );
    }
    assert_eq!(tensor(&v, Q)["quantized_name"], "blk.0.attn_q.weight");
    assert_eq!(tensor(&v, "model.norm.weight")["quantized_name"], "output_norm.weight");
    assert_eq!(a["totals"]["bytes"], (512 + 256) * 4);
}

#[test]
fn a_gguf_without_its_head_count_or_with_one_that_does_not_divide_is_refused() {
    let dir = TempDir::new().unwrap();
    let (m, ..) = llama_model(dir.path());
    let g = llama_gguf(dir.path(), "noheads.gguf", None, None);
    let e = fails(&["scan", s(&m), "--against", s(&g)]);
    assert!(e.contains("noheads.gguf") && e.contains("llama.attention.head_count") && e.contains("blk.0.attn_"), "{e}");
    let g = llama_gguf(dir.path(), "three.gguf", Some(3), None);
    let e = fails(&["scan", s(&m), "--against", s(&g)]);
    assert!(e.contains("rows, which do not split into 3 heads"), "{e}");
}

#[test]
fn a_gguf_tensor_of_a_type_we_do_not_decode_is_listed_never_compared() {
    use qmc_tui::compute::checkpoint::write::gguf::Value as Meta;
    let dir = TempDir::new().unwrap();
    let m = write(
        dir.path(),
        "m.safetensors",
        &safetensors_bytes(&[
            ("a.weight", Dtype::F32, vec![1, 256], f32s(&values(256, 1))),
            ("b.weight", Dtype::F32, vec![1, 256], f32s(&values(256, 2))),
        ]),
    );
    // IQ2_XXS (type 16): one block of 256 values in 66 bytes, listed but not decoded.
    let g = common::gguf_bytes(
        &[("general.architecture", Meta::Str("qmc".into()))],
        &[("a.weight", vec![1, 256], 16, vec![0; 66]), ("b.weight", vec![1, 256], 0, f32s(&values(256, 2)))],
    );
    let g = write(dir.path(), "iq.gguf", &g);
    let v = json(&["scan", s(&m), "--against", s(&g), "--no-plan", "--format", "json"]);
    let a = &v["against"];
    assert_eq!(a["tensors"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(tensor(&v, "b.weight")["sqnr_db"], Value::Null);
    let u = &a["unmatched"][0];
    assert_eq!(u["name"], "a.weight");
    assert!(
        u["reason"].as_str().unwrap().contains("iq2_xxs") && u["reason"].as_str().unwrap().contains("not decoded"),
        "{u}"
    );
}
