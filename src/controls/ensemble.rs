//! The Ensemble pane's controls: the data, the fusion, and the fields of the
//! member being edited (`Context::member`).

use super::{Context, ladder, parse, step_seed};
#[cfg(test)]
use crate::compute::ensemble::MAX_TREES;
use crate::compute::ensemble::{MemberConfig, MemberKind};
use crate::format;
use crate::settings::{IRIS, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnsembleControl {
    DataSource,
    Label,
    TestFraction,
    DataSeed,
    Folds,
    Fusion,
    /// Which member the fields below edit.
    Member,
    Kind,
    Trees,
    MaxDepth,
    FeatureFraction,
    Weight,
    MemberSeed,
    /// A logistic member's inverse regularisation strength (scikit-learn's `C`).
    C,
    /// A logistic member's L-BFGS iteration cap.
    MaxIter,
    /// The Deploy pane's recommendation tolerance.
    Tolerance,
}

use EnsembleControl as E;

const TREES: &[f64] = &[1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0, 200.0, 300.0, 500.0];
const C_LADDER: &[f64] = &[1e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1e3, 1e4];
const MAX_ITER_LADDER: &[f64] = &[10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4];
const MAX_FOLDS: usize = 20;

/// The controls that matter for these settings, top to bottom.
pub fn visible_ensemble(s: &Settings, member: usize) -> Vec<EnsembleControl> {
    let mut out = vec![E::DataSource];
    if s.data.source != IRIS {
        out.push(E::Label);
    }
    out.extend([E::TestFraction, E::DataSeed, E::Folds, E::Fusion]);
    if let Some(m) = s.ensemble.members.get(member) {
        out.extend([E::Member, E::Kind]);
        match m.kind {
            MemberKind::Forest => out.extend([E::Trees, E::MaxDepth, E::FeatureFraction]),
            MemberKind::Tree => out.push(E::MaxDepth),
            MemberKind::Logistic => out.extend([E::C, E::MaxIter]),
        }
        out.push(E::Weight);
        if m.kind == MemberKind::Forest {
            out.push(E::MemberSeed);
        }
    }
    out
}

impl EnsembleControl {
    pub fn label(self) -> &'static str {
        match self {
            E::DataSource => "data",
            E::Label => "label column",
            E::TestFraction => "test fraction",
            E::DataSeed => "split seed",
            E::Folds => "cv folds",
            E::Fusion => "fusion",
            E::Member => "member",
            E::Kind => "kind",
            E::Trees => "trees",
            E::MaxDepth => "max depth",
            E::FeatureFraction => "features",
            E::Weight => "weight",
            E::MemberSeed => "seed",
            E::C => "C (inv. L2)",
            E::MaxIter => "max iter",
            E::Tolerance => "tolerance",
        }
    }

    pub fn key(self, member: usize) -> String {
        let field = |f: &str| format!("ensemble.members[{member}].{f}");
        match self {
            E::DataSource => "data.source".into(),
            E::Label => "data.label".into(),
            E::TestFraction => "data.test_fraction".into(),
            E::DataSeed => "data.seed".into(),
            E::Folds => "data.folds".into(),
            E::Fusion => "ensemble.fusion".into(),
            E::Member => "ensemble.members".into(),
            E::Kind => field("kind"),
            E::Trees => field("trees"),
            E::MaxDepth => field("max_depth"),
            E::FeatureFraction => field("feature_fraction"),
            E::Weight => field("weight"),
            E::MemberSeed => field("seed"),
            E::C => field("c"),
            E::MaxIter => field("max_iter"),
            E::Tolerance => "deploy.tolerance".into(),
        }
    }

    pub fn value(self, s: &Settings, ctx: Context) -> String {
        let d = &s.data;
        let m = s.ensemble.members.get(ctx.member);
        let field = |f: fn(&MemberConfig) -> String| m.map(f).unwrap_or_default();
        match self {
            E::DataSource => d.source.clone(),
            E::Label => d.label.clone().unwrap_or_else(|| "(last column)".into()),
            E::TestFraction => format::pct(d.test_fraction),
            E::DataSeed => d.seed.to_string(),
            E::Folds => d.folds.to_string(),
            E::Fusion => s.ensemble.fusion.to_string(),
            E::Member => format!("{} of {}", ctx.member + 1, s.ensemble.members.len()),
            E::Kind => field(|m| m.kind.to_string()),
            E::Trees => field(|m| m.trees.to_string()),
            E::MaxDepth => field(|m| format::depth(m.max_depth)),
            E::FeatureFraction => field(|m| format::pct(m.feature_fraction)),
            E::Weight => field(|m| format::num(m.weight)),
            E::MemberSeed => field(|m| m.seed.to_string()),
            E::C => field(|m| format::num(m.c)),
            E::MaxIter => field(|m| m.max_iter.to_string()),
            E::Tolerance => format!("{} points", format::num(s.deploy.tolerance)),
        }
    }

    /// Moves the value `steps` notches; `Member` is moved by the app, which owns the selection.
    pub fn adjust(self, s: &mut Settings, steps: i32, coarse: bool, ctx: Context) -> Result<(), String> {
        let up = steps > 0;
        let d = &mut s.data;
        match self {
            E::DataSource | E::Label => {
                return Err("press Enter to type a CSV path (or \"iris\") or a column name".into());
            }
            E::TestFraction => d.test_fraction = step_f64(d.test_fraction, 0.05, up, coarse, 0.05, 0.9),
            E::DataSeed => d.seed = step_seed(d.seed, up, coarse),
            E::Folds => d.folds = step_count(d.folds, up, coarse, 2, MAX_FOLDS),
            E::Fusion => s.ensemble.fusion = s.ensemble.fusion.cycle(up),
            E::Member => return Ok(()),
            E::Tolerance => s.deploy.tolerance = step_f64(s.deploy.tolerance, 0.5, up, coarse, 0.0, 100.0),
            _ => {
                let Some(m) = s.ensemble.members.get_mut(ctx.member) else {
                    return Err("no member to edit: press a to add one".into());
                };
                match self {
                    E::Kind => m.kind = m.kind.cycle(up),
                    E::Trees => m.trees = ladder(TREES, m.trees as f64, up, coarse) as usize,
                    E::MaxDepth => m.max_depth = step_count(m.max_depth, up, coarse, 0, 64),
                    E::FeatureFraction => {
                        m.feature_fraction = step_f64(m.feature_fraction, 0.05, up, coarse, 0.05, 1.0)
                    }
                    E::Weight => m.weight = step_f64(m.weight, 0.1, up, coarse, 0.0, 100.0),
                    E::MemberSeed => m.seed = step_seed(m.seed, up, coarse),
                    E::C => m.c = ladder(C_LADDER, m.c, up, coarse),
                    E::MaxIter => m.max_iter = ladder(MAX_ITER_LADDER, m.max_iter as f64, up, coarse) as u64,
                    _ => {}
                }
            }
        }
        s.validate().map_err(|e| e.to_string())
    }

    /// Sets the value from typed text; errors name the settings key.
    pub fn set(self, s: &mut Settings, text: &str, ctx: Context) -> Result<(), String> {
        let text = text.trim();
        let key = self.key(ctx.member);
        let (d, label) = (&mut s.data, self.label());
        match self {
            E::DataSource => {
                d.source = if text.is_empty() { IRIS.into() } else { text.into() };
                d.label = None;
            }
            E::Label => d.label = (!text.is_empty()).then(|| text.to_string()),
            E::TestFraction => d.test_fraction = super::parse_fraction(text, &key, label)?,
            E::DataSeed => d.seed = parse(text, &key, label)?,
            E::Folds => d.folds = parse(text, &key, label)?,
            E::Fusion => s.ensemble.fusion = text.parse().map_err(|e| format!("{key}: {e}"))?,
            E::Member => return Ok(()),
            E::Tolerance => s.deploy.tolerance = parse(text.trim_end_matches("points").trim(), &key, label)?,
            _ => {
                let Some(m) = s.ensemble.members.get_mut(ctx.member) else {
                    return Err("no member to edit: press a to add one".into());
                };
                match self {
                    E::Kind => m.kind = text.parse().map_err(|e| format!("{key}: {e}"))?,
                    E::Trees => m.trees = parse(text, &key, label)?,
                    E::MaxDepth => {
                        m.max_depth = if matches!(text, "unlimited" | "∞") { 0 } else { parse(text, &key, label)? };
                    }
                    E::FeatureFraction => m.feature_fraction = super::parse_fraction(text, &key, label)?,
                    E::Weight => m.weight = parse(text, &key, label)?,
                    E::MemberSeed => m.seed = parse(text, &key, label)?,
                    E::C => m.c = parse(text, &key, label)?,
                    E::MaxIter => m.max_iter = parse(text, &key, label)?,
                    _ => {}
                }
            }
        }
        s.validate().map_err(|e| e.to_string())
    }

    pub fn reset(self, s: &mut Settings, ctx: Context) {
        let d = Settings::default();
        let template = d.ensemble.members.get(ctx.member).or(d.ensemble.members.first()).cloned();
        match self {
            E::DataSource => {
                s.data.source = d.data.source;
                s.data.label = None;
            }
            E::Label => s.data.label = None,
            E::TestFraction => s.data.test_fraction = d.data.test_fraction,
            E::DataSeed => s.data.seed = d.data.seed,
            E::Folds => s.data.folds = d.data.folds,
            E::Fusion => s.ensemble.fusion = d.ensemble.fusion,
            E::Tolerance => s.deploy.tolerance = d.deploy.tolerance,
            E::Member => {}
            _ => {
                if let (Some(m), Some(t)) = (s.ensemble.members.get_mut(ctx.member), template) {
                    match self {
                        E::Kind => m.kind = t.kind,
                        E::Trees => m.trees = t.trees,
                        E::MaxDepth => m.max_depth = t.max_depth,
                        E::FeatureFraction => m.feature_fraction = t.feature_fraction,
                        E::Weight => m.weight = t.weight,
                        E::MemberSeed => m.seed = t.seed,
                        E::C => m.c = t.c,
                        E::MaxIter => m.max_iter = t.max_iter,
                        _ => {}
                    }
                }
            }
        }
    }

    pub fn edit_text(self, s: &Settings, ctx: Context) -> String {
        let m = s.ensemble.members.get(ctx.member);
        match self {
            E::Label => s.data.label.clone().unwrap_or_default(),
            E::TestFraction => s.data.test_fraction.to_string(),
            E::FeatureFraction => m.map(|m| m.feature_fraction.to_string()).unwrap_or_default(),
            E::MaxDepth => m.map(|m| m.max_depth.to_string()).unwrap_or_default(),
            E::Weight => m.map(|m| m.weight.to_string()).unwrap_or_default(),
            E::C => m.map(|m| m.c.to_string()).unwrap_or_default(),
            E::Tolerance => s.deploy.tolerance.to_string(),
            _ => self.value(s, ctx),
        }
    }
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
        assert!(v.contains(&E::Trees) && v.contains(&E::FeatureFraction) && !v.contains(&E::Label));
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
    fn typed_values_are_checked_and_name_the_key() {
        let s = Settings::default();
        let err = |c: EnsembleControl, text: &str| c.set(&mut s.clone(), text, ctx(1)).unwrap_err();
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
