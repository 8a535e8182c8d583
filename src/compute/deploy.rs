//! The ensemble, quantized: accuracy against bit width and model size.
//!
//! Every feature gets a quantizer calibrated on the training rows with the
//! Quantize pane's settings; trees compare the integer codes of features and
//! thresholds, logistic members use quantized features and weights, and the
//! fusion stays in floating point.

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::analysis::channel_params;
use super::calibrate::{Target, calibrate};
use super::ensemble::{
    EnsembleConfig, FittedMember, Fusion, MemberResults, Prepared, argmax_rows, fuse_hard, fuse_label_mean, fuse_soft,
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub float_test_accuracy: f64,
    pub quant_test_accuracy: f64,
    pub float_cv_accuracy_mean: f64,
    pub quant_cv_accuracy_mean: f64,
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

/// The fused labels of member probabilities, in floating point.
fn fuse(fusion: Fusion, probas: &[Array2<f64>], weights: &[f64], classes: usize) -> Vec<usize> {
    let views: Vec<ArrayView2<f64>> = probas.iter().map(|p| p.view()).collect();
    match fusion {
        Fusion::Soft | Fusion::Stacking => fuse_soft(&views, weights),
        Fusion::Hard | Fusion::LabelMean => {
            let labels: Vec<Vec<usize>> = views.iter().map(|p| argmax_rows(*p)).collect();
            let refs: Vec<&[usize]> = labels.iter().map(Vec::as_slice).collect();
            if fusion == Fusion::Hard {
                fuse_hard(&refs, weights, classes)
            } else {
                fuse_label_mean(&refs, weights, classes)
            }
        }
    }
}

fn accuracy(pred: &[usize], truth: &[usize]) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    pred.iter().zip(truth).filter(|(a, b)| a == b).count() as f64 / truth.len() as f64
}

/// (test accuracy, CV mean) of the fused ensemble, and of each member.
struct Scores {
    test: f64,
    cv: f64,
    members: Vec<(f64, f64)>,
}

fn score(p: &Prepared, fusion: Fusion, weights: &[f64], test: &[Array2<f64>], folds: &[Vec<Array2<f64>>]) -> Scores {
    let d = &p.dataset;
    let classes = d.classes();
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
        test: accuracy(&fuse(fusion, test, weights, classes), &test_truth),
        cv: cv_mean(&|k| accuracy(&fuse(fusion, &folds[k], weights, classes), &fold_truth[k])),
        members,
    }
}

fn bytes(members: &[&MemberResults], value_bits: u32, features: usize) -> u64 {
    let quantizers = if value_bits < FLOAT_BITS { features as u64 * QUANTIZER_BITS } else { 0 };
    let bits: u64 = members.iter().map(|m| m.test_model.size_bits(value_bits)).sum::<u64>() + quantizers;
    bits.div_ceil(8)
}

