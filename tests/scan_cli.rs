//! `qmc-tui scan` on checkpoints the tests write: the JSON keys, answers
//! equal to `report --only formats`, statistics by hand, shards, the plan,
//! and every bad input as a one-paragraph error.

use std::path::{Path, PathBuf};

use qmc_tui::compute::format;
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

/// A header written by hand, for files the safetensors crate refuses to make.
fn raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n).map(|i| ((((i * 37 + seed * 11) % 101) as f32) - 50.0) / 400.0).collect()
}

fn bf16s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|&x| half::bf16::from_f32(x).to_le_bytes()).collect()
}

fn model(dir: &Path) -> PathBuf {
    let ids: Vec<u8> = (0..3i64).flat_map(|x| x.to_le_bytes()).collect();
    let bytes = safetensors_bytes(&[
        ("layers.0.q_proj.weight", Dtype::F32, vec![8, 256], f32s(&values(2048, 1))),
        ("layers.0.k_proj.weight", Dtype::BF16, vec![4, 128], bf16s(&values(512, 2))),
        ("layers.0.norm.weight", Dtype::F32, vec![16], f32s(&values(16, 3))),
        ("position_ids", Dtype::I64, vec![3], ids),
    ]);
    write(dir, "model.safetensors", &bytes)
}

fn tensor<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["tensors"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name} in {v}"))
}

#[test]
fn scan_lists_every_tensor_with_the_keys_scripts_read() {
    let dir = TempDir::new().unwrap();
    let path = model(dir.path());
    let v = json(&["scan", s(&path), "--format", "json"]);
    let ck = &v["checkpoint"];
    assert_eq!(ck["tensors"], 4);
    assert_eq!(ck["parameters"], 2048 + 512 + 16 + 3);
    assert_eq!(ck["files"].as_array().unwrap().len(), 1);
    assert_eq!(ck["path"], s(&path));

    let q = tensor(&v, "layers.0.q_proj.weight");
    assert_eq!(
        (q["skipped"].clone(), q["dtype"].clone(), q["count"].clone()),
        (false.into(), "f32".into(), 2048.into())
    );
    for key in ["max_abs", "std", "kurtosis", "outlier_ratio"] {
        assert!(q["stats"][key].is_number(), "stats.{key}: {q}");
    }
    let results = q["results"].as_array().unwrap();
    let formats: Vec<&str> = results.iter().map(|r| r["format"].as_str().unwrap()).collect();
    assert_eq!(formats, ["int8-sym-pc", "int4-asym-g128"], "the default formats");
    for r in results {
        for key in ["bpw", "mse", "rel_rmse", "sqnr_db", "max_abs_error", "clip_rate"] {
            assert!(r[key].is_number(), "{key}: {r}");
        }
        let rel = r["rel_rmse"].as_f64().unwrap();
        assert!((rel - 10f64.powf(-r["sqnr_db"].as_f64().unwrap() / 20.0)).abs() < 1e-12);
    }
    // The int8 row is more accurate than the int4 one, and larger.
    assert!(results[0]["sqnr_db"].as_f64() > results[1]["sqnr_db"].as_f64());
    assert!(results[0]["bpw"].as_f64() > results[1]["bpw"].as_f64());

    assert_eq!(tensor(&v, "layers.0.k_proj.weight")["dtype"], "bf16");
    for name in ["layers.0.norm.weight", "position_ids"] {
        let t = tensor(&v, name);
        assert_eq!(t["skipped"], true, "{t}");
        assert!(t["results"].as_array().unwrap().is_empty() && t["stats"].is_null());
    }
    assert!(tensor(&v, "position_ids")["skip_reason"].as_str().unwrap().contains("integer"));

    let with_1d = json(&["scan", s(&path), "--include-1d", "--format", "json"]);
    assert_eq!(tensor(&with_1d, "layers.0.norm.weight")["skipped"], false);

    let totals = v["totals"].as_array().unwrap();
    assert_eq!(totals.len(), 2);
    for t in totals {
        assert_eq!(t["tensors"], 2, "{t}");
        for key in ["format", "bpw", "bytes", "sqnr_db"] {
            assert!(!t[key].is_null(), "{key}: {t}");
        }
    }
    assert!(v.get("plan").is_none(), "no plan without a budget");
}

