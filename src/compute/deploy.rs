//! The ensemble, quantized: accuracy against bit width and model size.
//!
//! Every feature gets a quantizer calibrated on the training rows with the
//! Quantize pane's settings, and the fusion stays in floating point: voting
//! as in the Ensemble pane, with its weights (optimized ones are those chosen
//! on the float members' out-of-fold probabilities, per CV fold), stacking
//! through the same float meta-learners fed the quantized members' probabilities. `int` per tensor or per
//! channel keeps integer codes: trees compare the codes of features and
//! thresholds, logistic members use quantized features and weights. Every
//! other format (and `int` in groups) goes through the [`NumberFormat`]
//! trait by fake quantization: see [`through_format`].
//!
//! [`NumberFormat`]: super::formats::NumberFormat

use std::convert::Infallible;
use std::sync::Arc;

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::analysis::channel_params;
use super::calibrate::{Target, calibrate};
use super::ensemble::{
    DequantizedInference, EnsembleConfig, EnsembleError, FittedMember, Fuser, Fusion, MemberConfig, MemberResults,
    Prepared, QuantizedInference, Stacked, WeightRule, accuracy, argmax_rows, normalized_weights, stacked_or_fit,
    views, vote_weights,
};
use super::formats::FormatKind;
use super::quant::{Granularity, InvalidSetting, QParams, QuantConfig, Rounder, Scheme, bit_params};
use super::weights::Weights;

mod through_format;
use through_format::{FeatureGrids, WeightQuantizer, dequantize_rows, feature_grids};

/// The widths the sweep tries, for a format that takes `bits`.
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
    /// The current width: the Quantize pane's bits, or the format's code bits
    /// for a format without a `bits` setting.
    pub bits: u32,
    /// The format the ensemble is quantized with (the Quantize pane's).
    pub format: FormatKind,
    /// Why that format cannot quantize the ensemble; the quantized figures
    /// are then null (sizes 0) and `by_bits` empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub fusion: Fusion,
    /// Where the voting weights come from (`[ensemble] weights`), as in the Ensemble pane.
    pub weight_rule: WeightRule,
    /// The voting weights of the test rows, summing to 1: the members' own or
    /// the optimized ones the Ensemble pane shows (each CV fold votes with its
    /// own, chosen inside the fold). None under stacking and mlp.
    pub weights: Option<Vec<f64>>,
    /// The fused ensemble (its keys sit at the top level of the report).
    #[serde(flatten)]
    pub ensemble: Comparison,
    /// The smallest width whose CV accuracy is within `tolerance` points of float.
    pub recommended_bits: Option<u32>,
    pub tolerance: f64,
    /// `SWEEP_BITS` for a format that takes `bits`, else one row: the format's own.
    pub by_bits: Vec<BitsRow>,
    pub members: Vec<Comparison>,
    pub notes: Vec<String>,
}

/// Why a format cannot quantize the ensemble; `report`'s `error` is its text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeployError {
    #[error("format {format} cannot quantize the ensemble: {reason}")]
    Features { format: FormatKind, reason: String },

    /// `along_features` is the format's refusal of blocks along a sample's features.
    #[error(
        "format {format} does not apply to the ensemble: it keeps one scale per block of {block} values, and a \
         feature has one quantizer. Blocks along a sample's features: {along_features}. Blocks of {block} \
         training rows of one feature: one sample at inference has no such block"
    )]
    Blocks { format: FormatKind, block: usize, along_features: String },

    #[error("format {format} cannot quantize the logistic weights: {reason}")]
    Weights { format: FormatKind, reason: String },
}

/// What quantizing with one setting predicts.
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

/// Whether the affine integer codes quantize the ensemble (`int` per tensor
/// or per channel), rather than fake quantization through the format.
fn integer_codes(q: &QuantConfig) -> bool {
    q.format.is_int() && q.granularity != Granularity::PerGroup
}

