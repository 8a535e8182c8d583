//! The speed targets of the Quantize pane, on 1M weights.
//!
//! `baseline/sum_1m` is a plain pass over the same data: the machines are
//! shared and noisy, so the other figures are best read against it.

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use qmc_tui::app::{App, AppEvent};
use qmc_tui::compute::analysis::{analyze, analyze_with, mse_curve, weight_stats};
use qmc_tui::compute::calibrate::{Target, entropy_range, mse_range};
use qmc_tui::compute::quant::{Calibration, Granularity, QuantConfig, Rounding, Scheme};
use qmc_tui::compute::watch::Watch;
use qmc_tui::compute::weights::{Weights, load_file};
use qmc_tui::controls::Control;
use qmc_tui::settings::Settings;
use qmc_tui::ui;
use qmc_tui::worker::{Worker, Workers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

fn settings(rows: usize, cols: usize) -> Settings {
    let mut s = Settings::default();
    s.weights.rows = rows;
    s.weights.cols = cols;
    s
}

fn million() -> Weights {
    settings(1000, 1000).weights.load().unwrap()
}

fn pipeline(c: &mut Criterion) {
    // As main does first (the first bench of the group).
    qmc_tui::worker::memory::configure_allocator();
    let w = million();
    c.bench_function("baseline/sum_1m", |b| b.iter(|| black_box(&w.values).iter().map(|&x| x as f64).sum::<f64>()));
    let cfg = QuantConfig::default();
    // Everything but the curve, from the raw weights: range, both histograms, quantize, metrics.
    c.bench_function("pipeline/min_max_1m", |b| b.iter(|| analyze(black_box(&w), &cfg).unwrap()));
    // What a key press recomputes: the weights' own range and histogram are kept.
    let stats = weight_stats(&w);
    c.bench_function("pipeline/min_max_1m_per_key", |b| {
        b.iter(|| analyze_with(black_box(&w), &stats, &cfg, &Watch::NONE).unwrap())
    });
    // The MSE curve that follows the analysis: 40 passes over every value.
    let a = analyze(&w, &cfg).unwrap();
    c.bench_function("pipeline/mse_curve_1m", |b| b.iter(|| mse_curve(black_box(&w), &cfg, &a, &Watch::NONE).unwrap()));
    let per_channel = settings(30_000, 34).weights.load().unwrap();
    let cfg = QuantConfig { granularity: Granularity::PerChannel, ..QuantConfig::default() };
    c.bench_function("pipeline/per_channel_30k_channels", |b| {
        b.iter(|| analyze(black_box(&per_channel), &cfg).unwrap())
    });
    // The shape of a real embedding (30,522 x 384): slow calibrations per channel.
    let embedding = settings(30_000, 384).weights.load().unwrap();
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10);
    for calibration in [Calibration::Mse, Calibration::Entropy] {
        let cfg = QuantConfig { granularity: Granularity::PerChannel, calibration, ..QuantConfig::default() };
        g.bench_function(format!("per_channel_{calibration}_30000x384"), |b| {
            b.iter(|| analyze(black_box(&embedding), &cfg).unwrap())
        });
    }
    g.finish();
}

fn calibration(c: &mut Criterion) {
    let w = million();
    let mut g = c.benchmark_group("calibrate");
    g.sample_size(20);
    for scheme in [Scheme::Symmetric, Scheme::Asymmetric] {
        let t = Target { scheme, bits: 8, rounding: Rounding::HalfEven, percentile: 99.99, sigma_k: 3.0 };
        g.bench_function(format!("mse_1m_{scheme}"), |b| b.iter(|| mse_range(black_box(&w.values), &t)));
        g.bench_function(format!("entropy_1m_{scheme}"), |b| b.iter(|| entropy_range(black_box(&w.values), &t)));
    }
    g.finish();
}

fn press(code: KeyCode) -> AppEvent {
    AppEvent::Input(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

/// A key press with 1M weights to the next frame drawn: update, the
/// worker's analysis, the result applied, the frame rendered.
fn key_to_frame(c: &mut Criterion) {
    let mut app = App::new(settings(1000, 1000), "unused.toml".into());
    let mut workers = Workers::default();
    let jobs = app.start();
    app.settle(&mut workers, jobs);
    let mut worker = Worker::default();
    while app.remembered(qmc_tui::app::Tab::Quantize) != qmc_tui::controls::AnyControl::Quant(Control::Bits) {
        app.update(press(KeyCode::Down));
    }
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut up = true;
    c.bench_function("tui/key_to_frame_1m", |b| {
        b.iter(|| {
            // Alternate 8 <-> 9 bits so every press is a real change.
            common::key_to_frame(&mut app, &mut worker, &mut terminal, if up { KeyCode::Right } else { KeyCode::Left });
            up = !up;
        })
    });
    c.bench_function("tui/first_frame_1m", |b| {
        b.iter(|| {
            // The Quantize pane's first frame: its analysis (training runs on the other thread).
            let mut app = App::new(settings(1000, 1000), "unused.toml".into());
            let mut worker = Worker::default();
            let analysis = app.start().into_iter().find(|j| !j.is_training()).unwrap();
            app.update(AppEvent::Worker(worker.handle(analysis, &Watch::NONE).unwrap()));
            terminal
                .draw(|f| {
                    ui::draw(f, &app);
                })
                .unwrap();
        })
    });
}

/// A 12M-element f32 tensor from a .safetensors file with two tensors.
fn load(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.safetensors");
    let big: Vec<u8> = (0..12_000_000u32).flat_map(|i| ((i % 1000) as f32 * 1e-3).to_le_bytes()).collect();
    let small = vec![0u8; 64];
    let views = [
        ("big", safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![3000, 4000], &big).unwrap()),
        ("small", safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![16], &small).unwrap()),
    ];
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    let mut g = c.benchmark_group("load");
    g.sample_size(20);
    g.bench_function("safetensors_12m", |b| b.iter(|| load_file(&path, Some("big")).unwrap()));
    g.finish();
}

criterion_group!(benches, pipeline, calibration, key_to_frame, load);
criterion_main!(benches);
