//! The ensemble's member kinds, as plug-ins. A kind is one file here that
//! implements [`MemberPlugin`] (its name, the settings it reads, and its
//! fit, whose result implements [`FittedModel`]: probabilities, quantized
//! inference for the Deploy pane, size), plus one line in [`BUILTIN_KINDS`].
//! The settings stay the flat `[[ensemble.members]]` table ([`MemberConfig`]):
//! files written today hold every field for every member, and still load.

mod cart;
mod extra_trees;
mod forest;
mod gbm;
mod knn;
mod logistic;
mod naive_bayes;
mod tree;
mod trees;

pub(crate) use logistic::Softmax;
#[cfg(test)]
pub(crate) use trees::{FlatNode, FlatTree, Votes, threshold_code};

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::UnknownName;
use super::ensemble::{EnsembleError, MemberConfig, argmax_rows, fit_error};
use super::quant::{QParams, Rounder, Rounding};

/// The member kinds a settings file may name, in the order a key cycles them.
pub const BUILTIN_KINDS: &[MemberKind] = &[
    MemberKind(&forest::Forest),
    MemberKind(&tree::Tree),
    MemberKind(&logistic::Logistic),
    MemberKind(&extra_trees::ExtraTrees),
    MemberKind(&naive_bayes::NaiveBayes),
    MemberKind(&knn::Knn),
    MemberKind(&gbm::Gbm),
];

/// One kind of member: what it is called, what it reads, how it is fitted.
pub trait MemberPlugin: Sync + 'static {
    /// Its name in settings files, the report and the panes ("forest").
    fn name(&self) -> &'static str;

    /// The [`MemberConfig`] fields it reads, in the order the pane shows
    /// them; "weight" (read by the fusion, not by training) among them.
    fn settings(&self) -> &'static [&'static str];

    /// Fits on `data` (already checked by [`fit_member`]); `rng` is the
    /// member's only random stream. Errors name `cfg.kind`.
    fn fit(&self, cfg: &MemberConfig, data: &TrainingSet<'_>, rng: &mut ChaCha8Rng) -> FitResult;
}

/// What [`MemberPlugin::fit`] gives.
pub type FitResult = Result<Arc<dyn FittedModel>, EnsembleError>;

/// The rows a member is fitted on: `x` (rows x features, finite) and its
/// labels `y`, each below `classes`.
#[derive(Debug, Clone, Copy)]
pub struct TrainingSet<'a> {
    pub x: ArrayView2<'a, f64>,
    pub y: &'a [usize],
    pub classes: usize,
}

/// The Quantize pane's quantizer on a weight matrix (features x classes).
pub type WeightsThrough<'a> = &'a dyn Fn(&Array2<f64>) -> Array2<f64>;

/// Inference on integer codes (`int` per tensor or per channel): `features[c]`
/// quantizes feature `c` with `rounding`; `weights` quantizes a weight matrix.
#[derive(Clone, Copy)]
pub struct QuantizedInference<'a> {
    pub features: &'a [QParams],
    pub rounding: Rounding,
    pub weights: WeightsThrough<'a>,
}

impl QuantizedInference<'_> {
    /// x̂ of every value of `x` (rows x features): each feature's code under
    /// its quantizer with `rounding`, dequantized. What a model that reads
    /// quantized features (logistic, naive Bayes, kNN) sees.
    pub fn dequantize_rows(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let mut rounder = Rounder::new(self.rounding, 0);
        Array2::from_shape_fn(x.dim(), |(r, c)| {
            let p = &self.features[c];
            p.dequantize(rounder.quantize(p, x[[r, c]] as f32).0) as f64
        })
    }

    /// x̂ of a value the model stores on feature `c`'s scale (a class mean, a
    /// training row), from that feature's code rounded half to even, as a threshold's is.
    pub fn dequantize_stored(&self, c: usize, v: f64) -> f64 {
        let p = &self.features[c];
        p.dequantize(trees::threshold_code(p, v)) as f64
    }
}

/// Inference through any number format: the rows already hold each
/// feature's x̂, `threshold(c, t)` is x̂ of a threshold `t` on feature `c`
/// (from that feature's quantizer); `weights` quantizes a weight matrix.
#[derive(Clone, Copy)]
pub struct DequantizedInference<'a> {
    pub threshold: &'a dyn Fn(usize, f64) -> f64,
    pub weights: WeightsThrough<'a>,
}

