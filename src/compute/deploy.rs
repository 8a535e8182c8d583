//! The ensemble, quantized: accuracy against bit width and model size.
//!
//! Every feature gets a quantizer calibrated on the training rows with the
//! Quantize pane's settings; trees compare the integer codes of features and
//! thresholds, logistic members use quantized features and weights, and the
//! fusion stays in floating point: voting as in the Ensemble pane, stacking
//! through the same float meta-learners fed the quantized members' probabilities.

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::analysis::channel_params;
use super::calibrate::{Target, calibrate};
use super::ensemble::{
    EnsembleConfig, EnsembleError, FittedMember, Fuser, Fusion, MemberResults, Prepared, Stacked, accuracy,
    argmax_rows, stacked_or_fit, views,
};
use super::quant::{Granularity, InvalidSetting, QParams, QuantConfig, Rounder, Scheme, bit_params};
use super::weights::Weights;

/// The widths the sweep tries.
pub const SWEEP_BITS: [u32; 8] = [2, 3, 4, 5, 6, 7, 8, 16];
const FLOAT_BITS: u32 = 32;
/// A quantizer per feature: a float32 scale and an int32 zero point.
const QUANTIZER_BITS: u64 = 64;

/// The `[deploy]` table of the settings file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeployConfig {
    /// Accuracy points (percent) the quantized ensemble may lose and still be recommended.
    pub tolerance: f64,
}

impl Default for DeployConfig {
    fn default() -> Self {
        DeployConfig { tolerance: 1.0 }
    }
}

impl DeployConfig {
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if !(self.tolerance.is_finite() && (0.0..=100.0).contains(&self.tolerance)) {
            return Err(InvalidSetting::new(
                "deploy.tolerance",
                format!("{} is outside [0, 100] points", self.tolerance),
            ));
        }
        Ok(())
    }
}

/// One bit width of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BitsRow {
    pub bits: u32,
    pub test_accuracy: f64,
    pub cv_accuracy_mean: f64,
    pub bytes: u64,
}

/// A model (a member, or the ensemble), in float and at the current width.
/// The accuracies are `None` (null) only for an ensemble without members.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub float_test_accuracy: Option<f64>,
    pub quant_test_accuracy: Option<f64>,
    pub float_cv_accuracy_mean: Option<f64>,
    pub quant_cv_accuracy_mean: Option<f64>,
    pub float_bytes: u64,
    pub quant_bytes: u64,
}

/// What the Deploy pane shows and `report` prints as `quantized_ensemble`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeployReport {
    /// The current width (the Quantize pane's bits).
    pub bits: u32,
    pub fusion: Fusion,
    /// The fused ensemble (its keys sit at the top level of the report).
    #[serde(flatten)]
    pub ensemble: Comparison,
    /// The smallest width whose CV accuracy is within `tolerance` points of float.
    pub recommended_bits: Option<u32>,
    pub tolerance: f64,
    pub by_bits: Vec<BitsRow>,
    pub members: Vec<Comparison>,
    pub notes: Vec<String>,
}

/// The quantizers of a width, and what quantizing at it predicts.
struct Quantized {
    test: Vec<Array2<f64>>,
    /// Per fold, per member: probabilities of the fold's rows.
    folds: Vec<Vec<Array2<f64>>>,
}

/// The quantizer settings at a width: the Quantize pane's scheme (manual
/// becomes asymmetric, since a feature's scale must follow its range).
fn at_width(q: &QuantConfig, bits: u32) -> QuantConfig {
    let scheme = if q.scheme == Scheme::Manual { Scheme::Asymmetric } else { q.scheme };
    QuantConfig { bits, scheme, ..q.clone() }
}

/// One quantizer per feature, calibrated on `rows` of the data.
fn feature_quantizers(x: ArrayView2<f64>, q: &QuantConfig) -> Vec<QParams> {
    let target = Target::of(q, q.bits);
    let mut scratch = Vec::new();
    x.axis_iter(Axis(1))
        .map(|column| {
            let values: Vec<f32> = column.iter().map(|&v| v as f32).collect();
            let (lo, hi) = calibrate(&values, q.calibration, &target, &mut scratch);
            bit_params(q.scheme, q.bits, lo, hi)
        })
        .collect()
}

