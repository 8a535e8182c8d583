//! Hostile input: arbitrary bytes into every loader, and long random event
//! sequences into the app. Nothing may panic, and the app's invariants hold.

mod common;

use common::raw_npy;
use proptest::prelude::*;
use qmc_tui::app::{App, AppEvent};
use qmc_tui::compute::checkpoint::recipe::{Pin, Recipe, RoleWeight, check_against};
use qmc_tui::compute::checkpoint::scan::{self, Overrides};
use qmc_tui::compute::checkpoint::{Checkpoint, parse_index, select};
use qmc_tui::compute::data::parse_csv;
use qmc_tui::compute::watch::Watch;
use qmc_tui::compute::weights::{list_tensors, load_file};
use qmc_tui::settings::Settings;
use qmc_tui::ui;
use qmc_tui::worker::Workers;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_bytes_never_panic_a_loader(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let dir = tempfile::tempdir().unwrap();
        for name in ["w.npy", "w.safetensors"] {
            let path = write(&dir, name, &bytes);
            let _ = load_file(&path, None);
            let _ = load_file(&path, Some("x"));
            let _ = list_tensors(&path);
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_csv(&text, "fuzz.csv", None);
        let _ = parse_csv(&text, "fuzz.csv", Some("label"));
        let _ = Settings::parse(&text);
    }

    #[test]
    fn mangled_real_files_never_panic(cut in 0usize..200, flip in 0usize..200, value in any::<u8>()) {
        let dir = tempfile::tempdir().unwrap();
        let mut npy = raw_npy("<f4", "(4, 3)", &[0u8; 48]);
        let mut st = safetensors_file();
        for bytes in [&mut npy, &mut st] {
            if flip < bytes.len() {
                bytes[flip] = value;
            }
            bytes.truncate(cut.max(1).min(bytes.len()));
        }
        let _ = load_file(&write(&dir, "m.npy", &npy), None);
        let _ = load_file(&write(&dir, "m.safetensors", &st), Some("a"));
        let csv = "a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n";
        let mut csv = csv.as_bytes().to_vec();
        if flip < csv.len() {
            csv[flip] = value;
        }
        let _ = parse_csv(&String::from_utf8_lossy(&csv[..cut.min(csv.len())]), "m.csv", None);
    }
}

fn safetensors_file() -> Vec<u8> {
    let data = [0u8; 24];
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 3], &data).unwrap();
    safetensors::serialize([("a", view)], None).unwrap()
}

#[test]
fn a_header_claiming_a_trillion_values_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let huge = write(&dir, "huge.npy", &raw_npy("<f4", "(1000000, 1000000)", &[0u8; 64]));
    let err = load_file(&huge, None).unwrap_err().to_string();
    assert!(err.contains("huge.npy"), "{err}");
    let header = b"{\"big\":{\"dtype\":\"F32\",\"shape\":[1000000,1000000],\"data_offsets\":[0,4000000000000]}}";
    let mut st = (header.len() as u64).to_le_bytes().to_vec();
    st.extend_from_slice(header);
    st.extend_from_slice(&[0u8; 64]);
    let err = load_file(&write(&dir, "huge.safetensors", &st), None).unwrap_err().to_string();
    assert!(err.contains("huge.safetensors"), "{err}");
}

// --- the checkpoint readers -----------------------------------------------

/// One edit of a valid file: the ways a download, a disk or a hand breaks it.
#[derive(Debug, Clone)]
enum Mangle {
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
    /// The safetensors header length set to this (2^60 among them).
    HeaderLength(u64),
}

fn mangle() -> impl Strategy<Value = Mangle> {
    let at = 0usize..400;
    prop_oneof![
        4 => (at.clone(), any::<u8>()).prop_map(|(i, v)| Mangle::Flip(i, v)),
        2 => (at.clone(), any::<u8>()).prop_map(|(i, v)| Mangle::Insert(i, v)),
        2 => at.clone().prop_map(Mangle::Remove),
        1 => at.prop_map(Mangle::Truncate),
        1 => prop_oneof![Just(1u64 << 60), Just(u64::MAX), 0u64..400].prop_map(Mangle::HeaderLength),
    ]
}