/// A fitted model of some kind.
pub trait FittedModel: fmt::Debug + Send + Sync + Any {
    /// Class probabilities, rows x `classes`, each row summing to 1.
    fn predict_proba(&self, x: ArrayView2<f64>, classes: usize) -> Array2<f64>;

    /// The same with quantized inference on integer codes.
    fn predict_proba_quantized(&self, x: ArrayView2<f64>, classes: usize, q: &QuantizedInference<'_>) -> Array2<f64>;

    /// Inference through any number format, `x` holding each feature's x̂.
    /// By default the float model on x̂, for a kind with neither thresholds
    /// nor weights.
    fn predict_proba_dequantized(
        &self,
        x: ArrayView2<f64>,
        classes: usize,
        _q: &DequantizedInference<'_>,
    ) -> Array2<f64> {
        self.predict_proba(x, classes)
    }

    /// Storage in bits with `value_bits`-bit thresholds or weights.
    fn size_bits(&self, value_bits: u32) -> u64;

    /// Whether the fit converged (an iterative solver stopped on its tolerance).
    fn converged(&self) -> bool {
        true
    }

    /// The model itself, for tests that look inside one kind.
    fn as_any(&self) -> &dyn Any;
}

/// What kind of model a member is: a handle on its [`MemberPlugin`].
#[derive(Clone, Copy)]
pub struct MemberKind(&'static dyn MemberPlugin);

#[allow(non_upper_case_globals)]
impl MemberKind {
    pub const Forest: MemberKind = BUILTIN_KINDS[0];
    pub const Tree: MemberKind = BUILTIN_KINDS[1];
    pub const Logistic: MemberKind = BUILTIN_KINDS[2];
    pub const ExtraTrees: MemberKind = BUILTIN_KINDS[3];

    /// A kind of one's own (a plug-in not in [`BUILTIN_KINDS`]).
    pub const fn new(plugin: &'static dyn MemberPlugin) -> MemberKind {
        MemberKind(plugin)
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    pub fn plugin(self) -> &'static dyn MemberPlugin {
        self.0
    }

    pub fn settings(self) -> &'static [&'static str] {
        self.0.settings()
    }

    /// The next (or previous) built-in kind, wrapping around: how a key cycles it.
    pub fn cycle(self, forward: bool) -> MemberKind {
        MemberKinds::default().cycle(self, forward)
    }
}

impl PartialEq for MemberKind {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for MemberKind {}

impl std::hash::Hash for MemberKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state)
    }
}

impl fmt::Debug for MemberKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for MemberKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for MemberKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        MemberKinds::default().find(s)
    }
}

impl serde::Serialize for MemberKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for MemberKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        BUILTIN_KINDS.iter().copied().find(|k| k.name() == name).ok_or_else(|| {
            // serde's own wording for an unknown enum variant, as when the kinds were an enum.
            let names: Vec<String> = BUILTIN_KINDS.iter().map(|k| format!("`{}`", k.name())).collect();
            serde::de::Error::custom(format!("unknown variant `{name}`, expected one of {}", names.join(", ")))
        })
    }
}

/// The kinds a name may pick: [`BUILTIN_KINDS`] by default, and any a caller adds.
#[derive(Debug, Clone)]
pub struct MemberKinds(Vec<MemberKind>);

impl Default for MemberKinds {
    fn default() -> Self {
        MemberKinds(BUILTIN_KINDS.to_vec())
    }
}

impl MemberKinds {
    /// These kinds and `kind` (last in the cycle).
    pub fn with(mut self, kind: MemberKind) -> MemberKinds {
        self.0.push(kind);
        self
    }

    pub fn all(&self) -> &[MemberKind] {
        &self.0
    }

    pub fn find(&self, name: &str) -> Result<MemberKind, UnknownName> {
        self.0
            .iter()
            .copied()
            .find(|k| k.name() == name)
            .ok_or_else(|| UnknownName::new("value", name, self.0.iter().map(|k| k.name())))
    }

    /// The kind after (or before) `kind`, wrapping around; the first when `kind` is not here.
    pub fn cycle(&self, kind: MemberKind, forward: bool) -> MemberKind {
        let n = self.0.len();
        let i = self.0.iter().position(|k| *k == kind).unwrap_or(0);
        self.0[if forward { (i + 1) % n } else { (i + n - 1) % n }]
    }
}

