//! The ensemble lab: members (bagged trees, one tree, softmax regression),
//! fusion rules, stacking, and cached evaluation.
//!
//! The expensive part, [`train_member`], depends only on the data settings
//! and one member's [`MemberConfig::fit_key`], so a caller can cache its
//! [`MemberResults`]; [`evaluate`] then fuses cached results and measures
//! them (tens of microseconds for voting; a few milliseconds for stacking,
//! whose small meta-learner is trained there), so changing a weight or the
//! fusion rule never retrains a member.
//!
//! Conventions follow scikit-learn: `VotingClassifier` (soft and hard
//! voting, ties to the lowest class index), `StackingClassifier` (a
//! logistic meta-learner on out-of-fold member probabilities),
//! `cross_val_score` (mean and population standard deviation of per-fold
//! accuracies) and `precision_recall_fscore_support(average="macro")`.

mod config;
mod cv;
mod diversity;
mod fusion;
mod label_mean;
mod metrics;
mod mlp;
mod pipeline;
mod report;
mod selection;
mod stacking;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fusion;
mod votes;

pub use super::members::{
    BUILTIN_KINDS, DequantizedInference, FitResult, FittedMember, FittedModel, MemberKind, MemberKinds, MemberPlugin,
    QuantizedInference, TrainingSet, fit_member,
};
pub use config::*;
pub use cv::{MemberResults, Prepared, prepare, train_inner_folds, train_member, train_outer};
pub use diversity::{double_fault, oracle_predictions, q_statistic};
pub(crate) use fusion::argmax;
pub use fusion::{
    Fuser, argmax_rows, fuse_hard, fuse_label_mean, fuse_soft, fuse_votes, normalized_weights, soft_mean,
};
pub use label_mean::{EXHAUSTIVE_CLASSES, LabelMeanPermutations, SAMPLED_PERMUTATIONS, label_mean_permutations};
pub use metrics::{ProbabilityQuality, RELIABILITY_BINS, ReliabilityBin, accuracy, brier, ece, log_loss, reliability};
pub use mlp::{MLP_ALPHA, MLP_LEARNING_RATE, MLP_STEPS, Mlp};
pub use pipeline::{EnsembleCache, OnMember, PipelineSettings, StackedResult, Trained, needs_inner_folds};
pub use report::{EnsembleReport, MemberSummary, evaluate, evaluate_with};
pub use selection::{Optimized, SELECTION_BAGS, SELECTION_ROUNDS, optimize, select_weights};
pub use stacking::{MetaKind, MetaLearner, Stacked, stack, stacked_members};
pub(crate) use stacking::{stacked_or_fit, views};
pub use votes::{VoteWeights, Votes, vote_weights};

use super::data::DataError;
use super::quant::InvalidSetting;
use super::watch::Cancelled;

/// Why an ensemble could not be prepared, trained or stacked; the text is what the user reads.

#[derive(Debug, thiserror::Error)]
pub enum EnsembleError {
    #[error("{0}")]
    Invalid(#[from] InvalidSetting),

    #[error("{0}")]
    Load(Box<DataError>),

    #[error("{context}: {source}")]
    Data {
        context: &'static str,
        #[source]
        source: Box<DataError>,
    },

    /// `stage` is empty or starts with a space (" on cross-validation fold 2 of 5").
    #[error("cannot train the {kind} member{stage}: {message}")]
    Fit { kind: MemberKind, stage: String, message: String },

    #[error("{0}")]
    Shape(String),

    /// A member of the pipeline failed; `index` counts from 1.
    #[error("member {index} ({kind}): {source}")]
    Member {
        index: usize,
        kind: MemberKind,
        #[source]
        source: Box<EnsembleError>,
    },

    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}

pub(crate) fn fit_error(kind: MemberKind, message: impl Into<String>) -> EnsembleError {
    EnsembleError::Fit { kind, stage: String::new(), message: message.into() }
}
