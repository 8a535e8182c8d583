//! Probability quality, diversity, label-mean relabelings, ensemble
//! selection and the mlp fusion: known answers worked out by hand (or from
//! scikit-learn's documentation) and invariants.

use super::label_mean::all_permutations;
use super::*;
use crate::compute::data;
use ndarray::{Array2, ArrayView2, array};
use std::sync::OnceLock;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn log_loss_matches_sklearns_documented_example_and_clips_at_eps() {
    // sklearn.metrics.log_loss(["spam", "ham", "ham", "spam"], [[.1, .9], [.9, .1], [.8, .2], [.35, .65]]) = 0.21616;
    // classes sort as ham = 0, spam = 1. By hand: -(ln .9 + ln .9 + ln .8 + ln .65) / 4.
    let p = array![[0.1, 0.9], [0.9, 0.1], [0.8, 0.2], [0.35, 0.65]];
    let expected = -(0.9f64.ln() + 0.9f64.ln() + 0.8f64.ln() + 0.65f64.ln()) / 4.0;
    assert!(close(log_loss(p.view(), &[1, 0, 0, 1]), expected));
    assert!((expected - 0.21616).abs() < 5e-6);
    // A true class given probability 0 costs -ln(eps), not infinity; 1 costs -ln(1 - eps).
    let sure = array![[1.0, 0.0]];
    assert!(close(log_loss(sure.view(), &[1]), -f64::EPSILON.ln()));
    assert!(close(log_loss(sure.view(), &[0]), -(1.0 - f64::EPSILON).ln()));
    assert_eq!(log_loss(Array2::<f64>::zeros((0, 2)).view(), &[]), 0.0);
}

#[test]
fn brier_is_the_multiclass_sum_halved_for_two_classes() {
    // sklearn 1.9's brier_score_loss doc example: 3 classes, 0.146...; by hand
    // (0.04 + 0.01 + 0.01 + 0.04 + 0.09 + 0.01 + 0.04 + 0.04 + 0.16) / 3 = 0.44 / 3.
    let p = array![[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.2, 0.2, 0.6]];
    assert!(close(brier(p.view(), &[0, 1, 2]), 0.44 / 3.0));
    // Two columns: half the sum, which is the binary Brier score (0.1 - 0)^2 = 0.01.
    assert!(close(brier(array![[0.1, 0.9]].view(), &[1]), 0.01));
}

#[test]
fn reliability_bins_are_right_closed_and_ece_weighs_them_by_rows() {
    // Confidences 0.95 (right), 0.95 (wrong), 0.55 (right), 0.65 (right), 0.5 (wrong).
    let p = array![[0.95, 0.05], [0.95, 0.05], [0.45, 0.55], [0.35, 0.65], [0.5, 0.5]];
    let truth = [0, 1, 1, 1, 1];
    let bins = reliability(p.view(), &truth);
    assert_eq!(bins.len(), RELIABILITY_BINS);
    assert_eq!(bins.iter().map(|b| b.rows).collect::<Vec<_>>(), [0, 0, 0, 0, 1, 1, 1, 0, 0, 2]);
    assert_eq!(bins[9].accuracy, Some(0.5));
    assert_eq!(bins[4].confidence, Some(0.5)); // 0.5 is in (0.4, 0.5]; the tie's top class is 0, wrong
    assert_eq!(bins[0].confidence, None);
    let expected = (2.0 * 0.45 + 0.45 + 0.35 + 0.5) / 5.0;
    assert!(close(ece(&bins), expected));
    let q = ProbabilityQuality::of(p.view(), &truth);
    assert!(close(q.ece, expected));
}

#[test]
fn double_fault_q_statistic_and_oracle_by_hand() {
    // Truth 0 0 0 0 1 1; a is right on rows 0, 1, 2; b on rows 0, 1, 3.
    // N11 = 2, N10 = 1, N01 = 1, N00 = 2: Q = (4 - 1) / (4 + 1), double fault 2 / 6.
    let truth = vec![0, 0, 0, 0, 1, 1];
    let a = vec![0, 0, 0, 1, 0, 0];
    let b = vec![0, 0, 1, 0, 0, 0];
    let labels = vec![a, b];
    let df = double_fault(&labels, &truth);
    assert!(close(df[0][1], 2.0 / 6.0) && close(df[1][0], 2.0 / 6.0));
    assert!(close(df[0][0], 3.0 / 6.0)); // the diagonal is the error rate
    let q = q_statistic(&labels, &truth);
    assert!(close(q[0][1].unwrap(), 0.6));
    assert_eq!(q[0][0], Some(1.0));
    // A member right everywhere makes N10 * N01 and N11 * N00 both 0 against a member that is never wrong elsewhere.
    let perfect = vec![truth.clone(), truth.clone()];
    assert_eq!(q_statistic(&perfect, &truth)[0][1], None);
    // The oracle is right on rows 0..=3 (someone is), wrong on 4 and 5.
    let oracle = oracle_predictions(&labels, &truth);
    assert_eq!(accuracy(&oracle, &truth), 4.0 / 6.0);
}

