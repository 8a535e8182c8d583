//! The app driven by key events and drawn into ratatui's TestBackend.

mod common;

use qmc_tui::app::{App, AppEvent, Mode, Tab};
use qmc_tui::compute::ensemble::Fusion;
use qmc_tui::compute::quant::{Granularity, Scheme};
use qmc_tui::controls::{AnyControl, Control, EnsembleControl};
use qmc_tui::settings::Settings;
use qmc_tui::ui;
use qmc_tui::worker::{Job, Workers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

/// An app whose first analysis has run, on the synthetic default weights.
fn started(settings: Settings) -> (App, Workers) {
    let mut app = App::new(settings, "qmc-settings.toml".into());
    let mut worker = Workers::default();
    let jobs = app.start();
    app.settle(&mut worker, jobs);
    (app, worker)
}

fn key(code: KeyCode) -> AppEvent {
    AppEvent::Input(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn press(app: &mut App, worker: &mut Workers, code: KeyCode) -> Vec<Job> {
    let jobs = app.update(key(code));
    app.settle(worker, jobs.clone());
    jobs
}

/// Draws a frame and keeps what it drew where, as the event loop does.
fn draw(terminal: &mut Terminal<TestBackend>, app: &mut App) {
    let mut hits = None;
    terminal.draw(|f| hits = Some(ui::draw(f, app))).unwrap();
    app.hits = hits.unwrap();
}

fn render(app: &mut App, width: u16, height: u16) -> String {
    // The compute time differs between runs; snapshots must not.
    if let Some(v) = &mut app.view {
        v.compute_ms = 0.0;
    }
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    draw(&mut terminal, app);
    terminal.backend().to_string()
}

#[test]
fn default_pane_at_120x40() {
    let (mut app, _) = started(Settings::default());
    insta::assert_snapshot!(render(&mut app, 120, 40));
}

#[test]
fn seed_example_at_120x40_shows_the_collapse() {
    let mut s = Settings::default();
    (qmc_tui::settings::preset("seed example").unwrap().apply)(&mut s);
    let (mut app, _) = started(s);
    let screen = render(&mut app, 120, 40);
    assert!(screen.contains("every weight rounds to 0"), "{screen}");
    assert!(screen.contains("1 of 2 used"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn per_channel_pane_at_120x40_has_a_channel_table() {
    let mut s = Settings::default();
    s.quant.granularity = Granularity::PerChannel;
    s.quant.scheme = Scheme::Symmetric;
    let (mut app, _) = started(s);
    let screen = render(&mut app, 120, 40);
    assert!(screen.contains("Channels 0–"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn narrow_pane_at_80x24() {
    let (mut app, _) = started(Settings::default());
    insta::assert_snapshot!(render(&mut app, 80, 24));
}

#[test]
fn tiny_terminals_ask_to_be_enlarged_without_panicking() {
    let (mut app, _) = started(Settings::default());
    let screen = render(&mut app, 40, 12);
    assert!(screen.contains("Enlarge"), "{screen}");
    insta::assert_snapshot!(screen);
    for (w, h) in [(1, 1), (2, 1), (1, 30), (79, 24), (80, 23)] {
        render(&mut app, w, h);
    }
}

#[test]
fn help_overlay_lists_the_keymap() {
    let (mut app, mut worker) = started(Settings::default());
    press(&mut app, &mut worker, KeyCode::Char('?'));
    assert_eq!(app.mode, Mode::Help);
    let screen = render(&mut app, 120, 40);
    let shown = qmc_tui::keymap::scopes(app.tab.scope());
    for b in qmc_tui::keymap::bindings().iter().filter(|b| shown.contains(&b.scope)) {
        assert!(screen.contains(b.help), "help lacks {:?}", b.help);
    }
    assert!(screen.contains("Controls (every pane: Quantize, Ensemble, Deploy, Formats, Checkpoint)"), "{screen}");
    assert!(!screen.contains("both panes"), "there are three panes: {screen}");
    insta::assert_snapshot!(screen);
    press(&mut app, &mut worker, KeyCode::Char('x'));
    assert_eq!(app.mode, Mode::Normal);
    assert!(!app.should_quit);
}

/// The number the metrics panel shows for a label, as text.
fn shown(screen: &str, label: &str) -> String {
    let line =
        screen.lines().find(|l| l.contains(&format!("│{label} "))).unwrap_or_else(|| panic!("no {label} in\n{screen}"));
    let after = &line[line.find(label).unwrap() + label.len()..];
    after.split_whitespace().next().unwrap().to_string()
}

#[test]
fn a_key_press_changes_the_numbers_on_the_next_frame() {
    let (mut app, mut worker) = started(Settings::default());
    let before = render(&mut app, 120, 40);
    // Select bits and lower it: the mse must grow.
    while app.remembered(Tab::Quantize) != AnyControl::Quant(Control::Bits) {
        press(&mut app, &mut worker, KeyCode::Down);
    }
    let jobs = press(&mut app, &mut worker, KeyCode::Left);
    assert_eq!(jobs.len(), 2, "one analysis, and the Deploy pane's re-fusion");
    assert_eq!(jobs.iter().filter(|j| j.is_training()).count(), 1);
    assert_eq!(app.settings.quant.bits, 7);
    let after = render(&mut app, 120, 40);
    let mse = |s: &str| shown(s, "mse").parse::<f64>().unwrap();
    assert!(mse(&after) > 3.0 * mse(&before), "7-bit mse {} vs 8-bit {}", mse(&after), mse(&before));
    assert!(after.contains("codes -64..63"), "{after}");
}

#[test]
fn editing_scale_switches_to_manual_and_typing_sets_exact_values() {
    let (mut app, mut worker) = started(Settings::default());
    while app.remembered(Tab::Quantize) != AnyControl::Quant(Control::Scale) {
        press(&mut app, &mut worker, KeyCode::Up);
    }
    press(&mut app, &mut worker, KeyCode::Enter);
    assert!(matches!(app.mode, Mode::Editing { .. }));
    // Clear the prefilled text, type a new value.
    app.update(AppEvent::Input(Event::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL))));
    for c in "0.5".chars() {
        press(&mut app, &mut worker, KeyCode::Char(c));
    }
    press(&mut app, &mut worker, KeyCode::Enter);
    assert_eq!(app.settings.quant.scheme, Scheme::Manual);
    assert_eq!(app.settings.quant.scale, 0.5);
    let view = app.view.as_ref().unwrap();
    assert_eq!(view.analysis.channels[0].params.scale, 0.5);
    assert!(app.status.text.contains("manual"), "{:?}", app.status);
}

#[test]
fn a_bad_typed_value_shows_an_error_and_keeps_the_state() {
    let (mut app, mut worker) = started(Settings::default());
    while app.remembered(Tab::Quantize) != AnyControl::Quant(Control::Bits) {
        press(&mut app, &mut worker, KeyCode::Down);
    }
    press(&mut app, &mut worker, KeyCode::Enter);
    app.update(AppEvent::Input(Event::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL))));
    for c in "17".chars() {
        press(&mut app, &mut worker, KeyCode::Char(c));
    }
    let jobs = press(&mut app, &mut worker, KeyCode::Enter);
    assert!(jobs.is_empty());
    assert!(app.status.error && app.status.text.contains("quant.bits"), "{:?}", app.status);
    assert_eq!(app.settings.quant.bits, 8);
    let screen = render(&mut app, 120, 40);
    assert!(screen.contains("✗ quant.bits: 17 is outside 2..=16"), "{screen}");
}

#[test]
fn a_missing_weights_file_rolls_back_to_the_last_good_state() {
    let (mut app, mut worker) = started(Settings::default());
    while app.remembered(Tab::Quantize) != AnyControl::Quant(Control::Source) {
        press(&mut app, &mut worker, KeyCode::Up);
    }
    press(&mut app, &mut worker, KeyCode::Enter);
    app.update(AppEvent::Input(Event::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL))));
    for c in "/no/such/w.npy".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    press(&mut app, &mut worker, KeyCode::Enter);
    assert!(app.status.error && app.status.text.contains("/no/such/w.npy"), "{:?}", app.status);
    assert_eq!(app.settings, Settings::default());
    assert_eq!(app.view.as_ref().unwrap().settings, Settings::default());
}

/// A format the tensor refuses (q8_0 on rows of 10 values) rolls the
/// quantizer back, and the Deploy pane, which had been sent the refused
/// one too, is computed again on the quantizer that stays.
#[test]
fn a_refused_format_rolls_the_deploy_pane_back_too() {
    let (mut app, mut worker) = started(Settings::default());
    while app.remembered(Tab::Quantize) != AnyControl::Quant(Control::Format) {
        press(&mut app, &mut worker, KeyCode::Up);
    }
    press(&mut app, &mut worker, KeyCode::Enter);
    app.update(AppEvent::Input(Event::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL))));
    for c in "q8_0".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    press(&mut app, &mut worker, KeyCode::Enter);
    assert!(app.status.error && app.status.text.contains("multiple of 32"), "{:?}", app.status);
    assert_eq!(app.settings, Settings::default());
    let deployed = app.ensemble.as_ref().unwrap();
    assert_eq!(deployed.settings.quant, Settings::default().quant);
    assert_eq!(deployed.deploy.format.name(), "int");
    assert!(!app.busy());
}

#[test]
fn stale_results_are_dropped() {
    let (mut app, mut worker) = started(Settings::default());
    while app.remembered(Tab::Quantize) != AnyControl::Quant(Control::Bits) {
        press(&mut app, &mut worker, KeyCode::Down);
    }
    let first = app.update(key(KeyCode::Left));
    let second = app.update(key(KeyCode::Left));
    assert_eq!(app.settings.quant.bits, 6);
    // The newer job finishes first; the older result arrives late and must not win.
    app.settle(&mut worker, second);
    app.settle(&mut worker, first);
    assert_eq!(app.view.as_ref().unwrap().settings.quant.bits, 6);
    assert!(!app.busy());
}

#[test]
fn presets_cycle_and_only_release_presses_are_ignored() {
    let (mut app, mut worker) = started(Settings::default());
    press(&mut app, &mut worker, KeyCode::Char('p'));
    assert_eq!(app.settings.matching_preset(), Some("int8 per-channel"));
    let mut release = KeyEvent::new(KeyCode::Char('p'), KeyModifiers::NONE);
    release.kind = KeyEventKind::Release;
    assert!(app.update(AppEvent::Input(Event::Key(release))).is_empty());
    assert_eq!(app.settings.matching_preset(), Some("int8 per-channel"));
    for _ in 0..3 {
        press(&mut app, &mut worker, KeyCode::Char('p'));
    }
    assert_eq!(app.settings.matching_preset(), Some("int8 per-tensor"));
}

#[test]
fn export_then_load_reproduces_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exported.toml");
    let mut s = Settings::default();
    s.quant.bits = 5;
    s.quant.granularity = Granularity::PerChannel;
    s.quant.channel_axis = 1;
    let mut app = App::new(s.clone(), path.clone());
    let mut worker = Workers::default();
    let jobs = app.start();
    app.settle(&mut worker, jobs);
    press(&mut app, &mut worker, KeyCode::Char('e'));
    assert!(!app.status.error && app.status.text.contains("exported.toml"), "{:?}", app.status);
    let loaded = Settings::load(&path).unwrap();
    assert_eq!(loaded, s);
    let (again, _) = started(loaded);
    assert_eq!(again.view.unwrap().analysis, app.view.unwrap().analysis);
}

