//! The headless commands, run as a user runs them: the real binary on files
//! written to a temporary directory.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{raw_npy, run};
use ndarray::{Array, ArrayD, Dimension, array};
use ndarray_npy::{ReadNpyExt, WritableElement, WriteNpyExt};
use qmc_tui::format;
use safetensors::{Dtype, tensor::TensorView};
use serde_json::Value;
use tempfile::TempDir;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stdout of a run that must succeed.
fn ok(args: &[&str]) -> String {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {err}");
    stdout(&out)
}

/// The JSON report for these extra arguments.
fn report(args: &[&str]) -> Value {
    let mut all = vec!["report", "--format", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(&all)).expect("report prints JSON")
}

/// Stderr of a run that must fail with exit code 1, an `error: ` line and no panic.
fn fails(args: &[&str]) -> String {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.stdout.is_empty());
    err
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

fn write_npy<A: WritableElement, D: Dimension>(dir: &TempDir, name: &str, a: &Array<A, D>) -> PathBuf {
    let path = dir.path().join(name);
    a.write_npy(File::create(&path).unwrap()).unwrap();
    path
}

fn write_text(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn write_safetensors(dir: &TempDir, name: &str, tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> PathBuf {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, dtype, shape, bytes)| (n.to_string(), TensorView::new(*dtype, shape.clone(), bytes).unwrap()))
        .collect();
    let path = dir.path().join(name);
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    path
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array().unwrap_or_else(|| panic!("{v} is not an array")).iter().map(num).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

/// Deterministic, irregular test values in roughly [-2, 2].
fn wiggle(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i as f32 * 0.37).sin() * 2.0 - (i as f32 * 0.11).cos() * 0.3).collect()
}

#[test]
fn default_report_json_has_every_key_with_sane_values() {
    let r = report(&[]);
    let w = &r["weights"];
    assert_eq!(w["source"], "synthetic");
    assert!(w["tensor"].is_null());
    assert_eq!(w["shape"], serde_json::json!([1000, 10]));
    assert_eq!(
        (w["dtype"].as_str(), w["count"].as_u64(), w["non_finite"].as_u64()),
        (Some("f32"), Some(10000), Some(0))
    );
    let (min, max) = (num(&w["min"]), num(&w["max"]));
    assert!(min < -2.5 && max > 2.5, "N(0,1) x 10000 spans about +-3.7: {min} {max}");

    let q = &r["quant"];
    assert_eq!((q["bits"].as_u64(), q["effective_bits"].as_u64()), (Some(8), Some(8)));
    assert_eq!((q["scheme"].as_str(), q["granularity"].as_str()), (Some("asymmetric"), Some("per-tensor")));
    assert_eq!((q["channel_axis"].as_u64(), q["rounding"].as_str()), (Some(0), Some("half-even")));
    assert_eq!(q["calibration"], "min-max");
    assert_eq!((q["qmin"].as_i64(), q["qmax"].as_i64()), (Some(-128), Some(127)));
    let scale = nums(&q["scale"]);
    assert_eq!(scale.len(), 1);
    assert!((scale[0] - (max - min) / 255.0).abs() < 1e-6, "min-max scale is the range over 255: {scale:?}");
    assert_eq!(q["zero_point"].as_array().unwrap().len(), 1);
    assert_eq!(nums(&q["range"][0]), vec![min, max], "min-max calibrates to the data range");
    // The clip is the grid's representable range, (q - zp) * scale at both ends.
    let zp = q["zero_point"][0].as_i64().unwrap() as f32;
    let grid = [(-128.0 - zp) * scale[0] as f32, (127.0 - zp) * scale[0] as f32];
    assert_eq!(nums(&q["clip"][0]).iter().map(|&v| v as f32).collect::<Vec<_>>(), grid);
    // Within half a step of the data at both ends: min-max clips nothing.
    let half = scale[0] / 2.0;
    assert!(grid[0] as f64 <= min + half && grid[1] as f64 >= max - half, "the grid spans the data: {grid:?}");
    assert_eq!(q["clip"].as_array().unwrap().len(), 1);

    let m = &q["metrics"];
    let mse = num(&m["mse"]);
    assert!(mse > 0.0 && mse < 1e-3, "{mse}");
    assert!(close(num(&m["rmse"]), mse.sqrt()));
    assert!(num(&m["mae"]) <= num(&m["rmse"]) && num(&m["rmse"]) <= num(&m["max_abs_error"]));
    assert!(num(&m["max_abs_error"]) <= scale[0] / 2.0 + 1e-6, "nothing is clipped, so at most half a step");
    assert!(num(&m["sqnr_db"]) > 35.0 && num(&m["cosine"]) > 0.999);
    assert_eq!(num(&m["clip_rate"]), 0.0);
    assert_eq!(m["levels_available"].as_u64(), Some(256));
    assert!((100..=256).contains(&m["levels_used"].as_u64().unwrap()));
    assert!(num(&m["bias"]).abs() < 1e-3 && (0.0..0.1).contains(&num(&m["zero_rate"])));

    let s = &q["storage"];
    assert_eq!((s["bytes_fp32"].as_u64(), s["bytes_quantized"].as_u64()), (Some(40000), Some(10000 + 8)));
    assert!(close(num(&s["compression"]), 40000.0 / 10008.0));
    let cal = q["calibrations"].as_object().unwrap();
    let names: Vec<&str> = cal.keys().map(String::as_str).collect();
    for name in ["min-max", "percentile", "sigma", "mse", "entropy"] {
        assert!(names.contains(&name), "{names:?}");
        let [lo, hi] = nums(&cal[name])[..] else { panic!("{name} is not [lo, hi]") };
        assert!(lo < 0.0 && hi > 0.0 && lo >= min && hi <= max + 1e-6, "{name}: [{lo}, {hi}]");
    }
    assert_eq!(nums(&cal["min-max"]), vec![min, max]);
    assert_eq!(r["diagnostics"], serde_json::json!([]), "a sensible int8 quantizer has no findings");
}

