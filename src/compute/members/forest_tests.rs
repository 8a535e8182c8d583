//! The forest and extra-trees members: their settings, bootstrap or not,
//! and probabilities that average the trees' leaf shares.

use super::*;
use crate::compute::ensemble::{Criterion, FeatureRule, MaxFeatures, MemberKind};
use crate::compute::members::fit_member;
use crate::compute::members::trees::{FlatNode, FlatTree};
use ndarray::{Array2, ArrayView1};
use rand::SeedableRng;

#[test]
fn max_features_counts_as_scikit_learn_does() {
    let counts = |m: MaxFeatures| [64, 13, 1].map(|n| m.count(n));
    assert_eq!(counts(MaxFeatures::SQRT), [8, 3, 1]);
    assert_eq!(counts(MaxFeatures::Named(FeatureRule::Log2)), [6, 3, 1]);
    assert_eq!(counts(MaxFeatures::Named(FeatureRule::All)), [64, 13, 1]);
    assert_eq!(counts(MaxFeatures::Fraction(0.5)), [32, 6, 1]);
    assert_eq!(counts(MaxFeatures::Fraction(0.01)), [1, 1, 1]);
    assert_eq!(MaxFeatures::SQRT.share(64), 0.125);
}

#[test]
fn old_settings_with_feature_fraction_load_as_max_features() {
    let old: MemberConfig = toml::from_str("kind = \"forest\"\ntrees = 10\nfeature_fraction = 0.5\n").unwrap();
    assert_eq!(old.max_features, MaxFeatures::Fraction(0.5));
    let named: MemberConfig = toml::from_str("max_features = \"log2\"\ncriterion = \"entropy\"\n").unwrap();
    assert_eq!((named.max_features, named.criterion), (MaxFeatures::Named(FeatureRule::Log2), Criterion::Entropy));
    let one: MemberConfig = toml::from_str("max_features = 1\n").unwrap();
    assert_eq!(one.max_features, MaxFeatures::Fraction(1.0));
    let text = toml::to_string(&MemberConfig::default()).unwrap();
    assert!(text.contains("max_features = \"sqrt\"\ncriterion = \"gini\"\nmin_samples_leaf = 1\n"), "{text}");
    assert_eq!(toml::from_str::<MemberConfig>(&text).unwrap(), MemberConfig::default());
    let e = toml::from_str::<MemberConfig>("max_features = \"half\"\n").unwrap_err();
    assert!(e.message().contains("`half` is not sqrt, log2, all or a fraction"), "{e}");
    let e = toml::from_str::<MemberConfig>("max_features = true\n").unwrap_err();
    assert!(e.message().contains("max_features is sqrt, log2, all or a fraction in (0, 1]"), "{e}");
    let bad = MemberConfig { min_samples_leaf: 0, ..MemberConfig::default() };
    assert_eq!(bad.validate_at("m").unwrap_err().key, "m.min_samples_leaf");
    let bad = MemberConfig { max_features: MaxFeatures::Fraction(1.5), ..MemberConfig::default() };
    assert_eq!(bad.validate_at("m").unwrap_err().key, "m.max_features");
}

#[test]
fn the_new_settings_are_part_of_the_fit_key() {
    let m = MemberConfig::forest(20, 7);
    for changed in [
        MemberConfig { criterion: Criterion::Entropy, ..m.clone() },
        MemberConfig { min_samples_leaf: 3, ..m.clone() },
        MemberConfig { max_features: MaxFeatures::Fraction(0.5), ..m.clone() },
    ] {
        assert_ne!(changed.fit_key(), m.fit_key());
        assert_ne!(MemberConfig { kind: MemberKind::ExtraTrees, ..changed.clone() }.fit_key(), changed.fit_key());
    }
    assert_eq!("extra-trees".parse::<MemberKind>().unwrap(), MemberKind::ExtraTrees);
}

/// Three noisy classes on four features.
fn table(rows: usize) -> (Array2<f64>, Vec<usize>) {
    use rand::Rng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let y: Vec<usize> = (0..rows).map(|i| i % 3).collect();
    let x = Array2::from_shape_fn((rows, 4), |(r, f)| (y[r] * (f + 1)) as f64 * 0.5 + rng.gen_range(-1.0..1.0));
    (x, y)
}

fn trees_of(kind: MemberKind, trees: usize, x: &Array2<f64>, y: &[usize]) -> (Vec<FlatTree>, Array2<f64>) {
    let m = MemberConfig { kind, trees, max_depth: 3, ..MemberConfig::default() };
    let fitted = fit_member(&m, x.view(), y, 3, 5).unwrap();
    let votes = fitted.model().as_any().downcast_ref::<Votes>().expect("trees of ours");
    (votes.trees.clone(), fitted.predict_proba(x.view()))
}

/// Whether every leaf's shares are the class fractions of all the training rows reaching it.
fn leaves_hold_every_row(tree: &FlatTree, x: &Array2<f64>, y: &[usize]) -> bool {
    let mut counts = vec![[0.0; 3]; tree.nodes.len()];
    for (row, &c) in x.rows().into_iter().zip(y) {
        counts[tree.leaf_of(row)][c] += 1.0;
    }
    tree.nodes.iter().enumerate().filter(|(_, n)| matches!(n, FlatNode::Leaf { .. })).all(|(i, _)| {
        let n: f64 = counts[i].iter().sum();
        (0..3).all(|c| (tree.shares[i * 3 + c] - counts[i][c] / n).abs() < 1e-12)
    })
}

#[test]
fn extra_trees_see_every_row_and_forests_a_bootstrap_sample() {
    let (x, y) = table(90);
    let (extra, _) = trees_of(MemberKind::ExtraTrees, 5, &x, &y);
    assert!(extra.iter().all(|t| leaves_hold_every_row(t, &x, &y)));
    let (forest, _) = trees_of(MemberKind::Forest, 5, &x, &y);
    assert!(forest.iter().any(|t| !leaves_hold_every_row(t, &x, &y)), "bootstrap counts weigh the shares");
}

#[test]
fn probabilities_are_the_mean_of_the_leaf_shares() {
    let (x, y) = table(60);
    for kind in [MemberKind::Forest, MemberKind::ExtraTrees] {
        let (trees, proba) = trees_of(kind, 4, &x, &y);
        for (r, row) in x.rows().into_iter().enumerate() {
            let leaf_share = |t: &FlatTree, c: usize, row: ArrayView1<f64>| t.shares[t.leaf_of(row) * 3 + c];
            for c in 0..3 {
                let mean = trees.iter().map(|t| leaf_share(t, c, row)).sum::<f64>() / 4.0;
                assert!((proba[[r, c]] - mean).abs() < 1e-12);
            }
        }
        // Shares, not votes: some probability is not a multiple of 1/4.
        assert!(proba.iter().any(|p| (p * 4.0 - (p * 4.0).round()).abs() > 1e-9), "{kind}");
    }
}