#[test]
fn a_failed_export_says_so_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("s.toml");
    let mut app = App::new(Settings::default(), path);
    let mut worker = Workers::default();
    let jobs = app.start();
    app.settle(&mut worker, jobs);
    press(&mut app, &mut worker, KeyCode::Char('e'));
    assert!(app.status.error && app.status.text.contains("does not exist"), "{:?}", app.status);
}

#[test]
fn quit_keys() {
    let (mut app, mut worker) = started(Settings::default());
    press(&mut app, &mut worker, KeyCode::Char('q'));
    assert!(app.should_quit);
    // Esc only closes things; from the main view it does nothing.
    let (mut app, mut worker) = started(Settings::default());
    press(&mut app, &mut worker, KeyCode::Esc);
    assert!(!app.should_quit && app.mode == Mode::Normal);
    let (mut app, _) = started(Settings::default());
    app.update(AppEvent::Input(Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL))));
    assert!(app.should_quit);
}

#[test]
fn the_readme_key_table_covers_every_binding() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for b in qmc_tui::keymap::bindings() {
        assert!(readme.contains(b.help), "README.md lacks the key {:?} ({})", b.action, b.help);
    }
}

#[test]
fn the_readme_key_table_says_the_control_keys_work_in_every_pane() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let controls = qmc_tui::keymap::bindings().iter().filter(|b| b.scope == qmc_tui::keymap::Scope::Controls);
    for b in controls {
        let row = readme.lines().find(|l| l.starts_with('|') && l.contains(b.help)).unwrap();
        assert!(row.contains("| every pane |"), "{row}");
    }
    assert!(!readme.contains("both panes"), "there are three panes");
}

fn to_ensemble(app: &mut App, worker: &mut Workers) {
    press(app, worker, KeyCode::Char('2'));
    assert_eq!(app.tab, qmc_tui::app::Tab::Ensemble);
}

fn select_ensemble(app: &mut App, worker: &mut Workers, control: EnsembleControl) {
    for _ in 0..30 {
        if app.remembered(Tab::Ensemble) == AnyControl::Ensemble(control) {
            return;
        }
        press(app, worker, KeyCode::Down);
    }
    panic!("{control:?} is not shown");
}