#[test]
fn text_report_shows_the_json_figures_formatted_like_the_tui() {
    let json = report(&[]);
    let text = ok(&["report"]);
    let m = &json["quant"]["metrics"];
    for figure in [
        format!("mse              {}", format::num(num(&m["mse"]))),
        format!("rmse             {}", format::num(num(&m["rmse"]))),
        format!("sqnr             {}", format::db(num(&m["sqnr_db"]))),
        format!("clip rate        {} ({} values)", format::pct(num(&m["clip_rate"])), m["clipped"]),
        format!("scale            {}", format::num(num(&json["quant"]["scale"][0]))),
        format!("levels used      {} of 256", m["levels_used"]),
        format!(
            "stats            mean {}, std {}",
            format::num(num(&json["weights"]["mean"])),
            format::num(num(&json["weights"]["std"]))
        ),
        format!("shape            {} f32", format::shape(&[1000, 10])),
    ] {
        assert!(text.contains(&figure), "{figure:?} missing from:\n{text}");
    }
    assert!(text.contains("diagnostics        none"), "{text}");
}

/// [[-1, -0.25, 0.5], [0.75, 3, 1]] on the levels -1, 0, 1 (scale 1):
/// x_hat = -1, 0, 0 (0.5 ties to even), 1, 1 (3 is clipped), 1, so the
/// errors are 0, -0.25, 0.5, -0.25, 2, 0.
#[test]
fn hand_computed_two_bit_case() {
    let dir = tempfile::tempdir().unwrap();
    let npy = write_npy(&dir, "w.npy", &array![[-1.0f32, -0.25, 0.5], [0.75, 3.0, 1.0]]);
    let manual = write_text(&dir, "manual.toml", "[quant]\nscheme = \"manual\"\nscale = 1.0\nclip = [-1.0, 1.0]\n");
    // Percentile 80 of |x| = [0.25, 0.5, 0.75, 1, 1, 3] is rank 4 of 0..5: 1.0, so scale = 1 / qmax = 1.
    let symmetric = write_text(
        &dir,
        "sym.toml",
        "[quant]\nbits = 2\nscheme = \"symmetric\"\ncalibration = \"percentile\"\npercentile = 80.0\n",
    );
    for config in [&manual, &symmetric] {
        let r = report(&["--config", path_str(config), "--weights", path_str(&npy)]);
        let q = &r["quant"];
        assert_eq!((nums(&q["scale"]), q["zero_point"].clone()), (vec![1.0], serde_json::json!([0])));
        assert_eq!(
            (q["qmin"].as_i64(), q["qmax"].as_i64(), q["effective_bits"].as_u64()),
            (Some(-1), Some(1), Some(2))
        );
        assert_eq!(nums(&q["clip"][0]), vec![-1.0, 1.0]);
        let m = &q["metrics"];
        assert!(close(num(&m["mse"]), (0.0625 + 0.25 + 0.0625 + 4.0) / 6.0), "{m}");
        assert!(close(num(&m["mae"]), 3.0 / 6.0) && close(num(&m["bias"]), 2.0 / 6.0));
        assert_eq!(num(&m["max_abs_error"]), 2.0);
        assert!(close(num(&m["clip_rate"]), 1.0 / 6.0));
        assert!(close(num(&m["zero_rate"]), 2.0 / 6.0));
        assert_eq!((m["levels_used"].as_u64(), m["levels_available"].as_u64()), (Some(3), Some(3)));
        assert_eq!(m["clipped"].as_u64(), Some(1));
        // The weights' statistics the pane shows: mean 4/6, population std of the six values.
        let w = &r["weights"];
        let mean = 4.0 / 6.0;
        let var = [-1.0f64, -0.25, 0.5, 0.75, 3.0, 1.0].iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 6.0;
        assert!(close(num(&w["mean"]), mean) && close(num(&w["std"]), var.sqrt()), "{w}");
        // Rounding errors lie within half a step, the clipped one (3 - 1)
        // beyond: 160 bins of 1/64 over [-0.5, 2]. Errors 0 and -0.25 twice,
        // 0.5 once; the clipped 2 falls on the upper edge, in the last bin.
        let e = &q["pictures"]["error_histogram"];
        let nonzero = |h: &Value| -> Vec<(usize, f64)> {
            nums(&h["counts"]).into_iter().enumerate().filter(|&(_, c)| c > 0.0).collect()
        };
        assert_eq!((num(&e["rounding"]["lo"]), num(&e["rounding"]["hi"])), (-0.5, 2.0));
        assert_eq!(nonzero(&e["rounding"]), vec![(16, 2.0), (32, 2.0), (64, 1.0)]);
        assert_eq!(nonzero(&e["clipped"]), vec![(159, 1.0)]);
        assert_eq!(r["weights"]["shape"], serde_json::json!([2, 3]));
        assert_eq!((num(&r["weights"]["min"]), num(&r["weights"]["max"])), (-1.0, 3.0));
    }
}

#[test]
fn report_has_the_pictures_and_the_per_channel_table() {
    let dir = tempfile::tempdir().unwrap();
    // Symmetric 8-bit. Row 0: amax 1, scale 1/127: codes -127, 0, 64 (63.5
    // to even), 127. Row 1: amax 3, scale 3/127: codes 85 (84.67), 127 and
    // 11 (10.58); its NaN is left out of every count.
    let values = [-1.0f32, 0.0, 0.5, 1.0, 2.0, 3.0, f32::NAN, 0.25];
    let npy = write_npy(&dir, "w.npy", &Array::from_shape_vec((2, 4), values.to_vec()).unwrap());
    let config = write_text(&dir, "pc.toml", "[quant]\nscheme = \"symmetric\"\ngranularity = \"per-channel\"\n");
    let r = report(&["--config", path_str(&config), "--weights", path_str(&npy)]);
    let q = &r["quant"];
    let pc = &q["per_channel"];
    assert_eq!(pc["levels_used"], serde_json::json!([4, 3]));
    assert_eq!(pc["levels_available"], serde_json::json!([255, 255]));
    assert_eq!(nums(&pc["clip_rate"]), vec![0.0, 0.0]);
    assert_eq!(nums(&pc["mse"]).len(), 2);
    let p = &q["pictures"];
    let w = &p["weight_histogram"];
    let counts = nums(&w["counts"]);
    assert_eq!((num(&w["lo"]), num(&w["hi"]), counts.len()), (-1.0, 3.0, 160));
    assert_eq!(counts.iter().sum::<f64>(), 7.0);
    assert_eq!((counts[0], counts[159]), (1.0, 1.0), "-1 in the first bin, 3 in the last");
    let e = &p["error_histogram"];
    let total = |h: &Value| nums(&h["counts"]).iter().sum::<f64>();
    assert_eq!((total(&e["rounding"]), total(&e["clipped"])), (7.0, 0.0));
    let curve = &p["mse_curve"];
    let points: Vec<Vec<f64>> = curve["points"].as_array().unwrap().iter().map(nums).collect();
    assert_eq!(points.len(), 40);
    assert_eq!((points[0][0], points[39][0]), (0.025, 1.0));
    assert_eq!(nums(&curve["current"]), vec![1.0, num(&q["metrics"]["mse"])]);
    assert!(points.iter().any(|pt| pt == &nums(&curve["optimum"])));

    let text = ok(&["report", "--config", path_str(&config), "--weights", path_str(&npy)]);
    assert!(text.contains("  weights          160 bins over [-1.000, 3.000], tallest 1"), "{text}");
    assert!(text.contains("rounding 7, clipped 0"), "{text}");
    assert!(text.contains("  mse vs clip      now 1.00 x min-max"), "{text}");
    assert!(text.contains("0.00%  4 of 255"), "{text}");
}