#[test]
fn a_scan_result_equals_report_only_formats_on_that_tensor() {
    let dir = TempDir::new().unwrap();
    let path = model(dir.path());
    let v = json(&["scan", s(&path), "--formats", "q8_0,int4-asym-g128,q4_k", "--format", "json"]);
    for name in ["layers.0.q_proj.weight", "layers.0.k_proj.weight"] {
        let report =
            json(&["--weights", s(&path), "--tensor", name, "report", "--only", "formats", "--format", "json"]);
        let rows = report["formats"].as_array().unwrap();
        let row = |label: &str| rows.iter().find(|r| r["name"] == label).unwrap();
        let results = tensor(&v, name)["results"].as_array().unwrap();
        for (r, label) in results.iter().zip(["q8_0", "int4 g128", "q4_k"]) {
            let want = row(label);
            if want["error"].is_null() {
                assert_eq!(r["bpw"], want["bpw"], "{name} {label}");
                for key in ["mse", "sqnr_db", "max_abs_error", "clip_rate"] {
                    assert_eq!(r[key], want["metrics"][key], "{name} {label} {key}");
                }
            } else {
                assert_eq!(r["error"], want["error"], "{name} {label}");
                assert!(r.get("mse").is_none());
            }
        }
    }
    // q4_k needs rows of 256: the 128-wide tensor gets an error, not a failed scan.
    let k = &tensor(&v, "layers.0.k_proj.weight")["results"][2];
    assert!(k["error"].is_string() && k.get("sqnr_db").is_none(), "{k}");
    let totals = v["totals"].as_array().unwrap();
    assert_eq!(totals[2]["tensors"], 1, "q4_k applies to one tensor");
}

#[test]
fn stats_by_hand_on_tiny_tensors() {
    let dir = TempDir::new().unwrap();
    let mut spike = vec![0.0f32; 1000];
    spike[7] = 1.0;
    let bytes = safetensors_bytes(&[
        ("tiny", Dtype::F32, vec![2, 4], f32s(&[1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.0, 0.0])),
        ("spike", Dtype::F32, vec![10, 100], f32s(&spike)),
    ]);
    let path = write(dir.path(), "t.safetensors", &bytes);
    let v = json(&["scan", s(&path), "--formats", "int8-sym-pt", "--format", "json"]);
    let st = &tensor(&v, "tiny")["stats"];
    // mean 0, m2 = 28/8, m4 = 196/8: kurtosis 24.5/3.5² − 3 = −1.
    assert_eq!(st["max_abs"], 3.0);
    assert!((st["std"].as_f64().unwrap() - 3.5f64.sqrt()).abs() < 1e-12, "{st}");
    assert!((st["kurtosis"].as_f64().unwrap() + 1.0).abs() < 1e-12, "{st}");
    assert_eq!(st["outlier_ratio"], 0.0);
    // One value of 1 among 999 zeros: σ ≈ 0.0316, so it is beyond 6σ.
    assert_eq!(tensor(&v, "spike")["stats"]["outlier_ratio"], 0.001);
    // Row ranges 4 and 6: the widest over the median (5) is 1.2.
    let peak = 3.0 / 3.5f64.sqrt();
    assert!((st["peak_to_sigma"].as_f64().unwrap() - peak).abs() < 1e-12, "{st}");
    assert!((st["channel_range_spread"].as_f64().unwrap() - 1.2).abs() < 1e-12, "{st}");

    // The text and CSV forms carry the same two figures.
    let out = run(&["scan", s(&path), "--formats", "int8-sym-pt", "--format", "csv"]);
    let csv = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = csv.lines().find(|l| l.starts_with("tiny,")).unwrap().split(',').collect();
    let cell = |key: &str| row[header.iter().position(|h| *h == key).unwrap()].parse::<f64>().unwrap();
    assert!((cell("peak_to_sigma") - peak).abs() < 1e-12, "{csv}");
    assert!((cell("channel_range_spread") - 1.2).abs() < 1e-12, "{csv}");
    let text = String::from_utf8_lossy(&run(&["scan", s(&path), "--formats", "int8-sym-pt"]).stdout).to_string();
    let tiny = text.lines().find(|l| l.starts_with("tiny ")).unwrap();
    assert!(text.contains("peak/σ") && tiny.contains(&format::num(peak)) && tiny.contains("1.200"), "{text}");
}

