//! The Ensemble pane's controls: the data, the fusion and its weights, and the settings of
//! the member being edited (`Context::member`). Each is a row of a table:
//! the data, fusion and deploy settings of [`ENSEMBLE_CONTROLS`], a member's
//! of [`MEMBER_CONTROLS`] (shown in the order its kind lists its settings,
//! [`crate::compute::ensemble::MemberPlugin::settings`]) and its [`KIND`].

use super::{Context, ControlError, ladder, parse, parse_fraction, step_seed, text};
use crate::compute::UnknownName;
#[cfg(test)]
use crate::compute::ensemble::MemberKind;
use crate::compute::ensemble::{
    Criterion, FeatureRule, Fusion, MAX_DEPTH, MAX_MIN_SAMPLES_LEAF, MaxFeatures, MemberConfig, NeighborWeights,
    WeightRule,
};
#[cfg(test)]
use crate::compute::ensemble::{MAX_MLP_HIDDEN, MAX_TREES};
use crate::format;
use crate::settings::{IRIS, Settings};

/// A control of the Ensemble pane (and the Deploy pane's tolerance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnsembleControl {
    /// A data, fusion or deploy setting: a row of [`ENSEMBLE_CONTROLS`].
    Row(&'static EnsembleRow),
    /// Which member the fields below edit.
    Member,
    /// One of the member's settings, its kind included.
    Setting(&'static MemberControl),
}

use EnsembleControl as E;

/// One member setting as a control: the field it edits (named as in the
/// settings file), how it shows, steps and parses. Resetting copies the field
/// from the default member ([`MemberConfig::copy_setting`]).
pub struct MemberControl {
    pub field: &'static str,
    pub label: &'static str,
    show: fn(&MemberConfig) -> String,
    /// The text offered when the user starts typing.
    edit: fn(&MemberConfig) -> String,
    step: fn(&mut MemberConfig, bool, bool),
    set: fn(&mut MemberConfig, &str, &str, &'static str) -> Result<(), ControlError>,
}

impl PartialEq for MemberControl {
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field
    }
}

impl Eq for MemberControl {}

impl std::fmt::Debug for MemberControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.field)
    }
}

/// One data, fusion or deploy setting as a control: its label, settings
/// key, how it shows, steps, parses and resets. Adding one is one row of
/// [`ENSEMBLE_CONTROLS`].
pub struct EnsembleRow {
    pub label: &'static str,
    pub key: &'static str,
    show: fn(&Settings) -> String,
    /// The text offered when the user starts typing.
    edit: fn(&Settings) -> String,
    step: fn(&mut Settings, bool, bool) -> Result<(), ControlError>,
    /// Typed text (trimmed), the key and the label its errors name.
    parse: fn(&mut Settings, &str, &'static str, &'static str) -> Result<(), ControlError>,
    /// Back to the default (the second settings).
    reset: fn(&mut Settings, &Settings),
}

impl PartialEq for EnsembleRow {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for EnsembleRow {}

impl std::fmt::Debug for EnsembleRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key)
    }
}

/// The row of the setting in field `$field` of section `$sec`, named once,
/// as `member!` does for a member's.
macro_rules! setting {
    ($label:literal, $sec:ident . $field:ident, $show:expr, $step:expr, $parse:expr) => {
        EnsembleRow {
            label: $label,
            key: concat!(stringify!($sec), ".", stringify!($field)),
            show: |s| $show(s.$sec.$field),
            edit: |s| s.$sec.$field.to_string(),
            step: |s, up, coarse| {
                s.$sec.$field = stepped(s.$sec.$field, up, coarse, $step);
                Ok(())
            },
            parse: |s, text, key, label| $parse(text, key, label).map(|v| s.$sec.$field = v),
            reset: |s, d| s.$sec.$field = d.$sec.$field,
        }
    };
}

