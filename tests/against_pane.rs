//! The Checkpoint pane on a GGUF and with `--against`, on a checkpoint the
//! test writes and its GGUF written by `scan --write` (the project's own
//! writer): snapshots at 120x40 and 80x24, every figure the one `scan
//! --against --format json` prints, rows streamed and a stale comparison
//! dropped, sorting, filtering, drill-down, and every bad input refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use qmc_tui::app::{AgainstSource, App, AppEvent, Figure, SortKey, Tab, compared_value};
use qmc_tui::compute::checkpoint::against::NameMap;
use qmc_tui::settings::Settings;
use qmc_tui::ui;
use qmc_tui::worker::{CheckpointWorker, Job, Outcome, Output, Workers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use safetensors::Dtype;
use serde_json::Value;
use tempfile::TempDir;

mod common;
use common::{f32s, fails, run, s, safetensors_bytes};

/// Evenly spread values with one in 97 an outlier, the further out the
/// higher `seed`, so each tensor has its own SQNR.
fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let base = ((((i * 37 + seed * 11) % 101) as f32) - 50.0) / 400.0;
            if i % 97 == 0 { base * (1.0 + 6.0 * seed as f32) } else { base }
        })
        .collect()
}

/// Two layers of q_proj and down_proj (`shape` each), a norm (rank 1) and position ids (integer).
fn model_with(dir: &Path, name: &str, shape: [usize; 2]) -> PathBuf {
    let n = shape[0] * shape[1];
    let names = [
        "model.layers.0.mlp.q_proj.weight",
        "model.layers.0.mlp.down_proj.weight",
        "model.layers.1.mlp.q_proj.weight",
        "model.layers.1.mlp.down_proj.weight",
    ];
    let matrices: Vec<Vec<u8>> = (0..4).map(|seed| f32s(&values(n, seed))).collect();
    let mut tensors: Vec<common::Tensor> =
        names.iter().zip(&matrices).map(|(t, b)| (*t, Dtype::F32, shape.to_vec(), b.clone())).collect();
    tensors.push(("model.norm.weight", Dtype::F32, vec![16], f32s(&values(16, 9))));
    tensors.push(("position_ids", Dtype::I64, vec![3], (0..3i64).flat_map(|x| x.to_le_bytes()).collect()));
    let path = dir.join(name);
    std::fs::write(&path, safetensors_bytes(&tensors)).unwrap();
    path
}

fn model(dir: &Path) -> PathBuf {
    model_with(dir, "model.safetensors", [8, 256])
}

/// `model` as GGUF, planned over q4_0 and q8_0 at 6 bpw: both types in one file.
fn gguf_of(dir: &Path, model: &Path) -> PathBuf {
    let out = dir.join("model.gguf");
    let args = ["scan", s(model), "--formats", "q4_0,q8_0", "--budget-bpw", "6", "--write", s(&out)];
    let done = run(&args);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    out
}

fn source(quantized: &Path) -> AgainstSource {
    AgainstSource { quantized: quantized.to_path_buf(), map: NameMap::Auto }
}

/// An app with `model` compared with `quantized` to the end, on the Checkpoint pane.
fn compared(model: &Path, quantized: &Path) -> (App, Workers) {
    let mut app = App::new(Settings::default(), "qmc-settings.toml".into());
    let mut workers = Workers::default();
    let mut jobs = app.start();
    jobs.push(app.open_against(model.to_path_buf(), source(quantized)));
    app.settle(&mut workers, jobs);
    press(&mut app, &mut workers, KeyCode::Char('5'));
    assert_eq!(app.tab, Tab::Checkpoint);
    (app, workers)
}

fn press(app: &mut App, workers: &mut Workers, code: KeyCode) {
    let jobs = app.update(AppEvent::Input(Event::Key(KeyEvent::new(code, KeyModifiers::NONE))));
    app.settle(workers, jobs);
}

/// The screen, with the temporary folder's name (it changes per run) made constant.
fn render(app: &mut App, width: u16, height: u16, dir: &TempDir) -> String {
    if let Some(v) = &mut app.view {
        v.compute_ms = 0.0;
    }
    if let Some(ms) = &mut app.checkpoint.scan_ms {
        *ms = 0.0;
    }
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let mut hits = None;
    terminal.draw(|f| hits = Some(ui::draw(f, app))).unwrap();
    app.hits = hits.unwrap();
    terminal.backend().to_string().replace(dir.path().to_str().unwrap(), "TMP")
}