#[test]
fn permutations_are_all_k_factorial_distinct_ones() {
    let perms = all_permutations(4);
    assert_eq!(perms.len(), 24);
    assert_eq!(perms[0], [0, 1, 2, 3]);
    let distinct: std::collections::HashSet<_> = perms.iter().collect();
    assert_eq!(distinct.len(), 24);
}

#[test]
fn label_mean_under_relabeling_known_answer() {
    // One row of class 1; the members vote 0 and 2: label-mean says 1, right.
    // Numbering classes 1 and 2 the other way round, the votes are 0 and 1,
    // their mean 0.5 rounds to 1, and the truth is now 2: wrong.
    let labels = vec![vec![0], vec![2]];
    let r = label_mean_permutations(&labels, &[vec![1.0, 1.0]], &[1], &[vec![0]], 3);
    assert_eq!((r.identity, r.min, r.max, r.permutations, r.exhaustive), (1.0, 0.0, 1.0, 6, true));
    // Weights per fold: fold 0 listens to member 0 only, fold 1 to member 1
    // only, so each row takes that member's label (both right here, of three classes).
    let labels = vec![vec![2, 0], vec![1, 1]];
    let per_fold = [vec![1.0, 0.0], vec![0.0, 1.0]];
    let r = label_mean_permutations(&labels, &per_fold, &[2, 1], &[vec![0], vec![1]], 3);
    assert_eq!(r.identity, 1.0);
    // The same weights for both folds (member 0's): row 1 is then wrong.
    let r = label_mean_permutations(&labels, &[vec![1.0, 0.0]], &[2, 1], &[vec![0], vec![1]], 3);
    assert_eq!(r.identity, 0.5);
}

fn iris_prepared() -> &'static Prepared {
    static P: OnceLock<Prepared> = OnceLock::new();
    P.get_or_init(|| prepare(data::iris(), &DataConfig::default()).unwrap())
}

/// A forest, a shallow tree and a logistic member on iris, trained once.
fn mixed_members() -> &'static (EnsembleConfig, Vec<MemberResults>) {
    static R: OnceLock<(EnsembleConfig, Vec<MemberResults>)> = OnceLock::new();
    R.get_or_init(|| {
        let members = vec![
            MemberConfig::forest(10, 0),
            MemberConfig { kind: MemberKind::Tree, max_depth: 1, ..MemberConfig::default() },
            MemberConfig { kind: MemberKind::Logistic, c: 0.05, ..MemberConfig::default() },
        ];
        let cfg = EnsembleConfig { members, ..EnsembleConfig::default() };
        let results = cfg.members.iter().map(|m| train_member(iris_prepared(), m, 42).unwrap()).collect();
        (cfg, results)
    })
}

#[test]
fn label_mean_on_iris_identity_lies_within_the_relabelings() {
    let (cfg, results) = mixed_members();
    let refs: Vec<&MemberResults> = results.iter().collect();
    let r = evaluate(iris_prepared(), &EnsembleConfig { fusion: Fusion::LabelMean, ..cfg.clone() }, &refs);
    let perms = r.label_mean_permutations.expect("label-mean reports its relabelings");
    assert!(perms.min <= perms.identity && perms.identity <= perms.max);
    assert!(close(perms.identity, r.cv_accuracy_mean.unwrap()));
    assert!(perms.min < perms.max, "on iris the class numbers matter: {perms:?}");
    assert!(r.log_loss.is_none() && r.reliability.is_empty(), "label-mean gives labels, not probabilities");
}