/// The data, fusion and deploy controls, one row each.
pub const ENSEMBLE_CONTROLS: &[EnsembleRow] = &[
    EnsembleRow {
        label: "data",
        key: "data.source",
        show: |s| s.data.source.clone(),
        edit: |s| s.data.source.clone(),
        step: |_, _, _| Err(TYPE_DATA),
        parse: |s, text, _, _| {
            s.data.source = if text.is_empty() { IRIS.into() } else { text.into() };
            s.data.label = None;
            Ok(())
        },
        reset: |s, d| {
            s.data.source = d.data.source.clone();
            s.data.label = None;
        },
    },
    EnsembleRow {
        label: "label column",
        key: "data.label",
        show: |s| s.data.label.clone().unwrap_or_else(|| "(last column)".into()),
        edit: |s| s.data.label.clone().unwrap_or_default(),
        step: |_, _, _| Err(TYPE_DATA),
        parse: |s, text, _, _| {
            s.data.label = (!text.is_empty()).then(|| text.to_string());
            Ok(())
        },
        reset: |s, _| s.data.label = None,
    },
    setting!("test fraction", data.test_fraction, format::pct, step_test_fraction, parse_fraction),
    setting!("split seed", data.seed, text, step_seed, parse),
    setting!("cv folds", data.folds, text, |v, up, coarse| step_count(v, up, coarse, 2, MAX_FOLDS), parse),
    setting!("fusion", ensemble.fusion, text, |v: Fusion, up, _| v.cycle(up), parse_name),
    setting!("weights", ensemble.weights, text, |v: WeightRule, up, _| v.cycle(up), parse_name),
    setting!(
        "mlp hidden",
        ensemble.mlp_hidden,
        text,
        |v, up, coarse| ladder(HIDDEN, v as f64, up, coarse) as usize,
        parse
    ),
    setting!("tolerance", deploy.tolerance, points, step_tolerance, parse_points),
];

/// Steps of the mlp fusion's hidden units (`MAX_MLP_HIDDEN` at the top).
const HIDDEN: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

const TYPE_DATA: ControlError =
    ControlError::Unavailable("press Enter to type a CSV path (or \"iris\") or a column name");

fn step_test_fraction(v: f64, up: bool, coarse: bool) -> f64 {
    step_f64(v, 0.05, up, coarse, 0.05, 0.9)
}

fn step_tolerance(v: f64, up: bool, coarse: bool) -> f64 {
    step_f64(v, 0.5, up, coarse, 0.0, 100.0)
}

fn points(v: f64) -> String {
    format!("{} points", format::num(v))
}

/// A tolerance, typed with or without its unit.
fn parse_points(text: &str, key: &str, label: &'static str) -> Result<f64, ControlError> {
    parse(text.trim_end_matches("points").trim(), key, label)
}

/// A named value (a fusion, a kind), its error named by the key.
fn parse_name<T: std::str::FromStr<Err = UnknownName>>(
    text: &str,
    key: &str,
    _: &'static str,
) -> Result<T, ControlError> {
    text.parse().map_err(|e| ControlError::from(e).keyed(key))
}

/// The member's kind, a row like its settings (not listed by any kind).
pub const KIND: MemberControl = MemberControl {
    field: "kind",
    label: "kind",
    show: |m| m.kind.to_string(),
    edit: |m| m.kind.to_string(),
    step: |m, up, _| m.kind = m.kind.cycle(up),
    set: |m, text, key, label| parse_name(text, key, label).map(|k| m.kind = k),
};

const TREES: &[f64] = &[1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0, 200.0, 300.0, 500.0];
const C_LADDER: &[f64] = &[1e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1e3, 1e4];
const MAX_ITER_LADDER: &[f64] = &[10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4];
const MAX_FOLDS: usize = 20;

/// The row of the member setting in field `$field`, named once: `$show`
/// formats its value, `$step` maps it and (up, coarse) to the next value,
/// and `$parse` reads typed text (text, key, label). The edit starts from
/// the unformatted value; the reset copies the default member's field.
macro_rules! member {
    ($field:ident, $label:literal, $show:expr, $step:expr, $parse:expr) => {
        MemberControl {
            field: stringify!($field),
            label: $label,
            show: |m| $show(m.$field),
            edit: |m| m.$field.to_string(),
            step: |m, up, coarse| m.$field = stepped(m.$field, up, coarse, $step),
            set: |m, text, key, label| $parse(text, key, label).map(|v| m.$field = v),
        }
    };
}

