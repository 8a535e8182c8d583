//! The settings of the ensemble lab: the `[data]` and `[ensemble]` tables,
//! their ranges, and loading the table `[data]` names.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{EnsembleError, MemberKind};
use crate::compute::data::{self, Dataset};
use crate::compute::quant::InvalidSetting;
use crate::named_enum;

named_enum! {
    /// How member predictions become one prediction.
    pub enum Fusion {
        Soft => "soft",
        Hard => "hard",
        Stacking => "stacking",
        LabelMean => "label-mean",
        Mlp => "mlp",
    }
}

impl Fusion {
    /// Stacking and mlp learn the fusion: a meta-learner on the members' out-of-fold probabilities.
    pub fn learns_meta(self) -> bool {
        matches!(self, Fusion::Stacking | Fusion::Mlp)
    }
}

/// Hidden units of the `mlp` fusion's meta-learner (scikit-learn's `hidden_layer_sizes=(16,)`).
pub const DEFAULT_MLP_HIDDEN: usize = 16;
pub const MAX_MLP_HIDDEN: usize = 256;

named_enum! {
    /// Where the voting weights come from: each member's `weight` key, or
    /// Caruana's ensemble selection on the out-of-fold probabilities.
    pub enum WeightRule {
        Members => "members",
        Optimized => "optimized",
    }
}

pub const MAX_TREES: usize = 500;
pub const MAX_DEPTH: usize = 64;
pub const MIN_FOLDS: usize = 2;
pub const MAX_FOLDS: usize = 20;
/// Most members an ensemble may have (keeps the disagreement matrix and the panes readable).
pub const MAX_MEMBERS: usize = 16;

/// scikit-learn's `LogisticRegression(C=1.0)`: the default inverse regularisation strength.
pub const DEFAULT_C: f64 = 1.0;
/// scikit-learn's default `max_iter`; on digits (64 standardized features, 10 classes) every fit
/// at C = 1 converges in fewer (54 on the default train split).
pub const DEFAULT_MAX_ITER: u64 = 100;
pub const MAX_MAX_ITER: u64 = 100_000;
/// Inverse L2 penalty of the stacking meta-learner: scikit-learn's default final estimator,
/// `LogisticRegression()`. It also makes the solver converge in a few iterations, which keeps
/// `evaluate` quick.
pub const META_C: f64 = 1.0;
/// L-BFGS iteration cap of the stacking meta-learner (trained inside `evaluate`; it converges in < 20).
pub const META_MAX_ITERATIONS: u64 = 100;
named_enum! {
    /// How a tree measures a node's impurity (scikit-learn's `criterion`).
    pub enum Criterion {
        Gini => "gini",
        Entropy => "entropy",
    }
}

/// How many candidate features a tree of a forest draws at every split
/// (scikit-learn's `max_features`): `"sqrt"` (the default), `"log2"`,
/// `"all"`, or a fraction in (0, 1] (max(1, floor(fraction * features))).
/// In a settings file a name or a number; the old key `feature_fraction`
/// (once a share per tree) loads as the fraction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MaxFeatures {
    Named(FeatureRule),
    Fraction(f64),
}

named_enum! {
    /// The named rules of [`MaxFeatures`].
    pub enum FeatureRule {
        Sqrt => "sqrt",
        Log2 => "log2",
        All => "all",
    }
}

impl<'de> Deserialize<'de> for MaxFeatures {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Number(f64),
        }
        match Raw::deserialize(d) {
            Ok(Raw::Number(f)) => Ok(MaxFeatures::Fraction(f)),
            Ok(Raw::Name(name)) => name.parse().map_err(serde::de::Error::custom),
            Err(_) => Err(serde::de::Error::custom("max_features is sqrt, log2, all or a fraction in (0, 1]")),
        }
    }
}

impl MaxFeatures {
    pub const SQRT: MaxFeatures = MaxFeatures::Named(FeatureRule::Sqrt);