#[test]
fn ensemble_pane_at_120x40() {
    let (mut app, mut worker) = started(Settings::default());
    to_ensemble(&mut app, &mut worker);
    if let Some(e) = &mut app.ensemble {
        e.compute_ms = 0.0;
    }
    let screen = render(&mut app, 120, 40);
    assert!(screen.contains("Members (3), fusion soft") && screen.contains("Confusion"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn a_weight_or_fusion_change_trains_nothing_and_a_member_change_trains_one() {
    let (mut app, mut worker) = started(Settings::default());
    to_ensemble(&mut app, &mut worker);
    assert_eq!(app.ensemble.as_ref().unwrap().trained, 3);
    select_ensemble(&mut app, &mut worker, EnsembleControl::Weight);
    press(&mut app, &mut worker, KeyCode::Left);
    let e = app.ensemble.as_ref().unwrap();
    assert_eq!((e.trained, e.settings.ensemble.members[0].weight), (0, 0.9));
    let share = e.report.members[0].normalized_weight;
    assert!((share - 0.9 / 2.9).abs() < 1e-12, "{share}");
    press(&mut app, &mut worker, KeyCode::Char('f'));
    let e = app.ensemble.as_ref().unwrap();
    assert_eq!((e.trained, e.report.fusion), (0, Fusion::Hard));
    select_ensemble(&mut app, &mut worker, EnsembleControl::Trees);
    press(&mut app, &mut worker, KeyCode::Right);
    let e = app.ensemble.as_ref().unwrap();
    assert_eq!((e.trained, e.report.members[0].trees), (1, 20));
}

#[test]
fn members_can_be_added_and_deleted_down_to_none() {
    let (mut app, mut worker) = started(Settings::default());
    to_ensemble(&mut app, &mut worker);
    press(&mut app, &mut worker, KeyCode::Char('a'));
    assert_eq!(app.settings.ensemble.members.len(), 4);
    assert_eq!((app.member, app.settings.ensemble.members[3].seed), (3, 3));
    assert_eq!(app.ensemble.as_ref().unwrap().report.members.len(), 4);
    for _ in 0..4 {
        press(&mut app, &mut worker, KeyCode::Char('d'));
    }
    let e = app.ensemble.as_ref().unwrap();
    assert!(e.report.no_members && app.settings.ensemble.members.is_empty());
    let screen = render(&mut app, 120, 40);
    assert!(screen.contains("no members"), "{screen}");
    press(&mut app, &mut worker, KeyCode::Char('d'));
    assert!(app.status.error && app.status.text.contains("no member"), "{:?}", app.status);
    press(&mut app, &mut worker, KeyCode::Char('a'));
    assert_eq!(app.settings.ensemble.members.len(), 1);
}

#[test]
fn all_zero_weights_fall_back_to_equal_weights_and_say_so() {
    let mut s = Settings::default();
    s.ensemble.members.iter_mut().for_each(|m| m.weight = 0.0);
    let (mut app, mut worker) = started(s);
    to_ensemble(&mut app, &mut worker);
    let r = &app.ensemble.as_ref().unwrap().report;
    assert!(r.weights_fell_back);
    assert!(r.weights.iter().all(|&w| (w - 1.0 / 3.0).abs() < 1e-12));
    let screen = render(&mut app, 120, 40);
    assert!(screen.contains("every weight is 0"), "{screen}");
}

#[test]
fn a_bad_data_file_rolls_the_ensemble_back() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("one-class.csv");
    std::fs::write(&csv, "a,b,label\n1,2,x\n3,4,x\n").unwrap();
    let (mut app, mut worker) = started(Settings::default());
    to_ensemble(&mut app, &mut worker);
    select_ensemble(&mut app, &mut worker, EnsembleControl::DataSource);
    press(&mut app, &mut worker, KeyCode::Enter);
    app.update(AppEvent::Input(Event::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL))));
    for c in csv.display().to_string().chars() {
        app.update(key(KeyCode::Char(c)));
    }
    press(&mut app, &mut worker, KeyCode::Enter);
    assert!(app.status.error && app.status.text.contains("class"), "{:?}", app.status);
    assert_eq!(app.settings.data.source, "iris");
    assert_eq!(app.ensemble.as_ref().unwrap().settings.data.source, "iris");
}

#[test]
fn stale_trainings_are_dropped() {
    let (mut app, mut worker) = started(Settings::default());
    to_ensemble(&mut app, &mut worker);
    select_ensemble(&mut app, &mut worker, EnsembleControl::Trees);
    let first = app.update(key(KeyCode::Right));
    let second = app.update(key(KeyCode::Right));
    app.settle(&mut worker, second);
    app.settle(&mut worker, first);
    assert_eq!(app.ensemble.as_ref().unwrap().settings.ensemble.members[0].trees, 30);
    assert!(!app.busy());
}

#[test]
fn deploy_pane_at_120x40_and_its_bits_are_the_quantizers() {
    let (mut app, mut worker) = started(Settings::default());
    press(&mut app, &mut worker, KeyCode::Char('3'));
    assert_eq!(app.tab, qmc_tui::app::Tab::Deploy);
    if let Some(e) = &mut app.ensemble {
        e.compute_ms = 0.0;
    }
    let screen = render(&mut app, 120, 40);
    assert!(screen.contains("Float vs 8-bit quantized") && screen.contains("recommended"), "{screen}");
    insta::assert_snapshot!(screen);
    // Bits is selected first; fewer bits here are fewer bits in the Quantize pane too.
    assert_eq!(app.remembered(Tab::Deploy), AnyControl::Quant(Control::Bits));
    let jobs = press(&mut app, &mut worker, KeyCode::Left);
    assert_eq!(jobs.len(), 2, "an analysis and a re-fusion");
    assert_eq!(app.settings.quant.bits, 7);
    let e = app.ensemble.as_ref().unwrap();
    assert_eq!((e.deploy.bits, e.trained), (7, 0));
    assert_eq!(app.view.as_ref().unwrap().analysis.qmax, 63);
}

#[test]
fn quitting_with_unexported_changes_asks_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    let fresh = || {
        let mut app = App::new(Settings::default(), path.clone());
        let mut worker = Workers::default();
        let jobs = app.start();
        app.settle(&mut worker, jobs);
        (app, worker)
    };
    // Unchanged: quits at once.
    let (mut app, mut worker) = fresh();
    press(&mut app, &mut worker, KeyCode::Char('q'));
    assert!(app.should_quit);
    // Changed: asks; Esc stays, n quits without writing.
    let (mut app, mut worker) = fresh();
    press(&mut app, &mut worker, KeyCode::Char('p'));
    press(&mut app, &mut worker, KeyCode::Char('q'));
    assert_eq!((app.mode.clone(), app.should_quit), (Mode::ConfirmQuit, false));
    let screen = render(&mut app, 120, 40);
    assert!(screen.contains("export, then quit"), "{screen}");
    press(&mut app, &mut worker, KeyCode::Esc);
    assert_eq!((app.mode.clone(), app.should_quit), (Mode::Normal, false));
    press(&mut app, &mut worker, KeyCode::Char('q'));
    press(&mut app, &mut worker, KeyCode::Char('n'));
    assert!(app.should_quit && !path.exists());
    // y exports, then quits; after an export, quitting no longer asks.
    let (mut app, mut worker) = fresh();
    press(&mut app, &mut worker, KeyCode::Char('p'));
    press(&mut app, &mut worker, KeyCode::Char('q'));
    press(&mut app, &mut worker, KeyCode::Char('y'));
    assert!(app.should_quit && path.exists());
    assert_eq!(Settings::load(&path).unwrap(), app.settings);
    let (mut app, mut worker) = fresh();
    press(&mut app, &mut worker, KeyCode::Char('p'));
    press(&mut app, &mut worker, KeyCode::Char('e'));
    assert!(!app.unsaved());
    press(&mut app, &mut worker, KeyCode::Char('q'));
    assert!(app.should_quit);
}

/// The screen as plain text lines, for the README.
fn plain(app: &mut App, width: u16, height: u16) -> String {
    if let Some(v) = &mut app.view {
        v.compute_ms = 0.0;
    }
    if let Some(e) = &mut app.ensemble {
        e.compute_ms = 0.0;
    }
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    draw(&mut terminal, app);
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| (0..width).map(|x| buffer[(x, y)].symbol()).collect::<String>().trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The README shows each pane as text; this test keeps those captures true.
/// `UPDATE_README=1 cargo test --test ui readme` rewrites them.
#[test]
fn the_readme_captures_match_the_panes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let mut readme = std::fs::read_to_string(path).unwrap();
    let (mut app, mut worker) = started(Settings::default());
    for (pane, key) in [("quantize", '1'), ("ensemble", '2'), ("deploy", '3')] {
        press(&mut app, &mut worker, KeyCode::Char(key));
        let capture = format!("```text\n{}\n```\n", plain(&mut app, 120, 40));
        let (open, close) = (format!("<!-- capture:{pane} -->\n"), format!("<!-- /capture:{pane} -->"));
        let start = readme.find(&open).unwrap_or_else(|| panic!("README.md lacks {open:?}")) + open.len();
        let end = start + readme[start..].find(&close).unwrap_or_else(|| panic!("README.md lacks {close:?}"));
        if readme[start..end] != capture {
            assert!(
                std::env::var_os("UPDATE_README").is_some(),
                "the README's {pane} capture is out of date: run UPDATE_README=1 cargo test --test ui readme"
            );
            readme.replace_range(start..end, &capture);
        }
    }
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(path, readme).unwrap();
    }
}

