//! The ensemble's report: fused predictions measured on the test split and
//! by cross-validation, and how the members compare.

use std::collections::BTreeMap;

use ndarray::ArrayView2;
use serde::Serialize;

use super::diversity::{double_fault, oracle_predictions, q_statistic};
use super::fusion::{Fuser, fuse_soft, normalized_weights};
use super::label_mean::{LabelMeanPermutations, label_mean_permutations};
use super::metrics::{ProbabilityQuality, ReliabilityBin, accuracy, confusion, fold_accuracies, macro_scores};
use super::selection::Optimized;
use super::stacking::stacked_or_fit;
use super::votes::{VoteWeights, Votes, cv_accuracy_without, stacked_cv_proba, vote_weights};
use super::{
    EnsembleConfig, EnsembleError, Fusion, MemberConfig, MemberKind, MemberResults, Prepared, Stacked, WeightRule,
    argmax_rows,
};
use crate::compute::format;

/// One member's line in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberSummary {
    pub kind: MemberKind,
    pub trees: usize,
    pub max_depth: usize,
    /// The share of the data's features each split draws (from `max_features`).
    pub feature_fraction: f64,
    pub seed: u64,
    pub c: f64,
    pub max_iter: u64,
    /// Every fit of the member converged (always true for trees; see [`MemberResults::converged`]).
    pub converged: bool,
    pub weight: f64,
    pub normalized_weight: f64,
    pub test_accuracy: f64,
    pub cv_accuracy_mean: f64,
    pub cv_accuracy_std: f64,
    /// Out-of-fold (CV) probability quality: scikit-learn's `log_loss`, the
    /// multi-class Brier score (`brier_score_loss` of scikit-learn 1.9) and
    /// the expected calibration error over 10 equal-width confidence bins.
    pub log_loss: f64,
    pub brier: f64,
    pub ece: f64,
    /// Ensemble CV accuracy with this member minus without it: the others
    /// keep their own weights, or under `weights = "optimized"` ensemble
    /// selection is run again on the others' out-of-fold probabilities. None
    /// with one member and under stacking (it would refit the meta-learners per member).
    pub contribution: Option<f64>,
    /// The settings this member's kind reads (`MemberPlugin::settings`), as the settings file spells them.
    pub settings: BTreeMap<String, serde_json::Value>,
}

/// What the ensemble lab shows: the fused predictions measured on the test
/// split and by cross-validation, and how the members compare.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnsembleReport {
    pub fusion: Fusion,
    /// There are no members: every figure is `None` (null in JSON) and every table empty.
    pub no_members: bool,
    /// The members' weights normalized to sum to 1 (equal when `weights_fell_back`). Stacking only uses
    /// them to choose its members (weight > 0); its meta-learner weighs them itself (`stacking_influence`).
    pub weights: Vec<f64>,
    /// No weight was positive, so every member got an equal weight.
    pub weights_fell_back: bool,
    pub test_accuracy: Option<f64>,
    /// Per-fold accuracies of the fused out-of-fold predictions (see [`evaluate`] for stacking).
    pub cv_fold_accuracies: Vec<f64>,
    pub cv_accuracy_mean: Option<f64>,
    /// Population standard deviation of `cv_fold_accuracies`.
    pub cv_accuracy_std: Option<f64>,
    /// Macro averages on the test split; a class with no predicted rows has precision 0.
    pub precision_macro: Option<f64>,
    pub recall_macro: Option<f64>,
    pub f1_macro: Option<f64>,
    /// classes x classes on the test split: rows = true class, columns = predicted class.
    pub confusion: Vec<Vec<usize>>,
    pub class_names: Vec<String>,
    /// The fused prediction of every test row (in `Prepared::split.test` order).
    pub test_predictions: Vec<usize>,
    pub train_rows: usize,
    pub test_rows: usize,
    pub members: Vec<MemberSummary>,
    pub best_member_test_accuracy: Option<f64>,
    /// Reference lines on the CV folds: the best member's mean CV accuracy, and the
    /// oracle's (a row is right when any member is right; no fusion of labels beats it).
    pub best_member_accuracy: Option<f64>,
    pub oracle_accuracy: Option<f64>,
    /// The fused out-of-fold probabilities' quality (see [`MemberSummary::log_loss`]);
    /// None for hard and label-mean fusion, which give labels, not probabilities.
    pub log_loss: Option<f64>,
    pub brier: Option<f64>,
    pub ece: Option<f64>,
    /// The reliability diagram of the fused out-of-fold probabilities (empty when there are none).
    pub reliability: Vec<ReliabilityBin>,
    /// The fused out-of-fold probabilities themselves, one row per dataset row
    /// (empty for hard and label-mean): what the three figures above measure,
    /// so a script can check them (`scripts/crosscheck_probability.py`).
    pub cv_probabilities: Vec<Vec<f64>>,
    /// Where the voting weights come from (`[ensemble] weights`).
    pub weight_rule: WeightRule,
    /// `weights = "optimized"`: ensemble selection's weights (one per member, summing to 1),
    /// chosen on the train split's out-of-fold probabilities; they fuse the test rows.
    /// The CV figures choose them again inside every fold.
    pub optimized_weights: Option<Vec<f64>>,
    /// `weights = "optimized"`: CV accuracy with weights chosen on all rows' out-of-fold
    /// probabilities and scored on the same rows: optimistic, shown beside the honest CV figure.
    pub optimized_in_sample_cv_accuracy: Option<f64>,
    /// Ensemble test accuracy - best member's (negative when the ensemble is worse).
    pub gain: Option<f64>,
    /// members x members: share of test rows where members i and j predict different classes.
    pub disagreement: Vec<Vec<f64>>,
    /// Mean of the disagreement over distinct pairs (0 with one member).
    pub mean_disagreement: Option<f64>,
    /// members x members on the out-of-fold (CV) predictions: share of rows both members get wrong.
    pub double_fault: Vec<Vec<f64>>,
    /// members x members on the out-of-fold predictions: Yule's Q (null where undefined).
    pub q_statistic: Vec<Vec<Option<f64>>>,
    /// Stacking only: each member's share of the meta-learner's absolute coefficient mass.
    pub stacking_influence: Option<Vec<f64>>,
    /// Label-mean fusion averages class numbers, which is not a valid way to combine classes.
    pub label_mean_invalid: bool,
    /// Label-mean only: the test accuracy soft voting would have had with the same weights.
    pub soft_test_accuracy: Option<f64>,
    /// Label-mean only: its CV accuracy under relabelings of the classes.
    pub label_mean_permutations: Option<LabelMeanPermutations>,
    /// Things the user should know (fallbacks, ignored settings, stacking failures).
    pub notes: Vec<String>,
}

