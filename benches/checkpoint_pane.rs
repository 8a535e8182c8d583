//! The Checkpoint pane stays responsive during a scan: a budget key (a
//! re-plan of the cached scan, 120 tensors × 3 formats) and the next frame
//! at 120×40 while a scan worker measures a 32M-value checkpoint on the
//! other threads. Target ≤ 16 ms. `baseline/sum_1m` (one f64 pass over 1M
//! floats) of the same run says how loaded the machine was.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use qmc_tui::app::{App, AppEvent, Tab};
use qmc_tui::settings::Settings;
use qmc_tui::ui;
use qmc_tui::worker::{CheckpointWorker, Job, Workers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

const FORMATS: &str = "int8-sym-pc,int4-asym-g128,q4_0";

/// `tensors` tensors of `rows` × `cols` f32, spread and with outliers of their own.
fn checkpoint(dir: &Path, name: &str, tensors: usize, rows: usize, cols: usize) -> PathBuf {
    let data: Vec<Vec<u8>> = (0..tensors)
        .map(|t| {
            let value = |i: usize| {
                let base = (((i * 37 + t * 11) % 101) as f32 - 50.0) / 400.0;
                if i.is_multiple_of(97) { base * (1.0 + (t % 9) as f32) } else { base }
            };
            (0..rows * cols).flat_map(|i| value(i).to_le_bytes()).collect()
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .enumerate()
        .map(|(t, bytes)| {
            let name = format!("model.layers.{}.mlp.t{}.weight", t / 4, t % 4);
            (name, TensorView::new(Dtype::F32, vec![rows, cols], bytes).unwrap())
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    path
}

fn press(code: KeyCode) -> AppEvent {
    AppEvent::Input(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn key_to_frame_while_scanning(c: &mut Criterion) {
    let dir = tempfile::TempDir::new().unwrap();
    let small = checkpoint(dir.path(), "small.safetensors", 120, 64, 256);
    let big = checkpoint(dir.path(), "big.safetensors", 32, 1024, 1024);

    let values: Vec<f32> = (0..1_000_000).map(|i| (i % 1000) as f32 / 1000.0).collect();
    c.bench_function("baseline/sum_1m", |b| b.iter(|| black_box(&values).iter().map(|&x| x as f64).sum::<f64>()));

    // The pane with a finished scan to re-plan, the formats set by typing them.
    let mut app = App::new(Settings::default(), "unused.toml".into());
    let mut workers = Workers::default();
    let mut jobs = app.start();
    jobs.push(app.open_checkpoint(small));
    app.settle(&mut workers, jobs);
    app.update(press(KeyCode::Char('5')));
    let mut jobs = app.update(press(KeyCode::Char('f')));
    for c in FORMATS.chars() {
        jobs.extend(app.update(press(KeyCode::Char(c))));
    }
    jobs.extend(app.update(press(KeyCode::Enter)));
    app.settle(&mut workers, jobs);
    assert!(app.tab == Tab::Checkpoint && app.checkpoint.plan.is_some(), "{:?}", app.status);

    // A scan worker measuring the big checkpoint over and over meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let scanner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let worker = CheckpointWorker::new(Arc::new(AtomicU64::new(0)));
            while !stop.load(Ordering::Relaxed) {
                let job = Job::Scan { id: 0, path: big.clone(), formats: FORMATS.into() };
                worker.handle(job, &mut |_| !stop.load(Ordering::Relaxed));
            }
        })
    };
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut right = false;
    c.bench_function("checkpoint/key_to_frame_while_scanning_120x3", |b| {
        b.iter(|| {
            // Left and right in turn: the budget moves and the plan is made again.
            right = !right;
            let jobs = app.update(press(if right { KeyCode::Right } else { KeyCode::Left }));
            assert!(jobs.is_empty() && !app.status.error, "{:?}", app.status);
            terminal
                .draw(|f| {
                    ui::draw(f, &app);
                })
                .unwrap();
        })
    });
    stop.store(true, Ordering::Relaxed);
    scanner.join().unwrap();
}

criterion_group!(benches, key_to_frame_while_scanning);
criterion_main!(benches);