fn takes_bits(q: &QuantConfig) -> bool {
    q.format.format().settings().contains(&"bits")
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
/// Only for [`integer_codes`] settings: other layouts go through the format.
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
    // One set for the tensor, or one per class (channel axis 0).
    let set_of = |c: usize| if chosen.len() == classes { c } else { 0 };
    let mut rounder = Rounder::new(q.rounding, q.seed);
    Array2::from_shape_fn((features, classes), |(f, c)| {
        let p = &chosen[set_of(c)].params;
        p.dequantize(rounder.quantize(p, w[[f, c]] as f32).0) as f64
    })
}

/// Each member's probabilities on the test rows and on every CV fold's
/// rows: `calibrate` sees the rows each model was fitted on, `predict`
/// the rows it is scored on.
fn predictions<Q, E>(
    p: &Prepared,
    members: &[&MemberResults],
    calibrate: impl Fn(ArrayView2<f64>) -> Result<Q, E>,
    predict: impl Fn(&FittedMember, ArrayView2<f64>, &Q) -> Result<Array2<f64>, E>,
) -> Result<Quantized, E> {
    let d = &p.dataset;
    let (x_train, _) = d.select(&p.split.train);
    let (x_test, _) = d.select(&p.split.test);
    let quantizers = calibrate(x_train.view())?;
    let test = members.iter().map(|m| predict(&m.test_model, x_test.view(), &quantizers)).collect::<Result<_, _>>()?;
    let folds = p
        .folds
        .iter()
        .enumerate()
        .map(|(k, fold)| {
            let train: Vec<usize> = (0..d.rows()).filter(|r| fold.binary_search(r).is_err()).collect();
            let (x_fold_train, _) = d.select(&train);
            let (x_fold, _) = d.select(fold);
            let quantizers = calibrate(x_fold_train.view())?;
            members.iter().map(|m| predict(&m.cv_models[k], x_fold.view(), &quantizers)).collect()
        })
        .collect::<Result<_, _>>()?;
    Ok(Quantized { test, folds })
}

fn quantize_with_codes(p: &Prepared, members: &[&MemberResults], q: &QuantConfig) -> Quantized {
    let calibrate = |x: ArrayView2<f64>| Ok(feature_quantizers(x, q));
    let predict = |model: &FittedMember, x: ArrayView2<f64>, features: &Vec<QParams>| {
        let weights = |w: &Array2<f64>| quantize_weights(w, q);
        Ok(model.predict_proba_quantized(x, &QuantizedInference { features, rounding: q.rounding, weights: &weights }))
    };
    // Integer codes always apply.
    let Ok(quantized) = predictions::<_, Infallible>(p, members, calibrate, predict);
    quantized
}