fn shards(dir: &Path) -> PathBuf {
    let a = safetensors_bytes(&[("a.weight", Dtype::F32, vec![4, 64], f32s(&values(256, 4)))]);
    let b = safetensors_bytes(&[
        ("b.weight", Dtype::BF16, vec![4, 64], bf16s(&values(256, 5))),
        ("b.bias", Dtype::F32, vec![4], f32s(&values(4, 6))),
    ]);
    write(dir, "model-00001-of-00002.safetensors", &a);
    write(dir, "model-00002-of-00002.safetensors", &b);
    let index = r#"{"metadata": {"total_size": 1552}, "weight_map": {
        "a.weight": "model-00001-of-00002.safetensors",
        "b.weight": "model-00002-of-00002.safetensors",
        "b.bias": "model-00002-of-00002.safetensors"}}"#;
    write(dir, "model.safetensors.index.json", index.as_bytes())
}

#[test]
fn a_sharded_checkpoint_opens_by_its_folder_or_its_index() {
    let dir = TempDir::new().unwrap();
    let index = shards(dir.path());
    for path in [dir.path(), index.as_path()] {
        let v = json(&["scan", s(path), "--format", "json"]);
        assert_eq!(v["checkpoint"]["files"].as_array().unwrap().len(), 2, "{v}");
        assert_eq!(v["checkpoint"]["tensors"], 3);
        assert!(tensor(&v, "a.weight")["file"].as_str().unwrap().ends_with("model-00001-of-00002.safetensors"));
        assert!(tensor(&v, "b.weight")["file"].as_str().unwrap().ends_with("model-00002-of-00002.safetensors"));
        assert_eq!(v["totals"][0]["tensors"], 2);
    }
    // The same shards without an index: a folder of files.
    std::fs::remove_file(&index).unwrap();
    let v = json(&["scan", s(dir.path()), "--format", "json"]);
    assert_eq!(v["checkpoint"]["tensors"], 3);
}

#[test]
fn include_and_exclude_pick_tensors() {
    let dir = TempDir::new().unwrap();
    let path = model(dir.path());
    let v = json(&["scan", s(&path), "--include", "*proj*", "--exclude", "*.k_?roj.*", "--format", "json"]);
    let names: Vec<&str> = v["tensors"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["layers.0.q_proj.weight"]);
}

#[test]
fn the_plan_fits_the_budget_and_a_budget_too_small_fails() {
    let dir = TempDir::new().unwrap();
    let path = model(dir.path());
    let v = json(&["scan", s(&path), "--budget-bpw", "6", "--format", "json"]);
    let plan = &v["plan"];
    assert_eq!(plan["budget_bpw"], 6.0);
    assert!(plan["bpw"].as_f64().unwrap() <= 6.0, "{plan}");
    let assignments = plan["assignments"].as_object().unwrap();
    assert_eq!(assignments.len(), 2, "the quantized tensors only: {plan}");
    // Both int8 (≈8 bpw) does not fit; the plan is at least as good as all int4.
    let int4 = &v["totals"][1];
    assert!(plan["sqnr_db"].as_f64() >= int4["sqnr_db"].as_f64(), "{plan} vs {int4}");
    assert!(assignments.values().any(|f| f == "int8-sym-pc"), "a budget between the two buys some int8: {plan}");

    let mb = json(&["scan", s(&path), "--budget-mb", "1", "--format", "json"]);
    assert!(mb["plan"]["assignments"].as_object().unwrap().values().all(|f| f == "int8-sym-pc"));

    let err = fails(&["scan", s(&path), "--budget-bpw", "1"]);
    assert!(err.contains("below the smallest plan") && err.contains("model.safetensors"), "{err}");
    // In the units the budget was given in: 1 bpw against int4-g128's 4.5 at the least.
    assert!(err.contains("1.000 bits per weight") && err.contains("4.500 bits per weight"), "{err}");
}

