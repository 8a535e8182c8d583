//! The number formats from the command line: `report --only formats`, a
//! format's report keys, and `quantize` refusing what a format cannot store.

use std::fs::File;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use tempfile::TempDir;

mod common;
use common::{json, run};

fn weights(dir: &TempDir, rows: usize, cols: usize) -> PathBuf {
    let path = dir.path().join("w.npy");
    let a = Array2::from_shape_fn((rows, cols), |(r, c)| (((r * 31 + c * 17) % 101) as f32 - 50.0) / 500.0);
    a.write_npy(File::create(&path).unwrap()).unwrap();
    path
}

fn config(dir: &TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn report_only_formats_lists_every_row_with_the_keys_scripts_read() {
    let dir = TempDir::new().unwrap();
    let w = weights(&dir, 8, 256);
    let v = json(&["--weights", s(&w), "report", "--only", "formats", "--format", "json"]);
    assert!(v.get("quant").is_none(), "only the formats section");
    let rows = v["formats"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    for want in ["int8", "int8 per-channel", "int4 per-channel", "int4 g128", "int4 g32", "q8_0", "q4_0", "q5_1"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    for r in rows {
        for key in ["format", "name", "settings", "bpw", "bytes", "metrics", "error"] {
            assert!(r.get(key).is_some(), "{key} in {r}");
        }
        for key in ["mse", "sqnr_db", "max_abs_error", "cosine", "clip_rate"] {
            assert!(r["metrics"].get(key).is_some(), "metrics.{key}");
        }
    }
    let q40 = rows.iter().find(|r| r["name"] == "q4_0").unwrap();
    assert_eq!(q40["bpw"], 4.5);
    assert_eq!(q40["bytes"], 8 * 256 * 9 / 16, "4.5 bits of 2048 values");
}

#[test]
fn a_row_of_the_table_reproduces_as_settings() {
    let dir = TempDir::new().unwrap();
    let w = weights(&dir, 8, 256);
    let v = json(&["--weights", s(&w), "report", "--only", "formats", "--format", "json"]);
    let row = v["formats"].as_array().unwrap().iter().find(|r| r["name"] == "int4 g32").unwrap().clone();
    let settings: toml::Value = serde_json::from_value(row["settings"].clone()).unwrap();
    let text = format!("[quant]\n{}", toml::to_string(&settings).unwrap());
    let c = config(&dir, &text);
    let q = json(&["--config", s(&c), "--weights", s(&w), "report", "--only", "quant", "--format", "json"]);
    assert_eq!(q["quant"]["metrics"]["mse"], row["metrics"]["mse"]);
    assert_eq!(q["quant"]["bpw"], row["bpw"]);
    assert_eq!(q["quant"]["granularity"], "per-group");
}

#[test]
fn a_format_reports_its_ecosystem_names_and_size() {
    let dir = TempDir::new().unwrap();
    let w = weights(&dir, 4, 64);
    let c = config(&dir, "[quant]\nformat = \"q4_1\"\n");
    let v = json(&["--config", s(&c), "--weights", s(&w), "report", "--only", "quant", "--format", "json"]);
    let q = &v["quant"];
    assert_eq!((q["format"].as_str(), q["ecosystem"].as_str()), (Some("q4_1"), Some("GGML_TYPE_Q4_1")));
    assert_eq!(q["bpw"], 5.0);
    assert_eq!((q["groups"].as_u64(), q["group_size"].as_u64()), (Some(8), Some(32)));
    assert!(q["format_params"]["d"].is_number() && q["format_params"]["m"].is_number());
    assert_eq!(q["storage"]["bytes_quantized"], 4 * 64 * 5 / 8);
}

#[test]
fn quantize_refuses_rows_that_are_not_whole_blocks_and_writes_nothing() {
    let dir = TempDir::new().unwrap();
    let w = weights(&dir, 3, 40);
    let c = config(&dir, "[quant]\nformat = \"q8_0\"\n");
    let out = dir.path().join("codes.npy");
    let o = run(&["--config", s(&c), "--weights", s(&w), "quantize", "--out", s(&out)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("quant.format") && err.contains("blocks of 32") && err.contains("40"), "{err}");
    assert!(!out.exists(), "no file is written");
}

#[test]
fn quantize_writes_the_dequantized_weights_of_a_format() {
    let dir = TempDir::new().unwrap();
    let w = weights(&dir, 2, 64);
    let c = config(&dir, "[quant]\nformat = \"q8_0\"\n");
    let (codes, xhat) = (dir.path().join("codes.npy"), dir.path().join("xhat.npy"));
    let o = run(&["--config", s(&c), "--weights", s(&w), "quantize", "--out", s(&codes), "--dequantized", s(&xhat)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let x = Array2::<f32>::read_npy(File::open(&w).unwrap()).unwrap();
    let xh = Array2::<f32>::read_npy(File::open(&xhat).unwrap()).unwrap();
    let q = Array2::<u8>::read_npy(File::open(&codes).unwrap()).unwrap();
    assert_eq!(xh.dim(), (2, 64));
    // Q8_0 keeps every value within half a step of its block's scale, plus
    // what storing d in fp16 moves the top code: 127 * 2^-11 of a step.
    for (row, (xr, hr)) in x.rows().into_iter().zip(xh.rows()).enumerate() {
        for b in 0..2 {
            let block = b * 32..(b + 1) * 32;
            let amax = xr.slice(ndarray::s![block.clone()]).iter().fold(0f32, |m, v| m.max(v.abs()));
            for i in block {
                assert!((xr[i] - hr[i]).abs() <= amax / 127.0 * (0.5 + 127.0 / 2048.0), "row {row} col {i}");
            }
        }
    }
    assert!(q.iter().all(|&c| c >= 1), "q8_0 codes are -127..=127, stored + 128");
}

#[test]
fn a_bad_group_size_is_refused_with_its_key() {
    let dir = TempDir::new().unwrap();
    let w = weights(&dir, 2, 64);
    let c = config(&dir, "[quant]\nbits = 4\ngranularity = \"per-group\"\ngroup_size = 100\n");
    let o = run(&["--config", s(&c), "--weights", s(&w), "report", "--only", "quant"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("quant.group_size") && err.contains("100"), "{err}");
    let c = config(&dir, "[quant]\nformat = \"q9_9\"\n");
    let o = run(&["--config", s(&c), "--weights", s(&w), "report", "--only", "quant"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("unknown format \"q9_9\"") && err.contains("q4_0"), "{err}");
}