/// Fake quantization through the format: x̂ of the features, of the
/// thresholds (their feature's grid) and of the weights.
fn quantize_through_format(
    p: &Prepared,
    members: &[&MemberResults],
    q: &QuantConfig,
) -> Result<Quantized, DeployError> {
    let calibrate = |x: ArrayView2<f64>| feature_grids(x, q);
    let predict = |model: &FittedMember, x: ArrayView2<f64>, features: &FeatureGrids| {
        let weights = WeightQuantizer::new(q);
        let threshold = |c: usize, t: f64| features.grids[c].xhat(t);
        let through = DequantizedInference { threshold: &threshold, weights: &|w| weights.quantize(w) };
        let proba = model.predict_proba_dequantized(dequantize_rows(x, &features.grids).view(), &through);
        weights.log.into_inner().error.map_or(Ok(proba), Err)
    };
    predictions(p, members, calibrate, predict)
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

/// A member's bits through the format: each threshold or weight one code,
/// plus the parameters of its weight tensor (found by predicting no rows,
/// which passes the tensor, if the kind has one, through the format).
fn member_bits_through_format(m: &MemberResults, q: &QuantConfig, features: usize) -> u64 {
    let weights = WeightQuantizer::new(q);
    let none = Array2::<f64>::zeros((0, features));
    m.test_model.predict_proba_dequantized(
        none.view(),
        &DequantizedInference { threshold: &|_, t| t, weights: &|w| weights.quantize(w) },
    );
    m.test_model.size_bits(q.format.format().code_bits(q)) + weights.log.into_inner().param_bits
}

/// What one quantizer setting gives: the scores, and the stored bytes of
/// each member and of all of them (each with the feature quantizers).
struct Deployed {
    scores: Scores,
    member_bytes: Vec<u64>,
    bytes: u64,
}

/// The members quantized at one setting: their probabilities and bytes.
/// They depend on the members and the setting, not on the fusion or the
/// weights, which only change how they are scored.
struct QuantizedAt {
    quantized: Quantized,
    member_bytes: Vec<u64>,
    bytes: u64,
}

/// The members quantized at each setting a sweep met, kept between sweeps
/// (by the pipeline's cache, for as long as the data stay the same): a
/// fusion or weight change then re-scores and quantizes nothing, which was
/// nine tenths of its time (110-130 ms of the Deploy sweep on a digits-size
/// set, against 2 ms to re-fuse).
pub struct QuantizedMembers {
    entries: std::collections::VecDeque<(QuantizedKey, Arc<Result<QuantizedAt, DeployError>>)>,
    /// `QUANTIZED_KEPT_BYTES`; a test's is smaller, to fill it.
    max_bytes: usize,
}

impl Default for QuantizedMembers {
    fn default() -> Self {
        QuantizedMembers { entries: Default::default(), max_bytes: QUANTIZED_KEPT_BYTES }
    }
}

/// What the quantized members depend on: each member's training key and the setting.
#[derive(PartialEq)]
struct QuantizedKey {
    members: Vec<MemberConfig>,
    quant: QuantConfig,
}

/// Settings kept at most: a few sweeps' worth (one sweep meets 8 or 9),
/// and at most this many bytes of probabilities in all (a large CSV's
/// members at one setting can hold tens of MB), the newest always kept.
const QUANTIZED_KEPT: usize = 32;
const QUANTIZED_KEPT_BYTES: usize = 256 << 20;

impl QuantizedAt {
    fn bytes_held(&self) -> usize {
        let q = &self.quantized;
        let arrays = q.test.iter().chain(q.folds.iter().flatten());
        arrays.map(|a| a.len() * std::mem::size_of::<f64>()).sum()
    }
}

fn bytes_held(at: &Result<QuantizedAt, DeployError>) -> usize {
    at.as_ref().map_or(0, QuantizedAt::bytes_held)
}

impl QuantizedMembers {
    /// Forgets everything (the data changed, so the members did).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    fn get_or_quantize(
        &mut self,
        keys: &[MemberConfig],
        q: &QuantConfig,
        quantize: impl FnOnce() -> Result<QuantizedAt, DeployError>,
    ) -> Arc<Result<QuantizedAt, DeployError>> {
        if let Some((_, at)) = self.entries.iter().find(|(k, _)| k.members == keys && k.quant == *q) {
            return at.clone();
        }
        let at = Arc::new(quantize());
        self.entries.push_back((QuantizedKey { members: keys.to_vec(), quant: q.clone() }, at.clone()));
        let held = |entries: &std::collections::VecDeque<(QuantizedKey, Arc<Result<QuantizedAt, DeployError>>)>| {
            entries.iter().map(|(_, at)| bytes_held(at)).sum::<usize>()
        };
        while self.entries.len() > 1 && (self.entries.len() > QUANTIZED_KEPT || held(&self.entries) > self.max_bytes) {
            self.entries.pop_front();
        }
        at
    }
}