#[test]
fn text_and_csv_show_the_same_scan() {
    let dir = TempDir::new().unwrap();
    let path = model(dir.path());
    let out = run(&["scan", s(&path)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("int8-sym-pc sqnr") && text.contains("totals") && text.contains("skipped"), "{text}");
    // Worst SQNR first: the bf16 128-wide tensor vs the f32 one, in JSON order.
    let v = json(&["scan", s(&path), "--format", "json"]);
    let worst = |name| tensor(&v, name)["results"][1]["sqnr_db"].as_f64().unwrap();
    let (q, k) = (worst("layers.0.q_proj.weight"), worst("layers.0.k_proj.weight"));
    let (qi, ki) = (text.find("q_proj").unwrap(), text.find("k_proj").unwrap());
    assert_eq!(qi < ki, q < k, "{text}");

    let out = run(&["scan", s(&path), "--format", "csv"]);
    let csv = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("name,shape,dtype,count,skipped,max_abs"), "{csv}");
    // Two tensors × two formats, plus one row for each skipped tensor.
    assert_eq!(lines.len(), 1 + 4 + 2, "{csv}");
}

#[test]
fn bad_format_names_list_the_valid_ones() {
    let dir = TempDir::new().unwrap();
    let path = model(dir.path());
    let err = fails(&["scan", s(&path), "--formats", "int8-sym-pc,int3-wobbly"]);
    assert!(err.contains("int3-wobbly") && err.contains("q4_0") && err.contains("int8-sym-pc"), "{err}");
}