/// A logistic member's weights (features x classes), quantized per class
/// (per channel) or per tensor as the Quantize pane says, and dequantized.
fn quantize_weights(w: &Array2<f64>, q: &QuantConfig) -> Array2<f64> {
    let (features, classes) = w.dim();
    let values: Vec<f32> = w.t().iter().map(|&v| v as f32).collect();
    let weights = Weights {
        values,
        rows: classes,
        cols: features,
        shape: vec![classes, features],
        dtype: "f32".into(),
        source: "logistic weights".into(),
        tensor: None,
        non_finite: 0,
    };
    let cfg = QuantConfig { channel_axis: 0, ..q.clone() };
    let Ok(chosen) = channel_params(&weights, &cfg) else { return w.clone() };
    let mut rounder = Rounder::new(q.rounding, q.seed);
    Array2::from_shape_fn((features, classes), |(f, c)| {
        let p = &chosen[if cfg.per_channel() { c } else { 0 }].params;
        p.dequantize(rounder.quantize(p, w[[f, c]] as f32).0) as f64
    })
}

fn predict(model: &FittedMember, x: ArrayView2<f64>, features: &[QParams], q: &QuantConfig) -> Array2<f64> {
    model.predict_proba_quantized(x, features, q.rounding, &|w| quantize_weights(w, q))
}

fn quantize_at(p: &Prepared, members: &[&MemberResults], q: &QuantConfig) -> Quantized {
    let d = &p.dataset;
    let (x_train, _) = d.select(&p.split.train);
    let (x_test, _) = d.select(&p.split.test);
    let features = feature_quantizers(x_train.view(), q);
    let test = members.iter().map(|m| predict(&m.test_model, x_test.view(), &features, q)).collect();
    let folds = p
        .folds
        .iter()
        .enumerate()
        .map(|(k, fold)| {
            let train: Vec<usize> = (0..d.rows()).filter(|r| fold.binary_search(r).is_err()).collect();
            let (x_fold_train, _) = d.select(&train);
            let (x_fold, _) = d.select(fold);
            let features = feature_quantizers(x_fold_train.view(), q);
            members.iter().map(|m| predict(&m.cv_models[k], x_fold.view(), &features, q)).collect()
        })
        .collect();
    Quantized { test, folds }
}

/// (test accuracy, CV mean) of the fused ensemble, and of each member.
struct Scores {
    test: f64,
    cv: f64,
    members: Vec<(f64, f64)>,
}

fn score(p: &Prepared, fuser: &Fuser, test: &[Array2<f64>], folds: &[Vec<Array2<f64>>]) -> Scores {
    let d = &p.dataset;
    let test_truth: Vec<usize> = p.split.test.iter().map(|&r| d.labels[r]).collect();
    let fold_truth: Vec<Vec<usize>> = p.folds.iter().map(|f| f.iter().map(|&r| d.labels[r]).collect()).collect();
    let cv_mean = |acc: &dyn Fn(usize) -> f64| (0..folds.len()).map(acc).sum::<f64>() / folds.len().max(1) as f64;
    let members = (0..test.len())
        .map(|m| {
            let t = accuracy(&argmax_rows(test[m].view()), &test_truth);
            let cv = cv_mean(&|k| accuracy(&argmax_rows(folds[k][m].view()), &fold_truth[k]));
            (t, cv)
        })
        .collect();
    Scores {
        test: accuracy(&fuser.fuse(&views(test), None), &test_truth),
        cv: cv_mean(&|k| accuracy(&fuser.fuse(&views(&folds[k]), Some(k)), &fold_truth[k])),
        members,
    }
}

fn bytes(members: &[&MemberResults], value_bits: u32, features: usize) -> u64 {
    let quantizers = if value_bits < FLOAT_BITS { features as u64 * QUANTIZER_BITS } else { 0 };
    let bits: u64 = members.iter().map(|m| m.test_model.size_bits(value_bits)).sum::<u64>() + quantizers;
    bits.div_ceil(8)
}

