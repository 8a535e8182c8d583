use super::*;
use crate::compute::ensemble::{EnsembleError, MemberKind, fit_member};
use ndarray::array;
use rand::{Rng, SeedableRng};

fn gbm() -> MemberConfig {
    MemberConfig { kind: "gbm".parse::<MemberKind>().unwrap(), min_samples_leaf: 1, ..MemberConfig::default() }
}

#[test]
fn one_round_by_hand() {
    // Two classes split at 5. Round 1: p = 1/2 everywhere, so class 0's tree has
    // g = -1/2, h = 1/4 on its rows (value -0.1 * -2 = 0.2) and +1/2, 1/4 on the
    // others (-0.2); class 1's tree the opposite. Raw scores ln(1/2) +- 0.2, so
    // p(class 0 | x < 5) = 1 / (1 + e^-0.4).
    let x = array![[1.0], [2.0], [3.0], [6.0], [7.0], [8.0]];
    let y = [0, 0, 0, 1, 1, 1];
    let m = fit_member(&MemberConfig { max_iter: 1, ..gbm() }, x.view(), &y, 2, 0).unwrap();
    let p = m.predict_proba(array![[0.0], [4.4], [4.6], [9.0]].view());
    let expected = 1.0 / (1.0 + (-0.4f64).exp());
    for (r, class0) in [(0, true), (1, true), (2, false), (3, false)] {
        let want = if class0 { expected } else { 1.0 - expected };
        assert!((p[[r, 0]] - want).abs() < 1e-12, "row {r}: {p}");
    }
    let b = m.model().as_any().downcast_ref::<Boosted>().unwrap();
    // One tree per class, each one split (threshold just above the midpoint 4.5) and two leaves.
    assert_eq!(b.trees.len(), 2);
    assert!(
        matches!(b.trees[0].nodes[0], FlatNode::Split { column: 0, threshold, .. } if threshold == 4.5f64.next_up())
    );
    assert_eq!(m.size_bits(8), 2 * ((8 + 40) + 2 * 32) + 2 * 32);
}

#[test]
fn min_samples_leaf_and_max_leaf_nodes_bound_the_trees() {
    let x = Array2::from_shape_fn((40, 1), |(r, _)| r as f64);
    let y: Vec<usize> = (0..40).map(|r| (r / 5) % 2).collect();
    for (leaves, min_leaf) in [(2, 1), (4, 1), (31, 10)] {
        let cfg = MemberConfig { max_iter: 3, max_leaf_nodes: leaves, min_samples_leaf: min_leaf, ..gbm() };
        let m = fit_member(&cfg, x.view(), &y, 2, 0).unwrap();
        let b = m.model().as_any().downcast_ref::<Boosted>().unwrap();
        for tree in &b.trees {
            let n_leaves = tree.nodes.iter().filter(|n| matches!(n, FlatNode::Leaf { .. })).count();
            assert!(n_leaves <= leaves.min(40 / min_leaf), "{leaves} leaves, {min_leaf} rows: {n_leaves}");
            for row in 0..40 {
                let leaf = tree.leaf_of(x.row(row));
                let rows_there = (0..40).filter(|&r| tree.leaf_of(x.row(r)) == leaf).count();
                assert!(rows_there >= min_leaf);
            }
        }
    }
}

#[test]
fn early_stopping_stops_on_noise_and_is_seeded() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = Array2::from_shape_fn((300, 3), |_| rng.r#gen::<f64>());
    let y: Vec<usize> = (0..300).map(|_| rng.gen_range(0..3)).collect();
    let cfg = MemberConfig { early_stopping: true, max_iter: 200, ..gbm() };
    let a = fit_member(&cfg, x.view(), &y, 3, 5).unwrap();
    let rounds = a.model().as_any().downcast_ref::<Boosted>().unwrap().rounds;
    assert!((11..200).contains(&rounds), "{rounds}");
    let b = fit_member(&cfg, x.view(), &y, 3, 5).unwrap();
    assert_eq!(a.predict_proba(x.view()), b.predict_proba(x.view()));
    let c = fit_member(&cfg, x.view(), &y, 3, 6).unwrap();
    assert_ne!(a.predict_proba(x.view()), c.predict_proba(x.view()), "another seed holds out other rows");
    // Without early stopping the seed is not read.
    let off = MemberConfig { max_iter: 5, ..gbm() };
    let (d, e) = (fit_member(&off, x.view(), &y, 3, 5).unwrap(), fit_member(&off, x.view(), &y, 3, 6).unwrap());
    assert_eq!(d.predict_proba(x.view()), e.predict_proba(x.view()));
}

#[test]
fn bad_settings_are_refused_naming_the_member() {
    let x = array![[0.0], [1.0], [2.0], [3.0]];
    let y = [0, 0, 1, 1];
    for (cfg, key) in [
        (MemberConfig { learning_rate: 0.0, ..gbm() }, "learning_rate"),
        (MemberConfig { max_leaf_nodes: 1, ..gbm() }, "max_leaf_nodes"),
        (MemberConfig { l2_regularization: -1.0, ..gbm() }, "l2_regularization"),
        (MemberConfig { validation_fraction: 1.0, ..gbm() }, "validation_fraction"),
    ] {
        let err = fit_member(&cfg, x.view(), &y, 2, 0).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, EnsembleError::Fit { .. }) && msg.contains("gbm") && msg.contains(key), "{msg}");
    }
    let err = fit_member(&gbm(), x.view(), &[1, 1, 1, 1], 2, 0).unwrap_err();
    assert!(err.to_string().contains("boosting needs 2"), "{err}");
}

#[test]
fn iris_is_learned_and_quantized_inference_at_16_bits_agrees() {
    let d = crate::compute::data::iris();
    let m = fit_member(&MemberConfig { max_iter: 50, ..gbm() }, d.features.view(), &d.labels, 3, 0).unwrap();
    let right = m.predict(d.features.view()).iter().zip(&d.labels).filter(|(p, l)| p == l).count();
    assert!(right >= 148, "{right}");
}