fn quantize_at(p: &Prepared, members: &[&MemberResults], q: &QuantConfig) -> Result<QuantizedAt, DeployError> {
    let features = p.dataset.features.ncols();
    if integer_codes(q) {
        return Ok(QuantizedAt {
            quantized: quantize_with_codes(p, members, q),
            member_bytes: members.iter().map(|m| bytes(&[*m], q.bits, features)).collect(),
            bytes: bytes(members, q.bits, features),
        });
    }
    let quantized = quantize_through_format(p, members, q)?;
    let (x_train, _) = p.dataset.select(&p.split.train);
    let feature_bits = feature_grids(x_train.view(), q)?.param_bits;
    let member_bits: Vec<u64> = members.iter().map(|m| member_bits_through_format(m, q, features)).collect();
    Ok(QuantizedAt {
        quantized,
        member_bytes: member_bits.iter().map(|b| (b + feature_bits).div_ceil(8)).collect(),
        bytes: (member_bits.iter().sum::<u64>() + feature_bits).div_ceil(8),
    })
}

/// The members at one setting (quantized now or kept from an earlier
/// sweep), fused by `fuser` and scored.
fn deploy_at(
    p: &Prepared,
    fuser: &Fuser,
    members: (&[&MemberResults], &[MemberConfig]),
    q: &QuantConfig,
    kept: &mut QuantizedMembers,
) -> Result<Deployed, DeployError> {
    let at = kept.get_or_quantize(members.1, q, || quantize_at(p, members.0, q));
    let at = at.as_ref().as_ref().map_err(Clone::clone)?;
    Ok(Deployed {
        scores: score(p, fuser, &at.quantized.test, &at.quantized.folds),
        member_bytes: at.member_bytes.clone(),
        bytes: at.bytes,
    })
}

/// The settings of the current width and its bits: `int` with a manual
/// scale is shown at 8 bits; a format without `bits` at its code bits.
fn current_setting(quant: &QuantConfig) -> (QuantConfig, u32) {
    if !takes_bits(quant) {
        return (quant.clone(), quant.format.format().code_bits(quant));
    }
    let bits = if quant.format.is_int() && quant.scheme == Scheme::Manual { 8 } else { quant.bits };
    (at_width(quant, bits), bits)
}

/// The float ensemble against the quantized one at the current width and
/// across `SWEEP_BITS` (one row for a format without `bits`). Stacking uses
/// `stacked`'s meta-learners (fitted here when None, as
/// [`super::ensemble::evaluate_with`] does); when stacking failed, soft
/// voting stands in and a note says so. A format that cannot quantize the
/// ensemble leaves the quantized figures null and says why in `error`.
pub fn sweep(
    p: &Prepared,
    ens: &EnsembleConfig,
    members: &[&MemberResults],
    quant: &QuantConfig,
    deploy: &DeployConfig,
    stacked: Option<&Result<Stacked, EnsembleError>>,
) -> DeployReport {
    sweep_kept(p, ens, members, (quant, deploy), stacked, &mut QuantizedMembers::default())
}

