//! The Formats pane driven by keys and drawn into ratatui's TestBackend.

use qmc_tui::app::{App, AppEvent};
use qmc_tui::compute::formats::table::Column;
use qmc_tui::settings::Settings;
use qmc_tui::ui;
use qmc_tui::worker::Workers;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

/// An app on synthetic weights of `rows × cols`, its first results in, on the Formats pane.
fn on_formats(rows: usize, cols: usize) -> (App, Workers) {
    let mut s = Settings::default();
    (s.weights.rows, s.weights.cols) = (rows, cols);
    let mut app = App::new(s, "qmc-settings.toml".into());
    let mut workers = Workers::default();
    let jobs = app.start();
    app.settle(&mut workers, jobs);
    press(&mut app, &mut workers, KeyCode::Char('4'));
    (app, workers)
}

fn press(app: &mut App, workers: &mut Workers, code: KeyCode) {
    let jobs = app.update(AppEvent::Input(Event::Key(KeyEvent::new(code, KeyModifiers::NONE))));
    app.settle(workers, jobs);
}

fn render(app: &mut App, width: u16, height: u16) -> String {
    if let Some(v) = &mut app.view {
        v.compute_ms = 0.0;
    }
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let mut hits = None;
    terminal.draw(|f| hits = Some(ui::draw(f, app))).unwrap();
    app.hits = hits.unwrap();
    terminal.backend().to_string()
}

#[test]
fn formats_pane_at_120x40() {
    let (mut app, _) = on_formats(64, 256);
    let table = app.formats_table().expect("the rows came with the analysis");
    assert!(table.done() && table.rows.len() >= 18, "{} rows", table.rows.len());
    insta::assert_snapshot!(render(&mut app, 120, 40));
}

#[test]
fn formats_pane_at_80x24() {
    let (mut app, _) = on_formats(64, 256);
    let screen = render(&mut app, 80, 24);
    // Narrow: columns go, numbers are not cut; the current row is int8.
    assert!(screen.contains("int8") && screen.contains("dB"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn a_format_that_cannot_apply_says_why() {
    // Rows of 10 values are no whole blocks of 32.
    let (mut app, _) = on_formats(1000, 10);
    let screen = render(&mut app, 120, 40);
    assert!(screen.contains("n/a"), "{screen}");
    assert!(screen.contains("int4 g32: the rows hold 10 values"), "the reason is in the notes: {screen}");
}

#[test]
fn moving_the_row_makes_its_settings_current_in_the_sorted_order() {
    let (mut app, mut workers) = on_formats(64, 256);
    // Sorted by bpw: the cheapest row that applies comes first.
    while app.formats_sort != Column::Bpw {
        press(&mut app, &mut workers, KeyCode::Char('s'));
    }
    let table = app.formats_table().unwrap().clone();
    let order: Vec<usize> = table.order(Column::Bpw).into_iter().filter(|&i| table.rows[i].error.is_none()).collect();
    let bpw: Vec<f64> = order.iter().map(|&i| table.rows[i].bpw).collect();
    assert!(bpw.windows(2).all(|p| p[0] <= p[1]), "{bpw:?}");
    let at = order.iter().position(|&i| Some(i) == table.current(&app.settings)).expect("int8 is a row");
    press(&mut app, &mut workers, KeyCode::Right);
    let next = &table.rows[order[(at + 1) % order.len()]];
    assert_eq!(app.settings.quant, next.settings);
    // The analysis follows: the Quantize pane now shows that row's figures.
    let a = &app.view.as_ref().unwrap().analysis;
    assert_eq!(a.metrics.mse, next.metrics.mse, "{}", next.name);
    assert_eq!(a.format.bpw, next.bpw);
}