#[test]
fn report_reference_lines_quality_and_contributions() {
    let (cfg, results) = mixed_members();
    let p = iris_prepared();
    let refs: Vec<&MemberResults> = results.iter().collect();
    let r = evaluate(p, cfg, &refs);
    let best = results.iter().map(|m| m.cv_accuracy_mean).fold(0.0, f64::max);
    assert_eq!(r.best_member_accuracy, Some(best));
    assert!(r.oracle_accuracy.unwrap() >= best && r.oracle_accuracy.unwrap() >= r.cv_accuracy_mean.unwrap());
    // Soft voting's out-of-fold probabilities are the mean of the members' (equal weights).
    let views: Vec<ArrayView2<f64>> = results.iter().map(|m| m.cv_proba.view()).collect();
    let mean = soft_mean(&views, &[1.0; 3]).unwrap();
    assert!(close(r.log_loss.unwrap(), log_loss(mean.view(), &p.dataset.labels)));
    assert!(close(r.brier.unwrap(), brier(mean.view(), &p.dataset.labels)));
    for (m, res) in r.members.iter().zip(results) {
        assert!(close(m.log_loss, log_loss(res.cv_proba.view(), &p.dataset.labels)));
    }
    // Leaving the depth-1 tree out: the contribution is the accuracy with it minus without it.
    let without = EnsembleConfig { members: vec![cfg.members[0].clone(), cfg.members[2].clone()], ..cfg.clone() };
    let w = evaluate(p, &without, &[&results[0], &results[2]]);
    assert!(close(r.members[1].contribution.unwrap(), r.cv_accuracy_mean.unwrap() - w.cv_accuracy_mean.unwrap()));
    assert_eq!(r.double_fault.len(), 3);
    assert_eq!(r.members[2].settings.keys().collect::<Vec<_>>(), ["c", "max_iter", "weight"]);
}

#[test]
fn ensemble_selection_known_answers() {
    // A member that gives the truth 0.9 and one that gives it 0.1: only the first is chosen.
    let truth = vec![0, 1, 0, 1];
    let table = |p_true: f64| Array2::from_shape_fn((4, 2), |(r, c)| if c == truth[r] { p_true } else { 1.0 - p_true });
    let (good, bad) = (table(0.9), table(0.1));
    let rows: Vec<usize> = (0..4).collect();
    assert_eq!(select_weights(&[good.view(), bad.view()], &rows, &truth, 7), [1.0, 0.0]);
    assert_eq!(select_weights(&[bad.view(), good.view()], &rows, &truth, 7), [0.0, 1.0]);
    // Complementary members (each right, at 0.9, on half the rows): the sorted start takes both,
    // and a third copy of either only raises the loss (by hand 0.73 > ln 2): equal weights.
    let half = |first: bool| {
        Array2::from_shape_fn((4, 2), |(r, c)| {
            let right = (r < 2) == first;
            let p_true = if right { 0.9 } else { 0.1 };
            if c == truth[r] { p_true } else { 1.0 - p_true }
        })
    };
    assert_eq!(select_weights(&[half(true).view(), half(false).view()], &rows, &truth, 7), [0.5, 0.5]);
    assert_eq!(select_weights(&[good.view()], &rows, &truth, 7), [1.0]);
    // NaN probabilities lower no loss: equal weights, never NaN ones.
    let nan = Array2::from_elem((4, 2), f64::NAN);
    assert_eq!(select_weights(&[nan.view(), nan.view()], &rows, &truth, 7), [0.5, 0.5]);
}

#[test]
fn ensemble_selection_with_bags_sums_to_one_and_is_seeded() {
    let truth: Vec<usize> = (0..40).map(|r| r % 3).collect();
    let tables: Vec<Array2<f64>> = (0..6)
        .map(|m| {
            Array2::from_shape_fn((40, 3), |(r, c)| {
                let right = (r * 7 + m * 5) % 11 < 7;
                let hit = if c == truth[r] { 0.6 } else { 0.2 };
                if right { hit } else { 0.8 - hit + 0.2 * (c == (truth[r] + 1) % 3) as u8 as f64 }
            })
        })
        .collect();
    let views: Vec<ArrayView2<f64>> = tables.iter().map(|t| t.view()).collect();
    let rows: Vec<usize> = (0..40).collect();
    let w = select_weights(&views, &rows, &truth, 3);
    assert!(close(w.iter().sum(), 1.0) && w.iter().all(|&x| x >= 0.0));
    assert_eq!(w, select_weights(&views, &rows, &truth, 3));
}