/// A mouse event on the frame as drawn at 120x40 just before.
fn mouse(app: &mut App, worker: &mut Workers, kind: MouseEventKind, column: u16, row: u16) {
    render(app, 120, 40);
    let ev = MouseEvent { kind, column, row, modifiers: KeyModifiers::NONE };
    let jobs = app.update(AppEvent::Input(Event::Mouse(ev)));
    app.settle(worker, jobs);
}

#[test]
fn the_mouse_opens_tabs_selects_rows_and_scrolls_values() {
    let (mut app, mut worker) = started(Settings::default());
    let click = MouseEventKind::Down(MouseButton::Left);
    // The tab line: " qmc-tui ", then " 1 Quantize ", " 2 Ensemble ", " 3 Deploy ".
    mouse(&mut app, &mut worker, click, 25, 0);
    assert_eq!(app.tab, qmc_tui::app::Tab::Ensemble);
    mouse(&mut app, &mut worker, click, 12, 0);
    assert_eq!(app.tab, qmc_tui::app::Tab::Quantize);
    // The control list starts one row below its border: bits is the eighth control.
    assert_eq!(app.controls()[7], qmc_tui::controls::AnyControl::Quant(Control::Bits));
    mouse(&mut app, &mut worker, click, 5, 9);
    assert_eq!(app.remembered(Tab::Quantize), AnyControl::Quant(Control::Bits));
    mouse(&mut app, &mut worker, MouseEventKind::ScrollUp, 20, 9);
    assert_eq!(app.settings.quant.bits, 9);
    assert_eq!(app.view.as_ref().unwrap().analysis.qmax, 255);
    // A member row of the Ensemble pane's table: header on the row below the border.
    mouse(&mut app, &mut worker, click, 25, 0);
    mouse(&mut app, &mut worker, click, 60, 5);
    assert_eq!(app.member, 2);
    // Outside anything: nothing happens.
    mouse(&mut app, &mut worker, click, 119, 39);
    assert_eq!((app.tab, app.member), (qmc_tui::app::Tab::Ensemble, 2));
}

#[test]
fn the_tab_line_says_what_the_workers_do() {
    let mut app = App::new(Settings::default(), "s.toml".into());
    let mut worker = Workers::default();
    let jobs = app.start();
    assert_eq!(app.activity().as_deref(), Some("loading the weights"));
    app.settle(&mut worker, jobs);
    assert_eq!(app.activity(), None);
    while app.remembered(Tab::Quantize) != AnyControl::Quant(Control::Bits) {
        press(&mut app, &mut worker, KeyCode::Down);
    }
    let jobs = app.update(key(KeyCode::Left));
    assert_eq!(app.activity().as_deref(), Some("quantizing"));
    let screen = render(&mut app, 120, 40);
    assert!(screen.contains("quantizing ..."), "{screen}");
    app.settle(&mut worker, jobs);
    app.update(AppEvent::Worker(qmc_tui::worker::Output::Training { id: 0, done: 1, total: 3 }));
    assert_eq!(app.activity(), None, "a stale job's progress is not shown");
}

/// A full disk, then a read-only one: a 64 KiB tmpfs, mounted when the
/// tests may (root, a kernel that allows it); otherwise the test says so and passes.
#[test]
fn an_export_onto_a_full_or_read_only_disk_fails_and_keeps_the_previous_file() {
    let dir = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("cannot mount a small tmpfs here: the full-disk test is skipped");
        return;
    }
    let path = dir.path().join("s.toml");
    std::fs::write(&path, "# the previous export\n").unwrap();
    // Fill what is left.
    let filler = vec![0u8; 4096];
    let mut file = std::fs::File::create(dir.path().join("filler")).unwrap();
    while std::io::Write::write_all(&mut file, &filler).is_ok() {}
    drop(file);
    let mut app = App::new(Settings::default(), path.clone());
    let mut worker = Workers::default();
    let jobs = app.start();
    app.settle(&mut worker, jobs);
    press(&mut app, &mut worker, KeyCode::Char('e'));
    let previous = std::fs::read_to_string(&path);
    let leftovers = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".tmp")));
    let leftovers = leftovers.count();
    let full_disk = app.status.clone();
    // The same place read-only (a read-only mount stops root too).
    std::fs::remove_file(dir.path().join("filler")).unwrap();
    let remounted = std::process::Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    press(&mut app, &mut worker, KeyCode::Char('e'));
    let read_only = (app.status.clone(), std::fs::read_to_string(&path));
    let _ = std::process::Command::new("umount").arg(dir.path()).status();
    assert!(full_disk.error && full_disk.text.contains("export failed"), "{full_disk:?}");
    assert_eq!(previous.unwrap(), "# the previous export\n");
    assert_eq!(leftovers, 0, "no half-written temporary file is left");
    if remounted {
        assert!(read_only.0.error && read_only.0.text.contains("export failed"), "{:?}", read_only.0);
        assert_eq!(read_only.1.unwrap(), "# the previous export\n");
    }
}

#[test]
fn quitting_from_the_help_overlay_asks_about_unexported_changes() {
    let (mut app, mut worker) = started(Settings::default());
    while app.remembered(Tab::Quantize) != AnyControl::Quant(Control::Bits) {
        press(&mut app, &mut worker, KeyCode::Down);
    }
    press(&mut app, &mut worker, KeyCode::Right);
    press(&mut app, &mut worker, KeyCode::Char('?'));
    assert_eq!(app.mode, Mode::Help);
    press(&mut app, &mut worker, KeyCode::Char('q'));
    assert_eq!((app.mode.clone(), app.should_quit), (Mode::ConfirmQuit, false));
    // Esc closes the help without quitting.
    press(&mut app, &mut worker, KeyCode::Esc);
    press(&mut app, &mut worker, KeyCode::Char('?'));
    press(&mut app, &mut worker, KeyCode::Esc);
    assert_eq!((app.mode.clone(), app.should_quit), (Mode::Normal, false));
}

#[test]
fn typing_replaces_the_selected_prefilled_value() {
    let (mut app, mut worker) = started(Settings::default());
    while app.remembered(Tab::Quantize) != AnyControl::Quant(Control::Bits) {
        press(&mut app, &mut worker, KeyCode::Down);
    }
    press(&mut app, &mut worker, KeyCode::Enter);
    assert!(matches!(&app.mode, Mode::Editing { text, selected: true, .. } if text == "8"));
    let screen = render(&mut app, 120, 40);
    assert!(screen.contains("quant.bits = 8"), "{screen}");
    for c in "4".chars() {
        press(&mut app, &mut worker, KeyCode::Char(c));
    }
    press(&mut app, &mut worker, KeyCode::Enter);
    assert_eq!(app.settings.quant.bits, 4, "the first key replaced the selection");
    // After → the text is no longer selected: typing appends.
    press(&mut app, &mut worker, KeyCode::Enter);
    press(&mut app, &mut worker, KeyCode::Right);
    press(&mut app, &mut worker, KeyCode::Char('2'));
    assert!(matches!(&app.mode, Mode::Editing { text, selected: false, .. } if text == "42"));
    press(&mut app, &mut worker, KeyCode::Esc);
    assert_eq!((app.mode.clone(), app.settings.quant.bits), (Mode::Normal, 4));
}

#[test]
fn the_tab_line_says_what_this_pane_waits_for() {
    let mut app = App::new(Settings::default(), "unused.toml".into());
    let jobs = app.start();
    assert_eq!(jobs.len(), 2);
    // Both workers are busy: each pane names its own job.
    assert_eq!(app.activity().as_deref(), Some("loading the weights"));
    app.tab = qmc_tui::app::Tab::Ensemble;
    assert_eq!(app.activity().as_deref(), Some("fusing"));
    let mut workers = Workers::default();
    let analysis = jobs.into_iter().find(|j| !j.is_training()).unwrap();
    app.settle(&mut workers, vec![analysis]);
    app.tab = qmc_tui::app::Tab::Quantize;
    assert_eq!(app.activity(), None, "the Quantize pane is done although training runs");
    app.tab = qmc_tui::app::Tab::Deploy;
    assert_eq!(app.activity().as_deref(), Some("fusing"));
}