fn apply(bytes: &mut Vec<u8>, edits: &[Mangle], header_length: bool) {
    for edit in edits {
        match *edit {
            Mangle::Flip(i, v) if i < bytes.len() => bytes[i] = v,
            Mangle::Insert(i, v) => bytes.insert(i.min(bytes.len()), v),
            Mangle::Remove(i) if i < bytes.len() => _ = bytes.remove(i),
            Mangle::Truncate(n) => bytes.truncate(n),
            Mangle::HeaderLength(n) if header_length && bytes.len() >= 8 => {
                bytes[..8].copy_from_slice(&n.to_le_bytes())
            }
            _ => {}
        }
    }
}

/// A small checkpoint shard: a matrix, a norm, an index buffer and metadata.
fn checkpoint_shard() -> Vec<u8> {
    let header = concat!(
        r#"{"__metadata__":{"format":"pt"},"#,
        r#""layers.0.w":{"dtype":"F32","shape":[2,64],"data_offsets":[0,512]},"#,
        r#""layers.0.norm":{"dtype":"BF16","shape":[4],"data_offsets":[512,520]},"#,
        r#""ids":{"dtype":"I64","shape":[1],"data_offsets":[520,528]}}"#
    );
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend((0..528u32).map(|i| (i * 7 % 251) as u8));
    out
}

/// Opens the bytes as a checkpoint and, when that works, scans it: the
/// header reader and then every tensor's read and decode.
fn open_and_scan(bytes: Vec<u8>) {
    let Ok(ck) = Checkpoint::from_bytes("fuzz.safetensors", vec![("fuzz.safetensors".into(), bytes)], true) else {
        return;
    };
    let specs = select::parse_formats("int8-sym-pc,q4_0").unwrap();
    let all = vec![true; ck.tensors.len()];
    let _ = scan::scan(&ck, &all, &specs, &Watch::NONE);
}

const INDEX: &str =
    r#"{"metadata":{"total_size":528},"weight_map":{"layers.0.w":"model-1.safetensors","ids":"model-2.safetensors"}}"#;

const RECIPE: &str = r#"budget_bpw = 6.0
formats = ["int8-sym-pc", "q4_0"]
include = ["layers.*"]
pins = [{ glob = "*norm*", format = "keep" }]
weights = [{ glob = "*w", weight = 2.0 }]

[assignments]
"layers.0.w" = "q4_0"
"layers.0.norm" = "keep"
"#;

/// Reads the text as a recipe and, when that works, runs it as `scan
/// --recipe` does: its formats, its check against a checkpoint, the scan
/// and the plan it fixes.
fn read_recipe(text: &str) {
    let Ok(recipe) = Recipe::from_toml("fuzz.toml", text) else { return };
    let _ = recipe.budget();
    let formats = recipe.measured_formats().join(",");
    let Ok(specs) = select::parse_formats(&formats) else { return };
    let ck = Checkpoint::from_bytes("mem", vec![("m".into(), checkpoint_shard())], recipe.include_1d).unwrap();
    let names: Vec<&str> = ck.tensors.iter().map(|t| t.name.as_str()).collect();
    let Ok(selected) = select::select(&names, &recipe.include, &recipe.exclude) else { return };
    if check_against(&recipe, "fuzz.toml", &ck, &selected, &specs).is_err() {
        return;
    }
    let Ok(result) = scan::scan(&ck, &selected, &specs, &Watch::NONE) else { return };
    let over = Overrides {
        candidates: Some(&recipe.formats),
        pins: &recipe.pins,
        weights: &recipe.weights,
        fixed: Some(&recipe.assignments),
    };
    let _ = scan::plan_scan_with(&result, recipe.budget(), &over);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes_never_panic_the_checkpoint_readers(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_index("fuzz.json", &bytes);
        let text = String::from_utf8_lossy(&bytes);
        read_recipe(&text);
        let _ = Pin::parse(&text);
        let _ = RoleWeight::parse(&text);
        open_and_scan(bytes);
    }

    #[test]
    fn mangled_checkpoint_files_never_panic(edits in prop::collection::vec(mangle(), 1..6)) {
        let mut shard = checkpoint_shard();
        apply(&mut shard, &edits, true);
        open_and_scan(shard);
        let mut index = INDEX.as_bytes().to_vec();
        apply(&mut index, &edits, false);
        let _ = parse_index("fuzz.json", &index);
        let mut recipe = RECIPE.as_bytes().to_vec();
        apply(&mut recipe, &edits, false);
        read_recipe(&String::from_utf8_lossy(&recipe));
    }
}