#[test]
fn optimized_weights_are_chosen_inside_each_fold() {
    let (cfg, results) = mixed_members();
    let p = iris_prepared();
    let refs: Vec<&MemberResults> = results.iter().collect();
    let opt = optimize(p, &refs, &[0, 1, 2]);
    // Fold 0's weights never see fold 0's rows: making the depth-1 tree
    // perfect there changes nothing for fold 0.
    let mut scrambled: Vec<MemberResults> = results.clone();
    for &row in &p.folds[0] {
        let truth = p.dataset.labels[row];
        scrambled[1].cv_proba.row_mut(row).iter_mut().enumerate().for_each(|(c, v)| *v = (c == truth) as u8 as f64);
    }
    let srefs: Vec<&MemberResults> = scrambled.iter().collect();
    let opt2 = optimize(p, &srefs, &[0, 1, 2]);
    assert_eq!(opt.folds[0], opt2.folds[0]);
    let r = evaluate(p, &EnsembleConfig { weights: WeightRule::Optimized, ..cfg.clone() }, &refs);
    let w = r.optimized_weights.clone().unwrap();
    assert!(close(w.iter().sum(), 1.0) && w.len() == 3);
    assert_eq!(w, opt.test);
    assert!(r.optimized_in_sample_cv_accuracy.is_some());
    // A zero weight leaves a member out of the selection.
    let mut zero = cfg.clone();
    zero.weights = WeightRule::Optimized;
    zero.members[1].weight = 0.0;
    assert_eq!(evaluate(p, &zero, &refs).optimized_weights.unwrap()[1], 0.0);
}

/// A member's contribution under optimized weights runs ensemble selection
/// again without it. Three tables over iris's rows: "good" gives the truth
/// 0.9, "bad" gives it 0, "medium" 0.6 except on every third row (0.4, the
/// next class 0.6). Selection takes "good" alone (CV 1.0); without it,
/// "medium" alone, so good's contribution is 1 - medium's CV accuracy.
/// Dropping good's weight instead would leave the others at weight 0, equal
/// weights, which are wrong on every row: a contribution of 1.
#[test]
fn contribution_under_optimized_weights_selects_again_without_the_member() {
    let p = iris_prepared();
    let members: Vec<MemberConfig> = [1.0, 0.1, 0.01]
        .iter()
        .map(|&c| MemberConfig { kind: MemberKind::Logistic, c, ..MemberConfig::default() })
        .collect();
    let mut results: Vec<MemberResults> = members.iter().map(|m| train_member(p, m, 42).unwrap()).collect();
    let labels = &p.dataset.labels;
    // The truth gets `share(row)`, the next class the rest.
    let table = |share: &dyn Fn(usize) -> f64| {
        Array2::from_shape_fn((labels.len(), 3), |(r, c)| {
            let t = labels[r];
            if c == t {
                share(r)
            } else if c == (t + 1) % 3 {
                1.0 - share(r)
            } else {
                0.0
            }
        })
    };
    results[0].cv_proba = table(&|_| 0.9);
    results[1].cv_proba = table(&|_| 0.0);
    results[2].cv_proba = table(&|r| if r % 3 == 0 { 0.4 } else { 0.6 });
    let cfg = EnsembleConfig { weights: WeightRule::Optimized, members, ..EnsembleConfig::default() };
    let refs: Vec<&MemberResults> = results.iter().collect();
    let r = evaluate(p, &cfg, &refs);
    assert_eq!(r.cv_accuracy_mean, Some(1.0));
    let medium: f64 =
        p.folds.iter().map(|f| f.iter().filter(|&&r| r % 3 != 0).count() as f64 / f.len() as f64).sum::<f64>()
            / p.folds.len() as f64;
    assert!(medium > 0.6 && medium < 0.7, "{medium}");
    assert!(close(r.members[0].contribution.unwrap(), 1.0 - medium), "{:?}", r.members[0].contribution);
    assert_eq!((r.members[1].contribution, r.members[2].contribution), (Some(0.0), Some(0.0)));
    // The same as the report of the ensemble without it.
    let without = EnsembleConfig { members: cfg.members[1..].to_vec(), ..cfg.clone() };
    let w = evaluate(p, &without, &refs[1..]);
    assert_eq!(r.members[0].contribution, Some(1.0 - w.cv_accuracy_mean.unwrap()));
    // The members' own weights keep the old rule: without good, the other two vote equally, wrong everywhere.
    let own = evaluate(p, &EnsembleConfig { weights: WeightRule::Members, ..cfg.clone() }, &refs);
    assert_eq!(own.members[0].contribution, Some(own.cv_accuracy_mean.unwrap()));
}