/// The screen as a grid of cells (a cell may hold a combining character).
fn grid(app: &mut App, width: u16, height: u16) -> Vec<Vec<String>> {
    if let Some(v) = &mut app.view {
        v.compute_ms = 0.0;
    }
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    draw(&mut terminal, app);
    let buffer = terminal.backend().buffer();
    (0..height).map(|y| (0..width).map(|x| buffer[(x, y)].symbol().to_string()).collect()).collect()
}

/// The cell where `text` starts on the screen.
fn find_cell(grid: &[Vec<String>], text: &str) -> Option<(usize, usize)> {
    grid.iter().enumerate().find_map(|(y, row)| {
        let line: String = row.concat();
        let at = line.find(text)?;
        let mut offset = 0;
        row.iter()
            .position(|cell| {
                offset += cell.len();
                offset > at
            })
            .map(|x| (y, x))
    })
}

/// The rows inside the panel titled `title`, and its bottom border (where the legend goes).
fn panel(grid: &[Vec<String>], title: &str) -> (Vec<String>, String) {
    let (top, x) = find_cell(grid, title).unwrap_or_else(|| panic!("no panel {title:?}"));
    let left = (0..x).rev().find(|&i| grid[top][i] == "╭").unwrap();
    let right = (x..grid[top].len()).find(|&i| grid[top][i] == "╮").unwrap();
    let bottom = (top + 1..grid.len()).find(|&y| grid[y][left] == "╰").unwrap();
    let text = |y: usize| grid[y][left + 1..right].concat();
    ((top + 1..bottom).map(text).collect(), text(bottom))
}

/// The x-axis labels of a chart panel: the row below its axis line.
fn x_labels(rows: &[String]) -> Vec<String> {
    let axis = rows.iter().position(|r| r.contains('└')).expect("no x axis");
    rows[axis + 1].split_whitespace().map(str::to_string).collect()
}

/// Whether `shown` is `value` written with fewer digits, not another number.
fn reads_as(shown: &str, value: f64) -> bool {
    let Ok(back) = shown.trim_end_matches('%').parse::<f64>() else { return false };
    let (mantissa, exponent) = shown.split_once('e').map_or((shown, 0), |(m, e)| (m, e.parse().unwrap_or(0)));
    let decimals = mantissa.split_once('.').map_or(0, |(_, d)| d.trim_end_matches('%').len() as i32);
    (back - value).abs() <= 0.5001 * 10f64.powi(exponent - decimals) + 1e-12 * value.abs()
}

#[test]
fn quantize_pane_at_80x24_writes_its_key_numbers_whole() {
    let mut s = Settings::default();
    s.quant.calibration = qmc_tui::compute::quant::Calibration::Sigma;
    s.quant.sigma_k = 2.0;
    let (mut app, _) = started(s);
    let a = app.view.as_ref().unwrap().analysis.clone();
    let m = &a.metrics;
    assert!(m.clipped > 100, "the test wants clipping: {}", m.clipped);
    let screen = grid(&mut app, 80, 24);
    let text = screen.iter().map(|r| r.concat()).collect::<Vec<_>>().join("\n");
    use qmc_tui::format::num;
    for figure in [num(m.mse), num(m.rmse), num(m.mae), num(m.max_abs_error), format!("({})", m.clipped)] {
        assert!(text.contains(&figure), "{figure} is not shown whole:\n{text}");
    }
    // The error histogram: its counts in the legend, its range on the x axis.
    let (rows, bottom) = panel(&screen, "Error x−x̂");
    let legend = format!("{}\n{bottom}", rows.join("\n"));
    assert!(legend.contains(&format!("clipped {}", a.error_hist.clipped.total())), "{legend}");
    assert!(legend.contains(&format!("rounding {}", a.error_hist.rounding.total())), "{legend}");
    assert!(rows.iter().any(|r| r.contains("log")), "the log count axis says so: {rows:?}");
    let labels = x_labels(&rows);
    let (lo, hi) = (a.error_hist.rounding.lo as f64, a.error_hist.rounding.hi as f64);
    assert!(reads_as(&labels[0], lo) && reads_as(labels.last().unwrap(), hi), "{labels:?} for {lo}..{hi}");
    // The weights: the range on the x axis, the clip range in the legend.
    let (rows, bottom) = panel(&screen, "Weights");
    let labels = x_labels(&rows);
    let (lo, hi) = (a.weight_hist.lo as f64, a.weight_hist.hi as f64);
    assert!(reads_as(&labels[0], lo) && reads_as(labels.last().unwrap(), hi), "{labels:?} for {lo}..{hi}");
    let clip = a.channels[0].clip();
    assert!(bottom.contains(&format!("clip lo {}", num(clip.0 as f64))), "{bottom}");
    assert!(bottom.contains(&format!("clip hi {}", num(clip.1 as f64))), "{bottom}");
    // A metrics part that does not fit is left out whole, not cut.
    let stats = text.lines().find(|l| l.contains("│stats")).unwrap();
    let non_finite = app.view.as_ref().unwrap().weights.non_finite;
    assert!(stats.contains(&format!("NaN/Inf {non_finite}")) || !stats.contains("NaN"), "{stats}");
    // Smaller than the panes need: said with both sizes whole.
    let small = grid(&mut app, 60, 20).iter().map(|r| r.concat()).collect::<Vec<_>>().join("\n");
    assert!(small.contains("at least 80×24") && small.contains("is 60×20"), "{small}");
}

#[test]
fn legends_sit_below_the_charts_and_show_the_glyphs_drawn() {
    let mut s = Settings::default();
    (qmc_tui::settings::preset("seed example").unwrap().apply)(&mut s);
    let (mut app, _) = started(s);
    for (w, h) in [(120, 40), (80, 24)] {
        let screen = grid(&mut app, w, h);
        let text = screen.iter().map(|r| r.concat()).collect::<Vec<_>>().join("\n");
        assert!(!text.contains('┌'), "no legend box over the data:\n{text}");
        let (rows, bottom) = panel(&screen, "Weights");
        assert!(bottom.contains("• 1 level ") && !text.contains("1 levels"), "{bottom}");
        assert!(rows.iter().any(|r| r.contains('•')), "the level is drawn as in the legend: {rows:?}");
        let (rows, bottom) = panel(&screen, "MSE");
        let legend = format!("{}\n{bottom}", rows.join("\n"));
        assert!(legend.contains("█ now") && legend.contains("• best"), "{legend}");
        let drawn =
            |glyph: char| rows.iter().filter(|r| !r.contains("now") && !r.contains("best")).any(|r| r.contains(glyph));
        assert!(drawn('█') && drawn('•'), "{rows:?}");
    }
}

/// Weights small enough that every per-channel figure is written with an exponent.
fn small_weights(dir: &tempfile::TempDir) -> String {
    let values: Vec<f32> = (0..64 * 16).map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 7.3e-6).collect();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let path = dir.path().join("small.npy");
    std::fs::write(&path, common::raw_npy("<f4", "(64, 16)", &bytes)).unwrap();
    path.display().to_string()
}