    /// How many of `features` columns a split draws, as scikit-learn counts them (at least 1).
    pub fn count(self, features: usize) -> usize {
        let n = features as f64;
        let count = match self {
            MaxFeatures::Named(FeatureRule::Sqrt) => n.sqrt().floor(),
            MaxFeatures::Named(FeatureRule::Log2) => n.log2().floor(),
            MaxFeatures::Named(FeatureRule::All) => n,
            MaxFeatures::Fraction(f) => (f * n).floor(),
        };
        (count as usize).clamp(1, features.max(1))
    }

    /// The share of `features` columns a split draws ([`MaxFeatures::count`] / features).
    pub fn share(self, features: usize) -> f64 {
        if features == 0 { 0.0 } else { self.count(features) as f64 / features as f64 }
    }
}

impl std::fmt::Display for MaxFeatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxFeatures::Named(rule) => f.write_str(rule.name()),
            MaxFeatures::Fraction(v) => write!(f, "{v}"),
        }
    }
}

/// Text that is neither a rule's name nor a number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{0}` is not sqrt, log2, all or a fraction in (0, 1]")]
pub struct NotMaxFeatures(pub String);

impl std::str::FromStr for MaxFeatures {
    type Err = NotMaxFeatures;
    /// A rule's name or a fraction, optionally as a percentage ("50%").
    fn from_str(s: &str) -> Result<Self, NotMaxFeatures> {
        let s = s.trim();
        if let Ok(rule) = s.parse() {
            return Ok(MaxFeatures::Named(rule));
        }
        let fraction = match s.strip_suffix('%') {
            Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
            None => s.parse::<f64>(),
        };
        fraction.map(MaxFeatures::Fraction).map_err(|_| NotMaxFeatures(s.to_string()))
    }
}

/// scikit-learn's `GaussianNB(var_smoothing=1e-9)`: the share of the largest feature variance added to every variance.
pub const DEFAULT_VAR_SMOOTHING: f64 = 1e-9;
/// scikit-learn's `KNeighborsClassifier(n_neighbors=5)`.
pub const DEFAULT_NEIGHBORS: usize = 5;
/// Most neighbours a kNN member may ask for.
pub const MAX_NEIGHBORS: usize = 1000;

named_enum! {
    /// How a kNN member weighs its neighbours' votes (scikit-learn's `weights`).
    pub enum NeighborWeights {
        Uniform => "uniform",
        Distance => "distance",
    }
}

/// scikit-learn's `HistGradientBoostingClassifier` defaults: learning rate and leaves per tree.
pub const DEFAULT_LEARNING_RATE: f64 = 0.1;
pub const DEFAULT_MAX_LEAF_NODES: usize = 31;
pub const MAX_LEAF_NODES: usize = 4096;
pub const DEFAULT_VALIDATION_FRACTION: f64 = 0.1;

/// Most rows a leaf may be required to hold.
pub const MAX_MIN_SAMPLES_LEAF: usize = 100_000;