#[test]
fn mlp_gradients_match_finite_differences() {
    let x = array![[0.2, 0.8, 0.5, 0.5], [0.9, 0.1, 0.3, 0.7], [0.4, 0.6, 0.9, 0.1]];
    let y = [1, 0, 0];
    let m = Mlp::fit(x.view(), &y, 2, 3, 1);
    let loss = |m: &Mlp| {
        let p = m.predict_proba(x.view());
        let n = 3.0;
        let ce: f64 = y.iter().enumerate().map(|(r, &t)| -p[[r, t]].ln()).sum::<f64>() / n;
        ce + MLP_ALPHA / (2.0 * n) * (m.w1.iter().chain(&m.w2).map(|w| w * w).sum::<f64>())
    };
    let grads = m.gradients(x.view(), &y, 2);
    let h = 1e-6;
    for (k, i) in [(0, 0), (0, 5), (1, 2), (2, 3), (3, 1)] {
        let mut up = m.clone();
        let mut down = m.clone();
        mlp::params_mut(&mut up)[k][i] += h;
        mlp::params_mut(&mut down)[k][i] -= h;
        let numeric = (loss(&up) - loss(&down)) / (2.0 * h);
        assert!((numeric - grads[k][i]).abs() < 1e-6, "param {k}[{i}]: {numeric} vs {}", grads[k][i]);
    }
}

#[test]
fn mlp_fusion_learns_and_is_deterministic() {
    let (cfg, results) = mixed_members();
    let p = iris_prepared();
    let refs: Vec<&MemberResults> = results.iter().collect();
    let mlp = EnsembleConfig { fusion: Fusion::Mlp, ..cfg.clone() };
    let a = evaluate(p, &mlp, &refs);
    assert_eq!(a, evaluate(p, &mlp, &refs));
    assert!(a.cv_accuracy_mean.unwrap() > 0.9, "{:?}", a.cv_accuracy_mean);
    assert!(a.log_loss.is_some() && a.stacking_influence.is_some());
    let s = stack(p, &mlp, &refs).unwrap();
    assert_eq!(s.kind, MetaKind::Mlp { hidden: 16 });
    let wider = EnsembleConfig { mlp_hidden: 4, ..mlp.clone() };
    assert_eq!(stack(p, &wider, &refs).unwrap().kind, MetaKind::Mlp { hidden: 4 });
    // A kept logistic stacking is not reused for mlp.
    let logistic = Ok(stack(p, &EnsembleConfig { fusion: Fusion::Stacking, ..cfg.clone() }, &refs).unwrap());
    assert_eq!(evaluate_with(p, &mlp, &refs, Some(&logistic)), a);
}

/// `p` with class `c` renamed to `perm[c]`: the same rows, split and folds.
fn relabeled(p: &Prepared, perm: &[usize]) -> Prepared {
    let mut q = p.clone();
    q.dataset.labels = p.dataset.labels.iter().map(|&c| perm[c]).collect();
    let mut names = p.dataset.class_names.clone();
    for (c, &to) in perm.iter().enumerate() {
        names[to] = p.dataset.class_names[c].clone();
    }
    q.dataset.class_names = names;
    q
}

#[test]
fn every_fusion_but_label_mean_ignores_how_classes_are_numbered() {
    // Logistic members (no exact probability ties, whose lowest-index rule
    // would depend on the numbering) trained on the data and on the same data with
    // its classes renumbered, on the same split and folds (tests/label_order_csv.rs
    // renames the classes of a CSV, whose folds `prepare` deals by first appearance).
    let p = iris_prepared();
    let perm = [2, 0, 1];
    let q = relabeled(p, &perm);
    let members = vec![
        MemberConfig { kind: MemberKind::Logistic, c: 0.05, ..MemberConfig::default() },
        MemberConfig { kind: MemberKind::Logistic, c: 1.0, ..MemberConfig::default() },
        MemberConfig { kind: MemberKind::Logistic, c: 0.01, ..MemberConfig::default() },
    ];
    let train = |p: &Prepared| members.iter().map(|m| train_member(p, m, 42).unwrap()).collect::<Vec<_>>();
    let (a, b) = (train(p), train(&q));
    let (ra, rb): (Vec<&MemberResults>, Vec<&MemberResults>) = (a.iter().collect(), b.iter().collect());
    for (fusion, weights) in [
        (Fusion::Soft, WeightRule::Members),
        (Fusion::Hard, WeightRule::Members),
        (Fusion::Stacking, WeightRule::Members),
        (Fusion::Mlp, WeightRule::Members),
        (Fusion::Soft, WeightRule::Optimized),
    ] {
        let cfg = EnsembleConfig { fusion, weights, members: members.clone(), ..EnsembleConfig::default() };
        let (x, y) = (evaluate(p, &cfg, &ra), evaluate(&q, &cfg, &rb));
        assert_eq!(x.test_accuracy, y.test_accuracy, "{fusion} {weights}");
        assert_eq!(x.cv_accuracy_mean, y.cv_accuracy_mean, "{fusion} {weights}");
    }
}