/// A trained member.
#[derive(Debug, Clone)]
pub struct FittedMember {
    pub(crate) kind: MemberKind,
    pub(crate) classes: usize,
    pub(crate) features: usize,
    pub(crate) model: Arc<dyn FittedModel>,
}

impl FittedMember {
    pub fn kind(&self) -> MemberKind {
        self.kind
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Whether the fit converged: a logistic member's solver stopped with a
    /// small gradient rather than at `max_iter`; trees always have.
    pub fn converged(&self) -> bool {
        self.model.converged()
    }

    /// Number of feature columns the member was trained on (and `predict_proba` expects).
    pub fn features(&self) -> usize {
        self.features
    }

    /// Class probabilities, rows x classes, each row summing to 1. A forest's
    /// probabilities are the shares of its trees voting for each class (so
    /// multiples of 1 / trees); a tree's are one-hot.
    ///
    /// `x` must have the training width [`FittedMember::features`]; a
    /// different width is a programming error and gives uniform rows.
    pub fn predict_proba(&self, x: ArrayView2<f64>) -> Array2<f64> {
        if x.ncols() != self.features || self.classes == 0 {
            debug_assert!(false, "predict_proba: {} columns, trained on {}", x.ncols(), self.features);
            let mut out = Array2::zeros((x.nrows(), self.classes));
            out.fill(if self.classes == 0 { 0.0 } else { 1.0 / self.classes as f64 });
            return out;
        }
        self.model.predict_proba(x, self.classes)
    }

    pub fn predict(&self, x: ArrayView2<f64>) -> Vec<usize> {
        argmax_rows(self.predict_proba(x).view())
    }

    /// Class probabilities with quantized inference: a tree compares the
    /// integer code of a feature with the code of its threshold (both from
    /// that feature's quantizer); a logistic member sees dequantized features
    /// and its weights passed through `q.weights`.
    pub fn predict_proba_quantized(&self, x: ArrayView2<f64>, q: &QuantizedInference<'_>) -> Array2<f64> {
        self.model.predict_proba_quantized(x, self.classes, q)
    }

    /// Class probabilities through any number format: a tree compares x̂ of
    /// a feature with x̂ of its threshold, a logistic member reads x̂ and its
    /// weights passed through `q.weights`.
    pub fn predict_proba_dequantized(&self, x: ArrayView2<f64>, q: &DequantizedInference<'_>) -> Array2<f64> {
        self.model.predict_proba_dequantized(x, self.classes, q)
    }

    /// Storage in bits with `value_bits`-bit thresholds / weights: a split
    /// node holds a threshold, an 8-bit feature index and two 16-bit child
    /// links, a leaf an 8-bit class; a logistic member its weights and
    /// 32-bit intercepts.
    pub fn size_bits(&self, value_bits: u32) -> u64 {
        self.model.size_bits(value_bits)
    }

    /// The fitted model, for tests that look inside one kind.
    pub fn model(&self) -> &dyn FittedModel {
        self.model.as_ref()
    }
}

/// Trains one member on `x` (rows x features) and `y` (class indices < `classes`).
///
/// `seed` seeds the member's only random stream (bootstrap rows and feature
/// subsets of a forest); [`super::ensemble::train_member`] derives it from
/// the data seed, the member seed and the fold, so `cfg.seed` itself is not read here.
pub fn fit_member(
    cfg: &MemberConfig,
    x: ArrayView2<f64>,
    y: &[usize],
    classes: usize,
    seed: u64,
) -> Result<FittedMember, EnsembleError> {
    let kind = cfg.kind;
    cfg.validate_at("member").map_err(|e| fit_error(kind, e.to_string()))?;
    let (rows, features) = x.dim();
    if rows == 0 || features == 0 {
        return Err(fit_error(kind, format!("the training data is empty ({rows} rows x {features} features)")));
    }
    if y.len() != rows {
        return Err(fit_error(kind, format!("{rows} feature rows but {} labels", y.len())));
    }
    if let Some(&bad) = y.iter().find(|&&l| l >= classes) {
        return Err(fit_error(kind, format!("label {bad} is not below the {classes} classes")));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(fit_error(kind, "the features hold NaN or infinite values"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let model = kind.plugin().fit(cfg, &TrainingSet { x: x.view(), y, classes }, &mut rng)?;
    Ok(FittedMember { kind, classes, features, model })
}