/// Every member setting a kind may list, one row each.
pub const MEMBER_CONTROLS: &[MemberControl] = &[
    member!(trees, "trees", text, |v, up, coarse| ladder(TREES, v as f64, up, coarse) as usize, parse),
    member!(max_depth, "max depth", format::depth, step_depth, parse_depth),
    member!(max_features, "max features", text, step_max_features, parse),
    member!(weight, "weight", format::num, |v, up, coarse| step_f64(v, 0.1, up, coarse, 0.0, 100.0), parse),
    member!(seed, "seed", text, step_seed, parse),
    member!(c, "C (inv. L2)", format::num, |v, up, coarse| ladder(C_LADDER, v, up, coarse), parse),
    member!(max_iter, "max iter", text, |v, up, coarse| ladder(MAX_ITER_LADDER, v as f64, up, coarse) as u64, parse),
    member!(criterion, "criterion", text, |v: Criterion, up, _| v.cycle(up), parse_name),
    member!(
        min_samples_leaf,
        "min leaf",
        text,
        |v, up, coarse| step_count(v, up, coarse, 1, MAX_MIN_SAMPLES_LEAF),
        parse
    ),
    member!(
        var_smoothing,
        "var smoothing",
        |v: f64| format!("{v:e}"),
        |v, up, coarse| ladder(VAR_SMOOTHING_LADDER, v, up, coarse),
        parse
    ),
    member!(
        n_neighbors,
        "neighbours",
        text,
        |v, up, coarse| ladder(NEIGHBORS_LADDER, v as f64, up, coarse) as usize,
        parse
    ),
    member!(neighbor_weights, "vote", text, |v: NeighborWeights, up, _| v.cycle(up), parse_name),
    member!(learning_rate, "learning rate", format::num, |v, up, coarse| ladder(LEARNING_RATES, v, up, coarse), parse),
    member!(max_leaf_nodes, "max leaves", text, |v, up, coarse| ladder(LEAVES, v as f64, up, coarse) as usize, parse),
    member!(l2_regularization, "L2", format::num, |v, up, coarse| ladder(L2_LADDER, v, up, coarse), parse),
    member!(early_stopping, "early stop", on_off, |v: bool, _, _| !v, parse_on_off),
    member!(
        validation_fraction,
        "validation",
        format::pct,
        |v, up, coarse| step_f64(v, 0.05, up, coarse, 0.05, 0.5),
        parse_fraction
    ),
];

const LEARNING_RATES: &[f64] = &[0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0];
const LEAVES: &[f64] = &[2.0, 3.0, 4.0, 7.0, 15.0, 31.0, 63.0, 127.0, 255.0, 511.0, 1023.0, 2047.0, 4095.0];
const L2_LADDER: &[f64] = &[0.0, 0.001, 0.01, 0.1, 1.0, 10.0, 100.0];

fn on_off(v: bool) -> String {
    (if v { "on" } else { "off" }).into()
}

/// on/off, yes/no or true/false.
fn parse_on_off(text: &str, key: &str, label: &'static str) -> Result<bool, ControlError> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" => Ok(true),
        "off" | "no" | "false" => Ok(false),
        _ => parse(text, key, label),
    }
}

const VAR_SMOOTHING_LADDER: &[f64] =
    &[0.0, 1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0];
const NEIGHBORS_LADDER: &[f64] = &[1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// The steps of `max_features`, fewest candidate features first.
const MAX_FEATURES_LADDER: &[MaxFeatures] = &[
    MaxFeatures::Named(FeatureRule::Log2),
    MaxFeatures::SQRT,
    MaxFeatures::Fraction(0.25),
    MaxFeatures::Fraction(0.5),
    MaxFeatures::Fraction(0.75),
    MaxFeatures::Named(FeatureRule::All),
];

/// The next step of the ladder above (or below) `v`, which need not be on it.
fn step_max_features(v: MaxFeatures, up: bool, _: bool) -> MaxFeatures {
    // Where a value stands on the ladder: log2 < sqrt < any fraction <= all.
    let rank = |m: MaxFeatures| match m {
        MaxFeatures::Named(FeatureRule::Log2) => 0.0,
        MaxFeatures::Named(FeatureRule::Sqrt) => 1.0,
        MaxFeatures::Fraction(f) => 2.0 + f,
        MaxFeatures::Named(FeatureRule::All) => 3.0,
    };
    let ladder = MAX_FEATURES_LADDER.iter().copied();
    let next = if up {
        ladder.clone().find(|&m| rank(m) > rank(v))
    } else {
        ladder.clone().rev().find(|&m| rank(m) < rank(v))
    };
    next.unwrap_or(v)
}

/// Calls a row's `$step` with the field's value: pins its argument types.
fn stepped<T>(v: T, up: bool, coarse: bool, step: impl FnOnce(T, bool, bool) -> T) -> T {
    step(v, up, coarse)
}

fn step_depth(v: usize, up: bool, coarse: bool) -> usize {
    step_count(v, up, coarse, 0, MAX_DEPTH)
}

/// A depth, where 0, "unlimited" and "∞" mean no limit.
fn parse_depth(text: &str, key: &str, label: &'static str) -> Result<usize, ControlError> {
    if matches!(text, "unlimited" | "∞") { Ok(0) } else { parse(text, key, label) }
}

/// The row that edits `field`, if the table has one.
pub fn member_control(field: &str) -> Option<&'static MemberControl> {
    MEMBER_CONTROLS.iter().find(|c| c.field == field)
}

