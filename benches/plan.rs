//! The planner's speed target: 300 tensors × 10 candidates ≤ 20 ms, and a
//! re-plan of a cached scan when the budget moves (the pane's ←/→).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use qmc_tui::compute::plan::{Choice, TensorChoices, plan};

/// 300 tensors of a few sizes, each with 10 candidates whose error falls
/// with their bits at a rate of its own (some tensors are hard), as a
/// scan of a transformer gives them. Deterministic, no RNG needed.
fn model() -> Vec<TensorChoices> {
    let bpw = [2.0625, 3.0, 4.5, 5.0, 5.5, 6.0, 6.5625, 8.0, 8.5, 16.0];
    (0..300)
        .map(|t| {
            let count = [384.0 * 384.0, 384.0 * 1536.0, 1536.0 * 384.0][t % 3] * (1.0 + (t % 7) as f64);
            let hardness = 1.0 + ((t * 37) % 11) as f64 / 3.0;
            let choices = bpw
                .iter()
                .enumerate()
                .map(|(i, &b)| Choice {
                    label: format!("f{i}"),
                    bits: b * count,
                    // ~6 dB per bit, with a little unevenness so hulls drop points.
                    error: count * hardness * 4f64.powf(-b) * (1.0 + 0.3 * ((i * t) % 3) as f64),
                })
                .collect();
            TensorChoices { name: format!("layers.{}.t{}", t / 7, t % 7), weight: 1.0, choices }
        })
        .collect()
}

fn planner(c: &mut Criterion) {
    let tensors = model();
    let count: f64 = tensors.iter().map(|t| t.choices[0].bits / 2.0625).sum();
    c.bench_function("plan/300x10_at_4.5bpw", |b| {
        b.iter(|| black_box(plan(black_box(&tensors), 4.5 * count).unwrap()))
    });
    // The pane moves the budget a step at a time: each step is a whole plan.
    c.bench_function("plan/300x10_sweep_20_budgets", |b| {
        b.iter(|| {
            for step in 0..20 {
                black_box(plan(&tensors, (3.0 + 0.25 * step as f64) * count).unwrap());
            }
        })
    });
}

criterion_group!(benches, planner);
criterion_main!(benches);
