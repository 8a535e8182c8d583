//! `report`'s `quantized_ensemble` with a `[quant] format` other than int:
//! the ensemble quantized through the format, or why it cannot be.

mod common;

use std::path::PathBuf;

use serde_json::Value;
use tempfile::TempDir;

fn stdout_of(args: &[&str]) -> String {
    let out = common::run(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn config(dir: &TempDir, format: &str) -> PathBuf {
    let path = dir.path().join("c.toml");
    std::fs::write(&path, format!("[quant]\nformat = \"{format}\"\n")).unwrap();
    path
}

/// The `quantized_ensemble` of `report --only ensemble,deploy` with `format`.
fn deployed(format: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&dir, format);
    let args = ["--config", cfg.to_str().unwrap(), "report", "--only", "ensemble,deploy", "--format", "json"];
    let report: Value = serde_json::from_str(&stdout_of(&args)).expect("JSON");
    report["quantized_ensemble"].clone()
}

#[test]
fn fp8_quantizes_the_ensemble_in_one_row() {
    let q = deployed("fp8-e4m3");
    let int = deployed("int");
    assert_eq!((q["format"].as_str(), q["bits"].as_u64()), (Some("fp8-e4m3"), Some(8)));
    assert!(q.get("error").is_none(), "{q}");
    let rows = q["by_bits"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "fp8 takes no bits: one row");
    assert_eq!((&rows[0]["bits"], &rows[0]["bytes"]), (&q["bits"], &q["quant_bytes"]));
    for key in ["quant_test_accuracy", "quant_cv_accuracy_mean"] {
        assert!((0.0..=1.0).contains(&q[key].as_f64().unwrap()), "{key} = {}", q[key]);
    }
    // The same float ensemble; an fp32 scale per feature where int stores a scale and a zero point.
    assert_eq!(q["float_bytes"], int["float_bytes"]);
    let (fp8_bytes, int_bytes) = (q["quant_bytes"].as_u64().unwrap(), int["quant_bytes"].as_u64().unwrap());
    assert!(fp8_bytes < int_bytes, "{fp8_bytes} < {int_bytes}");
    assert_eq!(int["format"], "int");
    assert_eq!(int["by_bits"].as_array().unwrap().len(), 8, "int keeps its sweep");
}

#[test]
fn q4_0_says_why_it_cannot_quantize_iris() {
    let q = deployed("q4_0");
    let why = q["error"].as_str().expect("an error");
    assert!(why.contains("q4_0") && why.contains("not a multiple of 32"), "{why}");
    assert!(q["quant_test_accuracy"].is_null() && q["by_bits"].as_array().unwrap().is_empty(), "{q}");
    assert!(q["float_test_accuracy"].is_number());
    // The text report says it too, instead of figures.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&dir, "q4_0");
    let text = stdout_of(&["--config", cfg.to_str().unwrap(), "report", "--only", "ensemble,deploy"]);
    assert!(text.contains("quantized ensemble q4_0") && text.contains(&format!("error            {why}")), "{text}");
}