#[allow(non_upper_case_globals)]
impl EnsembleControl {
    pub const DataSource: EnsembleControl = E::Row(&ENSEMBLE_CONTROLS[0]);
    pub const Label: EnsembleControl = E::Row(&ENSEMBLE_CONTROLS[1]);
    pub const TestFraction: EnsembleControl = E::Row(&ENSEMBLE_CONTROLS[2]);
    pub const DataSeed: EnsembleControl = E::Row(&ENSEMBLE_CONTROLS[3]);
    pub const Folds: EnsembleControl = E::Row(&ENSEMBLE_CONTROLS[4]);
    pub const Fusion: EnsembleControl = E::Row(&ENSEMBLE_CONTROLS[5]);
    /// The voting weights: the members' own or optimized (ensemble selection).
    pub const Weights: EnsembleControl = E::Row(&ENSEMBLE_CONTROLS[6]);
    /// The mlp fusion's hidden units (shown under mlp only).
    pub const MlpHidden: EnsembleControl = E::Row(&ENSEMBLE_CONTROLS[7]);
    /// The Deploy pane's recommendation tolerance.
    pub const Tolerance: EnsembleControl = E::Row(&ENSEMBLE_CONTROLS[8]);
    pub const Kind: EnsembleControl = E::Setting(&KIND);
    pub const Trees: EnsembleControl = E::Setting(&MEMBER_CONTROLS[0]);
    pub const MaxDepth: EnsembleControl = E::Setting(&MEMBER_CONTROLS[1]);
    /// A forest's candidate features per split.
    pub const MaxFeatures: EnsembleControl = E::Setting(&MEMBER_CONTROLS[2]);
    pub const Weight: EnsembleControl = E::Setting(&MEMBER_CONTROLS[3]);
    pub const MemberSeed: EnsembleControl = E::Setting(&MEMBER_CONTROLS[4]);
    /// A logistic member's inverse regularisation strength (scikit-learn's `C`).
    pub const C: EnsembleControl = E::Setting(&MEMBER_CONTROLS[5]);
    /// A logistic member's L-BFGS iteration cap.
    pub const MaxIter: EnsembleControl = E::Setting(&MEMBER_CONTROLS[6]);
    /// A forest's split criterion.
    pub const Criterion: EnsembleControl = E::Setting(&MEMBER_CONTROLS[7]);
    /// A forest's fewest rows per leaf.
    pub const MinSamplesLeaf: EnsembleControl = E::Setting(&MEMBER_CONTROLS[8]);
}

/// The controls that matter for these settings, top to bottom.
pub fn visible_ensemble(s: &Settings, member: usize) -> Vec<EnsembleControl> {
    let mut out = vec![E::DataSource];
    if s.data.source != IRIS {
        out.push(E::Label);
    }
    out.extend([E::TestFraction, E::DataSeed, E::Folds, E::Fusion, E::Weights]);
    if s.ensemble.fusion == Fusion::Mlp {
        out.push(E::MlpHidden);
    }
    if let Some(m) = s.ensemble.members.get(member) {
        out.extend([E::Member, E::Kind]);
        out.extend(m.kind.settings().iter().filter_map(|f| member_control(f)).map(E::Setting));
    }
    out
}