impl EnsembleReport {
    fn empty(p: &Prepared, fusion: Fusion) -> EnsembleReport {
        EnsembleReport {
            fusion,
            no_members: true,
            weights: Vec::new(),
            weights_fell_back: false,
            test_accuracy: None,
            cv_fold_accuracies: Vec::new(),
            cv_accuracy_mean: None,
            cv_accuracy_std: None,
            precision_macro: None,
            recall_macro: None,
            f1_macro: None,
            confusion: Vec::new(),
            class_names: p.dataset.class_names.clone(),
            test_predictions: Vec::new(),
            train_rows: p.split.train.len(),
            test_rows: p.split.test.len(),
            members: Vec::new(),
            best_member_test_accuracy: None,
            best_member_accuracy: None,
            oracle_accuracy: None,
            log_loss: None,
            brier: None,
            ece: None,
            reliability: Vec::new(),
            cv_probabilities: Vec::new(),
            weight_rule: WeightRule::Members,
            optimized_weights: None,
            optimized_in_sample_cv_accuracy: None,
            double_fault: Vec::new(),
            q_statistic: Vec::new(),
            gain: None,
            disagreement: Vec::new(),
            mean_disagreement: None,
            stacking_influence: None,
            label_mean_invalid: fusion == Fusion::LabelMean,
            soft_test_accuracy: None,
            label_mean_permutations: None,
            notes: Vec::new(),
        }
    }
}

/// Fuses trained members and measures the result: no training except the
/// stacking meta-learner's (1 + folds small softmax fits).
///
/// `members[i]` must be `train_member(p, &cfg.members[i], ..)`'s result for
/// this very `p` (cache results by `DataConfig` and `fit_key`): results of the
/// wrong shape are refused with a note, but results of another split of the
/// same shape cannot be detected.
///
/// Cross-validation: for voting and label-mean, the fused out-of-fold member
/// predictions (`cv_proba`) are scored on `p.folds`. For stacking this is an
/// approximation of nested cross-validation: the meta-learner is
/// cross-validated on the members' out-of-fold probabilities with the same
/// folds. Each row's member probabilities come from members that did not see
/// it, but the meta-learner's training rows were predicted by members that saw
/// the held-out fold, so the estimate can be slightly optimistic. True nested
/// CV would retrain every member inside every outer fold and could not be
/// cached per member.
///
/// Stacking uses the members whose weight is positive (all of them when no
/// weight is) and otherwise ignores weights: the meta-learner learns its own.
pub fn evaluate(p: &Prepared, cfg: &EnsembleConfig, members: &[&MemberResults]) -> EnsembleReport {
    evaluate_with(p, cfg, members, None)
}