/// One model of the ensemble: the `[[ensemble.members]]` tables of the settings file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemberConfig {
    pub kind: MemberKind,
    /// Trees of a forest (1..=500); ignored by the other kinds.
    pub trees: usize,
    /// Depth limit of the trees; 0 = unlimited (at most 64).
    pub max_depth: usize,
    /// Candidate features drawn at every split of a forest's trees; the old
    /// `feature_fraction` key loads as a fraction.
    #[serde(alias = "feature_fraction")]
    pub max_features: MaxFeatures,
    /// A forest's split criterion.
    pub criterion: Criterion,
    /// Fewest training rows (bootstrap repeats counted once) a forest's leaf holds, >= 1.
    pub min_samples_leaf: usize,
    /// Voting weight, finite and >= 0; 0 leaves the member out of the vote.
    pub weight: f64,
    /// Seed of a forest's bootstrap samples, feature subsets and tie-breaking;
    /// a tree or a logistic member ignores it.
    pub seed: u64,
    /// Logistic only: scikit-learn's `C`, the inverse L2 regularisation strength, finite and > 0.
    pub c: f64,
    /// Logistic: the L-BFGS iteration cap; gbm: the boosting rounds (both
    /// scikit-learn's `max_iter`, default 100), 1..=100000.
    pub max_iter: u64,
    /// Naive Bayes only: the share of the largest feature variance added to every variance, finite and >= 0.
    pub var_smoothing: f64,
    /// kNN only: how many neighbours vote, 1..=1000 (and at most the training rows).
    pub n_neighbors: usize,
    /// kNN only: `uniform` (one vote each) or `distance` (1 / distance).
    pub neighbor_weights: NeighborWeights,
    /// gbm only: the shrinkage of every tree's values, in (0, 10].
    pub learning_rate: f64,
    /// gbm only: most leaves per tree, 2..=4096.
    pub max_leaf_nodes: usize,
    /// gbm only: the L2 penalty on leaf values, finite and >= 0.
    pub l2_regularization: f64,
    /// gbm only: hold out `validation_fraction` of the rows and stop when their loss stalls
    /// (scikit-learn's `early_stopping="auto"` is off below 10,000 rows).
    pub early_stopping: bool,
    /// gbm only: the share of each class held out for early stopping, in (0, 1).
    pub validation_fraction: f64,
}

impl Default for MemberConfig {
    fn default() -> Self {
        MemberConfig {
            kind: MemberKind::Forest,
            trees: 10,
            max_depth: 0,
            max_features: MaxFeatures::SQRT,
            criterion: Criterion::Gini,
            min_samples_leaf: 1,
            weight: 1.0,
            seed: 0,
            c: DEFAULT_C,
            max_iter: DEFAULT_MAX_ITER,
            var_smoothing: DEFAULT_VAR_SMOOTHING,
            n_neighbors: DEFAULT_NEIGHBORS,
            neighbor_weights: NeighborWeights::Uniform,
            learning_rate: DEFAULT_LEARNING_RATE,
            max_leaf_nodes: DEFAULT_MAX_LEAF_NODES,
            l2_regularization: 0.0,
            early_stopping: false,
            validation_fraction: DEFAULT_VALIDATION_FRACTION,
        }
    }
}

impl MemberConfig {
    /// A forest of `trees` trees with the default settings.
    pub fn forest(trees: usize, seed: u64) -> Self {
        MemberConfig { trees, seed, ..MemberConfig::default() }
    }

    /// What training depends on: the kind and the settings it reads
    /// ([`crate::compute::members::MemberPlugin::settings`]), the rest at
    /// their defaults and the weight zeroed. Two members with equal keys give
    /// bit-identical [`super::MemberResults`] on the same data.
    pub fn fit_key(&self) -> MemberConfig {
        let mut key = MemberConfig { kind: self.kind, weight: 0.0, ..MemberConfig::default() };
        for &name in self.kind.settings().iter().filter(|&&name| name != "weight") {
            key.copy_setting(name, self);
        }
        key
    }

    /// Sets the field `name` (as the settings file spells it) to `from`'s;
    /// an unknown name changes nothing.
    pub fn copy_setting(&mut self, name: &str, from: &MemberConfig) {
        match name {
            "kind" => self.kind = from.kind,
            "trees" => self.trees = from.trees,
            "max_depth" => self.max_depth = from.max_depth,
            "max_features" => self.max_features = from.max_features,
            "criterion" => self.criterion = from.criterion,
            "min_samples_leaf" => self.min_samples_leaf = from.min_samples_leaf,
            "weight" => self.weight = from.weight,
            "seed" => self.seed = from.seed,
            "c" => self.c = from.c,
            "max_iter" => self.max_iter = from.max_iter,
            "var_smoothing" => self.var_smoothing = from.var_smoothing,
            "n_neighbors" => self.n_neighbors = from.n_neighbors,
            "neighbor_weights" => self.neighbor_weights = from.neighbor_weights,
            "learning_rate" => self.learning_rate = from.learning_rate,
            "max_leaf_nodes" => self.max_leaf_nodes = from.max_leaf_nodes,
            "l2_regularization" => self.l2_regularization = from.l2_regularization,
            "early_stopping" => self.early_stopping = from.early_stopping,
            "validation_fraction" => self.validation_fraction = from.validation_fraction,
            _ => {}
        }
    }