/// `scan ORIGINAL --against QUANTIZED --format json`'s `against`.
fn headless(model: &Path, quantized: &Path) -> Value {
    common::json(&["scan", s(model), "--against", s(quantized), "--format", "json"])["against"].clone()
}

/// Equal up to serde_json's parsing, which may round the last bit the other way.
fn same(a: f64, b: &Value) -> bool {
    let b = b.as_f64().unwrap_or(f64::NAN);
    (a - b).abs() <= 1e-15 * a.abs().max(b.abs())
}

#[test]
fn every_figure_of_the_pane_is_the_headless_comparison_s() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let g = gguf_of(dir.path(), &m);
    let (app, _) = compared(&m, &g);
    let json = headless(&m, &g);
    let c = app.checkpoint.against.as_ref().unwrap();
    let result = c.result.clone().expect("the comparison is done");
    let want = json["tensors"].as_array().unwrap();
    assert_eq!(c.rows.len(), want.len());
    assert_eq!(c.rows.len(), 5, "four matrices and the norm");
    for (row, w) in c.rows.iter().zip(want) {
        assert_eq!(row.name, w["name"].as_str().unwrap());
        assert_eq!(row.type_name, w["type"].as_str().unwrap());
        assert!(same(row.bpw, &w["bpw"]) && same(row.rel_rmse, &w["rel_rmse"]), "{}", row.name);
        assert!(same(row.max_abs_error, &w["max_abs_error"]) && same(row.cosine, &w["cosine"]), "{}", row.name);
        match row.sqnr_db {
            Some(db) => assert!(same(db, &w["sqnr_db"]), "{}", row.name),
            None => assert!(w["sqnr_db"].is_null(), "{}", row.name),
        }
    }
    let types: std::collections::BTreeSet<&str> = c.rows.iter().map(|t| t.type_name.as_str()).collect();
    assert_eq!(types.into_iter().collect::<Vec<_>>(), ["f32", "q4_0", "q8_0"], "both types and the kept norm");
    let t = &json["totals"];
    assert_eq!(Some(result.totals.bytes), t["bytes"].as_u64());
    assert!(same(result.totals.bpw, &t["bpw"]) && same(result.totals.sqnr_db.unwrap(), &t["sqnr_db"]));
    let p = result.plan_at_same_size.as_ref().unwrap();
    let wp = &json["plan_at_same_size"];
    assert!(same(p.bpw, &wp["bpw"]) && same(p.sqnr_db.unwrap(), &wp["sqnr_db"]));
    let assignments: std::collections::BTreeMap<String, String> =
        serde_json::from_value(wp["assignments"].clone()).unwrap();
    assert_eq!(p.assignments, assignments);
    let unmatched: Vec<(String, String)> = json["unmatched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["name"].as_str().unwrap().into(), u["reason"].as_str().unwrap().into()))
        .collect();
    let got: Vec<(String, String)> = result.unmatched.iter().map(|u| (u.name.clone(), u.reason.clone())).collect();
    assert_eq!(got, unmatched);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].0 == "position_ids" && got[0].1.contains("i64"), "{got:?}");
}

/// Every compared tensor's SQNR as the pane draws it ("inf" for an exact copy).
fn drawn_sqnrs(app: &App) -> Vec<String> {
    let c = app.checkpoint.against.as_ref().unwrap();
    c.rows.iter().map(|t| t.sqnr_db.map_or("inf".into(), |db| format!("{db:.2}"))).collect()
}