#[test]
fn per_channel_report_has_one_scale_per_row() {
    let dir = tempfile::tempdir().unwrap();
    let values = wiggle(24);
    let npy = write_npy(&dir, "w.npy", &Array::from_shape_vec((4, 2, 3), values.clone()).unwrap());
    let config = write_text(&dir, "pc.toml", "[quant]\nscheme = \"symmetric\"\ngranularity = \"per-channel\"\n");
    let r = report(&["--config", path_str(&config), "--weights", path_str(&npy)]);
    let q = &r["quant"];
    assert_eq!(q["granularity"], "per-channel");
    let scale = nums(&q["scale"]);
    assert_eq!(
        (scale.len(), q["zero_point"].as_array().unwrap().len(), q["clip"].as_array().unwrap().len()),
        (4, 4, 4)
    );
    for (row, s) in values.chunks(6).zip(&scale) {
        let amax = row.iter().fold(0f32, |a, x| a.max(x.abs()));
        assert_eq!(*s as f32, amax / 127.0, "symmetric min-max: max|row| / 127");
    }

    // The text lists 20 of the synthetic 1000 rows and counts the rest.
    let preset = write_text(&dir, "preset.toml", "preset = \"int8 per-channel\"\n");
    assert_eq!(report(&["--config", path_str(&preset)])["quant"]["scale"].as_array().unwrap().len(), 1000);
    let text = ok(&["report", "--config", path_str(&preset)]);
    assert!(text.contains("channels         1000 (rows, axis 0)"), "{text}");
    assert!(text.contains("\n       19  ") && !text.contains("\n       20  "), "{text}");
    assert!(text.contains("... 980 more"), "{text}");
}

#[test]
fn out_of_range_setting_names_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_text(&dir, "bad.toml", "[quant]\nbits = 17\n");
    let err = fails(&["report", "--config", path_str(&config)]);
    assert!(err.contains("quant.bits") && err.contains("line 2") && err.contains("17"), "{err}");
    assert!(err.contains("bad.toml"), "{err}");
}

#[test]
fn unknown_key_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_text(&dir, "typo.toml", "[quant]\nbits = 8\nbitz = 4\n");
    let err = fails(&["report", "--config", path_str(&config)]);
    assert!(err.contains("bitz") && err.contains("line 3") && err.contains("typo.toml"), "{err}");
}

#[test]
fn a_member_setting_its_kind_ignores_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_text(&dir, "knn.toml", "[[ensemble.members]]\nkind = \"knn\"\ntrees = 50\n");
    let err = fails(&["report", "--only", "ensemble", "--config", path_str(&config)]);
    for part in ["knn.toml", "line 3", "ensemble.members[0].trees", "a knn member does not read"] {
        assert!(err.contains(part), "{part}: {err}");
    }
}

#[test]
fn missing_and_garbage_weight_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.npy");
    let err = fails(&["report", "--weights", path_str(&missing)]);
    assert!(err.contains(path_str(&missing)) && err.contains("cannot read"), "{err}");
    let garbage = write_text(&dir, "garbage.npy", "this is not numpy");
    let err = fails(&["report", "--weights", path_str(&garbage)]);
    assert!(err.contains(path_str(&garbage)) && err.contains("not a valid npy file"), "{err}");
}

#[test]
fn unknown_tensor_lists_the_available_names() {
    let dir = tempfile::tempdir().unwrap();
    let st = write_safetensors(
        &dir,
        "m.safetensors",
        &[("alpha", Dtype::F32, vec![2], f32_bytes(&[1.0, 2.0])), ("beta", Dtype::F32, vec![1], f32_bytes(&[3.0]))],
    );
    let err = fails(&["report", "--weights", path_str(&st), "--tensor", "gamma"]);
    assert!(err.contains("\"gamma\"") && err.contains("alpha, beta"), "{err}");
    let r = report(&["--weights", path_str(&st), "--tensor", "beta"]);
    assert_eq!((r["weights"]["tensor"].as_str(), r["weights"]["count"].as_u64()), (Some("beta"), Some(1)));
}

#[test]
fn a_checkpoint_opens_on_its_largest_float_matrix_as_in_the_tui() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = vec![
        ("a.ids", Dtype::I64, vec![1, 4], vec![0u8; 32]),
        ("b.norm.bias", Dtype::F32, vec![8], f32_bytes(&[1.0; 8])),
        ("c.dense.weight", Dtype::F32, vec![2, 3], f32_bytes(&[0.5, -1.0, 2.0, 0.0, 1.0, -2.0])),
    ];
    let names: Vec<String> = (0..9).map(|i| format!("z.extra{i}")).collect();
    tensors.extend(names.iter().map(|n| (n.as_str(), Dtype::F32, vec![1], f32_bytes(&[1.0]))));
    let st = write_safetensors(&dir, "m.safetensors", &tensors);
    let out = run(&["report", "--format", "json", "--only", "quant", "--weights", path_str(&st)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((r["weights"]["tensor"].as_str(), r["weights"]["count"].as_u64()), (Some("c.dense.weight"), Some(6)));
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.starts_with("note: ")
            && note.contains("\"c.dense.weight\"")
            && note.contains("of the 12 in m.safetensors"),
        "{note}"
    );
    // Twelve names are too many for one paragraph: the first six and where to see the rest.
    let err = fails(&["report", "--weights", path_str(&st), "--tensor", "nope"]);
    assert!(err.contains("12 tensors (a.ids,") && err.contains("and 6 more") && !err.contains("z.extra8"), "{err}");
    assert!(err.contains("qmc-tui tensors"), "{err}");
}