/// The float ensemble against the quantized one at the current width and
/// across `SWEEP_BITS`. Stacking uses `stacked`'s meta-learners (fitted here
/// when None, as [`super::ensemble::evaluate_with`] does); when stacking
/// failed, soft voting stands in and a note says so.
pub fn sweep(
    p: &Prepared,
    ens: &EnsembleConfig,
    members: &[&MemberResults],
    quant: &QuantConfig,
    deploy: &DeployConfig,
    stacked: Option<&Result<Stacked, EnsembleError>>,
) -> DeployReport {
    let n = ens.members.len().min(members.len());
    let members = &members[..n];
    let current_bits = if quant.scheme == Scheme::Manual { 8 } else { quant.bits };
    let mut report = DeployReport {
        bits: current_bits,
        fusion: ens.fusion,
        ensemble: Comparison {
            float_test_accuracy: None,
            quant_test_accuracy: None,
            float_cv_accuracy_mean: None,
            quant_cv_accuracy_mean: None,
            float_bytes: 0,
            quant_bytes: 0,
        },
        recommended_bits: None,
        tolerance: deploy.tolerance,
        by_bits: Vec::new(),
        members: Vec::new(),
        notes: Vec::new(),
    };
    if n == 0 {
        report.notes.push("no members: nothing to quantize".into());
        return report;
    }
    let raw: Vec<f64> = ens.members[..n].iter().map(|m| m.weight).collect();
    // All-zero weights vote equally, as in the Ensemble pane.
    let weights = if raw.iter().any(|&w| w > 0.0) { raw } else { vec![1.0; n] };
    let classes = p.dataset.classes();
    let mut fitted = None;
    let stacked = stacked_or_fit(p, ens, members, stacked, &mut fitted);
    let fuser = Fuser::new(ens.fusion, &weights, classes, stacked, &mut report.notes);
    if let Fuser::Stack(_) = fuser {
        report.notes.push("stacking: the float meta-learner reads the quantized members' probabilities".into());
    }
    if quant.scheme == Scheme::Manual {
        report.notes.push("manual scale does not fit every feature: the features use asymmetric quantizers".into());
    }
    let features = p.dataset.features.ncols();
    // Stacking's meta-learner stays float32 and is stored beside the members.
    let meta_bytes = match fuser {
        Fuser::Stack(s) => s.meta.size_bits().div_ceil(8),
        Fuser::Vote { .. } => 0,
    };
    let ensemble_bytes = |bits: u32| bytes(members, bits, features) + meta_bytes;
    let float_test: Vec<Array2<f64>> = members.iter().map(|m| m.test_proba.clone()).collect();
    let float_folds: Vec<Vec<Array2<f64>>> =
        p.folds.iter().map(|fold| members.iter().map(|m| m.cv_proba.select(Axis(0), fold)).collect()).collect();
    let float = score(p, &fuser, &float_test, &float_folds);
    let at = |bits: u32| {
        let q = quantize_at(p, members, &at_width(quant, bits));
        score(p, &fuser, &q.test, &q.folds)
    };
    report.by_bits = SWEEP_BITS
        .iter()
        .map(|&bits| {
            let s = at(bits);
            BitsRow { bits, test_accuracy: s.test, cv_accuracy_mean: s.cv, bytes: ensemble_bytes(bits) }
        })
        .collect();
    let current = at(current_bits);
    report.recommended_bits = report
        .by_bits
        .iter()
        .find(|r| r.cv_accuracy_mean >= float.cv - deploy.tolerance / 100.0 - 1e-12)
        .map(|r| r.bits);
    report.members = members
        .iter()
        .zip(float.members.iter().zip(&current.members))
        .map(|(m, (f, q))| Comparison {
            float_test_accuracy: Some(f.0),
            quant_test_accuracy: Some(q.0),
            float_cv_accuracy_mean: Some(f.1),
            quant_cv_accuracy_mean: Some(q.1),
            float_bytes: bytes(&[*m], FLOAT_BITS, 0),
            quant_bytes: bytes(&[*m], current_bits, features),
        })
        .collect();
    if !quant.format.is_int() || quant.granularity == Granularity::PerGroup {
        report.notes.push(format!(
            "the ensemble is quantized with int {current_bits}-bit {}: format {} is not applied to it yet",
            if quant.per_channel() { "per-channel" } else { "per-tensor" },
            quant.format
        ));
    }
    if quant.granularity == Granularity::PerChannel && members.iter().any(|m| m.test_model.size_bits(8) > 0) {
        report
            .notes
            .push("per-channel applies to logistic weights (one scale per class); features always get one each".into());
    }
    report.ensemble = Comparison {
        float_test_accuracy: Some(float.test),
        quant_test_accuracy: Some(current.test),
        float_cv_accuracy_mean: Some(float.cv),
        quant_cv_accuracy_mean: Some(current.cv),
        float_bytes: ensemble_bytes(FLOAT_BITS),
        quant_bytes: ensemble_bytes(current_bits),
    };
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::data::iris;
    use crate::compute::ensemble::{DataConfig, MemberConfig, MemberKind, prepare, train_member};

    fn trained(cfg: &EnsembleConfig) -> (Prepared, Vec<MemberResults>) {
        let data = DataConfig::default();
        let p = prepare(iris(), &data).unwrap();
        let results = cfg.members.iter().map(|m| train_member(&p, m, data.seed).unwrap()).collect();
        (p, results)
    }

    #[test]
    fn at_16_bits_the_quantized_ensemble_scores_as_the_float_one() {
        // Every vote that changes at 16 bits is a test value on a split's
        // threshold (see ensemble's test of that); on iris none changes a fused answer.
        let cfg = EnsembleConfig::default();
        let (p, results) = trained(&cfg);
        let refs: Vec<&MemberResults> = results.iter().collect();
        let q = QuantConfig { bits: 16, ..QuantConfig::default() };
        let r = sweep(&p, &cfg, &refs, &q, &DeployConfig::default(), None);
        assert_eq!(
            (r.ensemble.quant_test_accuracy, r.ensemble.quant_cv_accuracy_mean),
            (r.ensemble.float_test_accuracy, r.ensemble.float_cv_accuracy_mean)
        );
        let sixteen = r.by_bits.iter().find(|b| b.bits == 16).unwrap();
        assert_eq!(Some(sixteen.test_accuracy), r.ensemble.float_test_accuracy);
    }

    #[test]
    fn a_format_other_than_int_is_said_not_to_apply_to_the_ensemble() {
        let cfg = EnsembleConfig::default();
        let (p, results) = trained(&cfg);
        let refs: Vec<&MemberResults> = results.iter().collect();
        let plain = sweep(&p, &cfg, &refs, &QuantConfig::default(), &DeployConfig::default(), None);
        let q = QuantConfig { format: crate::compute::formats::find("q4_0").unwrap(), ..QuantConfig::default() };
        let r = sweep(&p, &cfg, &refs, &q, &DeployConfig::default(), None);
        assert_eq!(r.by_bits, plain.by_bits, "the sweep is int's");
        assert!(r.notes.iter().any(|n| n.contains("format q4_0 is not applied")), "{:?}", r.notes);
        assert!(!plain.notes.iter().any(|n| n.contains("is not applied")));
    }

    #[test]
    fn two_bits_shrink_the_thresholds_eightfold_and_more() {
        let cfg = EnsembleConfig::default();
        let (p, results) = trained(&cfg);
        let refs: Vec<&MemberResults> = results.iter().collect();
        let r = sweep(&p, &cfg, &refs, &QuantConfig::default(), &DeployConfig::default(), None);
        let two = r.by_bits.iter().find(|b| b.bits == 2).unwrap();
        assert!(two.bytes < r.ensemble.float_bytes);
        // Thresholds alone: 2 bits against 32 for each split node.
        let splits: u64 = refs.iter().map(|m| m.test_model.size_bits(1) - m.test_model.size_bits(0)).sum();
        let float_thresholds = splits * 32;
        let two_bit_thresholds = splits * 2;
        assert!(float_thresholds >= 8 * two_bit_thresholds);
        // Sizes grow with the width, and the sweep is ordered.
        assert!(r.by_bits.windows(2).all(|w| w[0].bits < w[1].bits && w[0].bytes <= w[1].bytes));
    }

    #[test]
    fn the_recommendation_is_the_smallest_width_within_tolerance() {
        let cfg = EnsembleConfig::default();
        let (p, results) = trained(&cfg);
        let refs: Vec<&MemberResults> = results.iter().collect();
        let r = sweep(&p, &cfg, &refs, &QuantConfig::default(), &DeployConfig { tolerance: 1.0 }, None);
        let rec = r.recommended_bits.expect("16 bits matches float");
        let ok = |b: &BitsRow| b.cv_accuracy_mean >= r.ensemble.float_cv_accuracy_mean.unwrap() - 0.01 - 1e-12;
        assert!(ok(r.by_bits.iter().find(|b| b.bits == rec).unwrap()));
        assert!(r.by_bits.iter().filter(|b| b.bits < rec).all(|b| !ok(b)));
        let strict = sweep(&p, &cfg, &refs, &QuantConfig::default(), &DeployConfig { tolerance: 0.0 }, None);
        assert!(strict.recommended_bits.unwrap() >= rec);
    }

    #[test]
    fn logistic_members_quantize_their_weights() {
        let cfg = EnsembleConfig {
            fusion: Fusion::Soft,
            members: vec![MemberConfig { kind: MemberKind::Logistic, ..MemberConfig::default() }],
        };
        let (p, results) = trained(&cfg);
        let refs: Vec<&MemberResults> = results.iter().collect();
        let r =
            sweep(&p, &cfg, &refs, &QuantConfig { bits: 16, ..QuantConfig::default() }, &DeployConfig::default(), None);
        let e = &r.ensemble;
        assert!((e.quant_cv_accuracy_mean.unwrap() - e.float_cv_accuracy_mean.unwrap()).abs() <= 0.02);
        let w = Array2::from_shape_vec((2, 2), vec![0.5, -1.0, 0.25, 2.0]).unwrap();
        let two = quantize_weights(&w, &QuantConfig { bits: 2, scheme: Scheme::Symmetric, ..QuantConfig::default() });
        // 2-bit symmetric per tensor: levels -2, 0, 2 (scale 2 = amax / 1).
        assert_eq!(two, Array2::from_shape_vec((2, 2), vec![0.0, 0.0, 0.0, 2.0]).unwrap());
    }

    #[test]
    fn no_members_has_no_figures() {
        let cfg = EnsembleConfig { fusion: Fusion::Soft, members: vec![] };
        let (p, _) = trained(&cfg);
        let r = sweep(&p, &cfg, &[], &QuantConfig::default(), &DeployConfig::default(), None);
        assert_eq!((r.recommended_bits, r.ensemble.float_bytes, r.ensemble.quant_bytes), (None, 0, 0));
        let e = &r.ensemble;
        let figures =
            [e.float_test_accuracy, e.quant_test_accuracy, e.float_cv_accuracy_mean, e.quant_cv_accuracy_mean];
        assert_eq!(figures, [None; 4]);
        // Not a sweep of empty votes scoring 0% at every width.
        assert!(r.by_bits.is_empty() && r.members.is_empty());
        assert_eq!(r.notes, ["no members: nothing to quantize"]);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["float_test_accuracy"].is_null() && json["recommended_bits"].is_null(), "{json}");
    }

    /// The stacking row is stacking: the float figures are the Ensemble
    /// pane's stacking figures (not soft voting's), and the same float
    /// meta-learners read the quantized members' probabilities.
    #[test]
    fn stacking_is_deployed_through_its_meta_learner() {
        use crate::compute::ensemble::evaluate;
        // A forest and a single tree: stacking and soft voting disagree on iris.
        let members =
            vec![MemberConfig::forest(10, 0), MemberConfig { kind: MemberKind::Tree, ..MemberConfig::default() }];
        let cfg = EnsembleConfig { fusion: Fusion::Stacking, members };
        let (p, results) = trained(&cfg);
        let refs: Vec<&MemberResults> = results.iter().collect();
        let stacking = evaluate(&p, &cfg, &refs);
        let soft = evaluate(&p, &EnsembleConfig { fusion: Fusion::Soft, ..cfg.clone() }, &refs);
        assert_ne!(
            (stacking.test_accuracy, stacking.cv_accuracy_mean),
            (soft.test_accuracy, soft.cv_accuracy_mean),
            "the test needs members on which the two rules differ"
        );
        let q16 = QuantConfig { bits: 16, ..QuantConfig::default() };
        let r = sweep(&p, &cfg, &refs, &q16, &DeployConfig::default(), None);
        assert_eq!(r.ensemble.float_test_accuracy, stacking.test_accuracy);
        assert_eq!(r.ensemble.float_cv_accuracy_mean, stacking.cv_accuracy_mean);
        // At 16 bits the members vote as in float here, so the meta-learner answers as in float.
        assert_eq!(r.ensemble.quant_test_accuracy, stacking.test_accuracy);
        assert_eq!(r.ensemble.quant_cv_accuracy_mean, stacking.cv_accuracy_mean);
        assert!(r.notes.iter().any(|n| n.contains("meta-learner reads the quantized")), "{:?}", r.notes);
        // The stored model includes the float32 meta-learner: 2 members x 3 classes in, 3 out, 3 intercepts.
        let members_bytes: u64 = r.members.iter().map(|m| m.float_bytes).sum();
        assert_eq!(r.ensemble.float_bytes, members_bytes + (6 * 3 + 3) * 4);
        // A stacking that failed is replaced by soft voting, and says so.
        let failed: Result<Stacked, EnsembleError> = Err(EnsembleError::Shape("no".into()));
        let r = sweep(&p, &cfg, &refs, &q16, &DeployConfig::default(), Some(&failed));
        assert_eq!(r.ensemble.float_test_accuracy, soft.test_accuracy);
        assert!(r.notes.iter().any(|n| n.starts_with("stacking failed")), "{:?}", r.notes);
    }
}
