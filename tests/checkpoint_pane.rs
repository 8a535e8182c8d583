//! The Checkpoint pane on a checkpoint the test writes, driven by keys and
//! drawn into ratatui's TestBackend; its worker streams rows and gives way
//! to a newer scan; its planner is `scan --budget-bpw`'s.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use qmc_tui::app::{App, AppEvent, BUDGET_STEP, Figure, Mode, SortKey, Tab, sort_value};
use qmc_tui::settings::Settings;
use qmc_tui::ui;
use qmc_tui::worker::{CheckpointWorker, Job, Outcome, Output, Workers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde_json::Value;
use tempfile::TempDir;

mod common;

/// Evenly spread values with one in 97 an outlier, the further out the higher `seed`
/// (seed 0: none), so each tensor has its own SQNR.
fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let base = ((((i * 37 + seed * 11) % 101) as f32) - 50.0) / 400.0;
            if i % 97 == 0 { base * (1.0 + 6.0 * seed as f32) } else { base }
        })
        .collect()
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Two layers of q_proj and down_proj, a norm (kept: rank 1) and position ids (skipped: integer).
fn model(dir: &Path) -> PathBuf {
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for layer in 0..2 {
        for (k, role) in ["q_proj", "down_proj"].iter().enumerate() {
            let seed = layer * 2 + k;
            let name = format!("model.layers.{layer}.mlp.{role}.weight");
            tensors.push((name, Dtype::F32, vec![8, 256], f32s(&values(2048, seed))));
        }
    }
    tensors.push(("model.norm.weight".into(), Dtype::F32, vec![16], f32s(&values(16, 9))));
    tensors.push(("position_ids".into(), Dtype::I64, vec![3], (0..3i64).flat_map(|x| x.to_le_bytes()).collect()));
    let views: Vec<(String, TensorView<'_>)> =
        tensors.iter().map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    let path = dir.join("model.safetensors");
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    path
}

/// An app on the default settings with the checkpoint scanned, on the Checkpoint pane.
fn scanned(dir: &TempDir) -> (App, Workers, PathBuf) {
    let path = model(dir.path());
    let mut app = App::new(Settings::default(), "qmc-settings.toml".into());
    let mut workers = Workers::default();
    let mut jobs = app.start();
    jobs.push(app.open_checkpoint(path.clone()));
    app.settle(&mut workers, jobs);
    press(&mut app, &mut workers, KeyCode::Char('5'));
    assert_eq!(app.tab, Tab::Checkpoint);
    (app, workers, path)
}

fn press(app: &mut App, workers: &mut Workers, code: KeyCode) {
    let jobs = app.update(AppEvent::Input(Event::Key(KeyEvent::new(code, KeyModifiers::NONE))));
    app.settle(workers, jobs);
}

fn type_text(app: &mut App, workers: &mut Workers, text: &str) {
    text.chars().for_each(|c| press(app, workers, KeyCode::Char(c)));
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

#[test]
fn checkpoint_pane_at_120x40() {
    let dir = TempDir::new().unwrap();
    let (mut app, _, _) = scanned(&dir);
    let screen = render(&mut app, 120, 40, &dir);
    assert!(screen.contains("model.layers.1.mlp.down_proj.weight") && screen.contains("skipped"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn checkpoint_pane_at_80x24_drops_columns_not_digits() {
    let dir = TempDir::new().unwrap();
    let (mut app, _, _) = scanned(&dir);
    let screen = render(&mut app, 80, 24, &dir);
    // Every SQNR the scan measured for format A that is drawn is drawn whole.
    let scan = app.checkpoint.scan.clone().unwrap();
    for t in scan.tensors.iter().filter(|t| !t.skipped) {
        let db = t.results[0].figures.as_ref().unwrap().sqnr_db.unwrap();
        assert!(screen.contains(&format!("{db:.2}")), "{} {db:.2}: {screen}", t.name);
    }
    insta::assert_snapshot!(screen);
}

#[test]
fn the_pictures_show_sqnr_by_layer_per_role_and_a_histogram() {
    let dir = TempDir::new().unwrap();
    let (mut app, mut workers, _) = scanned(&dir);
    press(&mut app, &mut workers, KeyCode::Char('v'));
    let screen = render(&mut app, 120, 40, &dir);
    assert!(screen.contains("q_proj") && screen.contains("down_proj"), "one series per role: {screen}");
    assert!(screen.contains("Tensors by SQNR"), "{screen}");
    assert!(screen.contains("Model SQNR (dB) against bpw") && screen.contains("█ this plan"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn without_a_checkpoint_the_pane_says_how_to_open_one() {
    let mut app = App::new(Settings::default(), "qmc-settings.toml".into());
    let mut workers = Workers::default();
    let jobs = app.start();
    assert!(jobs.iter().all(|j| !j.is_scan()), "no checkpoint, no scan");
    app.settle(&mut workers, jobs);
    press(&mut app, &mut workers, KeyCode::Char('5'));
    let dir = TempDir::new().unwrap();
    let screen = render(&mut app, 80, 24, &dir);
    assert!(screen.contains("--checkpoint PATH") && !screen.contains("✗"), "{screen}");
}

#[test]
fn rows_sort_by_any_column_flip_and_filter_by_glob_or_substring() {
    let dir = TempDir::new().unwrap();
    let (mut app, mut workers, _) = scanned(&dir);
    let pane = &app.checkpoint;
    let sqnr = SortKey::Format(0, Figure::Sqnr);
    assert_eq!(pane.sort, sqnr, "worst SQNR first by default");
    let values = |app: &App, key| -> Vec<Option<f64>> {
        let p = &app.checkpoint;
        p.order().iter().map(|&i| sort_value(&p.rows[i], key)).collect()
    };
    let first = values(&app, sqnr);
    assert_eq!(first.len(), 6);
    let measured: Vec<f64> = first.iter().flatten().copied().collect();
    assert_eq!(measured.len(), 4, "the norm and the ids have no SQNR: {first:?}");
    assert!(measured.windows(2).all(|p| p[0] <= p[1]), "{measured:?}");
    assert!(first[4].is_none() && first[5].is_none(), "rows without the value last: {first:?}");
    press(&mut app, &mut workers, KeyCode::Char('o'));
    let flipped: Vec<f64> = values(&app, sqnr).into_iter().flatten().collect();
    assert!(flipped.windows(2).all(|p| p[0] >= p[1]), "{flipped:?}");
    // s moves on to the next column: format A's relative RMSE.
    press(&mut app, &mut workers, KeyCode::Char('s'));
    assert_eq!(app.checkpoint.sort, SortKey::Format(0, Figure::RelRmse));
    // A substring filters as typed; Esc clears it.
    press(&mut app, &mut workers, KeyCode::Char('/'));
    type_text(&mut app, &mut workers, "down");
    let names = |app: &App| -> Vec<String> {
        app.checkpoint.order().iter().map(|&i| app.checkpoint.rows[i].name.clone()).collect()
    };
    assert_eq!(names(&app).len(), 2);
    assert!(names(&app).iter().all(|n| n.contains("down_proj")), "{:?}", names(&app));
    press(&mut app, &mut workers, KeyCode::Esc);
    assert_eq!(names(&app).len(), 6);
    // A glob matches the whole name.
    press(&mut app, &mut workers, KeyCode::Char('/'));
    type_text(&mut app, &mut workers, "*.1.*");
    press(&mut app, &mut workers, KeyCode::Enter);
    let mut glob = names(&app);
    glob.sort();
    assert_eq!(glob, ["model.layers.1.mlp.down_proj.weight", "model.layers.1.mlp.q_proj.weight"]);
    assert_eq!(app.checkpoint.filter, "*.1.*", "Enter keeps the filter");
}

#[test]
fn rows_stream_as_measured_and_a_newer_scan_stops_an_older_one() {
    let dir = TempDir::new().unwrap();
    let path = model(dir.path());
    let newest = Arc::new(AtomicU64::new(1));
    let worker = CheckpointWorker::new(newest.clone());
    let scan = |id| Job::Scan { id, path: path.clone(), formats: "int8-sym-pc,int4-asym-g128".into() };
    let mut streamed = Vec::new();
    let last = worker.handle(scan(1), &mut |o| {
        streamed.push(o);
        true
    });
    let done: Vec<(usize, usize)> = streamed
        .iter()
        .map(|o| match o {
            Output::ScanRow { done, total, .. } => (*done, *total),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(done, (1..=6).map(|i| (i, 6)).collect::<Vec<_>>(), "one row per tensor, in turn");
    assert!(matches!(last, Output::Scanned { id: 1, result: Outcome::Done(_) }));
    // Once scan 2 is sent, scan 1 stops before its next tensor.
    let (rows, stopped) = common::stopped_by_a_newer_job(&worker, scan(1), &newest, 2);
    assert_eq!(rows, 1, "it stopped after the tensor under way");
    assert!(matches!(stopped, Output::Scanned { id: 1, result: Outcome::Cancelled }), "{stopped:?}");

    // The app drops the rows of a scan older than its newest.
    let mut app = App::new(Settings::default(), "qmc-settings.toml".into());
    let old = app.open_checkpoint(path.clone());
    let new = app.open_checkpoint(path.clone());
    let old_rows = Workers::default().run(old);
    for o in old_rows {
        app.update(AppEvent::Worker(o));
    }
    assert!(app.checkpoint.rows.is_empty() && app.checkpoint.busy, "the older scan's rows were dropped");
    let mut new_rows = Workers::default().run(new).into_iter();
    app.update(AppEvent::Worker(new_rows.next().unwrap()));
    assert_eq!((app.checkpoint.rows.len(), app.checkpoint.total), (1, 6), "a row shows as soon as it comes");
    assert_eq!(app.activity().as_deref(), None, "the Quantize pane shows its own work");
    app.tab = Tab::Checkpoint;
    assert_eq!(app.activity().as_deref(), Some("scanning tensor 2 of 6"));
    new_rows.for_each(|o| {
        app.update(AppEvent::Worker(o));
    });
    assert!(app.checkpoint.done() && !app.checkpoint.busy);
}

#[test]
fn enter_opens_the_tensor_in_the_quantize_pane_and_5_returns_to_the_table_as_left() {
    let dir = TempDir::new().unwrap();
    let (mut app, mut workers, path) = scanned(&dir);
    press(&mut app, &mut workers, KeyCode::Char('s'));
    press(&mut app, &mut workers, KeyCode::Char('/'));
    type_text(&mut app, &mut workers, "q_proj");
    press(&mut app, &mut workers, KeyCode::Enter);
    press(&mut app, &mut workers, KeyCode::Down);
    let (sort, selected) = (app.checkpoint.sort, app.checkpoint.selected);
    assert_eq!(selected, 1);
    let name = app.checkpoint.selected_tensor().unwrap().name.clone();
    let quant = app.settings.quant.clone();
    press(&mut app, &mut workers, KeyCode::Enter);
    assert_eq!(app.tab, Tab::Quantize);
    assert_eq!(app.settings.weights.source, path.display().to_string());
    assert_eq!(app.settings.weights.tensor.as_deref(), Some(name.as_str()));
    assert_eq!(app.settings.quant, quant, "the quantizer is kept");
    let view = app.view.as_ref().expect("the tensor was analysed");
    assert_eq!(view.weights.shape, vec![8, 256]);
    assert_eq!(view.settings.weights.tensor.as_deref(), Some(name.as_str()));
    press(&mut app, &mut workers, KeyCode::Char('5'));
    assert_eq!(app.tab, Tab::Checkpoint);
    let pane = &app.checkpoint;
    assert_eq!((pane.sort, pane.filter.as_str(), pane.selected), (sort, "q_proj", selected));
    assert_eq!(pane.selected_tensor().unwrap().name, name);
}

#[test]
fn enter_on_a_skipped_tensor_says_why_and_stays() {
    let dir = TempDir::new().unwrap();
    let (mut app, mut workers, _) = scanned(&dir);
    press(&mut app, &mut workers, KeyCode::Char('/'));
    type_text(&mut app, &mut workers, "position");
    press(&mut app, &mut workers, KeyCode::Enter);
    press(&mut app, &mut workers, KeyCode::Enter);
    assert_eq!(app.tab, Tab::Checkpoint);
    assert!(app.status.error && app.status.text.contains("integer"), "{:?}", app.status);
}

/// `scan PATH --budget-bpw X --format json`, parsed.
fn headless_plan(path: &Path, budget: f64) -> Value {
    let out = common::run(&["scan", path.to_str().unwrap(), "--budget-bpw", &budget.to_string(), "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Equal up to serde_json's parsing, which may round the last bit the other way.
fn same(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-15 * a.abs().max(b.abs()),
        _ => false,
    }
}

#[test]
fn left_and_right_re_plan_and_the_plan_is_the_headless_one() {
    let dir = TempDir::new().unwrap();
    let (mut app, mut workers, path) = scanned(&dir);
    // The formats' bpw are 8.25 and 4.5: the budget starts midway, on the 0.25 grid.
    let start = app.checkpoint.budget.expect("a budget once the scan is done");
    assert_eq!(start, 6.5);
    press(&mut app, &mut workers, KeyCode::Left);
    press(&mut app, &mut workers, KeyCode::Left);
    press(&mut app, &mut workers, KeyCode::Right);
    assert_eq!(app.checkpoint.budget, Some(start - BUDGET_STEP));
    let json = headless_plan(&path, start - BUDGET_STEP);
    let plan = app.checkpoint.plan.clone().unwrap();
    let want = &json["plan"];
    let assignments: std::collections::BTreeMap<String, String> =
        serde_json::from_value(want["assignments"].clone()).unwrap();
    assert_eq!(plan.assignments, assignments);
    assert!(same(plan.sqnr_db, want["sqnr_db"].as_f64()), "{plan:?} {want}");
    assert!(same(Some(plan.bpw), want["bpw"].as_f64()) && Some(plan.bytes) == want["bytes"].as_u64(), "{want}");
    assert!(plan.bpw <= start - BUDGET_STEP, "{plan:?}");
    // Both formats are used at this budget, so the plan is not a uniform one.
    let used: std::collections::BTreeSet<&String> = plan.assignments.values().collect();
    assert_eq!(used.len(), 2, "{plan:?}");
    // A bigger budget gives a plan at least as good.
    press(&mut app, &mut workers, KeyCode::Right);
    press(&mut app, &mut workers, KeyCode::Right);
    let bigger = app.checkpoint.plan.clone().unwrap();
    assert!(bigger.sqnr_db.unwrap() >= plan.sqnr_db.unwrap(), "{bigger:?} {plan:?}");
    // The table's statistics are the JSON's too, the new keys among them.
    for t in json["tensors"].as_array().unwrap().iter().filter(|t| !t["stats"].is_null()) {
        let row = app.checkpoint.rows.iter().find(|r| r.name == t["name"].as_str().unwrap()).unwrap();
        let stats = row.stats.as_ref().unwrap();
        assert!(same(stats.peak_to_sigma, t["stats"]["peak_to_sigma"].as_f64()), "{}", row.name);
        assert!(same(stats.channel_range_spread, t["stats"]["channel_range_spread"].as_f64()), "{}", row.name);
    }
}

#[test]
fn a_budget_below_the_smallest_plan_is_refused_and_the_last_good_one_kept() {
    let dir = TempDir::new().unwrap();
    let (mut app, mut workers, _) = scanned(&dir);
    // From 6.5 down to 4.5 (every tensor int4-g128) is 8 steps; the 9th is refused.
    for _ in 0..8 {
        press(&mut app, &mut workers, KeyCode::Left);
    }
    assert_eq!(app.checkpoint.budget, Some(4.5));
    assert!(!app.status.error, "{:?}", app.status);
    let plan = app.checkpoint.plan.clone().unwrap();
    assert!(plan.assignments.values().all(|f| f == "int4-asym-g128"), "{plan:?}");
    press(&mut app, &mut workers, KeyCode::Left);
    assert!(app.status.error && app.status.text.contains("below the smallest plan"), "{:?}", app.status);
    assert!(app.status.text.contains("4.250 bits per weight"), "{:?}", app.status);
    assert!(app.status.text.contains("stays at 4.500 bpw"), "{:?}", app.status);
    assert_eq!(app.checkpoint.budget, Some(4.5));
    assert_eq!(app.checkpoint.plan.as_ref().unwrap().assignments, plan.assignments);
    let screen = render(&mut app, 80, 24, &TempDir::new().unwrap());
    assert!(screen.contains("below the smallest plan"), "{screen}");
    // r goes back to the starting budget.
    press(&mut app, &mut workers, KeyCode::Char('r'));
    assert_eq!(app.checkpoint.budget, Some(6.5));
}

#[test]
fn checkpoint_pane_with_the_planner_at_80x24_after_moving_the_budget() {
    let dir = TempDir::new().unwrap();
    let (mut app, mut workers, _) = scanned(&dir);
    press(&mut app, &mut workers, KeyCode::Left);
    let screen = render(&mut app, 80, 24, &dir);
    let tabs = screen.lines().next().unwrap();
    assert!(!tabs.contains("compu") || tabs.contains("computed in"), "cut, not shortened: {tabs}");
    assert!(screen.contains("plan ≤ 6.250 bpw") && screen.contains("←→ budget"), "{screen}");
    let hints = screen.lines().last().unwrap();
    assert!(!hints.contains("adjust") && !hints.contains("type"), "not a control's hints: {hints}");
    insta::assert_snapshot!(screen);
}

#[test]
fn the_format_set_is_typed_and_re_scans_and_a_bad_one_is_refused() {
    let dir = TempDir::new().unwrap();
    let (mut app, mut workers, _) = scanned(&dir);
    press(&mut app, &mut workers, KeyCode::Char('f'));
    assert!(matches!(&app.mode, Mode::TypeFormats { text, selected: true } if text == "int8-sym-pc,int4-asym-g128"));
    // An unknown name: the error names it, the formats and their rows stay.
    type_text(&mut app, &mut workers, "int8-sym-pc, bogus");
    let typing = render(&mut app, 120, 40, &dir);
    assert!(typing.contains("formats = int8-sym-pc, bogus▏"), "{typing}");
    let before = app.checkpoint.rows.len();
    press(&mut app, &mut workers, KeyCode::Enter);
    assert!(app.status.error && app.status.text.contains("\"bogus\""), "{:?}", app.status);
    assert_eq!(app.checkpoint.formats, "int8-sym-pc,int4-asym-g128");
    assert!(app.checkpoint.done() && app.checkpoint.rows.len() == before);
    // A good set re-scans: each row has the new formats' figures, and the plan follows.
    press(&mut app, &mut workers, KeyCode::Char('f'));
    type_text(&mut app, &mut workers, "q8_0, q4_0,int4-asym-g128");
    press(&mut app, &mut workers, KeyCode::Enter);
    assert_eq!(app.checkpoint.formats, "q8_0,q4_0,int4-asym-g128");
    assert!(app.checkpoint.done() && !app.status.error, "{:?}", app.status);
    let scan = app.checkpoint.scan.clone().unwrap();
    let formats: Vec<&str> = scan.totals.iter().map(|t| t.format.as_str()).collect();
    assert_eq!(formats, ["q8_0", "q4_0", "int4-asym-g128"]);
    let budget = app.checkpoint.budget.unwrap();
    let plan = app.checkpoint.plan.clone().unwrap();
    assert!(plan.bpw <= budget && plan.assignments.len() == 4, "{plan:?}");
    // Esc leaves the set as it was.
    press(&mut app, &mut workers, KeyCode::Char('f'));
    type_text(&mut app, &mut workers, "q8_0");
    press(&mut app, &mut workers, KeyCode::Esc);
    assert_eq!(app.checkpoint.formats, "q8_0,q4_0,int4-asym-g128");
}

#[test]
fn page_keys_move_the_selection_by_a_page() {
    let dir = TempDir::new().unwrap();
    let (mut app, mut workers, _) = scanned(&dir);
    press(&mut app, &mut workers, KeyCode::PageDown);
    assert_eq!(app.checkpoint.selected, 5, "six rows: the last");
    press(&mut app, &mut workers, KeyCode::PageUp);
    assert_eq!(app.checkpoint.selected, 0);
}
