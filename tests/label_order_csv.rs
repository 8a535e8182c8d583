//! Renaming the classes of a CSV changes no fusion's accuracy (but
//! label-mean's): iris's rows written twice, with the classes named "a",
//! "b", "c" and then "zeta", "alpha", "mid", which sort into other class
//! numbers. The split and the folds are dealt by the classes' first
//! appearance, so both files get the same rows in each.

use qmc_tui::compute::data;
use qmc_tui::compute::deploy::DeployConfig;
use qmc_tui::compute::ensemble::{
    DataConfig, EnsembleCache, EnsembleConfig, Fusion, MemberConfig, MemberKind, PipelineSettings, Trained, WeightRule,
};
use qmc_tui::compute::quant::QuantConfig;

/// Iris's rows in a fixed shuffled order (row 37·i mod 150), classes named by `names`.
fn iris_csv(names: [&str; 3]) -> String {
    let d = data::iris();
    let mut out = format!("{},class\n", d.feature_names.join(","));
    for i in 0..d.rows() {
        let r = i * 37 % d.rows();
        let cells: Vec<String> = d.features.row(r).iter().map(|v| v.to_string()).collect();
        out.push_str(&format!("{},{}\n", cells.join(","), names[d.labels[r]]));
    }
    out
}

/// Logistic members: no exact probability ties, whose lowest-index rule would depend on the names.
fn members() -> Vec<MemberConfig> {
    [0.05, 1.0, 0.01]
        .iter()
        .map(|&c| MemberConfig { kind: MemberKind::Logistic, c, ..MemberConfig::default() })
        .collect()
}

fn run(cache: &mut EnsembleCache, data: &DataConfig, ensemble: &EnsembleConfig) -> Trained {
    let (quant, deploy) = (QuantConfig::default(), DeployConfig::default());
    let s = PipelineSettings { data, ensemble, quant: &quant, deploy: &deploy };
    cache.run(s, &mut |_, _| Ok(())).unwrap()
}

#[test]
fn renaming_the_classes_of_a_csv_changes_no_fusions_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let write = |file: &str, names| {
        let path = dir.path().join(file);
        std::fs::write(&path, iris_csv(names)).unwrap();
        DataConfig { source: path.to_str().unwrap().into(), ..DataConfig::default() }
    };
    let plain = write("abc.csv", ["a", "b", "c"]);
    let renamed = write("renamed.csv", ["zeta", "alpha", "mid"]);
    let (mut a, mut b) = (EnsembleCache::default(), EnsembleCache::default());
    let first = EnsembleConfig { members: members(), ..EnsembleConfig::default() };
    let (pa, pb) = (run(&mut a, &plain, &first).prepared, run(&mut b, &renamed, &first).prepared);
    assert_eq!(pa.dataset.class_names, ["a", "b", "c"]);
    assert_eq!(pb.dataset.class_names, ["alpha", "mid", "zeta"]);
    assert_ne!(pa.dataset.labels, pb.dataset.labels, "the classes are numbered otherwise");
    assert_eq!((&pa.split, &pa.folds, &pa.train_folds), (&pb.split, &pb.folds, &pb.train_folds));
    for (fusion, weights) in [
        (Fusion::Soft, WeightRule::Members),
        (Fusion::Hard, WeightRule::Members),
        (Fusion::Stacking, WeightRule::Members),
        (Fusion::Mlp, WeightRule::Members),
        (Fusion::Soft, WeightRule::Optimized),
        (Fusion::Hard, WeightRule::Optimized),
    ] {
        let cfg = EnsembleConfig { fusion, weights, members: members(), ..EnsembleConfig::default() };
        let (x, y) = (run(&mut a, &plain, &cfg), run(&mut b, &renamed, &cfg));
        let (x, y) = ((&x.report, &x.deploy), (&y.report, &y.deploy));
        let what = format!("{fusion} {weights}");
        assert_eq!((x.0.test_accuracy, x.0.cv_accuracy_mean), (y.0.test_accuracy, y.0.cv_accuracy_mean), "{what}");
        assert!(x.0.cv_accuracy_mean.unwrap() > 0.8, "{what}: {:?}", x.0.cv_accuracy_mean);
        assert_eq!(x.0.optimized_weights, y.0.optimized_weights, "{what}");
        let quantized = |d: &qmc_tui::compute::deploy::DeployReport| {
            (d.ensemble.quant_test_accuracy, d.ensemble.quant_cv_accuracy_mean)
        };
        assert_eq!(quantized(x.1), quantized(y.1), "{what}: the Deploy pane too");
    }
}