#[test]
fn the_per_channel_table_writes_every_figure_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::default();
    s.weights.source = small_weights(&dir);
    s.quant.granularity = Granularity::PerChannel;
    let (mut app, _) = started(s);
    let a = app.view.as_ref().unwrap().analysis.clone();
    for (w, h, least) in [(120, 40, 9), (80, 24, 4)] {
        let screen = grid(&mut app, w, h);
        let (rows, _) = panel(&screen, "Channels");
        let header: Vec<String> = rows[0]
            .replace("range lo", "range_lo")
            .replace("range hi", "range_hi")
            .split_whitespace()
            .map(String::from)
            .collect();
        assert!(header.len() >= least, "{w}x{h}: {header:?}");
        assert!(rows.len() > 1, "{w}x{h}: no channel rows");
        for row in &rows[1..] {
            let cells: Vec<&str> = row.split_whitespace().collect();
            assert_eq!(cells.len(), header.len(), "{w}x{h}: {row}");
            let c = &a.channels[cells[0].parse::<usize>().unwrap()];
            for (name, cell) in header.iter().zip(&cells).skip(1) {
                let whole = match name.as_str() {
                    "range_lo" => reads_as(cell, c.range.0 as f64),
                    "range_hi" => reads_as(cell, c.range.1 as f64),
                    "scale" => reads_as(cell, c.params.scale as f64),
                    "zp" => *cell == c.params.zero_point.to_string(),
                    "mse" => reads_as(cell, c.metrics.mse),
                    "sqnr" => reads_as(cell, c.metrics.sqnr_db),
                    "clipped" => reads_as(cell, 100.0 * c.metrics.clip_rate),
                    "levels" => *cell == format!("{}/{}", c.metrics.levels_used, c.metrics.levels_available),
                    other => panic!("unknown column {other}"),
                };
                assert!(whole, "{w}x{h}: {name} {cell} of {row}");
            }
        }
    }
}

/// The first and last channel the table's title says it shows.
fn shown_channels(app: &mut App, (w, h): (u16, u16)) -> (usize, usize) {
    let screen = grid(app, w, h);
    let (y, x) = find_cell(&screen, "Channels ").unwrap();
    let title = screen[y][x..].concat();
    let range = title["Channels ".len()..].split_whitespace().next().unwrap().to_string();
    let (first, last) = range.split_once('–').unwrap();
    (first.parse().unwrap(), last.parse().unwrap())
}

#[test]
fn page_down_and_up_step_by_the_rows_the_table_shows() {
    let mut s = Settings::default();
    s.quant.granularity = Granularity::PerChannel;
    let (mut app, mut worker) = started(s);
    for size in [(120, 40), (80, 24), (100, 50)] {
        app.channel_offset = 0;
        let (first, last) = shown_channels(&mut app, size);
        assert_eq!(first, 0);
        press(&mut app, &mut worker, KeyCode::PageDown);
        assert_eq!(
            shown_channels(&mut app, size).0,
            last + 1,
            "{size:?}: the next page starts after the last row shown"
        );
        press(&mut app, &mut worker, KeyCode::PageUp);
        assert_eq!(shown_channels(&mut app, size), (first, last), "{size:?}");
    }
}

/// 49 characters, as long as real checkpoints' names run.
const LONG_NAME: &str = "model.decoder.layers.11.encoder_attn.k_proj.weigh";
/// Longer than an 80-column picker can show.
const HUGE_NAME: &str = "transformer.encoder.block.11.layer.0.SelfAttention.relative_attention_bias.weight.original";

/// A .safetensors checkpoint with long names and an i64 tensor, opened on one float tensor.
fn checkpoint(dir: &tempfile::TempDir) -> Settings {
    use safetensors::{Dtype, tensor::TensorView};
    let floats = vec![0u8; 16 * 8 * 4];
    let ints = vec![0u8; 8 * 8];
    let tensors = [
        (LONG_NAME, Dtype::F32, vec![16, 8], &floats),
        (HUGE_NAME, Dtype::F32, vec![16, 8], &floats),
        ("model.embed_tokens.weight", Dtype::F32, vec![16, 8], &floats),
        ("position_ids", Dtype::I64, vec![1, 8], &ints),
    ];
    let views = tensors.iter().map(|(n, d, shape, b)| (n.to_string(), TensorView::new(*d, shape.clone(), b).unwrap()));
    let path = dir.path().join("m.safetensors");
    std::fs::write(&path, safetensors::serialize(views.collect::<Vec<_>>(), None).unwrap()).unwrap();
    let mut s = Settings::default();
    s.weights.source = path.display().to_string();
    s.weights.tensor = Some("model.embed_tokens.weight".into());
    s
}

fn screen_text(app: &mut App, width: u16, height: u16) -> String {
    grid(app, width, height).iter().map(|r| r.concat()).collect::<Vec<_>>().join("\n")
}

#[test]
fn the_picker_is_as_wide_as_the_names_and_marks_tensors_that_are_not_float() {
    assert_eq!(LONG_NAME.len(), 49);
    let dir = tempfile::tempdir().unwrap();
    let (mut app, mut worker) = started(checkpoint(&dir));
    press(&mut app, &mut worker, KeyCode::Char('t'));
    assert!(matches!(app.mode, Mode::PickTensor(_)), "{:?}", app.mode);
    let line = |screen: &str, text: &str| screen.lines().find(|l| l.contains(text)).unwrap_or("").to_string();
    for (w, h) in [(120, 40), (80, 24)] {
        let screen = screen_text(&mut app, w, h);
        let long = line(&screen, LONG_NAME);
        assert!(long.contains("16×8 f32"), "{w}x{h}: the 49-character name, its shape and dtype whole: {screen}");
        let ints = line(&screen, "position_ids");
        assert!(ints.contains("1×8 i64 not float"), "{w}x{h}: {ints}");
        assert!(screen.contains("4 of 4"), "{w}x{h}: {screen}");
        // Too long for the terminal: the middle goes, both ends and the figures stay.
        let huge = line(&screen, "transformer.enc");
        let shown = huge.split_whitespace().find(|word| word.starts_with("transformer.")).unwrap();
        if w == 120 {
            assert_eq!(shown, HUGE_NAME, "{huge}");
        } else {
            assert!(shown.contains('…') && shown.ends_with("weight.original"), "{huge}");
            assert!(huge.contains("16×8 f32"), "{huge}");
        }
    }
}

fn type_text(app: &mut App, worker: &mut Workers, text: &str) {
    for c in text.chars() {
        press(app, worker, KeyCode::Char(c));
    }
}

#[test]
fn typing_after_a_slash_filters_the_picker() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, mut worker) = started(checkpoint(&dir));
    press(&mut app, &mut worker, KeyCode::Char('t'));
    type_text(&mut app, &mut worker, "/EMB");
    let screen = screen_text(&mut app, 120, 40);
    assert!(screen.contains("/EMB▏") && screen.contains("1 of 4"), "{screen}");
    assert!(!screen.contains("position_ids"), "{screen}");
    // While typing, j and k are letters; Backspace edits.
    for _ in 0..3 {
        press(&mut app, &mut worker, KeyCode::Backspace);
    }
    type_text(&mut app, &mut worker, "jk");
    assert!(screen_text(&mut app, 120, 40).contains("0 of 4"));
    assert!(screen_text(&mut app, 120, 40).contains("no name contains \"jk\""));
    press(&mut app, &mut worker, KeyCode::Backspace);
    press(&mut app, &mut worker, KeyCode::Backspace);
    type_text(&mut app, &mut worker, "weigh");
    assert!(screen_text(&mut app, 120, 40).contains("3 of 4"));
    // Esc clears the filter, a second Esc closes.
    press(&mut app, &mut worker, KeyCode::Esc);
    assert!(matches!(&app.mode, Mode::PickTensor(p) if p.filter.is_empty() && !p.typing), "{:?}", app.mode);
    assert!(screen_text(&mut app, 120, 40).contains("4 of 4"));
    press(&mut app, &mut worker, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Normal);
    // Enter picks the highlighted match; the arrows move among the matches only.
    press(&mut app, &mut worker, KeyCode::Char('t'));
    type_text(&mut app, &mut worker, "/.weigh");
    press(&mut app, &mut worker, KeyCode::Down);
    press(&mut app, &mut worker, KeyCode::Down);
    press(&mut app, &mut worker, KeyCode::Enter);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.settings.weights.tensor.as_deref(), Some(LONG_NAME));
    assert_eq!(app.view.as_ref().unwrap().settings.weights.tensor.as_deref(), Some(LONG_NAME));
}