#[test]
fn against_pane_at_120x40() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let g = gguf_of(dir.path(), &m);
    let (mut app, _) = compared(&m, &g);
    let screen = render(&mut app, 120, 40, &dir);
    for db in drawn_sqnrs(&app) {
        assert!(screen.contains(&db), "{db}: {screen}");
    }
    assert!(screen.contains("not compared: position_ids"), "{screen}");
    assert!(screen.contains("plan at the same size:"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn against_pane_at_80x24_drops_columns_not_digits() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let g = gguf_of(dir.path(), &m);
    let (mut app, _) = compared(&m, &g);
    let screen = render(&mut app, 80, 24, &dir);
    // Every SQNR is drawn whole, and so are the totals and the plan.
    for db in drawn_sqnrs(&app) {
        assert!(screen.contains(&format!(" {db} ")), "{db}: {screen}");
    }
    let result = app.checkpoint.against.as_ref().unwrap().result.clone().unwrap();
    let total = qmc_tui::format::db(result.totals.sqnr_db.unwrap());
    let plan = qmc_tui::format::db(result.plan_at_same_size.as_ref().unwrap().sqnr_db.unwrap());
    assert!(screen.contains(&total) && screen.contains(&plan), "{total} {plan}: {screen}");
    // The reason is whole (wrapped where it is longer than a line, never cut).
    for u in &result.unmatched {
        assert!(screen.contains(&format!("not compared: {}: {}", u.name, u.reason)), "{}: {screen}", u.name);
    }
    let hints = screen.lines().last().unwrap();
    assert!(!hints.contains("budget") && !hints.contains("formats"), "nothing to plan here: {hints}");
    insta::assert_snapshot!(screen);
}

#[test]
fn the_pictures_with_against_show_sqnr_by_layer_and_the_plan_beside_the_file() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let g = gguf_of(dir.path(), &m);
    let (mut app, mut workers) = compared(&m, &g);
    press(&mut app, &mut workers, KeyCode::Char('v'));
    let screen = render(&mut app, 120, 40, &dir);
    assert!(screen.contains("SQNR (dB) of model.gguf by layer"), "{screen}");
    assert!(screen.contains("q_proj") && screen.contains("down_proj"), "one series per role: {screen}");
    assert!(screen.contains("• this file") && screen.contains("█ plan at the same size"), "{screen}");
}

/// A GGUF opened alone: its types in the dtype column, scanned like any checkpoint.
fn gguf_scanned(dir: &TempDir) -> App {
    let m = model(dir.path());
    let g = gguf_of(dir.path(), &m);
    let mut app = App::new(Settings::default(), "qmc-settings.toml".into());
    let mut workers = Workers::default();
    let mut jobs = app.start();
    jobs.push(app.open_checkpoint(g));
    app.settle(&mut workers, jobs);
    press(&mut app, &mut workers, KeyCode::Char('5'));
    assert!(app.checkpoint.done(), "{:?}", app.checkpoint.error);
    app
}

#[test]
fn gguf_pane_at_120x40() {
    let dir = TempDir::new().unwrap();
    let mut app = gguf_scanned(&dir);
    let screen = render(&mut app, 120, 40, &dir);
    assert!(screen.contains("q4_0") && screen.contains("q8_0"), "the file's types: {screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn gguf_pane_at_80x24_drops_columns_not_digits() {
    let dir = TempDir::new().unwrap();
    let mut app = gguf_scanned(&dir);
    let screen = render(&mut app, 80, 24, &dir);
    let scan = app.checkpoint.scan.clone().unwrap();
    for t in scan.tensors.iter().filter(|t| !t.skipped) {
        let db = t.results[0].figures.as_ref().unwrap().sqnr_db.unwrap();
        assert!(screen.contains(&format!(" {db:.2} ")), "{} {db:.2}: {screen}", t.name);
    }
    insta::assert_snapshot!(screen);
}

#[test]
fn rows_sort_flip_and_filter_with_against() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let g = gguf_of(dir.path(), &m);
    let (mut app, mut workers) = compared(&m, &g);
    assert_eq!(app.checkpoint.sort, SortKey::Against(Figure::Sqnr), "worst SQNR first");
    let values = |app: &App| -> Vec<f64> {
        let p = &app.checkpoint;
        let c = p.against.as_ref().unwrap();
        p.order().iter().filter_map(|&i| compared_value(&c.rows[i], p.sort)).collect()
    };
    let sqnr = values(&app);
    assert_eq!(sqnr.len(), 5);
    assert!(sqnr.windows(2).all(|w| w[0] <= w[1]), "{sqnr:?}");
    assert_eq!(sqnr[4], f64::INFINITY, "the norm is kept exactly: last");
    press(&mut app, &mut workers, KeyCode::Char('o'));
    let flipped = values(&app);
    assert!(flipped.windows(2).all(|w| w[0] >= w[1]), "{flipped:?}");
    // s: relative RMSE, max|e|, cosine, bpw, then the name and size.
    for fig in [Figure::RelRmse, Figure::MaxError, Figure::Cosine, Figure::Bpw] {
        press(&mut app, &mut workers, KeyCode::Char('s'));
        assert_eq!(app.checkpoint.sort, SortKey::Against(fig));
        let v = values(&app);
        assert!(v.windows(2).all(|w| w[0] >= w[1]), "{fig:?} {v:?}");
    }
    press(&mut app, &mut workers, KeyCode::Char('s'));
    assert_eq!(app.checkpoint.sort, SortKey::Name);
    press(&mut app, &mut workers, KeyCode::Char('/'));
    "down".chars().for_each(|ch| press(&mut app, &mut workers, KeyCode::Char(ch)));
    press(&mut app, &mut workers, KeyCode::Enter);
    let p = &app.checkpoint;
    let names: Vec<&str> = p.order().iter().map(|&i| p.row_name(i)).collect();
    assert_eq!(names, ["model.layers.1.mlp.down_proj.weight", "model.layers.0.mlp.down_proj.weight"]);
    // The budget and formats keys say why they do nothing here.
    press(&mut app, &mut workers, KeyCode::Left);
    assert!(app.status.error && app.status.text.contains("with --against"), "{:?}", app.status);
    press(&mut app, &mut workers, KeyCode::Char('f'));
    assert!(matches!(app.mode, qmc_tui::app::Mode::Normal), "no formats to type");
}