    /// Checks every range; keys are named `{prefix}.trees` and so on.
    pub fn validate_at(&self, prefix: &str) -> Result<(), InvalidSetting> {
        let key = |name: &str| format!("{prefix}.{name}");
        if !(1..=MAX_TREES).contains(&self.trees) {
            return Err(InvalidSetting::new(&key("trees"), format!("{} is outside 1..={MAX_TREES}", self.trees)));
        }
        if self.max_depth > MAX_DEPTH {
            return Err(InvalidSetting::new(
                &key("max_depth"),
                format!("{} is more than {MAX_DEPTH}; use 0 for unlimited depth", self.max_depth),
            ));
        }
        if let MaxFeatures::Fraction(f) = self.max_features
            && !(f > 0.0 && f <= 1.0)
        {
            return Err(InvalidSetting::new(
                &key("max_features"),
                format!(
                    "{f} is outside (0, 1]: it is the share of the features each split draws (or use sqrt, log2, all)"
                ),
            ));
        }
        if !(1..=MAX_MIN_SAMPLES_LEAF).contains(&self.min_samples_leaf) {
            return Err(InvalidSetting::new(
                &key("min_samples_leaf"),
                format!("{} is outside 1..={MAX_MIN_SAMPLES_LEAF}", self.min_samples_leaf),
            ));
        }
        if !(self.weight.is_finite() && self.weight >= 0.0) {
            return Err(InvalidSetting::new(&key("weight"), format!("{} must be a finite number >= 0", self.weight)));
        }
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(InvalidSetting::new(
                &key("c"),
                format!("{} must be a finite number > 0: it is the inverse regularisation strength", self.c),
            ));
        }
        if !(1..=MAX_MAX_ITER).contains(&self.max_iter) {
            return Err(InvalidSetting::new(
                &key("max_iter"),
                format!("{} is outside 1..={MAX_MAX_ITER}", self.max_iter),
            ));
        }
        if !(self.var_smoothing.is_finite() && self.var_smoothing >= 0.0) {
            return Err(InvalidSetting::new(
                &key("var_smoothing"),
                format!(
                    "{} must be a finite number >= 0: it is the share of the largest feature variance added to every variance",
                    self.var_smoothing
                ),
            ));
        }
        if !(1..=MAX_NEIGHBORS).contains(&self.n_neighbors) {
            return Err(InvalidSetting::new(
                &key("n_neighbors"),
                format!("{} is outside 1..={MAX_NEIGHBORS}: it is how many neighbours vote", self.n_neighbors),
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 10.0) {
            return Err(InvalidSetting::new(
                &key("learning_rate"),
                format!("{} is outside (0, 10]: it scales every tree's values", self.learning_rate),
            ));
        }
        if !(2..=MAX_LEAF_NODES).contains(&self.max_leaf_nodes) {
            return Err(InvalidSetting::new(
                &key("max_leaf_nodes"),
                format!("{} is outside 2..={MAX_LEAF_NODES}", self.max_leaf_nodes),
            ));
        }
        if !(self.l2_regularization.is_finite() && self.l2_regularization >= 0.0) {
            return Err(InvalidSetting::new(
                &key("l2_regularization"),
                format!("{} must be a finite number >= 0", self.l2_regularization),
            ));
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            return Err(InvalidSetting::new(
                &key("validation_fraction"),
                format!(
                    "{} is outside (0, 1): it is the share of rows held out for early stopping",
                    self.validation_fraction
                ),
            ));
        }
        Ok(())
    }
}

/// The members and how they are fused: the `[ensemble]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnsembleConfig {
    pub fusion: Fusion,
    /// `"members"` (each member's `weight`, the default: files without the key load as before)
    /// or `"optimized"` (ensemble selection; the members' weights then only decide who takes part).
    pub weights: WeightRule,
    /// Hidden units of the `mlp` fusion, 1..=256.
    pub mlp_hidden: usize,
    pub members: Vec<MemberConfig>,
}