impl EnsembleControl {
    pub fn label(self) -> &'static str {
        match self {
            E::Row(r) => r.label,
            E::Member => "member",
            E::Setting(c) => c.label,
        }
    }

    pub fn key(self, member: usize) -> String {
        match self {
            E::Row(r) => r.key.into(),
            E::Member => "ensemble.members".into(),
            E::Setting(c) => format!("ensemble.members[{member}].{}", c.field),
        }
    }

    pub fn value(self, s: &Settings, ctx: Context) -> String {
        match self {
            E::Row(r) => (r.show)(s),
            E::Member => format!("{} of {}", ctx.member + 1, s.ensemble.members.len()),
            E::Setting(c) => s.ensemble.members.get(ctx.member).map(c.show).unwrap_or_default(),
        }
    }

    /// Moves the value `steps` notches; `Member` is moved by the app, which owns the selection.
    pub fn adjust(self, s: &mut Settings, steps: i32, coarse: bool, ctx: Context) -> Result<(), ControlError> {
        let up = steps > 0;
        match self {
            E::Row(r) => (r.step)(s, up, coarse)?,
            E::Member => return Ok(()),
            E::Setting(c) => (c.step)(edited(s, ctx)?, up, coarse),
        }
        Ok(s.validate()?)
    }

    /// Sets the value from typed text; errors name the settings key.
    pub fn set(self, s: &mut Settings, text: &str, ctx: Context) -> Result<(), ControlError> {
        let text = text.trim();
        match self {
            E::Row(r) => (r.parse)(s, text, r.key, r.label)?,
            E::Member => return Ok(()),
            E::Setting(c) => (c.set)(edited(s, ctx)?, text, &self.key(ctx.member), c.label)?,
        }
        Ok(s.validate()?)
    }

    pub fn reset(self, s: &mut Settings, ctx: Context) {
        let d = Settings::default();
        match self {
            E::Row(r) => (r.reset)(s, &d),
            E::Member => {}
            E::Setting(c) => {
                let template = d.ensemble.members.get(ctx.member).or(d.ensemble.members.first());
                if let (Some(m), Some(t)) = (s.ensemble.members.get_mut(ctx.member), template) {
                    m.copy_setting(c.field, t);
                }
            }
        }
    }

    pub fn edit_text(self, s: &Settings, ctx: Context) -> String {
        match self {
            E::Row(r) => (r.edit)(s),
            E::Member => self.value(s, ctx),
            E::Setting(c) => s.ensemble.members.get(ctx.member).map(c.edit).unwrap_or_default(),
        }
    }
}

/// The member the fields edit.
fn edited<'a>(s: &'a mut Settings, ctx: Context) -> Result<&'a mut MemberConfig, ControlError> {
    s.ensemble.members.get_mut(ctx.member).ok_or(ControlError::Unavailable("no member to edit: press a to add one"))
}

fn step_f64(v: f64, step: f64, up: bool, coarse: bool, min: f64, max: f64) -> f64 {
    let step = if coarse { step * 5.0 } else { step };
    // Round to nine decimals so repeated presses do not accumulate float noise.
    let next = ((v + if up { step } else { -step }) * 1e9).round() / 1e9;
    next.clamp(min, max)
}

