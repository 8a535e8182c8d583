//! The speed targets of the Ensemble pane, on iris (and the mlp fusion
//! switch on a digits-size table the bench makes).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::ArrayView2;
use qmc_tui::app::{App, AppEvent};
use qmc_tui::compute::data::iris;
use qmc_tui::compute::deploy::sweep;
use qmc_tui::compute::ensemble::{
    EnsembleConfig, Fusion, MemberConfig, MemberKind, MemberResults, evaluate, evaluate_with, fit_member, fuse_soft,
    load_dataset, prepare, stack, train_member, train_outer,
};
use qmc_tui::settings::Settings;
use qmc_tui::ui;
use qmc_tui::worker::{EnsembleWorker, Workers};
use rand::{Rng, SeedableRng};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

fn accuracy(pred: &[usize], truth: &[usize]) -> f64 {
    pred.iter().zip(truth).filter(|(a, b)| a == b).count() as f64 / truth.len() as f64
}

/// Fit the three default forests on the training split and score the soft vote on the test split.
fn fit_and_evaluate(c: &mut Criterion) {
    let s = Settings::default();
    let p = prepare(iris(), &s.data).unwrap();
    let (x_train, y_train) = p.dataset.select(&p.split.train);
    let (x_test, y_test) = p.dataset.select(&p.split.test);
    let members = &s.ensemble.members;
    c.bench_function("ensemble/fit_default_and_evaluate", |b| {
        b.iter(|| {
            let probas: Vec<_> = members
                .iter()
                .map(|m| fit_member(m, x_train.view(), &y_train, 3, m.seed).unwrap().predict_proba(x_test.view()))
                .collect();
            let views: Vec<ArrayView2<f64>> = probas.iter().map(|p| p.view()).collect();
            black_box(accuracy(&fuse_soft(&views, &[1.0, 1.0, 1.0]), &y_test))
        })
    });
    c.bench_function("ensemble/cv_5fold_default", |b| {
        b.iter(|| {
            let mut scores = Vec::new();
            for fold in &p.folds {
                let train: Vec<usize> = (0..p.dataset.rows()).filter(|i| !fold.contains(i)).collect();
                let (xt, yt) = p.dataset.select(&train);
                let (xv, yv) = p.dataset.select(fold);
                let probas: Vec<_> = members
                    .iter()
                    .map(|m| fit_member(m, xt.view(), &yt, 3, m.seed).unwrap().predict_proba(xv.view()))
                    .collect();
                let views: Vec<ArrayView2<f64>> = probas.iter().map(|p| p.view()).collect();
                scores.push(accuracy(&fuse_soft(&views, &[1.0, 1.0, 1.0]), &yv));
            }
            black_box(scores)
        })
    });
    // What the worker trains per member under soft voting: the test fit and 5 CV fits, each fold once.
    c.bench_function("ensemble/train_members_for_the_pane", |b| {
        b.iter(|| members.iter().map(|m| train_outer(&p, m, s.data.seed).unwrap()).collect::<Vec<_>>())
    });
    // And with stacking's 5 fits within the train split (before session 8, every fusion paid for these).
    c.bench_function("ensemble/train_members_with_inner_folds", |b| {
        b.iter(|| members.iter().map(|m| train_member(&p, m, s.data.seed).unwrap()).collect::<Vec<_>>())
    });
    let results: Vec<MemberResults> = members.iter().map(|m| train_member(&p, m, s.data.seed).unwrap()).collect();
    let refs: Vec<&MemberResults> = results.iter().collect();
    for fusion in [Fusion::Soft, Fusion::Hard, Fusion::Stacking] {
        let mut cfg = s.ensemble.clone();
        cfg.fusion = fusion;
        // Stacking's meta-learners are fitted once per set of members, as the worker keeps them.
        let stacked = stack(&p, &cfg, &refs);
        let mut w = 1.0;
        c.bench_function(&format!("ensemble/weight_change_{fusion}"), |b| {
            b.iter(|| {
                // A new weight each time: fusion and metrics only, nothing trained.
                w = if w > 2.0 { 0.5 } else { w + 0.1 };
                cfg.members[0].weight = w;
                evaluate_with(&p, &cfg, &refs, Some(&stacked))
            })
        });
    }
    let mut cfg = s.ensemble.clone();
    cfg.fusion = Fusion::Stacking;
    c.bench_function("ensemble/switch_to_stacking_first_time", |b| b.iter(|| evaluate(&p, &cfg, &refs)));
    // The Deploy pane: every width (2..8, 16) on the test split and all CV folds.
    c.bench_function("deploy/sweep_default", |b| b.iter(|| sweep(&p, &s.ensemble, &refs, &s.quant, &s.deploy, None)));
}