/// A pane's screen after the settings' training, at a size.
fn pane(settings: Settings, tab: char, width: u16, height: u16) -> (App, String) {
    let (mut app, mut worker) = started(settings);
    press(&mut app, &mut worker, KeyCode::Char(tab));
    if let Some(e) = &mut app.ensemble {
        e.compute_ms = 0.0;
    }
    let screen = plain(&mut app, width, height);
    (app, screen)
}

#[test]
fn no_members_shows_what_to_do_and_no_figures() {
    let mut s = Settings::default();
    s.ensemble.members.clear();
    for (tab, hint) in [('2', "no members: press a to add one"), ('3', "no members: press 2, then a, to")] {
        for (w, h) in [(120, 40), (80, 24)] {
            let (_, screen) = pane(s.clone(), tab, w, h);
            assert!(screen.contains(hint), "{screen}");
            // Not a measured 0/30, an F1 of 0 or a failed recommendation: nothing was measured.
            for figure in [" 0.00%", "(0/30)", "F1", "no width is within", "By width"] {
                assert!(!screen.contains(figure), "{figure:?} in\n{screen}");
            }
        }
    }
}

#[test]
fn logistic_members_have_c_and_max_iter_controls_and_say_when_they_did_not_converge() {
    let mut s = Settings::default();
    s.ensemble.members = vec![qmc_tui::compute::ensemble::MemberConfig {
        kind: qmc_tui::compute::ensemble::MemberKind::Logistic,
        max_iter: 2,
        ..Default::default()
    }];
    let (mut app, mut worker) = started(s);
    to_ensemble(&mut app, &mut worker);
    let screen = plain(&mut app, 120, 40);
    assert!(screen.contains("C (inv. L2)     1.000") && screen.contains("max iter        2"), "{screen}");
    let note = &app.ensemble.as_ref().unwrap().report.notes[0];
    assert!(note.contains("did not converge in max_iter 2"), "{note}");
    assert!(screen.contains("converge in max_iter 2"), "{screen}");
    select_ensemble(&mut app, &mut worker, EnsembleControl::MaxIter);
    // Coarse steps climb the ladder two rungs at a time, up to its top.
    press(&mut app, &mut worker, KeyCode::Char('L'));
    assert_eq!(app.settings.ensemble.members[0].max_iter, 20);
    for _ in 0..10 {
        press(&mut app, &mut worker, KeyCode::Char('L'));
    }
    let e = app.ensemble.as_ref().unwrap();
    assert_eq!((e.settings.ensemble.members[0].max_iter, e.trained), (10_000, 1));
    assert!(e.report.members[0].converged && e.report.notes.is_empty(), "{:?}", e.report.notes);
    select_ensemble(&mut app, &mut worker, EnsembleControl::C);
    press(&mut app, &mut worker, KeyCode::Right);
    assert_eq!(app.settings.ensemble.members[0].c, 3.0);
}

/// Every size on a screen (a number, then " KiB") is one the report prints, whole.
fn sizes_are_whole(screen: &str, expected: &[String]) -> usize {
    assert!(!screen.replace("KiB", "").contains("Ki"), "a cut unit in\n{screen}");
    let mut shown = 0;
    for (at, _) in screen.match_indices(" KiB") {
        let number = screen[..at].rsplit([' ', '│', '(']).next().unwrap();
        let size = format!("{number} KiB");
        assert!(expected.contains(&size), "{size:?} is not a size of the report in\n{screen}");
        shown += 1;
    }
    shown
}

/// With stacking over large forests (sizes past 100 KiB): every label and
/// size whole, at 120×40 and at 80×24, and both ends of the x axis.
#[test]
fn the_deploy_pane_writes_every_label_whole() {
    let mut s = Settings::default();
    s.ensemble.fusion = Fusion::Stacking;
    s.ensemble.members = (0..6).map(|seed| qmc_tui::compute::ensemble::MemberConfig::forest(500, seed)).collect();
    let (app, wide) = pane(s.clone(), '3', 120, 40);
    let d = &app.ensemble.as_ref().unwrap().deploy;
    assert!(d.ensemble.quant_bytes > 100 * 1024, "the test needs sizes past 100 KiB: {}", d.ensemble.quant_bytes);
    let mut expected: Vec<String> = d.by_bits.iter().map(|b| qmc_tui::format::bytes(b.bytes)).collect();
    expected.extend(d.members.iter().map(|m| qmc_tui::format::bytes(m.quant_bytes)));
    expected.extend([d.ensemble.float_bytes, d.ensemble.quant_bytes].map(qmc_tui::format::bytes));
    assert!(sizes_are_whole(&wide, &expected) >= d.by_bits.len(), "the sizes are shown at 120×40\n{wide}");
    let (_, narrow) = pane(s, '3', 80, 24);
    sizes_are_whole(&narrow, &expected);
    for screen in [&wide, &narrow] {
        assert!(screen.contains("ens stacking"), "{screen}");
        // The x axis: 2 and 16 at its ends, not 16 cut to 6.
        let axis = screen.lines().find(|l| l.contains("│   2")).unwrap_or_else(|| panic!("no x axis in\n{screen}"));
        assert!(axis.contains("16"), "{axis}");
    }
}

#[test]
fn the_ensemble_pane_at_80x24_keeps_columns_apart_and_bars_from_zero() {
    let mut s = Settings::default();
    s.ensemble.members.truncate(1);
    let (_, screen) = pane(s, '2', 80, 24);
    let row = screen.lines().find(|l| l.contains("▶1")).unwrap_or_else(|| panic!("{screen}"));
    assert!(row.contains("100.00% ") || !row.contains("100.00%"), "{row}");
    assert!(!row.contains("%8") && !row.contains("%9"), "a share runs into the next column: {row}");
    assert!(screen.contains("from 0%"), "the bars' baseline is labelled: {screen}");
    // Narrow gauges and scores say less, but every number whole.
    let (_, three) = pane(Settings::default(), '2', 80, 24);
    for whole in ["90.00% (27/30)", "cv 94.00% ± 2.49%", "F1 0.898", "gain +0.00", "(best member 90.00%)", "5 folds"] {
        assert!(three.contains(whole), "{whole:?} is not shown whole in\n{three}");
    }
}

/// Ten classes of 40 test rows each: every diagonal count is shown whole
/// ([40], not [4), with the class names shortened to fit.
#[test]
fn a_ten_class_confusion_matrix_shows_whole_counts() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ten.csv");
    std::fs::write(&csv, common::separated_classes_csv(10, 80)).unwrap();
    let mut s = Settings::default();
    s.data.source = csv.display().to_string();
    s.data.test_fraction = 0.5;
    let (app, screen) = pane(s.clone(), '2', 120, 40);
    let r = &app.ensemble.as_ref().unwrap().report;
    assert!((0..10).all(|k| r.confusion[k][k] == 40), "{:?}", r.confusion);
    assert_eq!(screen.matches("[40]").count(), 10, "{screen}");
    assert!(!screen.contains("[4 ") && !screen.contains("[4│"), "{screen}");
    // Too small for ten classes: it says so rather than cut the counts.
    let (_, small) = pane(s, '2', 80, 24);
    assert!(small.contains("10 classes need") && !small.contains("[4"), "{small}");
}

#[test]
fn the_hint_line_keeps_help_and_quit_at_80_columns() {
    let (mut app, mut worker) = started(Settings::default());
    for tab in ['1', '2', '3'] {
        press(&mut app, &mut worker, KeyCode::Char(tab));
        app.status = Default::default();
        let screen = render(&mut app, 80, 24);
        let last = screen.lines().last().unwrap().trim_matches('"').trim_end().to_string();
        assert!(last.ends_with("? help  q quit"), "{tab}: {last:?}");
        let wide = render(&mut app, 160, 40);
        assert!(wide.contains("Shift-←→ coarse"), "{tab}: all hints when there is room");
    }
}