#[test]
fn enter_opens_the_original_tensor_in_the_quantize_pane() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let g = gguf_of(dir.path(), &m);
    let (mut app, mut workers) = compared(&m, &g);
    let name = app.checkpoint.selected_pair().unwrap().name.clone();
    press(&mut app, &mut workers, KeyCode::Enter);
    assert_eq!(app.tab, Tab::Quantize);
    assert_eq!(app.settings.weights.source, m.display().to_string(), "the original, not the GGUF");
    assert_eq!(app.settings.weights.tensor.as_deref(), Some(name.as_str()));
    assert_eq!(app.view.as_ref().unwrap().weights.shape, vec![8, 256]);
    press(&mut app, &mut workers, KeyCode::Char('5'));
    assert_eq!(app.checkpoint.selected_pair().unwrap().name, name, "back to the table as left");
}

#[test]
fn rows_stream_as_compared_then_the_plan_and_a_newer_job_stops_an_older_one() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let g = gguf_of(dir.path(), &m);
    let newest = Arc::new(AtomicU64::new(1));
    let worker = CheckpointWorker::new(newest.clone());
    let job = |id| Job::Against { id, original: m.clone(), quantized: g.clone(), map: NameMap::Auto };
    let mut streamed = Vec::new();
    let last = worker.handle(job(1), &mut |o| {
        streamed.push(o);
        true
    });
    let rows: Vec<(usize, usize)> = streamed
        .iter()
        .filter_map(|o| match o {
            Output::AgainstRow { done, total, .. } => Some((*done, *total)),
            _ => None,
        })
        .collect();
    assert_eq!(rows, (1..=5).map(|i| (i, 5)).collect::<Vec<_>>(), "one row per pair, in turn");
    let planning = streamed.iter().filter(|o| matches!(o, Output::Planning { .. })).count();
    assert_eq!(planning, 4, "the plan scans the four matrices");
    assert!(matches!(streamed[0], Output::AgainstRow { .. }), "rows come before the plan");
    assert!(matches!(last, Output::Compared { id: 1, result: Outcome::Done(_) }));
    // Once job 2 is sent, job 1 stops before its next tensor.
    let (seen, stopped) = common::stopped_by_a_newer_job(&worker, job(1), &newest, 2);
    assert_eq!(seen, 1, "it stopped after the tensor under way");
    assert!(matches!(stopped, Output::Compared { id: 1, result: Outcome::Cancelled }), "{stopped:?}");

    // The app drops an older comparison's rows, shows a row as soon as it comes.
    let mut app = App::new(Settings::default(), "qmc-settings.toml".into());
    let old = app.open_against(m.clone(), source(&g));
    let new = app.open_against(m.clone(), source(&g));
    for o in Workers::default().run(old) {
        app.update(AppEvent::Worker(o));
    }
    let c = app.checkpoint.against.as_ref().unwrap();
    assert!(c.rows.is_empty() && app.checkpoint.busy, "the older comparison's rows were dropped");
    let mut outputs = Workers::default().run(new).into_iter();
    app.update(AppEvent::Worker(outputs.next().unwrap()));
    app.tab = Tab::Checkpoint;
    assert_eq!(app.checkpoint.against.as_ref().unwrap().rows.len(), 1);
    assert_eq!(app.activity().as_deref(), Some("comparing tensor 2 of 5"));
    let dir2 = TempDir::new().unwrap();
    let screen = render(&mut app, 80, 24, &dir2);
    assert!(screen.contains("1 of 5 compared"), "{screen}");
    for o in outputs.by_ref() {
        let planning = matches!(o, Output::Planning { .. });
        app.update(AppEvent::Worker(o));
        if planning {
            break;
        }
    }
    assert_eq!(app.activity().as_deref(), Some("planning at the same size: scanned 1 of 4"));
    outputs.for_each(|o| {
        app.update(AppEvent::Worker(o));
    });
    assert!(app.checkpoint.done() && !app.checkpoint.busy);
}

