//! The Deploy pane with a `[quant] format` other than int: the ensemble
//! quantized through the format in one row, or the reason it cannot be.

use qmc_tui::app::{App, AppEvent};
use qmc_tui::compute::formats::find;
use qmc_tui::settings::Settings;
use qmc_tui::ui;
use qmc_tui::worker::Workers;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

/// The Deploy pane at 120×40 with `format`, its compute times zeroed.
fn deploy_pane(format: &str) -> (App, String) {
    deploy_pane_at(format, 120, 40)
}

fn deploy_pane_at(format: &str, width: u16, height: u16) -> (App, String) {
    let mut settings = Settings::default();
    settings.quant.format = find(format).unwrap();
    let mut app = App::new(settings, "qmc-settings.toml".into());
    let mut worker = Workers::default();
    let jobs = app.start();
    app.settle(&mut worker, jobs);
    let jobs = app.update(AppEvent::Input(Event::Key(KeyEvent::new(KeyCode::Char('3'), KeyModifiers::NONE))));
    app.settle(&mut worker, jobs);
    if let Some(v) = &mut app.view {
        v.compute_ms = 0.0;
    }
    if let Some(e) = &mut app.ensemble {
        e.compute_ms = 0.0;
    }
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| app.hits = ui::draw(f, &app)).unwrap();
    let screen = terminal.backend().to_string();
    (app, screen)
}

#[test]
fn fp8_is_deployed_in_one_row() {
    let (app, screen) = deploy_pane("fp8-e4m3");
    let d = &app.ensemble.as_ref().unwrap().deploy;
    assert_eq!((d.format.name(), d.bits, d.by_bits.len(), &d.error), ("fp8-e4m3", 8, 1, &None));
    assert!(screen.contains("Float vs fp8-e4m3 quantized"), "{screen}");
    assert!(screen.contains("✓ fp8-e4m3 is within") && screen.contains("compare x̂ of"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn q4_0_says_why_in_the_notes() {
    let (app, screen) = deploy_pane("q4_0");
    let d = &app.ensemble.as_ref().unwrap().deploy;
    assert!(d.error.is_some() && d.by_bits.is_empty());
    assert!(screen.contains("q4_0 cannot quantize the ensemble"), "{screen}");
    assert!(screen.contains("not a multiple of 32"), "{screen}");
}

/// At 80×24 the one row is both the pick and the current width, and
/// "◀ pick, now" does not fit: the mark says "◀ now" whole (the row's
/// highlight marks the pick) instead of a cut "◀ pick,".
#[test]
fn at_80x24_the_width_mark_is_whole() {
    let (_, screen) = deploy_pane_at("fp8-e4m3", 80, 24);
    assert!(screen.contains("By width") && !screen.contains("pick,") && screen.contains("◀ now"), "{screen}");
    let (_, wide) = deploy_pane_at("fp8-e4m3", 120, 40);
    assert!(wide.contains("◀ pick, now"), "{wide}");
}