#[test]
fn bool_and_complex_npy_are_refused_by_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let bools = write_npy(&dir, "b.npy", &array![true, false, true]);
    let err = fails(&["report", "--weights", path_str(&bools)]);
    assert!(err.contains("bool") && err.contains("not supported") && err.contains("b.npy"), "{err}");
    let complex = dir.path().join("c.npy");
    std::fs::write(&complex, raw_npy("<c8", "(2,)", &[0u8; 16])).unwrap();
    let err = fails(&["report", "--weights", path_str(&complex)]);
    assert!(err.contains("complex64") && err.contains("c.npy"), "{err}");
}

#[test]
fn empty_and_all_nan_tensors_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write_npy(&dir, "empty.npy", &ndarray::Array2::<f32>::zeros((0, 3)));
    let err = fails(&["report", "--weights", path_str(&empty)]);
    assert!(err.contains("empty") && err.contains("[0, 3]"), "{err}");
    let nan = write_npy(&dir, "nan.npy", &ndarray::Array2::from_elem((2, 2), f32::NAN));
    let err = fails(&["report", "--weights", path_str(&nan)]);
    assert!(err.contains("NaN") && err.contains("all 4 values") && err.contains("nan.npy"), "{err}");
}

#[test]
fn constant_tensor_gets_a_finite_positive_scale() {
    let dir = tempfile::tempdir().unwrap();
    let npy = write_npy(&dir, "c.npy", &ndarray::Array2::from_elem((3, 4), 0.5f32));
    let r = report(&["--weights", path_str(&npy)]);
    let scale = num(&r["quant"]["scale"][0]);
    assert!(scale.is_finite() && scale > 0.0, "{scale}");
    // The range widens to [0, 0.5] to hold zero: 0.5 is the top level, exactly.
    assert!((scale - 0.5 / 255.0).abs() < 1e-9, "{scale}");
    let m = &r["quant"]["metrics"];
    assert!(num(&m["mse"]) < 1e-12 && m["levels_used"].as_u64() == Some(1), "{m}");
    assert_eq!((num(&r["weights"]["min"]), num(&r["weights"]["max"])), (0.5, 0.5));
}

/// Writes a settings file and a 2-D input, returning their paths.
fn quantize_inputs(dir: &TempDir, settings: &str, values: Vec<f32>, shape: (usize, usize)) -> (PathBuf, PathBuf) {
    let config = write_text(dir, "q.toml", settings);
    let npy = write_npy(dir, "in.npy", &Array::from_shape_vec(shape, values).unwrap());
    (config, npy)
}

/// The JSON report's per-tensor (scale, zero point, qmin, qmax) for these inputs.
fn tensor_params(config: &Path, npy: &Path) -> (f32, i32, i32, i32) {
    let q = report(&["--config", path_str(config), "--weights", path_str(npy)])["quant"].clone();
    let int = |v: &Value| v.as_i64().unwrap() as i32;
    (num(&q["scale"][0]) as f32, int(&q["zero_point"][0]), int(&q["qmin"]), int(&q["qmax"]))
}

#[test]
fn quantize_writes_int8_codes_and_x_hat_that_match_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let values = wiggle(35);
    let (config, npy) = quantize_inputs(&dir, "[quant]\nbits = 8\n", values.clone(), (5, 7));
    let (scale, zp, qmin, qmax) = tensor_params(&config, &npy);
    let (codes_path, dq_path) = (dir.path().join("codes.npy"), dir.path().join("xhat.npy"));
    let line = ok(&[
        "quantize",
        "--config",
        path_str(&config),
        "--weights",
        path_str(&npy),
        "--out",
        path_str(&codes_path),
        "--dequantized",
        path_str(&dq_path),
    ]);
    assert!(line.starts_with("wrote 5×7 int8 codes") && line.contains("0 non-finite"), "{line}");

    let codes = ArrayD::<i8>::read_npy(File::open(&codes_path).unwrap()).unwrap();
    assert_eq!(codes.shape(), &[5, 7]);
    let expect: Vec<i8> = values
        .iter()
        .map(|&x| ((x / scale).round_ties_even() + zp as f32).clamp(qmin as f32, qmax as f32) as i8)
        .collect();
    assert_eq!(codes.iter().copied().collect::<Vec<i8>>(), expect);
    let x_hat = ArrayD::<f32>::read_npy(File::open(&dq_path).unwrap()).unwrap();
    assert_eq!(x_hat.shape(), &[5, 7]);
    for (&q, &xh) in codes.iter().zip(&x_hat) {
        assert_eq!(xh, (q as i32 - zp) as f32 * scale);
    }
}

#[test]
fn quantize_maps_nan_to_the_zero_point_and_infinities_to_the_ends() {
    let dir = tempfile::tempdir().unwrap();
    let values = vec![-1.0, f32::NAN, 2.0, f32::INFINITY, 0.5, f32::NEG_INFINITY];
    let (config, npy) = quantize_inputs(&dir, "[quant]\nbits = 4\n", values, (2, 3));
    let (_, zp, qmin, qmax) = tensor_params(&config, &npy);
    let out = dir.path().join("codes.npy");
    let line = ok(&["quantize", "--config", path_str(&config), "--weights", path_str(&npy), "--out", path_str(&out)]);
    assert!(line.contains("3 non-finite values (1 NaN -> zero_point, 2 +-Inf -> qmax/qmin)"), "{line}");
    let codes = ArrayD::<i8>::read_npy(File::open(&out).unwrap()).unwrap();
    let codes: Vec<i32> = codes.iter().map(|&q| q as i32).collect();
    assert_eq!((qmin, qmax), (-8, 7));
    assert_eq!((codes[1], codes[3], codes[5]), (zp, qmax, qmin));
    assert_eq!((codes[0], codes[2]), (qmin, qmax), "the finite extremes are the calibrated range");
}