#[test]
fn a_tensor_of_another_shape_is_listed_with_the_reason_not_compared() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    // The copy's matrices are 16×128: same names and counts, other shapes; its norm matches.
    let other = TempDir::new().unwrap();
    let reshaped = model_with(other.path(), "model.safetensors", [16, 128]);
    let g = gguf_of(other.path(), &reshaped);
    let (app, _) = compared(&m, &g);
    let result = app.checkpoint.against.as_ref().unwrap().result.clone().unwrap();
    assert_eq!(result.tensors.len(), 1, "only the norm: {:?}", result.tensors);
    let reshaped: Vec<&str> = result
        .unmatched
        .iter()
        .filter(|u| u.reason.contains("shape [8, 256] here but [16, 128]"))
        .map(|u| u.name.as_str())
        .collect();
    assert_eq!(reshaped.len(), 4, "{:?}", result.unmatched);
}

#[test]
fn a_comparison_that_fails_in_the_worker_says_why_in_the_pane() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let missing = dir.path().join("gone.gguf");
    let (mut app, _) = compared(&m, &missing);
    let error = app.checkpoint.error.clone().expect("an error");
    assert!(error.contains("gone.gguf"), "{error}");
    let screen = render(&mut app, 80, 24, &dir);
    assert!(screen.contains("gone.gguf"), "{screen}");
}

#[test]
fn bad_against_arguments_are_one_paragraph_before_the_tui_starts() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let g = gguf_of(dir.path(), &m);
    let err = fails(&["--against", s(&g)]);
    assert!(err.contains("--against") && err.contains("--checkpoint ORIGINAL"), "{err}");
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not a model").unwrap();
    let err = fails(&["--checkpoint", s(&m), "--against", s(&notes)]);
    assert!(err.contains("notes.txt"), "{err}");
    let err = fails(&["--checkpoint", s(&notes), "--against", s(&g)]);
    assert!(err.contains("notes.txt"), "{err}");
    // Every matrix and the norm of another shape: nothing to compare.
    let other = TempDir::new().unwrap();
    let matrices = model_with(other.path(), "other.safetensors", [16, 128]);
    let norm = safetensors_bytes(&[
        ("model.layers.0.mlp.q_proj.weight", Dtype::F32, vec![16, 128], f32s(&values(2048, 0))),
        ("model.norm.weight", Dtype::F32, vec![32], f32s(&values(32, 9))),
    ]);
    std::fs::write(&matrices, norm).unwrap();
    let reshaped = gguf_of(other.path(), &matrices);
    let err = fails(&["--checkpoint", s(&m), "--against", s(&reshaped)]);
    assert!(err.contains("the names match but not the shapes") && err.contains("[8, 256] here but [16, 128]"), "{err}");
    let bad_map = dir.path().join("map.toml");
    std::fs::write(&bad_map, "not toml =").unwrap();
    let err = fails(&["--checkpoint", s(&m), "--against", s(&g), "--map", s(&bad_map)]);
    assert!(err.contains("map.toml") && err.contains("not valid TOML"), "{err}");
    // Checked, then the TUI: here it finds no terminal, and says so.
    let out = run(&["--checkpoint", s(&m), "--against", s(&g)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("needs a terminal"), "{err}");
}

#[test]
fn enter_on_the_kept_norm_opens_it_too() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let g = gguf_of(dir.path(), &m);
    let (mut app, mut workers) = compared(&m, &g);
    // Worst SQNR first: the exact copy of the norm is the last row.
    (0..4).for_each(|_| press(&mut app, &mut workers, KeyCode::Down));
    assert_eq!(app.checkpoint.selected_pair().unwrap().name, "model.norm.weight");
    press(&mut app, &mut workers, KeyCode::Enter);
    assert_eq!(app.tab, Tab::Quantize);
    assert!(!app.status.error, "{:?}", app.status);
    assert_eq!(app.view.as_ref().unwrap().weights.shape, vec![16]);
}