#[test]
fn the_fuzzed_files_are_valid_before_they_are_mangled() {
    let ck = Checkpoint::from_bytes("m", vec![("m".into(), checkpoint_shard())], false).unwrap();
    assert_eq!(ck.tensors.len(), 3);
    assert_eq!(parse_index("i.json", INDEX.as_bytes()).unwrap().len(), 2);
    let recipe = Recipe::from_toml("r.toml", RECIPE).unwrap();
    let specs = select::parse_formats(&recipe.measured_formats().join(",")).unwrap();
    let names: Vec<&str> = ck.tensors.iter().map(|t| t.name.as_str()).collect();
    let selected = select::select(&names, &recipe.include, &recipe.exclude).unwrap();
    check_against(&recipe, "r.toml", &ck, &selected, &specs).unwrap();
}

#[test]
fn absurd_recipe_budgets_never_panic() {
    for budget in ["nan", "inf", "-inf", "-1.0", "0.0", "1e308", "5e-324"] {
        for key in ["budget_bpw", "budget_mb"] {
            read_recipe(&RECIPE.replace("budget_bpw = 6.0", &format!("{key} = {budget}")));
        }
    }
}

/// One input event of any kind the terminal can send.
fn event() -> impl Strategy<Value = Event> {
    let keys = prop::sample::select(vec![
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Backspace,
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::Char('1'),
        KeyCode::Char('2'),
        KeyCode::Char('3'),
        KeyCode::Char('a'),
        KeyCode::Char('d'),
        KeyCode::Char('f'),
        KeyCode::Char('p'),
        KeyCode::Char('r'),
        KeyCode::Char('t'),
        KeyCode::Char('?'),
        KeyCode::Char('h'),
        KeyCode::Char('L'),
        KeyCode::Char('0'),
        KeyCode::Char('-'),
        KeyCode::Char('.'),
        KeyCode::Char('9'),
        KeyCode::Char('x'),
    ]);
    let mods = prop::sample::select(vec![KeyModifiers::NONE, KeyModifiers::SHIFT, KeyModifiers::CONTROL]);
    prop_oneof![
        8 => (keys, mods).prop_map(|(k, m)| {
            // Ctrl-C quits, which would end the sequence early: keep it rare.
            let m = if k == KeyCode::Char('c') { KeyModifiers::NONE } else { m };
            Event::Key(KeyEvent::new(k, m))
        }),
        1 => (1u16..200, 1u16..60).prop_map(|(w, h)| Event::Resize(w, h)),
        1 => "[ -~]{0,12}".prop_map(Event::Paste),
        1 => (0u16..120, 0u16..40).prop_map(|(x, y)| Event::Mouse(MouseEvent {
            kind: MouseEventKind::ScrollUp,
            column: x,
            row: y,
            modifiers: KeyModifiers::NONE,
        })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any sequence of events, each followed by the workers' results and a
    /// frame at the last terminal size: no panic, a selectable control,
    /// valid settings, and an export that loads back.
    #[test]
    fn random_events_keep_the_app_consistent(events in prop::collection::vec(event(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let export = dir.path().join("s.toml");
        let mut app = App::new(Settings::default(), export.clone());
        let mut workers = Workers::default();
        let jobs = app.start();
        app.settle(&mut workers, jobs);
        let (mut w, mut h) = (120u16, 40u16);
        for ev in events {
            if let Event::Resize(nw, nh) = ev {
                (w, h) = (nw, nh);
            }
            let jobs = app.update(AppEvent::Input(ev));
            app.settle(&mut workers, jobs);
            if app.should_quit {
                break;
            }
            let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
            let mut hits = None;
            terminal.draw(|f| hits = Some(ui::draw(f, &app))).unwrap();
            app.hits = hits.unwrap();
            prop_assert!(app.controls().contains(&app.selected()), "{:?} not in {:?}", app.selected(), app.controls());
            prop_assert!(app.settings.validate().is_ok(), "{:?}", app.settings.validate());
            prop_assert!(app.member <= app.settings.ensemble.members.len());
        }
        let jobs = app.update(AppEvent::Input(Event::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE))));
        app.settle(&mut workers, jobs);
        let jobs = app.update(AppEvent::Input(Event::Key(KeyEvent::new(KeyCode::Char('e'), KeyModifiers::NONE))));
        app.settle(&mut workers, jobs);
        if export.exists() {
            let loaded = Settings::load(&export);
            prop_assert!(loaded.is_ok(), "{:?}", loaded);
        }
    }
}