#[test]
fn quantize_into_a_missing_directory_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (config, npy) = quantize_inputs(&dir, "[quant]\nbits = 8\n", wiggle(6), (2, 3));
    let before: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    let out = dir.path().join("missing").join("codes.npy");
    let dq = dir.path().join("xhat.npy");
    let err = fails(&[
        "quantize",
        "--config",
        path_str(&config),
        "--weights",
        path_str(&npy),
        "--out",
        path_str(&out),
        "--dequantized",
        path_str(&dq),
    ]);
    assert!(err.contains("does not exist") && err.contains("missing"), "{err}");
    let after: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before.len(), after.len(), "{after:?}");
    assert!(!dq.exists());
}

#[test]
fn quantize_with_twelve_bits_writes_int16() {
    let dir = tempfile::tempdir().unwrap();
    let values = wiggle(40);
    let (config, npy) = quantize_inputs(&dir, "[quant]\nbits = 12\nscheme = \"symmetric\"\n", values.clone(), (4, 10));
    let (scale, _, qmin, qmax) = tensor_params(&config, &npy);
    assert_eq!((qmin, qmax), (-2047, 2047));
    let out = dir.path().join("codes.npy");
    let line = ok(&["quantize", "--config", path_str(&config), "--weights", path_str(&npy), "--out", path_str(&out)]);
    assert!(line.contains("4×10 int16 codes"), "{line}");
    assert!(ArrayD::<i8>::read_npy(File::open(&out).unwrap()).is_err(), "not int8");
    let codes = ArrayD::<i16>::read_npy(File::open(&out).unwrap()).unwrap();
    assert_eq!(codes.shape(), &[4, 10]);
    assert!(codes.iter().any(|&q| q.abs() > 127), "the codes need 16 bits");
    for (&q, &x) in codes.iter().zip(&values) {
        assert_eq!(q, (x / scale).round_ties_even() as i16);
    }
}

#[test]
fn quantize_needs_weights_but_not_a_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("codes.npy");
    let err = fails(&["quantize", "--out", path_str(&out)]);
    assert!(err.contains("--weights IN"), "{err}");
    assert!(!out.exists());
    // Without --config the defaults apply: 8-bit asymmetric min-max.
    let values = wiggle(12);
    let npy = write_npy(&dir, "in.npy", &Array::from_shape_vec((3, 4), values.clone()).unwrap());
    let params = dir.path().join("params.json");
    let line = ok(&["quantize", "--weights", path_str(&npy), "--out", path_str(&out), "--params", path_str(&params)]);
    assert!(line.contains("int8 codes") && line.contains("params.json"), "{line}");
    let p: Value = serde_json::from_str(&std::fs::read_to_string(&params).unwrap()).unwrap();
    let (lo, hi) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let scale = (hi.max(0.0) - lo.min(0.0)) / 255.0;
    assert_eq!(num(&p["scale"][0]) as f32, scale);
    let zp = (-128.0 - (lo.min(0.0) / scale).round_ties_even()) as i64;
    assert_eq!(p["zero_point"], serde_json::json!([zp]));
    assert_eq!((p["qmin"].as_i64(), p["qmax"].as_i64(), p["axis"].is_null()), (Some(-128), Some(127), true));
    assert_eq!(p["qscheme"], "torch.per_tensor_affine");
    let codes = ArrayD::<i8>::read_npy(File::open(&out).unwrap()).unwrap();
    let expect: Vec<i8> =
        values.iter().map(|&x| ((x / scale).round_ties_even() + zp as f32).clamp(-128.0, 127.0) as i8).collect();
    assert_eq!(codes.iter().copied().collect::<Vec<i8>>(), expect);
    // Per channel, one parameter per row and the axis.
    let config = write_text(&dir, "pc.toml", "[quant]\ngranularity = \"per-channel\"\nscheme = \"symmetric\"\n");
    ok(&[
        "quantize",
        "--config",
        path_str(&config),
        "--weights",
        path_str(&npy),
        "--out",
        path_str(&out),
        "--params",
        path_str(&params),
    ]);
    let p: Value = serde_json::from_str(&std::fs::read_to_string(&params).unwrap()).unwrap();
    assert_eq!((nums(&p["scale"]).len(), p["axis"].as_u64()), (3, Some(0)));
    assert_eq!(p["qscheme"], "torch.per_channel_symmetric");
    // The same file twice is refused before anything is written.
    let err = fails(&["quantize", "--weights", path_str(&npy), "--out", path_str(&out), "--params", path_str(&out)]);
    assert!(err.contains("--out and --params"), "{err}");
    let usage = run(&["quantize"]);
    assert_eq!(usage.status.code(), Some(2), "clap refuses a missing --out");
    assert!(String::from_utf8_lossy(&usage.stderr).contains("--out"));
}

#[test]
fn tensors_lists_names_shapes_and_dtypes_in_columns() {
    let dir = tempfile::tempdir().unwrap();
    let st = write_safetensors(
        &dir,
        "m.safetensors",
        &[("layer.weight", Dtype::F32, vec![2, 3], f32_bytes(&[0.0; 6])), ("b", Dtype::F16, vec![3], vec![0u8; 6])],
    );
    let text = ok(&["tensors", path_str(&st)]);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows, vec![vec!["name", "shape", "dtype"], vec!["b", "3", "f16"], vec!["layer.weight", "2×3", "f32"]]);
    let column = |needle: &str| text.lines().find_map(|l| l.find(needle).map(|i| l[..i].chars().count()));
    assert_eq!(column("shape"), column("3  "), "{text}");
    assert_eq!(column("dtype"), column("f32"), "{text}");
}

#[test]
fn seed_example_collapses_to_one_level_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_text(&dir, "seed.toml", "preset = \"seed example\"\n");
    let r = report(&["--config", path_str(&config)]);
    let q = &r["quant"];
    assert_eq!((q["scheme"].as_str(), nums(&q["scale"])), (Some("manual"), vec![128.0]));
    assert_eq!((q["metrics"]["levels_used"].as_u64(), num(&q["metrics"]["zero_rate"])), (Some(1), 1.0));
    let findings = r["diagnostics"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["severity"] == "warning" && f["message"].as_str().unwrap().contains("rounds to 0")),
        "{findings:?}"
    );
    let text = ok(&["report", "--config", path_str(&config)]);
    assert!(text.contains("warning: every weight rounds to 0"), "{text}");
}