fn step_count(n: usize, up: bool, coarse: bool, min: usize, max: usize) -> usize {
    let step = if coarse { 5 } else { 1 };
    if up { n.saturating_add(step) } else { n.saturating_sub(step) }.clamp(min, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(member: usize) -> Context<'static> {
        Context { member, ..Context::default() }
    }

    #[test]
    fn visible_controls_follow_the_member_kind() {
        let mut s = Settings::default();
        let v = visible_ensemble(&s, 0);
        assert!(v.contains(&E::Trees) && v.contains(&E::MaxFeatures) && !v.contains(&E::Label));
        s.ensemble.members[1].kind = MemberKind::Logistic;
        let v = visible_ensemble(&s, 1);
        assert!(!v.contains(&E::Trees) && v.contains(&E::Weight));
        s.ensemble.members.clear();
        assert!(!visible_ensemble(&s, 0).contains(&E::Member));
    }

    #[test]
    fn steps_stay_in_range_and_on_the_grid() {
        let mut s = Settings::default();
        for _ in 0..30 {
            E::Weight.adjust(&mut s, -1, false, ctx(0)).unwrap();
        }
        assert_eq!(s.ensemble.members[0].weight, 0.0);
        for _ in 0..3 {
            E::Weight.adjust(&mut s, 1, false, ctx(0)).unwrap();
        }
        assert_eq!(s.ensemble.members[0].weight, 0.3);
        E::Trees.adjust(&mut s, 1, false, ctx(2)).unwrap();
        assert_eq!(s.ensemble.members[2].trees, 50);
        // Coarse is two rungs of the ladder, not a jump to the end.
        E::Trees.adjust(&mut s, 1, true, ctx(2)).unwrap();
        assert_eq!(s.ensemble.members[2].trees, 200);
        E::Trees.adjust(&mut s, 1, true, ctx(2)).unwrap();
        assert_eq!(s.ensemble.members[2].trees, MAX_TREES);
        for _ in 0..30 {
            E::Folds.adjust(&mut s, -1, false, ctx(0)).unwrap();
        }
        assert_eq!(s.data.folds, 2);
    }

    #[test]
    fn weights_and_mlp_hidden_step_parse_and_reset() {
        let mut s = Settings::default();
        assert!(visible_ensemble(&s, 0).contains(&E::Weights) && !visible_ensemble(&s, 0).contains(&E::MlpHidden));
        E::Weights.adjust(&mut s, 1, false, ctx(0)).unwrap();
        assert_eq!((s.ensemble.weights, E::Weights.value(&s, ctx(0))), (WeightRule::Optimized, "optimized".into()));
        E::Weights.adjust(&mut s, 1, false, ctx(0)).unwrap();
        assert_eq!(s.ensemble.weights, WeightRule::Members);
        E::Weights.set(&mut s, " optimized ", ctx(0)).unwrap();
        assert_eq!(s.ensemble.weights, WeightRule::Optimized);
        let err = E::Weights.set(&mut s.clone(), "best", ctx(0)).unwrap_err().to_string();
        assert!(err.contains("ensemble.weights") && err.contains("best"), "{err}");
        E::Weights.reset(&mut s, ctx(0));
        assert_eq!(s.ensemble.weights, WeightRule::Members);

        E::Fusion.set(&mut s, "mlp", ctx(0)).unwrap();
        let shown = visible_ensemble(&s, 0);
        let at = |c| shown.iter().position(|&x| x == c).unwrap();
        assert_eq!((at(E::Weights), at(E::MlpHidden)), (at(E::Fusion) + 1, at(E::Fusion) + 2));
        assert_eq!(E::MlpHidden.key(0), "ensemble.mlp_hidden");
        E::MlpHidden.adjust(&mut s, 1, false, ctx(0)).unwrap();
        assert_eq!(s.ensemble.mlp_hidden, 32);
        E::MlpHidden.adjust(&mut s, -1, true, ctx(0)).unwrap();
        assert_eq!(s.ensemble.mlp_hidden, 8);
        for _ in 0..10 {
            E::MlpHidden.adjust(&mut s, 1, true, ctx(0)).unwrap();
        }
        assert_eq!(s.ensemble.mlp_hidden, MAX_MLP_HIDDEN);
        E::MlpHidden.set(&mut s, "24", ctx(0)).unwrap();
        assert_eq!((s.ensemble.mlp_hidden, E::MlpHidden.edit_text(&s, ctx(0))), (24, "24".into()));
        for bad in ["0", "257", "wide"] {
            let err = E::MlpHidden.set(&mut s.clone(), bad, ctx(0)).unwrap_err().to_string();
            assert!(err.contains("ensemble.mlp_hidden"), "{bad}: {err}");
        }
        E::MlpHidden.reset(&mut s, ctx(0));
        assert_eq!(s.ensemble.mlp_hidden, Settings::default().ensemble.mlp_hidden);
    }

    #[test]
    fn typed_values_are_checked_and_name_the_key() {
        let s = Settings::default();
        let err = |c: EnsembleControl, text: &str| c.set(&mut s.clone(), text, ctx(1)).unwrap_err().to_string();
        assert!(err(E::Trees, "0").contains("ensemble.members[1].trees"));
        assert!(err(E::Trees, "many").contains("ensemble.members[1].trees"));
        assert!(err(E::Weight, "-1").contains("ensemble.members[1].weight"));
        assert!(err(E::Fusion, "average").contains("ensemble.fusion"));
        assert!(err(E::TestFraction, "1.5").contains("data.test_fraction"));
        let mut t = s.clone();
        E::Kind.set(&mut t, "logistic", ctx(1)).unwrap();
        assert_eq!(t.ensemble.members[1].kind, MemberKind::Logistic);
    }
}