/// How long `evaluate` (the re-fuse after a weight or fusion change) takes on a
/// digits-sized set (1797 rows, 64 features, 10 classes of Gaussian blobs, or
/// the CSV file `QMC_TIMING_CSV` names, such as scikit-learn's digits) with
/// three logistic members: median of 5 runs per fusion, and of the mlp
/// fusion's meta-learner fits alone (`stack`).
/// `cargo test --release --lib compute::ensemble::tests_fusion::evaluate_timing -- --ignored --nocapture`
#[test]
#[ignore]
fn evaluate_timing() {
    use rand::{Rng, SeedableRng};
    let d = match std::env::var("QMC_TIMING_CSV") {
        Ok(path) => data::load_csv(std::path::Path::new(&path), None).unwrap(),
        Err(_) => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
            let (rows, features, classes) = (1797, 64, 10);
            let labels: Vec<usize> = (0..rows).map(|r| r % classes).collect();
            let centres = Array2::from_shape_fn((classes, features), |_| rng.gen_range(-1.0..1.0));
            let x =
                Array2::from_shape_fn((rows, features), |(r, f)| centres[[labels[r], f]] + rng.gen_range(-2.0..2.0));
            data::Dataset {
                features: x,
                labels,
                class_names: (0..classes).map(|k| k.to_string()).collect(),
                feature_names: (0..features).map(|f| format!("f{f}")).collect(),
                source: "blobs".into(),
            }
        }
    };
    let p = prepare(d, &DataConfig::default()).unwrap();
    let members: Vec<MemberConfig> = [0.01, 0.1, 1.0]
        .iter()
        .map(|&c| MemberConfig { kind: MemberKind::Logistic, c, ..MemberConfig::default() })
        .collect();
    let results: Vec<MemberResults> = members.iter().map(|m| train_member(&p, m, 42).unwrap()).collect();
    let refs: Vec<&MemberResults> = results.iter().collect();
    for (fusion, weights) in [
        (Fusion::Soft, WeightRule::Members),
        (Fusion::Soft, WeightRule::Optimized),
        (Fusion::Stacking, WeightRule::Members),
        (Fusion::Mlp, WeightRule::Members),
        (Fusion::LabelMean, WeightRule::Members),
    ] {
        let cfg = EnsembleConfig { fusion, weights, members: members.clone(), ..EnsembleConfig::default() };
        let mut times: Vec<std::time::Duration> = (0..5)
            .map(|_| {
                let t = std::time::Instant::now();
                std::hint::black_box(evaluate(&p, &cfg, &refs));
                t.elapsed()
            })
            .collect();
        times.sort();
        let r = evaluate(&p, &cfg, &refs);
        eprintln!(
            "evaluate {fusion} weights {weights}: median {:?}, test {:.4}, cv {:.4}",
            times[2],
            r.test_accuracy.unwrap(),
            r.cv_accuracy_mean.unwrap()
        );
    }
    let mlp = EnsembleConfig { fusion: Fusion::Mlp, members: members.clone(), ..EnsembleConfig::default() };
    let mut times: Vec<std::time::Duration> = (0..5)
        .map(|_| {
            let t = std::time::Instant::now();
            std::hint::black_box(stack(&p, &mlp, &refs).unwrap());
            t.elapsed()
        })
        .collect();
    times.sort();
    eprintln!("stack (mlp, 1 + folds fits): median {:?}, all {times:?}", times[2]);
    let views: Vec<ArrayView2<f64>> = results.iter().map(|r| r.cv_proba.view()).collect();
    let x = ndarray::concatenate(ndarray::Axis(1), &views).unwrap();
    let m = Mlp::fit(x.view(), &p.dataset.labels, p.dataset.classes(), 16, 1);
    eprintln!("one mlp fit on every row's out-of-fold probabilities: {} Adam steps of at most {MLP_STEPS}", m.steps);
    // The fitted weights' bits, to compare two builds of the fit.
    let bits = m.w1.iter().chain(&m.b1).chain(&m.w2).chain(&m.b2).fold(0u64, |h, w| h.rotate_left(5) ^ w.to_bits());
    eprintln!("its weights' fingerprint: {bits:016x}");
}