/// `evaluate` with the stacking meta-learners already fitted (`stack`), so
/// that a weight change under stacking refits nothing: the caller keeps
/// them while the stacked members (`stacked_members`) stay the same.
pub fn evaluate_with(
    p: &Prepared,
    cfg: &EnsembleConfig,
    members: &[&MemberResults],
    stacked: Option<&Result<Stacked, EnsembleError>>,
) -> EnsembleReport {
    let mut report = EnsembleReport::empty(p, cfg.fusion);
    report.weight_rule = cfg.weights;
    let n = cfg.members.len().min(members.len());
    if cfg.members.len() != members.len() {
        report.notes.push(format!(
            "{} member settings but {} trained members; using the first {n}",
            cfg.members.len(),
            members.len()
        ));
    }
    let d = &p.dataset;
    let classes = d.classes();
    let configs = &cfg.members[..n];
    let results = &members[..n];
    if let Some(i) = results.iter().position(|r| {
        r.test_proba.dim() != (p.split.test.len(), classes)
            || r.cv_proba.dim() != (d.rows(), classes)
            || r.train_oof_proba.as_ref().is_some_and(|t| t.dim() != (p.split.train.len(), classes))
    }) {
        report.notes.push(format!("member {} was trained on different data; retrain it", i + 1));
        return report;
    }
    if n == 0 {
        return report;
    }
    report.no_members = false;

    let raw_weights: Vec<f64> = configs.iter().map(|m| m.weight).collect();
    let (weights, fell_back) = normalized_weights(&raw_weights);
    if fell_back && cfg.fusion != Fusion::Stacking {
        report.notes.push("every weight is 0: using equal weights".into());
    }
    let test_labels: Vec<usize> = p.split.test.iter().map(|&r| d.labels[r]).collect();
    let test_probas: Vec<ArrayView2<f64>> = results.iter().map(|r| r.test_proba.view()).collect();
    let cv_probas: Vec<ArrayView2<f64>> = results.iter().map(|r| r.cv_proba.view()).collect();
    let member_test: Vec<Vec<usize>> = test_probas.iter().map(|p| argmax_rows(*p)).collect();

    let mut fitted = None;
    let stacked = stacked_or_fit(p, cfg, results, stacked, &mut fitted);
    let (vote_weights, optimized) = vote_weights(p, cfg, results);
    let fuser = Fuser::new(cfg.fusion, vote_weights, classes, stacked, &mut report.notes);
    if let Fuser::Stack(s) = fuser {
        report.stacking_influence = Some(s.influence.clone());
    }
    if cfg.fusion == Fusion::Stacking && configs.iter().any(|m| m.weight != configs[0].weight) {
        report.notes.push("stacking learns its own weights; weights only decide who takes part (> 0)".into());
    }
    if let Some(opt) = &optimized {
        report_optimized(p, cfg.fusion, opt, &cv_probas, &mut report);
    }
    let (test_pred, cv_pred, cv_proba, votes) = match &fuser {
        Fuser::Vote(v) => {
            let cv_proba = v.cv_proba(&cv_probas, &p.folds);
            (v.test_labels(&test_probas), v.cv_labels(&cv_probas, &p.folds), cv_proba, Some(v))
        }
        Fuser::Stack(s) => {
            if cfg.weights == WeightRule::Optimized {
                report.notes.push(format!("weights = \"optimized\" applies to voting; {} learns its own", cfg.fusion));
            }
            (fuser.fuse(&test_probas, None), s.cv.clone(), stacked_cv_proba(s, &cv_probas, &p.folds), None)
        }
    };

    let folds = fold_accuracies(&cv_pred, &d.labels, &p.folds);
    let (cv_mean, cv_std) = folds.mean_std();
    (report.cv_accuracy_mean, report.cv_accuracy_std) = (Some(cv_mean), Some(cv_std));
    report.cv_fold_accuracies = folds.0;
    let test_accuracy = accuracy(&test_pred, &test_labels);
    report.test_accuracy = Some(test_accuracy);
    report.confusion = confusion(&test_labels, &test_pred, classes);
    let (precision, recall, f1) = macro_scores(&report.confusion);
    (report.precision_macro, report.recall_macro, report.f1_macro) = (Some(precision), Some(recall), Some(f1));
    report.test_predictions = test_pred;
    report.weights = weights.clone();
    report.weights_fell_back = fell_back;
    if let Some(q) = cv_proba.as_ref().map(|c| ProbabilityQuality::of(c.view(), &d.labels)) {
        (report.log_loss, report.brier, report.ece) = (Some(q.log_loss), Some(q.brier), Some(q.ece));
        report.reliability = q.reliability;
    }
    report.cv_probabilities = cv_proba.map_or_else(Vec::new, |c| c.rows().into_iter().map(|r| r.to_vec()).collect());

    let features = d.features.ncols();
    report.members = configs
        .iter()
        .zip(results)
        .zip(&weights)
        .enumerate()
        .map(|(i, ((m, r), &w))| {
            let q = ProbabilityQuality::of(r.cv_proba.view(), &d.labels);
            let without = votes.and_then(|v| cv_accuracy_without(p, cfg, v, results, i));
            MemberSummary {
                kind: m.kind,
                trees: m.trees,
                max_depth: m.max_depth,
                feature_fraction: m.max_features.share(features),
                seed: m.seed,
                c: m.c,
                max_iter: m.max_iter,
                converged: r.converged,
                weight: m.weight,
                normalized_weight: w,
                test_accuracy: r.test_accuracy,
                cv_accuracy_mean: r.cv_accuracy_mean,
                cv_accuracy_std: r.cv_accuracy_std,
                log_loss: q.log_loss,
                brier: q.brier,
                ece: q.ece,
                contribution: without.map(|a| cv_mean - a),
                settings: member_settings(m),
            }
        })
        .collect();
    let best_member = results.iter().map(|r| r.test_accuracy).fold(0.0, f64::max);
    report.best_member_test_accuracy = Some(best_member);
    report.gain = Some(test_accuracy - best_member);
    report.best_member_accuracy = Some(results.iter().map(|r| r.cv_accuracy_mean).fold(0.0, f64::max));
    for (i, (m, r)) in configs.iter().zip(results).enumerate() {
        if !r.converged {
            report.notes.push(format!(
                "member {} ({}, c {}) did not converge in max_iter {} L-BFGS iterations: raise max_iter or lower c",
                i + 1,
                m.kind,
                format::num(m.c),
                m.max_iter
            ));
        }
    }

    report.disagreement =
        (0..n).map(|i| (0..n).map(|j| 1.0 - accuracy(&member_test[i], &member_test[j])).collect()).collect();
    let pairs: Vec<f64> =
        (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).map(|(i, j)| report.disagreement[i][j]).collect();
    report.mean_disagreement =
        Some(if pairs.is_empty() { 0.0 } else { pairs.iter().sum::<f64>() / pairs.len() as f64 });
    let member_cv: Vec<Vec<usize>> = cv_probas.iter().map(|p| argmax_rows(*p)).collect();
    report.double_fault = double_fault(&member_cv, &d.labels);
    report.q_statistic = q_statistic(&member_cv, &d.labels);
    let oracle = oracle_predictions(&member_cv, &d.labels);
    report.oracle_accuracy = Some(fold_accuracies(&oracle, &d.labels, &p.folds).mean_std().0);

    if cfg.fusion == Fusion::LabelMean {
        report.label_mean_invalid = true;
        report.soft_test_accuracy = Some(accuracy(&fuse_soft(&test_probas, &raw_weights), &test_labels));
        // Optimized weights were chosen per fold: each fold is scored with its own.
        let fold_weights = votes.map_or(vec![raw_weights.clone()], |v| v.weights.folds.clone());
        report.label_mean_permutations =
            Some(label_mean_permutations(&member_cv, &fold_weights, &d.labels, &p.folds, classes));
    }
    report
}

/// The optimized weights' figures: the weights that fuse the test rows, and
/// the optimistic CV accuracy of weights chosen on all rows.
fn report_optimized(
    p: &Prepared,
    fusion: Fusion,
    opt: &Optimized,
    cv_probas: &[ArrayView2<f64>],
    report: &mut EnsembleReport,
) {
    let classes = p.dataset.classes();
    let in_sample = Votes { fusion, weights: VoteWeights::fixed(&opt.in_sample, p.folds.len()), classes };
    let in_sample_pred = in_sample.cv_labels(cv_probas, &p.folds);
    report.optimized_in_sample_cv_accuracy =
        Some(fold_accuracies(&in_sample_pred, &p.dataset.labels, &p.folds).mean_std().0);
    report.optimized_weights = Some(opt.test.clone());
}

/// The settings `m`'s kind reads, by their settings-file names.
fn member_settings(m: &MemberConfig) -> BTreeMap<String, serde_json::Value> {
    let Ok(serde_json::Value::Object(all)) = serde_json::to_value(m) else { return BTreeMap::new() };
    m.kind.settings().iter().filter_map(|&name| Some((name.to_string(), all.get(name)?.clone()))).collect()
}