/// [`sweep`], with the members' quantized probabilities taken from `kept`
/// where an earlier sweep of the same members and setting left them.
pub fn sweep_kept(
    p: &Prepared,
    ens: &EnsembleConfig,
    members: &[&MemberResults],
    (quant, deploy): (&QuantConfig, &DeployConfig),
    stacked: Option<&Result<Stacked, EnsembleError>>,
    kept: &mut QuantizedMembers,
) -> DeployReport {
    let n = ens.members.len().min(members.len());
    let members = &members[..n];
    let keys: Vec<MemberConfig> = ens.members[..n].iter().map(MemberConfig::fit_key).collect();
    let (current_q, current_bits) = current_setting(quant);
    let mut report = DeployReport {
        bits: current_bits,
        format: quant.format,
        error: None,
        fusion: ens.fusion,
        weight_rule: ens.weights,
        weights: None,
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
    let classes = p.dataset.classes();
    let mut fitted = None;
    let stacked = stacked_or_fit(p, ens, members, stacked, &mut fitted);
    // The Ensemble pane's weights (all-zero ones vote equally there and here).
    let (weights, optimized) = vote_weights(p, ens, members);
    if optimized.is_some() {
        report.notes.push(
            "optimized weights: the quantized members vote with the weights ensemble selection chose on the \
             float members' out-of-fold probabilities (the Ensemble pane's)"
                .into(),
        );
    }
    let fuser = Fuser::new(ens.fusion, weights, classes, stacked, &mut report.notes);
    if let Fuser::Vote(v) = &fuser {
        report.weights = Some(normalized_weights(&v.weights.test).0);
    }
    if let Fuser::Stack(_) = fuser {
        // mlp fuses through a meta-learner too: the note names the fusion chosen.
        report.notes.push(format!("{}: the float meta-learner reads the quantized members' probabilities", ens.fusion));
    }
    if quant.format.is_int() && quant.scheme == Scheme::Manual {
        report.notes.push("manual scale does not fit every feature: the features use asymmetric quantizers".into());
    }
    // Stacking's meta-learner stays float32 and is stored beside the members.
    let meta_bytes = match fuser {
        Fuser::Stack(s) => s.meta.size_bits().div_ceil(8),
        Fuser::Vote(_) => 0,
    };
    let float_test: Vec<Array2<f64>> = members.iter().map(|m| m.test_proba.clone()).collect();
    let float_folds: Vec<Vec<Array2<f64>>> =
        p.folds.iter().map(|fold| members.iter().map(|m| m.cv_proba.select(Axis(0), fold)).collect()).collect();
    let float = score(p, &fuser, &float_test, &float_folds);
    let float_bytes = bytes(members, FLOAT_BITS, p.dataset.features.ncols()) + meta_bytes;
    report.members = members
        .iter()
        .zip(&float.members)
        .map(|(m, f)| Comparison {
            float_test_accuracy: Some(f.0),
            quant_test_accuracy: None,
            float_cv_accuracy_mean: Some(f.1),
            quant_cv_accuracy_mean: None,
            float_bytes: bytes(&[*m], FLOAT_BITS, 0),
            quant_bytes: 0,
        })
        .collect();
    report.ensemble = Comparison {
        float_test_accuracy: Some(float.test),
        float_cv_accuracy_mean: Some(float.cv),
        float_bytes,
        ..report.ensemble
    };
    let current = match deploy_at(p, &fuser, (members, &keys), &current_q, kept) {
        Ok(current) => current,
        Err(why) => {
            report.notes.push(why.to_string());
            report.error = Some(why.to_string());
            return report;
        }
    };
    let row = |bits: u32, d: &Deployed| BitsRow {
        bits,
        test_accuracy: d.scores.test,
        cv_accuracy_mean: d.scores.cv,
        bytes: d.bytes + meta_bytes,
    };
    if !takes_bits(quant) {
        report.by_bits.push(row(current_bits, &current));
    }
    for &bits in SWEEP_BITS.iter().filter(|_| takes_bits(quant)) {
        match deploy_at(p, &fuser, (members, &keys), &at_width(quant, bits), kept) {
            Ok(d) => report.by_bits.push(row(bits, &d)),
            Err(why) => report.notes.push(format!("{bits} bits left out of the sweep: {why}")),
        }
    }
    report.recommended_bits = report
        .by_bits
        .iter()
        .find(|r| r.cv_accuracy_mean >= float.cv - deploy.tolerance / 100.0 - 1e-12)
        .map(|r| r.bits);
    for ((m, q), bytes) in report.members.iter_mut().zip(&current.scores.members).zip(&current.member_bytes) {
        (m.quant_test_accuracy, m.quant_cv_accuracy_mean, m.quant_bytes) = (Some(q.0), Some(q.1), *bytes);
    }
    if !integer_codes(quant) {
        report.notes.push(format!(
            "format {}: fake quantization, each feature's parameters picked by the format on its training column",
            quant.format
        ));
    }
    if quant.granularity == Granularity::PerChannel && members.iter().any(|m| m.test_model.size_bits(8) > 0) {
        report
            .notes
            .push("per-channel applies to logistic weights (one scale per class); features always get one each".into());
    }
    report.ensemble = Comparison {
        quant_test_accuracy: Some(current.scores.test),
        quant_cv_accuracy_mean: Some(current.scores.cv),
        quant_bytes: current.bytes + meta_bytes,
        ..report.ensemble
    };
    report
}

#[cfg(test)]
mod tests;
