//! The speed targets of the number formats, on 1M weights (1024 x 1024, so
//! every block format applies): each format through the whole pipeline
//! (quantize, metrics, both histograms) as a key press recomputes it, and
//! the whole Formats table. `baseline/sum_1m` is read against, as in quant.rs.

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use qmc_tui::app::{App, AppEvent, Tab};
use qmc_tui::compute::analysis::{analyze_with, weight_stats};
use qmc_tui::compute::formats::{BUILTIN_FORMATS, table};
use qmc_tui::compute::quant::QuantConfig;
use qmc_tui::compute::watch::Watch;
use qmc_tui::controls::{AnyControl, Control};
use qmc_tui::settings::Settings;
use qmc_tui::worker::{Worker, Workers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

/// Two tensors of the same size, taken in turn: a format that remembers
/// its last fit (codebook keeps one per thread) then fits anew every
/// iteration, as a new tensor or a changed setting makes it.
fn formats(c: &mut Criterion) {
    // As main does first (the first bench of the group).
    qmc_tui::worker::memory::configure_allocator();
    let mut s = Settings::default();
    (s.weights.rows, s.weights.cols) = (1024, 1024);
    let w = s.weights.load().unwrap();
    s.weights.seed += 1;
    let ws = [w, s.weights.load().unwrap()];
    let stats = [weight_stats(&ws[0]), weight_stats(&ws[1])];
    c.bench_function("baseline/sum_1m", |b| b.iter(|| black_box(&ws[0].values).iter().map(|&x| x as f64).sum::<f64>()));
    let mut g = c.benchmark_group("format_1m");
    g.sample_size(20);
    for kind in BUILTIN_FORMATS {
        let cfg = QuantConfig { format: *kind, ..QuantConfig::default() };
        let mut turn = 0;
        g.bench_function(kind.name(), |b| {
            b.iter(|| {
                turn ^= 1;
                analyze_with(black_box(&ws[turn]), &stats[turn], &cfg, &Watch::NONE).unwrap()
            })
        });
    }
    g.finish();
    let rows = table::default_rows();
    let mut g = c.benchmark_group("formats_table");
    g.sample_size(10);
    let mut turn = 0;
    g.bench_function("all_rows_1m", |b| {
        b.iter(|| {
            turn ^= 1;
            table::table(black_box(&ws[turn]), &stats[turn], &rows, &Watch::NONE, |_| {}).unwrap()
        })
    });
    g.finish();
}

/// A key press that changes the format (q4_0 <-> q4_1) on 1M weights, to
/// the next frame drawn: update, the worker's analysis, the frame.
fn key_to_frame(c: &mut Criterion) {
    let mut s = Settings::default();
    (s.weights.rows, s.weights.cols) = (1024, 1024);
    s.quant.format = qmc_tui::compute::formats::find("q4_0").unwrap();
    let mut app = App::new(s, "unused.toml".into());
    let mut workers = Workers::default();
    let jobs = app.start();
    app.settle(&mut workers, jobs);
    let press = |code| AppEvent::Input(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    while app.remembered(Tab::Quantize) != AnyControl::Quant(Control::Format) {
        app.update(press(KeyCode::Down));
    }
    let mut worker = Worker::default();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut up = true;
    c.bench_function("tui/key_to_frame_1m_q4_0", |b| {
        b.iter(|| {
            common::key_to_frame(&mut app, &mut worker, &mut terminal, if up { KeyCode::Right } else { KeyCode::Left });
            up = !up;
        })
    });
}

criterion_group!(benches, formats, key_to_frame);
criterion_main!(benches);