#[test]
fn a_long_message_wraps_and_a_long_path_loses_its_middle() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("a-directory-name-long-enough-to-overflow-the-panel");
    std::fs::create_dir(&deep).unwrap();
    let path = deep.join("layer.npy");
    std::fs::write(&path, common::raw_npy("<f4", "(2, 2)", &[0u8, 0, 128, 63].repeat(4))).unwrap();
    let mut s = Settings::default();
    s.weights.source = path.display().to_string();
    let (mut app, _) = started(s);
    let message = "word ".repeat(40) + "the end";
    app.info(message.clone());
    let screen = render(&mut app, 80, 24);
    let rows: Vec<&str> = screen.lines().collect();
    // The status takes the rows it needs at the bottom; every word is there.
    let status: String = rows[rows.len() - 3..].iter().map(|r| r.trim_matches('"')).collect::<Vec<_>>().join(" ");
    assert_eq!(status.split_whitespace().filter(|w| *w == "word").count(), 40, "{screen}");
    assert!(status.contains("the end"), "{screen}");
    // The source keeps its file name; the middle of the path gives way.
    let source = rows.iter().find(|r| r.contains("source")).unwrap();
    assert!(source.contains("layer.npy") && source.contains('…'), "{screen}");
}

#[test]
fn every_control_row_the_hit_map_names_shows_that_control() {
    let mut s = Settings::default();
    s.quant.granularity = Granularity::PerChannel;
    let (mut app, mut worker) = started(s);
    for (w, h) in [(120, 40), (80, 24)] {
        for tab in ['1', '2', '3'] {
            press(&mut app, &mut worker, KeyCode::Char(tab));
            let screen = grid(&mut app, w, h);
            let controls = app.controls();
            let mut named = 0;
            // Column 3 is inside the control list's border.
            for y in 0..h {
                if let Some(qmc_tui::app::Target::Control(i)) = app.hits.at(3, y) {
                    let row = screen[y as usize].concat();
                    assert!(
                        row.contains(controls[i].label()),
                        "{w}x{h} tab {tab}: row {y} {row:?} is not {:?}",
                        controls[i]
                    );
                    named += 1;
                }
            }
            assert!(named >= 3, "{w}x{h} tab {tab}: {named} control rows");
        }
    }
}

#[test]
fn every_registered_pane_gets_a_tab_a_number_key_a_help_section_and_hints() {
    let (mut app, mut worker) = started(Settings::default());
    for (i, pane) in qmc_tui::panes::PANES.iter().enumerate() {
        let number = char::from_digit(i as u32 + 1, 10).unwrap();
        press(&mut app, &mut worker, KeyCode::Char(number));
        assert_eq!(app.tab, Tab(i));
        let screen = render(&mut app, 120, 40);
        let tab_line = screen.lines().next().unwrap();
        assert!(tab_line.contains(&format!(" {number} {} ", pane.title)), "{tab_line}");
        let hints = screen.lines().last().unwrap();
        for (_, word) in pane.hints {
            assert!(hints.contains(word), "{} pane: {word} not in {hints}", pane.title);
        }
        assert_eq!(app.controls(), (pane.controls)(&app.settings, app.member));
        press(&mut app, &mut worker, KeyCode::Char('?'));
        assert!(render(&mut app, 120, 40).contains(&format!("{} pane", pane.title)));
        press(&mut app, &mut worker, KeyCode::Esc);
    }
}

#[test]
fn at_80x24_a_count_in_a_legend_and_a_derived_scale_are_shortened_not_cut() {
    let mut s = Settings::default();
    (s.weights.rows, s.weights.cols) = (4000, 3000);
    s.quant.granularity = Granularity::PerChannel;
    let (mut app, mut worker) = started(s);
    // The list scrolls at 80x24: select the scale so that it shows.
    while app.remembered(Tab::Quantize) != AnyControl::Quant(Control::Scale) {
        press(&mut app, &mut worker, KeyCode::Down);
    }
    let screen = render(&mut app, 80, 24);
    let total = app.view.as_ref().unwrap().analysis.count as f64;
    let after = |label: &str| -> String {
        let line = screen.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("{label}: {screen}"));
        let rest = &line[line.find(label).unwrap() + label.len()..];
        let border = |c: char| c.is_whitespace() || "─│╯◀▶".contains(c);
        rest.split(border).find(|t| !t.is_empty()).unwrap().into()
    };
    let rounding: f64 = after("⣿ rounding ").parse().unwrap_or_else(|_| panic!("{screen}"));
    let clipped: f64 = after("█ clipped ").parse().unwrap_or(0.0);
    assert!(((rounding + clipped) - total).abs() <= 0.01 * total, "{rounding} + {clipped} vs {total}: {screen}");
    // The scale's value keeps its digits whole; its note goes first.
    // The control's row: its label padded to the value column.
    let label = format!("{:<14}", "scale");
    let scale = screen.lines().find(|l| l.contains(&label)).unwrap();
    assert!(!scale.contains('…'), "{scale}");
    let shown = after(&label);
    let want = app.view.as_ref().unwrap().analysis.channels.iter().map(|c| c.params.scale).fold(0f32, f32::max);
    assert_eq!(shown, qmc_tui::format::num(want as f64), "{scale}");
}

/// The Ensemble pane's new figures at 80×24 and 120×40: the reference and
/// probability lines, `v`'s reliability diagram and quality table (every
/// member's log loss whole), `m`'s matrices, `w`'s optimized weights.
#[test]
fn the_ensemble_pane_shows_quality_diversity_and_optimized_weights_whole() {
    for (w, h) in [(80, 24), (120, 40)] {
        let (mut app, mut worker) = started(Settings::default());
        press(&mut app, &mut worker, KeyCode::Char('2'));
        let r = app.ensemble.as_ref().unwrap().report.clone();
        let screen = plain(&mut app, w, h);
        let oracle = qmc_tui::format::pct(r.oracle_accuracy.unwrap());
        assert!(screen.contains(&format!("oracle {oracle}")), "{screen}");
        let log_loss = r.log_loss.unwrap();
        let shown = [format!("log loss {log_loss:.4}"), format!("LL {log_loss:.3}")];
        assert!(shown.iter().any(|t| screen.contains(t)), "the ensemble's log loss:\n{screen}");
        press(&mut app, &mut worker, KeyCode::Char('v'));
        let reliability = plain(&mut app, w, h);
        assert!(reliability.contains("Reliability (cv)"), "{reliability}");
        press(&mut app, &mut worker, KeyCode::Char('v'));
        let quality = plain(&mut app, w, h);
        for m in &r.members {
            assert!(quality.contains(&format!("{:.4}", m.log_loss)), "{:.4} not whole in\n{quality}", m.log_loss);
        }
        press(&mut app, &mut worker, KeyCode::Char('m'));
        assert!(plain(&mut app, w, h).contains("Double fault"));
        press(&mut app, &mut worker, KeyCode::Char('m'));
        assert!(plain(&mut app, w, h).contains("Q statistic"));
        press(&mut app, &mut worker, KeyCode::Char('w'));
        let optimized = app.ensemble.as_ref().unwrap().report.clone();
        let weights = optimized.optimized_weights.clone().expect("w turns on optimized weights");
        let screen = plain(&mut app, w, h);
        assert!(screen.contains("opt w"), "{screen}");
        for wt in weights.iter().filter(|&&x| x > 0.0) {
            assert!(screen.contains(&qmc_tui::format::pct(*wt)), "{wt} not whole in\n{screen}");
        }
        assert!(screen.contains("in-sample"), "the optimistic figure is labelled:\n{screen}");
    }
}