/// The float ensemble against the quantized one at the current width and
/// across `SWEEP_BITS`.
pub fn sweep(
    p: &Prepared,
    ens: &EnsembleConfig,
    members: &[&MemberResults],
    quant: &QuantConfig,
    deploy: &DeployConfig,
) -> DeployReport {
    let n = ens.members.len().min(members.len());
    let members = &members[..n];
    let raw: Vec<f64> = ens.members[..n].iter().map(|m| m.weight).collect();
    // All-zero weights vote equally, as in the Ensemble pane.
    let weights = if raw.iter().any(|&w| w > 0.0) { raw } else { vec![1.0; n] };
    let mut notes = Vec::new();
    if ens.fusion == Fusion::Stacking {
        notes.push("stacking's meta-learner is not refitted on quantized members: soft voting is compared".into());
    }
    if quant.scheme == Scheme::Manual {
        notes.push("manual scale does not fit every feature: the features use asymmetric quantizers".into());
    }
    let features = p.dataset.features.ncols();
    let float_test: Vec<Array2<f64>> = members.iter().map(|m| m.test_proba.clone()).collect();
    let float_folds: Vec<Vec<Array2<f64>>> =
        p.folds.iter().map(|fold| members.iter().map(|m| m.cv_proba.select(Axis(0), fold)).collect()).collect();
    let float = score(p, ens.fusion, &weights, &float_test, &float_folds);
    let at = |bits: u32| {
        let q = quantize_at(p, members, &at_width(quant, bits));
        score(p, ens.fusion, &weights, &q.test, &q.folds)
    };
    let by_bits: Vec<BitsRow> = SWEEP_BITS
        .iter()
        .map(|&bits| {
            let s = at(bits);
            BitsRow { bits, test_accuracy: s.test, cv_accuracy_mean: s.cv, bytes: bytes(members, bits, features) }
        })
        .collect();
    let current_bits = if quant.scheme == Scheme::Manual { 8 } else { quant.bits };
    let current = at(current_bits);
    let recommended_bits = (n > 0)
        .then(|| {
            by_bits.iter().find(|r| r.cv_accuracy_mean >= float.cv - deploy.tolerance / 100.0 - 1e-12).map(|r| r.bits)
        })
        .flatten();
    let member_rows = members
        .iter()
        .zip(float.members.iter().zip(&current.members))
        .map(|(m, (f, q))| Comparison {
            float_test_accuracy: f.0,
            quant_test_accuracy: q.0,
            float_cv_accuracy_mean: f.1,
            quant_cv_accuracy_mean: q.1,
            float_bytes: bytes(&[*m], FLOAT_BITS, 0),
            quant_bytes: bytes(&[*m], current_bits, features),
        })
        .collect();
    if quant.granularity == Granularity::PerChannel && members.iter().any(|m| m.test_model.size_bits(8) > 0) {
        notes
            .push("per-channel applies to logistic weights (one scale per class); features always get one each".into());
    }
    DeployReport {
        bits: current_bits,
        fusion: ens.fusion,
        ensemble: Comparison {
            float_test_accuracy: float.test,
            quant_test_accuracy: current.test,
            float_cv_accuracy_mean: float.cv,
            quant_cv_accuracy_mean: current.cv,
            float_bytes: bytes(members, FLOAT_BITS, features),
            quant_bytes: bytes(members, current_bits, features),
        },
        recommended_bits,
        tolerance: deploy.tolerance,
        by_bits,
        members: member_rows,
        notes,
    }
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
        let r = sweep(&p, &cfg, &refs, &q, &DeployConfig::default());
        assert_eq!(
            (r.ensemble.quant_test_accuracy, r.ensemble.quant_cv_accuracy_mean),
            (r.ensemble.float_test_accuracy, r.ensemble.float_cv_accuracy_mean)
        );
        let sixteen = r.by_bits.iter().find(|b| b.bits == 16).unwrap();
        assert_eq!(sixteen.test_accuracy, r.ensemble.float_test_accuracy);
    }

    #[test]
    fn two_bits_shrink_the_thresholds_eightfold_and_more() {
        let cfg = EnsembleConfig::default();
        let (p, results) = trained(&cfg);
        let refs: Vec<&MemberResults> = results.iter().collect();
        let r = sweep(&p, &cfg, &refs, &QuantConfig::default(), &DeployConfig::default());
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
        let r = sweep(&p, &cfg, &refs, &QuantConfig::default(), &DeployConfig { tolerance: 1.0 });
        let rec = r.recommended_bits.expect("16 bits matches float");
        let ok = |b: &BitsRow| b.cv_accuracy_mean >= r.ensemble.float_cv_accuracy_mean - 0.01 - 1e-12;
        assert!(ok(r.by_bits.iter().find(|b| b.bits == rec).unwrap()));
        assert!(r.by_bits.iter().filter(|b| b.bits < rec).all(|b| !ok(b)));
        let strict = sweep(&p, &cfg, &refs, &QuantConfig::default(), &DeployConfig { tolerance: 0.0 });
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
        let r = sweep(&p, &cfg, &refs, &QuantConfig { bits: 16, ..QuantConfig::default() }, &DeployConfig::default());
        assert!((r.ensemble.quant_cv_accuracy_mean - r.ensemble.float_cv_accuracy_mean).abs() <= 0.02);
        let w = Array2::from_shape_vec((2, 2), vec![0.5, -1.0, 0.25, 2.0]).unwrap();
        let two = quantize_weights(&w, &QuantConfig { bits: 2, scheme: Scheme::Symmetric, ..QuantConfig::default() });
        // 2-bit symmetric per tensor: levels -2, 0, 2 (scale 2 = amax / 1).
        assert_eq!(two, Array2::from_shape_vec((2, 2), vec![0.0, 0.0, 0.0, 2.0]).unwrap());
    }

    #[test]
    fn no_members_is_not_an_error() {
        let cfg = EnsembleConfig { fusion: Fusion::Soft, members: vec![] };
        let (p, _) = trained(&cfg);
        let r = sweep(&p, &cfg, &[], &QuantConfig::default(), &DeployConfig::default());
        assert_eq!((r.recommended_bits, r.ensemble.float_bytes), (None, 0));
    }
}