fn press(code: KeyCode) -> AppEvent {
    AppEvent::Input(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

/// A key press and the next frame while 16 members of 500 trees train on the other thread.
fn responsive_while_training(c: &mut Criterion) {
    let mut big = Settings::default();
    big.ensemble = EnsembleConfig {
        fusion: Fusion::Soft,
        members: (0..16).map(|seed| MemberConfig { trees: 500, ..MemberConfig::forest(500, seed) }).collect(),
        ..EnsembleConfig::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let trainer = {
        let (stop, big) = (stop.clone(), big.clone());
        std::thread::spawn(move || {
            let mut worker = EnsembleWorker::default();
            worker.train(1, &big, &mut |_| !stop.load(Ordering::Relaxed));
        })
    };
    let mut app = App::new(Settings::default(), "unused.toml".into());
    let jobs = app.start();
    app.settle(&mut Workers::default(), jobs);
    app.update(press(KeyCode::Char('2')));
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    c.bench_function("ensemble/key_to_frame_while_training_16x500", |b| {
        b.iter(|| {
            app.update(press(KeyCode::Down));
            terminal
                .draw(|f| {
                    ui::draw(f, &app);
                })
                .unwrap();
        })
    });
    stop.store(true, Ordering::Relaxed);
    trainer.join().unwrap();
}

/// Gaussian blobs the size of scikit-learn's digits (1,797 x 64, 10
/// classes; the digits themselves are not in the repository), as a CSV.
fn digits_size_blobs(dir: &std::path::Path) -> std::path::PathBuf {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let (rows, features, classes) = (1797, 64, 10);
    let centres: Vec<Vec<f64>> =
        (0..classes).map(|_| (0..features).map(|_| rng.gen_range(-1.0..1.0)).collect()).collect();
    let mut text = (0..features).map(|f| format!("f{f},")).collect::<String>() + "label\n";
    for r in 0..rows {
        for c in &centres[r % classes] {
            text += &format!("{},", c + rng.gen_range(-2.0..2.0));
        }
        text += &format!("{}\n", r % classes);
    }
    let path = dir.join("blobs.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// The key that switches the Ensemble pane from soft voting to mlp, to the
/// next frame (the re-fuse and the Deploy sweep on the members' cached
/// probabilities included), once the worker has fitted the meta-learners
/// while idle; three logistic members (C 0.01, 0.1, 1) on digits-size blobs.
fn fusion_switch_after_idle(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.data.source = digits_size_blobs(dir.path()).to_str().unwrap().into();
    settings.ensemble.members = [0.01, 0.1, 1.0]
        .iter()
        .map(|&c| MemberConfig { kind: MemberKind::Logistic, c, ..MemberConfig::default() })
        .collect();
    let mut app = App::new(settings, dir.path().join("unused.toml"));
    let mut workers = Workers::default();
    let jobs = app.start();
    app.settle(&mut workers, jobs);
    workers.ensemble.warm_learned_fusions(&app.settings, &|| false).unwrap();
    let fitted = workers.ensemble.meta_fittings();
    let mut press = |app: &mut App, code| {
        let jobs = app.update(press(code));
        app.settle(&mut workers, jobs);
    };
    press(&mut app, KeyCode::Char('2'));
    while app.selected() != qmc_tui::controls::AnyControl::Ensemble(qmc_tui::controls::EnsembleControl::Fusion) {
        press(&mut app, KeyCode::Down);
    }
    // Left wraps soft to mlp: each iteration starts from mlp.
    press(&mut app, KeyCode::Left);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut group = c.benchmark_group("tui");
    group.sample_size(30);
    group.bench_function("fusion_switch_mlp_after_idle", |b| {
        b.iter_custom(|iters| {
            let mut timed = std::time::Duration::ZERO;
            for _ in 0..iters {
                // Back to soft voting (Right wraps mlp to soft), untimed.
                press(&mut app, KeyCode::Right);
                let start = std::time::Instant::now();
                // Left wraps soft to mlp.
                press(&mut app, KeyCode::Left);
                terminal
                    .draw(|f| {
                        ui::draw(f, &app);
                    })
                    .unwrap();
                timed += start.elapsed();
            }
            timed
        })
    });
    // Its two parts on the same data and kept meta-learners: the re-fuse
    // and its figures (`evaluate_with`), and the Deploy pane's sweep.
    let (data, ens) = (&app.settings.data, &app.settings.ensemble);
    let p = prepare(load_dataset(data).unwrap(), data).unwrap();
    let results: Vec<MemberResults> = ens.members.iter().map(|m| train_member(&p, m, data.seed).unwrap()).collect();
    let refs: Vec<&MemberResults> = results.iter().collect();
    let stacked = stack(&p, ens, &refs);
    group.bench_function("mlp_evaluate_kept_meta_learners", |b| {
        b.iter(|| evaluate_with(&p, ens, &refs, Some(&stacked)))
    });
    group.bench_function("mlp_deploy_sweep_kept_meta_learners", |b| {
        b.iter(|| sweep(&p, ens, &refs, &app.settings.quant, &app.settings.deploy, Some(&stacked)))
    });
    // The same sweep under soft voting: what every fusion or weight change pays for the Deploy pane.
    let soft = EnsembleConfig { fusion: Fusion::Soft, ..ens.clone() };
    group.bench_function("soft_deploy_sweep", |b| {
        b.iter(|| sweep(&p, &soft, &refs, &app.settings.quant, &app.settings.deploy, None))
    });
    group.finish();
    assert_eq!(app.settings.ensemble.fusion, Fusion::Mlp);
    assert_eq!(workers.ensemble.meta_fittings(), fitted, "a switch fitted a meta-learner");
}

criterion_group!(benches, fit_and_evaluate, responsive_while_training, fusion_switch_after_idle);
criterion_main!(benches);