#[test]
fn weights_flag_matches_the_config_source_and_flags_go_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let npy = write_npy(&dir, "w.npy", &Array::from_shape_vec((6, 5), wiggle(30)).unwrap());
    let plain = write_text(&dir, "plain.toml", "[quant]\nbits = 6\n");
    let text = format!("[weights]\nsource = {:?}\n\n[quant]\nbits = 6\n", path_str(&npy));
    let sourced = write_text(&dir, "sourced.toml", &text);
    let by_flag = report(&["--config", path_str(&plain), "--weights", path_str(&npy)]);
    let by_config = report(&["--config", path_str(&sourced)]);
    assert_eq!(by_flag, by_config);
    assert_eq!(
        (by_flag["weights"]["source"].as_str(), by_flag["quant"]["bits"].as_u64()),
        (Some(path_str(&npy)), Some(6))
    );
    let before = ok(&["--config", path_str(&sourced), "report", "--format", "json"]);
    assert_eq!(serde_json::from_str::<Value>(&before).unwrap(), by_config);
}

#[test]
fn tensor_flag_with_synthetic_weights_is_refused() {
    let err = fails(&["report", "--tensor", "w"]);
    assert!(err.contains("--tensor w") && err.contains("synthetic") && err.contains("--weights"), "{err}");
}

#[test]
fn zero_error_writes_a_null_sqnr() {
    let dir = tempfile::tempdir().unwrap();
    let npy = write_npy(&dir, "w.npy", &array![[-1.0f32, 1.0], [-4.0, 4.0]]);
    let config = write_text(&dir, "pc.toml", "[quant]\nscheme = \"symmetric\"\ngranularity = \"per-channel\"\n");
    let args = ["--config", path_str(&config), "--weights", path_str(&npy)];
    let m = report(&args)["quant"]["metrics"].clone();
    assert_eq!((num(&m["mse"]), num(&m["cosine"])), (0.0, 1.0));
    assert!(m["sqnr_db"].is_null(), "JSON has no infinity: {m}");
    let text = ok(&["report", args[0], args[1], args[2], args[3]]);
    assert!(text.contains("sqnr             inf dB"), "{text}");
}

#[test]
fn an_unreadable_weights_path_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where a file should be: it opens, but cannot be read or mapped.
    let not_a_file = dir.path().join("weights.npy");
    std::fs::create_dir(&not_a_file).unwrap();
    let err = fails(&["report", "--weights", path_str(&not_a_file)]);
    assert!(err.contains(path_str(&not_a_file)) && !err.contains("panicked"), "{err}");
    let err = fails(&["tensors", path_str(&not_a_file)]);
    assert!(err.contains(path_str(&not_a_file)), "{err}");
}

#[test]
fn report_has_the_ensemble_of_the_default_settings() {
    let r = report(&[]);
    let e = &r["ensemble"];
    assert_eq!(e["data"]["source"], "iris");
    assert_eq!(
        (e["data"]["rows"].as_u64(), e["data"]["features"].as_u64(), e["data"]["classes"].as_u64()),
        (Some(150), Some(4), Some(3))
    );
    assert_eq!(e["fusion"], "soft");
    let members = e["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    assert_eq!(members.iter().map(|m| m["trees"].as_u64().unwrap()).collect::<Vec<_>>(), vec![10, 20, 30]);
    for m in members {
        for key in ["kind", "max_depth", "weight", "test_accuracy", "cv_accuracy_mean"] {
            assert!(!m[key].is_null(), "member lacks {key}");
        }
    }
    let confusion: Vec<Vec<u64>> = serde_json::from_value(e["confusion"].clone()).unwrap();
    assert_eq!(confusion.len(), 3);
    assert_eq!(confusion.iter().flatten().sum::<u64>(), 30, "30 test rows");
    let correct: u64 = (0..3).map(|i| confusion[i][i]).sum();
    assert!((e["test_accuracy"].as_f64().unwrap() - correct as f64 / 30.0).abs() < 1e-12);
    let cv = e["cv_accuracy_mean"].as_f64().unwrap();
    assert!((0.9..=1.0).contains(&cv), "cv accuracy {cv}");
    for key in ["cv_accuracy_std", "precision_macro", "recall_macro", "f1_macro"] {
        assert!(e[key].as_f64().is_some(), "{key}");
    }
}

#[test]
fn report_takes_a_csv_with_data_and_names_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("x,y,kind\n");
    for i in 0..40 {
        let (x, kind) = if i % 2 == 0 { (i as f64, "low") } else { (100.0 + i as f64, "high") };
        text += &format!("{x},{},{kind}\n", x + (i % 7) as f64);
    }
    let csv = write_text(&dir, "two.csv", &text);
    let r = report(&["--data", path_str(&csv)]);
    let e = &r["ensemble"];
    assert_eq!((e["data"]["rows"].as_u64(), e["data"]["classes"].as_u64()), (Some(40), Some(2)));
    assert_eq!(e["class_names"], serde_json::json!(["high", "low"]));
    assert_eq!(e["test_accuracy"].as_f64(), Some(1.0), "either feature separates the classes");
    let bad = write_text(&dir, "bad.csv", "x,y,kind\n1,2,a\n3,oops,b\n");
    let err = fails(&["report", "--data", path_str(&bad)]);
    assert!(err.contains("row 2") && err.contains("column y") && err.contains("oops"), "{err}");
}

#[test]
fn ensemble_settings_are_checked_with_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_text(
        &dir,
        "s.toml",
        "[ensemble]\nfusion = \"soft\"\n\n[[ensemble.members]]\nkind = \"forest\"\ntrees = 900\n",
    );
    let err = fails(&["report", "--config", path_str(&cfg)]);
    assert!(err.contains("ensemble.members[0].trees") && err.contains("900"), "{err}");
    let cfg = write_text(&dir, "t.toml", "[data]\nfolds = 5\nfold = 3\n");
    let err = fails(&["report", "--config", path_str(&cfg)]);
    assert!(err.contains("line 3") && err.contains("fold"), "{err}");
}

