//! The learned fusions' meta-learners are fitted while idle: after that, a
//! key that switches the Ensemble pane to stacking or mlp fits nothing on
//! its way to the next frame.

use qmc_tui::app::{App, AppEvent};
use qmc_tui::compute::ensemble::Fusion;
use qmc_tui::settings::Settings;
use qmc_tui::worker::Workers;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

fn press(app: &mut App, workers: &mut Workers, code: KeyCode) {
    let jobs = app.update(AppEvent::Input(Event::Key(KeyEvent::new(code, KeyModifiers::NONE))));
    app.settle(workers, jobs);
}

#[test]
fn a_fusion_key_after_the_idle_fits_fits_no_meta_learner() {
    let mut app = App::new(Settings::default(), "unused.toml".into());
    let mut workers = Workers::default();
    let jobs = app.start();
    app.settle(&mut workers, jobs);
    // What the worker thread does once the result is sent and no job waits.
    workers.ensemble.warm_learned_fusions(&app.settings, &|| false).unwrap();
    let fitted = workers.ensemble.meta_fittings();
    assert_eq!(fitted, 2, "stacking's and mlp's");
    press(&mut app, &mut workers, KeyCode::Char('2'));
    // soft -> hard -> stacking -> label-mean -> mlp
    for _ in 0..4 {
        press(&mut app, &mut workers, KeyCode::Char('f'));
        let shown = app.ensemble.as_ref().unwrap();
        assert_eq!(shown.settings.ensemble.fusion, app.settings.ensemble.fusion, "the frame shows the new fusion");
        assert_eq!((shown.trained, workers.ensemble.meta_fittings()), (0, fitted), "{}", app.settings.ensemble.fusion);
    }
    assert_eq!(app.settings.ensemble.fusion, Fusion::Mlp);
    let report = &app.ensemble.as_ref().unwrap().report;
    assert!(report.test_accuracy.is_some() && report.stacking_influence.is_some());
}
