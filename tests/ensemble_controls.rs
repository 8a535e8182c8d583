//! The Ensemble pane's `weights` and `mlp_hidden` rows: set with the keys,
//! exported with `e`, loaded back, and read by `report --config`.

mod common;

use qmc_tui::app::{App, AppEvent, Tab};
use qmc_tui::compute::ensemble::{Fusion, WeightRule};
use qmc_tui::controls::{AnyControl, EnsembleControl};
use qmc_tui::settings::Settings;
use qmc_tui::worker::Workers;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

fn press(app: &mut App, worker: &mut Workers, code: KeyCode) {
    let jobs = app.update(AppEvent::Input(Event::Key(KeyEvent::new(code, KeyModifiers::NONE))));
    app.settle(worker, jobs);
}

/// Moves down the Ensemble pane's controls to `control`.
fn select(app: &mut App, worker: &mut Workers, control: EnsembleControl) {
    for _ in 0..30 {
        if app.remembered(Tab::Ensemble) == AnyControl::Ensemble(control) {
            return;
        }
        press(app, worker, KeyCode::Down);
    }
    panic!("{control:?} is not shown");
}

#[test]
fn weights_and_mlp_hidden_rows_export_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exported.toml");
    let mut app = App::new(Settings::default(), path.clone());
    let mut worker = Workers::default();
    let jobs = app.start();
    app.settle(&mut worker, jobs);
    press(&mut app, &mut worker, KeyCode::Char('2'));
    select(&mut app, &mut worker, EnsembleControl::Weights);
    press(&mut app, &mut worker, KeyCode::Right);
    assert_eq!(app.settings.ensemble.weights, WeightRule::Optimized);
    let e = app.ensemble.as_ref().unwrap();
    assert!(e.trained == 0 && e.report.optimized_weights.is_some(), "a weight change re-fuses, trains nothing");
    // mlp_hidden is shown under mlp only (soft, hard, stacking, label-mean, mlp).
    for _ in 0..4 {
        press(&mut app, &mut worker, KeyCode::Char('f'));
    }
    assert_eq!(app.settings.ensemble.fusion, Fusion::Mlp);
    select(&mut app, &mut worker, EnsembleControl::MlpHidden);
    press(&mut app, &mut worker, KeyCode::Right);
    assert_eq!(app.settings.ensemble.mlp_hidden, 32);
    press(&mut app, &mut worker, KeyCode::Char('f'));
    assert_eq!(app.settings.ensemble.fusion, Fusion::Soft);
    press(&mut app, &mut worker, KeyCode::Char('e'));
    assert!(!app.status.error && app.status.text.contains("exported.toml"), "{:?}", app.status);
    let loaded = Settings::load(&path).unwrap();
    assert_eq!(loaded, app.settings);
    assert_eq!((loaded.ensemble.weights, loaded.ensemble.mlp_hidden), (WeightRule::Optimized, 32));

    let config = path.to_str().unwrap();
    let r = common::json(&["report", "--format", "json", "--only", "ensemble,deploy", "--config", config]);
    let (ens, deploy) = (&r["ensemble"], &r["quantized_ensemble"]);
    assert_eq!(ens["weight_rule"], "optimized");
    assert!(ens["optimized_weights"].is_array(), "{ens}");
    assert_eq!(deploy["weight_rule"], "optimized");
    assert_eq!(deploy["weights"], ens["optimized_weights"], "the Deploy pane fuses with the optimized weights");
    assert_eq!(deploy["float_cv_accuracy_mean"], ens["cv_accuracy_mean"]);
    assert_eq!(deploy["float_test_accuracy"], ens["test_accuracy"]);
}
