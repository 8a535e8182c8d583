//! A member kind added from outside the crate, through the public plug-in
//! API only: it is named through a registry, trained in an ensemble, shown
//! in the report and the Deploy sweep, and given its controls.

use std::any::Any;
use std::sync::Arc;

use ndarray::{Array2, ArrayView2};
use qmc_tui::compute::ensemble::{
    FitResult, FittedModel, MemberConfig, MemberKind, MemberKinds, MemberPlugin, QuantizedInference, TrainingSet,
};
use qmc_tui::controls::{EnsembleControl, visible_ensemble};
use qmc_tui::settings::Settings;
use qmc_tui::worker::EnsembleWorker;
use rand_chacha::ChaCha8Rng;

/// Predicts the training rows' class shares for every row (scikit-learn's `DummyClassifier(strategy="prior")`).
struct Prior;

#[derive(Debug)]
struct Shares(Vec<f64>);

impl MemberPlugin for Prior {
    fn name(&self) -> &'static str {
        "prior"
    }

    fn settings(&self) -> &'static [&'static str] {
        &["weight"]
    }

    fn fit(&self, _cfg: &MemberConfig, data: &TrainingSet<'_>, _rng: &mut ChaCha8Rng) -> FitResult {
        let mut shares = vec![0.0; data.classes];
        for &label in data.y {
            shares[label] += 1.0 / data.y.len() as f64;
        }
        Ok(Arc::new(Shares(shares)))
    }
}

impl FittedModel for Shares {
    fn predict_proba(&self, x: ArrayView2<f64>, classes: usize) -> Array2<f64> {
        Array2::from_shape_fn((x.nrows(), classes), |(_, c)| self.0[c])
    }

    fn predict_proba_quantized(&self, x: ArrayView2<f64>, classes: usize, _q: &QuantizedInference<'_>) -> Array2<f64> {
        self.predict_proba(x, classes)
    }

    fn size_bits(&self, _value_bits: u32) -> u64 {
        32 * self.0.len() as u64
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

static PRIOR: Prior = Prior;

#[test]
fn a_throwaway_member_kind_trains_reports_and_has_controls() {
    let kinds = MemberKinds::default().with(MemberKind::new(&PRIOR));
    let prior = kinds.find("prior").unwrap();
    assert!(MemberKinds::default().find("prior").is_err(), "the built-in list stays as it was");

    let mut s = Settings::default();
    s.ensemble.members.push(MemberConfig { kind: prior, ..MemberConfig::default() });
    let view = EnsembleWorker::default().train(0, &s, &mut |_| true).unwrap().unwrap();
    assert_eq!(view.trained, 4);
    let member = &view.report.members[3];
    assert_eq!(member.kind, prior);
    // Iris is balanced: the prior's answer is always the first class, right on a third of the rows.
    assert!((member.test_accuracy - 1.0 / 3.0).abs() < 1e-9, "{}", member.test_accuracy);
    let json = serde_json::to_value(&*view.report).unwrap();
    assert_eq!(json["members"][3]["kind"], "prior");
    assert_eq!(view.deploy.members.len(), 4);
    assert_eq!(view.deploy.members[3].float_bytes, 3 * 4);

    let controls = visible_ensemble(&s, 3);
    assert!(controls.ends_with(&[EnsembleControl::Kind, EnsembleControl::Weight]), "{controls:?}");
    assert!(!controls.contains(&EnsembleControl::Trees));
    assert_eq!(
        EnsembleControl::Kind.value(&s, qmc_tui::controls::Context { member: 3, ..Default::default() }),
        "prior"
    );
}

/// Every built-in kind is one file of `src/compute/members/` and one line of
/// `BUILTIN_KINDS`, and from that alone it trains, reports, deploys and has a
/// control for each setting it names.
#[test]
fn every_built_in_kind_is_one_file_and_one_line() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let registry = std::fs::read_to_string(root.join("src/compute/members/mod.rs")).unwrap();
    let list = &registry[registry.find("pub const BUILTIN_KINDS").unwrap()..];
    let list = &list[..list.find("];").unwrap()];
    for kind in qmc_tui::compute::ensemble::BUILTIN_KINDS {
        let file = kind.name().replace('-', "_");
        let lines: Vec<&str> = list.lines().filter(|l| l.contains(&format!("MemberKind(&{file}::"))).collect();
        assert_eq!(lines.len(), 1, "{}: one line of BUILTIN_KINDS names {file}::", kind.name());
        assert!(root.join(format!("src/compute/members/{file}.rs")).exists(), "{}: no file {file}.rs", kind.name());

        let mut s = Settings::default();
        s.ensemble.members = vec![MemberConfig { kind: *kind, ..MemberConfig::default() }];
        let view = EnsembleWorker::default().train(0, &s, &mut |_| true).unwrap().unwrap();
        assert_eq!((view.trained, view.report.members[0].kind), (1, *kind));
        assert!(view.report.members[0].cv_accuracy_mean > 0.8, "{}: {:?}", kind.name(), view.report.members[0]);
        assert_eq!(view.deploy.members.len(), 1);
        assert!(view.deploy.members[0].float_bytes > 0);
        let controls = visible_ensemble(&s, 0);
        let settings = controls.iter().filter(|c| matches!(c, EnsembleControl::Setting(_))).count();
        // Its settings and its kind, each a control.
        assert_eq!(settings, kind.settings().len() + 1, "{}: {controls:?}", kind.name());
    }
}