#[test]
fn every_bad_checkpoint_is_one_paragraph_naming_the_file() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let good = std::fs::read(model(d)).unwrap();
    let cases: Vec<(PathBuf, &str)> = vec![
        (write(d, "short.safetensors", &good[..good.len() - 10]), "cut short"),
        (write(d, "header.safetensors", &[0xff, 0xff, 0, 0, 0, 0, 0, 0, b'{', b'}']), "cut short"),
        (
            write(
                d,
                "overlap.safetensors",
                &raw(
                    r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}}"#,
                    &[0; 24],
                ),
            ),
            "overlap",
        ),
        (
            write(
                d,
                "dtype.safetensors",
                &raw(r#"{"a":{"dtype":"F12","shape":[2,2],"data_offsets":[0,16]}}"#, &[0; 16]),
            ),
            "F12",
        ),
        (
            write(d, "zero.safetensors", &raw(r#"{"a":{"dtype":"F32","shape":[4,0],"data_offsets":[0,0]}}"#, &[])),
            "zero",
        ),
    ];
    for (path, want) in &cases {
        let err = fails(&["scan", s(path)]);
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(err.contains(want) && err.contains(name), "{name}: {err}");
    }
}

#[test]
fn every_bad_index_is_one_paragraph_naming_the_file() {
    let dir = TempDir::new().unwrap();
    let index = shards(dir.path());

    let text = std::fs::read_to_string(&index).unwrap();
    std::fs::write(&index, text.replace("model-00002-of-00002", "model-00003-of-00002")).unwrap();
    let err = fails(&["scan", s(&index)]);
    assert!(err.contains("missing") && err.contains("model-00003-of-00002.safetensors"), "{err}");

    std::fs::write(&index, "{ not json").unwrap();
    let err = fails(&["scan", s(dir.path())]);
    assert!(err.contains("model.safetensors.index.json") && err.contains("JSON"), "{err}");

    let twice = text.replace(
        r#""b.bias": "model-00002"#,
        r#""a.weight": "model-00001-of-00002.safetensors", "b.bias": "model-00002"#,
    );
    std::fs::write(&index, twice).unwrap();
    let err = fails(&["scan", s(&index)]);
    assert!(err.contains("twice") && err.contains("a.weight") && err.contains("index.json"), "{err}");
}

#[test]
fn a_glob_that_matches_nothing_is_named() {
    let dir = TempDir::new().unwrap();
    let path = model(dir.path());
    let err = fails(&["scan", s(&path), "--include", "*proj*", "--include", "*mlp*"]);
    assert!(err.contains("--include") && err.contains("*mlp*") && err.contains("model.safetensors"), "{err}");
    let err = fails(&["scan", s(&path), "--exclude", "nothing?"]);
    assert!(err.contains("--exclude") && err.contains("nothing?"), "{err}");
}

/// FP8 checkpoints (DeepSeek-V3 style) are decoded and scanned, not skipped;
/// the E4M3 codes below are 1, -0.5, 448 (its max) and 2^-9 (its least subnormal).
#[test]
fn fp8_tensors_are_decoded_and_scanned() {
    let dir = TempDir::new().unwrap();
    let codes: Vec<u8> = [0x38u8, 0xb0, 0x7e, 0x01].iter().copied().cycle().take(2 * 32).collect();
    let e5m2: Vec<u8> = [0x3cu8, 0x7b].iter().copied().cycle().take(2 * 32).collect();
    let bytes = safetensors_bytes(&[
        ("a.weight", Dtype::F8_E4M3, vec![2, 32], codes),
        ("b.weight", Dtype::F8_E5M2, vec![2, 32], e5m2),
    ]);
    let path = write(dir.path(), "fp8.safetensors", &bytes);
    let v = json(&["scan", s(&path), "--formats", "q8_0", "--format", "json"]);
    let a = tensor(&v, "a.weight");
    assert_eq!((a["skipped"].clone(), a["dtype"].clone()), (false.into(), "f8_e4m3".into()), "{a}");
    assert_eq!(a["stats"]["max_abs"], 448.0);
    let b = tensor(&v, "b.weight");
    assert_eq!((b["skipped"].clone(), b["dtype"].clone()), (false.into(), "f8_e5m2".into()), "{b}");
    assert_eq!(b["stats"]["max_abs"], 57344.0);
    assert_eq!(b["results"][0]["format"], "q8_0");
}

/// NaN codes are counted and left out of every figure: the model's SQNR over
/// one tensor is that tensor's SQNR (was 3 dB off when half were NaN).
#[test]
fn non_finite_values_are_counted_and_left_out_of_the_totals() {
    let dir = TempDir::new().unwrap();
    let codes: Vec<u8> = [0x38u8, 0x7f, 0xb0, 0x7e].iter().copied().cycle().take(2 * 32).collect();
    let path = write(dir.path(), "nan.safetensors", &safetensors_bytes(&[("a", Dtype::F8_E4M3, vec![2, 32], codes)]));
    let v = json(&["scan", s(&path), "--formats", "q8_0,int4-sym-pc", "--format", "json"]);
    let a = tensor(&v, "a");
    assert_eq!(a["stats"]["non_finite"], 16);
    for (f, total) in v["totals"].as_array().unwrap().iter().enumerate() {
        let (one, all) = (a["results"][f]["sqnr_db"].as_f64().unwrap(), total["sqnr_db"].as_f64().unwrap());
        assert!((one - all).abs() < 1e-9, "{one} vs {all}");
    }
    let plan = json(&["scan", s(&path), "--formats", "q8_0,int4-sym-pc", "--budget-bpw", "9", "--format", "json"]);
    // Both fit in 9 bpw: the plan takes the better one, with its SQNR.
    let best = (0..2).map(|f| a["results"][f]["sqnr_db"].as_f64().unwrap()).fold(f64::MIN, f64::max);
    assert!((plan["plan"]["sqnr_db"].as_f64().unwrap() - best).abs() < 1e-9, "{}", plan["plan"]);
}