#[test]
fn report_has_the_quantized_ensemble() {
    let r = report(&[]);
    let q = &r["quantized_ensemble"];
    assert_eq!(q["bits"].as_u64(), Some(8));
    for key in ["float_test_accuracy", "quant_test_accuracy", "float_cv_accuracy_mean", "quant_cv_accuracy_mean"] {
        let v = q[key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    assert_eq!(q["float_test_accuracy"], r["ensemble"]["test_accuracy"], "soft fusion, same members");
    let by_bits = q["by_bits"].as_array().unwrap();
    let bits: Vec<u64> = by_bits.iter().map(|b| b["bits"].as_u64().unwrap()).collect();
    assert_eq!(bits, vec![2, 3, 4, 5, 6, 7, 8, 16]);
    let sixteen = &by_bits[7];
    assert_eq!(sixteen["cv_accuracy_mean"], q["float_cv_accuracy_mean"]);
    let (fb, qb) = (q["float_bytes"].as_u64().unwrap(), q["quant_bytes"].as_u64().unwrap());
    assert!(qb < fb, "{qb} < {fb}");
    let rec = q["recommended_bits"].as_u64().unwrap();
    let row = by_bits.iter().find(|b| b["bits"].as_u64() == Some(rec)).unwrap();
    let float_cv = q["float_cv_accuracy_mean"].as_f64().unwrap();
    assert!(row["cv_accuracy_mean"].as_f64().unwrap() >= float_cv - 0.01 - 1e-12);
}

#[test]
fn the_deploy_tolerance_is_a_setting() {
    let dir = tempfile::tempdir().unwrap();
    let strict = write_text(&dir, "strict.toml", "[deploy]\ntolerance = 0\n");
    let loose = write_text(&dir, "loose.toml", "[deploy]\ntolerance = 60\n");
    let rec = |path: &Path| report(&["--config", path_str(path)])["quantized_ensemble"]["recommended_bits"].as_u64();
    assert!(rec(&loose).unwrap() <= rec(&strict).unwrap_or(16));
    assert_eq!(rec(&loose), Some(2), "60 points of slack take the smallest width");
    let bad = write_text(&dir, "bad.toml", "[deploy]\ntolerance = -1\n");
    let err = fails(&["report", "--config", path_str(&bad)]);
    assert!(err.contains("deploy.tolerance") && err.contains("line 2"), "{err}");
}

#[test]
fn bad_key_bindings_are_refused_before_the_screen_changes() {
    let dir = tempfile::tempdir().unwrap();
    let keys = write_text(&dir, "keys.toml", "[keys]\nquitt = [\"x\"]\n");
    let err = fails(&["--keys", path_str(&keys)]);
    assert!(err.contains("keys.quitt") && err.contains("quit"), "{err}");
    let keys = write_text(&dir, "keys2.toml", "[keys]\nquit = [\"hyper-x\"]\n");
    let err = fails(&["--keys", path_str(&keys)]);
    assert!(err.contains("hyper-x"), "{err}");
    let keys = write_text(&dir, "keys3.toml", "[keys]\nexport = [\"j\"]\n");
    let err = fails(&["--keys", path_str(&keys)]);
    assert!(err.contains("bound to both"), "{err}");
}

#[test]
fn without_a_terminal_the_dashboard_says_so() {
    let err = fails(&[]);
    assert!(err.contains("needs a terminal") && err.contains("report"), "{err}");
}

#[test]
fn report_only_prints_the_sections_asked_for() {
    let r = report(&["--only", "quant"]);
    assert!(r.get("quant").is_some() && r.get("weights").is_some() && r.get("diagnostics").is_some());
    assert!(r.get("ensemble").is_none() && r.get("quantized_ensemble").is_none(), "no ensemble trained: {r}");
    let r = report(&["--only", "ensemble,deploy"]);
    assert!(r.get("quant").is_none() && r.get("weights").is_none());
    assert!(r["ensemble"]["test_accuracy"].is_number() && r["quantized_ensemble"]["bits"].is_number());
    // A weights file that cannot be read does not matter to an ensemble report.
    let r = report(&["--only", "ensemble", "--weights", "/no/such/file.npy"]);
    assert!(r.get("ensemble").is_some());
    let text = ok(&["report", "--only", "quant"]);
    assert!(text.starts_with("weights") && !text.contains("ensemble"), "{text}");
    let bad = run(&["report", "--only", "quant,banana"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("banana"));
    let help = ok(&["report", "--help"]);
    assert!(help.contains("--only") && help.contains("Deploy pane"), "{help}");
}

/// numpy's mse of quantizing all of `values` ([rows, cols], per tensor,
/// asymmetric) with the min-max range shrunk to `t`.
fn curve_point(values: &[f32], bits: u32, t: f64) -> f64 {
    let (lo, hi) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let (lo, hi) = ((lo * t as f32).min(0.0), (hi * t as f32).max(0.0));
    let (qmin, qmax) = (-(1i32 << (bits - 1)), (1i32 << (bits - 1)) - 1);
    let scale = ((hi - lo) / (qmax - qmin) as f32).max(f32::EPSILON);
    let zp = ((qmin as f32 - (lo / scale).round_ties_even()) as i32).clamp(qmin, qmax);
    let sq: f64 = values
        .iter()
        .map(|&x| {
            let q = ((x / scale).round_ties_even() + zp as f32).clamp(qmin as f32, qmax as f32) as i32;
            (x as f64 - ((q - zp) as f32 * scale) as f64).powi(2)
        })
        .sum();
    sq / values.len() as f64
}

#[test]
fn the_reported_mse_curve_is_the_mse_of_every_value() {
    // 4096 x 64 heavy-tailed values whose one column a stride-64 sample would have picked.
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f32> = (0..4096 * 64)
        .map(|i| {
            let base = (i as f32 * 0.37).sin() * 2.0 - (i as f32 * 0.11).cos() * 0.3;
            if i % 64 == 0 {
                base * 0.01
            } else if i % 977 == 0 {
                base * 12.0
            } else {
                base
            }
        })
        .collect();
    let npy = write_npy(&dir, "t.npy", &Array::from_shape_vec((4096, 64), values.clone()).unwrap());
    let config = write_text(&dir, "q.toml", "[quant]\nbits = 4\n");
    let r = report(&["--only", "quant", "--config", path_str(&config), "--weights", path_str(&npy)]);
    let curve = &r["quant"]["pictures"]["mse_curve"];
    let points = curve["points"].as_array().unwrap();
    assert_eq!(points.len(), 40);
    for p in points {
        let (t, mse) = (num(&p[0]), num(&p[1]));
        let exact = curve_point(&values, 4, t);
        assert!((mse - exact).abs() <= 1e-3 * exact, "at {t}: reported {mse}, all values {exact}");
    }
    let best = nums(&curve["optimum"]);
    let true_best = points.iter().map(|p| num(&p[1])).fold(f64::INFINITY, f64::min);
    assert_eq!(best[1], true_best);
}

#[test]
fn no_members_gives_null_figures_and_says_so_in_text() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_text(&dir, "none.toml", "[ensemble]\nmembers = []\n");
    let r = report(&["--config", path_str(&cfg)]);
    let (e, q) = (&r["ensemble"], &r["quantized_ensemble"]);
    assert_eq!(e["no_members"], true);
    for key in ["test_accuracy", "cv_accuracy_mean", "cv_accuracy_std", "precision_macro", "recall_macro", "f1_macro"] {
        assert!(e[key].is_null(), "ensemble.{key} = {}", e[key]);
    }
    for key in ["gain", "best_member_test_accuracy", "mean_disagreement"] {
        assert!(e[key].is_null(), "ensemble.{key} = {}", e[key]);
    }
    for key in ["float_test_accuracy", "quant_test_accuracy", "float_cv_accuracy_mean", "quant_cv_accuracy_mean"] {
        assert!(q[key].is_null(), "quantized_ensemble.{key} = {}", q[key]);
    }
    assert!(q["recommended_bits"].is_null() && q["by_bits"].as_array().unwrap().is_empty());
    let text = ok(&["report", "--config", path_str(&cfg)]);
    assert!(!text.contains("test accuracy    0.00%") && !text.contains("F1 0.000"), "{text}");
    assert_eq!(text.matches("no members: no figures (null in --format json)").count(), 2, "{text}");
}

#[test]
fn report_text_writes_an_unlimited_depth_as_the_pane_does() {
    let text = ok(&["report"]);
    let rows: Vec<&str> = text.lines().filter(|l| l.contains(" forest ")).collect();
    assert_eq!(rows.len(), 3, "{text}");
    // kind, trees, then the depth: ∞ as the members table shows it, not 0.
    assert!(rows.iter().all(|r| r.split_whitespace().nth(3) == Some("∞")), "{rows:?}");
    assert_eq!(report(&[])["ensemble"]["members"][0]["max_depth"].as_u64(), Some(0), "JSON keeps 0");
}

/// c and max_iter reach the fit, the report's member rows and the export;
/// a fit stopped by max_iter is reported as not converged.
#[test]
fn logistic_c_and_max_iter_are_reported_with_convergence() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_text(
        &dir,
        "l.toml",
        "[[ensemble.members]]\nkind = \"logistic\"\nc = 0.5\nmax_iter = 3\n\n[[ensemble.members]]\nkind = \"logistic\"\n",
    );
    let r = report(&["--config", path_str(&cfg)]);
    let m = r["ensemble"]["members"].as_array().unwrap();
    assert_eq!(
        (m[0]["c"].as_f64(), m[0]["max_iter"].as_u64(), m[0]["converged"].as_bool()),
        (Some(0.5), Some(3), Some(false))
    );
    assert_eq!(
        (m[1]["c"].as_f64(), m[1]["max_iter"].as_u64(), m[1]["converged"].as_bool()),
        (Some(1.0), Some(100), Some(true))
    );
    let notes = r["ensemble"]["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n.as_str().unwrap().starts_with("member 1 (logistic, c 0.5000) did not converge")),
        "{notes:?}"
    );
    let text = ok(&["report", "--config", path_str(&cfg)]);
    assert!(
        text.contains("c 0.5000, max_iter 3, did not converge") && text.contains("c 1.000, max_iter 100, converged"),
        "{text}"
    );
    let bad = write_text(&dir, "bad.toml", "[[ensemble.members]]\nkind = \"logistic\"\nc = 0\n");
    let err = fails(&["report", "--config", path_str(&bad)]);
    assert!(err.contains("ensemble.members[0].c") && err.contains("line 3"), "{err}");
}

/// Stacking's Deploy row is stacking: its float figures are the ensemble's.
#[test]
fn the_deploy_report_evaluates_stacking_as_stacking() {
    let dir = tempfile::tempdir().unwrap();
    let members = "[[ensemble.members]]\ntrees = 10\n\n[[ensemble.members]]\nkind = \"tree\"\n";
    let stacking = write_text(&dir, "stack.toml", &format!("[ensemble]\nfusion = \"stacking\"\n\n{members}"));
    let soft = write_text(&dir, "soft.toml", members);
    let (st, so) = (report(&["--config", path_str(&stacking)]), report(&["--config", path_str(&soft)]));
    let q = &st["quantized_ensemble"];
    assert_eq!(q["float_test_accuracy"], st["ensemble"]["test_accuracy"]);
    assert_eq!(q["float_cv_accuracy_mean"], st["ensemble"]["cv_accuracy_mean"]);
    assert_ne!(
        (&q["float_test_accuracy"], &q["float_cv_accuracy_mean"]),
        (&so["quantized_ensemble"]["float_test_accuracy"], &so["quantized_ensemble"]["float_cv_accuracy_mean"]),
        "stacking is not soft voting on these members"
    );
}

/// Ten classes: the text report's confusion matrix holds every count whole.
#[test]
fn a_ten_class_csv_reports_its_whole_confusion_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_text(&dir, "ten.csv", &common::separated_classes_csv(10, 80));
    let cfg = write_text(&dir, "ten.toml", &format!("[data]\nsource = {:?}\ntest_fraction = 0.5\n", path_str(&csv)));
    let r = report(&["--config", path_str(&cfg)]);
    let confusion: Vec<Vec<u64>> = serde_json::from_value(r["ensemble"]["confusion"].clone()).unwrap();
    assert!((0..10).all(|k| confusion[k][k] == 40), "{confusion:?}");
    let text = ok(&["report", "--config", path_str(&cfg)]);
    let lines: Vec<&str> = text.lines().skip_while(|l| !l.contains("confusion        rows")).skip(1).take(10).collect();
    for (k, line) in lines.iter().enumerate() {
        assert_eq!(line.split_whitespace().nth(k), Some("40"), "row {k}: {line}");
    }
}