impl Default for EnsembleConfig {
    /// The seed document's ensemble: forests of 10, 20 and 30 trees (seeds 0, 1, 2), soft voting.
    fn default() -> Self {
        EnsembleConfig {
            fusion: Fusion::Soft,
            weights: WeightRule::Members,
            mlp_hidden: DEFAULT_MLP_HIDDEN,
            members: vec![MemberConfig::forest(10, 0), MemberConfig::forest(20, 1), MemberConfig::forest(30, 2)],
        }
    }
}

impl EnsembleConfig {
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if !(1..=MAX_MLP_HIDDEN).contains(&self.mlp_hidden) {
            return Err(InvalidSetting::new(
                "ensemble.mlp_hidden",
                format!("{} is outside 1..={MAX_MLP_HIDDEN}: it is the mlp fusion's hidden units", self.mlp_hidden),
            ));
        }
        if self.members.len() > MAX_MEMBERS {
            return Err(InvalidSetting::new(
                "ensemble.members",
                format!("{} members is more than the {MAX_MEMBERS} allowed", self.members.len()),
            ));
        }
        for (i, m) in self.members.iter().enumerate() {
            m.validate_at(&format!("ensemble.members[{i}]"))?;
        }
        Ok(())
    }

    pub fn weights(&self) -> Vec<f64> {
        self.members.iter().map(|m| m.weight).collect()
    }
}

/// Where the data comes from and how it is split: the `[data]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// "iris" (the bundled table) or the path of a CSV file with a header row.
    pub source: String,
    /// The label column of a CSV file; the last column when absent.
    pub label: Option<String>,
    /// Share of every class held out for testing, in (0, 1).
    pub test_fraction: f64,
    /// Seed of the train/test split and the cross-validation folds; also mixed into every member's seed.
    pub seed: u64,
    /// Cross-validation folds, 2..=20.
    pub folds: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig { source: "iris".into(), label: None, test_fraction: 0.2, seed: 42, folds: 5 }
    }
}

impl DataConfig {
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if self.source.trim().is_empty() {
            return Err(InvalidSetting::new("data.source", "is empty; use \"iris\" or the path of a CSV file"));
        }
        if matches!(&self.label, Some(l) if l.trim().is_empty()) {
            return Err(InvalidSetting::new(
                "data.label",
                "is empty; name a column or leave it out to use the last one",
            ));
        }
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            return Err(InvalidSetting::new(
                "data.test_fraction",
                format!("{} is outside (0, 1): both the train and the test split need rows", self.test_fraction),
            ));
        }
        if !(MIN_FOLDS..=MAX_FOLDS).contains(&self.folds) {
            return Err(InvalidSetting::new(
                "data.folds",
                format!("{} is outside {MIN_FOLDS}..={MAX_FOLDS}", self.folds),
            ));
        }
        Ok(())
    }

    /// Whether `source` names the bundled iris table rather than a file.
    pub fn is_iris(&self) -> bool {
        self.source == "iris"
    }
}

/// Loads the table `cfg.source` names: the bundled iris data or a CSV file
/// (a relative path is taken relative to the working directory).
pub fn load_dataset(cfg: &DataConfig) -> Result<Dataset, EnsembleError> {
    if cfg.is_iris() {
        let iris = data::iris();
        return match cfg.label.as_deref() {
            None | Some("species") => Ok(iris),
            Some(other) => {
                data::parse_csv(data::IRIS_CSV, "iris", Some(other)).map_err(|e| EnsembleError::Load(Box::new(e)))
            }
        };
    }
    data::load_csv(Path::new(&cfg.source), cfg.label.as_deref()).map_err(|e| EnsembleError::Load(Box::new(e)))
}
