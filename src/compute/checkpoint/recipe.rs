//! Overrides and recipes: `--pin GLOB=FORMAT` (and `keep`, stored as it
//! is), and the recipe TOML that `--recipe-out` writes and `--recipe`
//! loads back: the budget, the candidates, the selection, the pins and
//! every tensor's format. Pure: the CLI reads and writes the file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Checkpoint;
use super::scan::Budget;
use super::select::{FormatListError, FormatSpec};

/// The format that stores a tensor as it is, in its own dtype.
pub const KEEP: &str = "keep";

/// `GLOB=FORMAT`: tensors whose name matches `glob` take `format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    pub glob: String,
    pub format: String,
}

impl Pin {
    /// `GLOB=FORMAT`, split at the last `=` (a glob may hold one, a format never does).
    pub fn parse(arg: &str) -> Result<Pin, RecipeError> {
        match arg.rsplit_once('=') {
            Some((glob, format)) if !glob.is_empty() && !format.trim().is_empty() => {
                Ok(Pin { glob: glob.to_string(), format: format.trim().to_string() })
            }
            _ => Err(RecipeError::BadPin { arg: arg.to_string() }),
        }
    }

    /// `--keep GLOB`: the pin `GLOB=keep`.
    pub fn keep(glob: &str) -> Pin {
        Pin { glob: glob.to_string(), format: KEEP.to_string() }
    }
}

/// `GLOB=X`: the squared error of tensors matching `glob` counts X times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleWeight {
    pub glob: String,
    pub weight: f64,
}

impl RoleWeight {
    /// `GLOB=X`, X a positive finite number.
    pub fn parse(arg: &str) -> Result<RoleWeight, RecipeError> {
        let bad = || RecipeError::BadWeight { arg: arg.to_string() };
        let (glob, x) = arg.rsplit_once('=').filter(|(g, _)| !g.is_empty()).ok_or_else(bad)?;
        let weight: f64 = x.trim().parse().map_err(|_| bad())?;
        if !(weight.is_finite() && weight > 0.0) {
            return Err(bad());
        }
        Ok(RoleWeight { glob: glob.to_string(), weight })
    }
}

/// The weight of the first `weights` glob matching `name`, else 1.
pub fn weight_for(weights: &[RoleWeight], name: &str) -> f64 {
    weights.iter().find(|w| super::select::glob_match(&w.glob, name)).map_or(1.0, |w| w.weight)
}

/// The first pin whose glob matches `name`, in the order given.
pub fn pin_for<'a>(pins: &'a [Pin], name: &str) -> Option<&'a Pin> {
    pins.iter().find(|p| super::select::glob_match(&p.glob, name))
}

/// A plan written down: what produced it and every tensor's format.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_bpw: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_mb: Option<f64>,
    /// The candidates (`--formats`).
    pub formats: Vec<String>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub include_1d: bool,
    #[serde(default)]
    pub pins: Vec<Pin>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<RoleWeight>,
    /// Tensor name → format (or `keep`), for every quantized tensor.
    pub assignments: BTreeMap<String, String>,
}

/// Why a pin or a recipe cannot be used; each names the flag or the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecipeError {
    #[error("--pin {arg:?} is not GLOB=FORMAT (for example '*embed*=q8_0' or '*norm*=keep')")]
    BadPin { arg: String },

    #[error("--weight {arg:?} is not GLOB=X with X a positive number (for example '*down_proj*=2')")]
    BadWeight { arg: String },

    #[error("cannot read the recipe {path}: {reason}")]
    NotToml { path: String, reason: String },

    #[error("the recipe {path} gives both budget_bpw and budget_mb; keep one")]
    TwoBudgets { path: String },

    #[error("the recipe {path} assigns no tensor; [assignments] needs a \"name\" = \"format\" line per tensor")]
    NoAssignments { path: String },

    #[error("the recipe {path}: {source}")]
    Format {
        path: String,
        #[source]
        source: FormatListError,
    },

    #[error(
        "the recipe {path} assigns tensor {tensor}, which {checkpoint} does not have; was it made for another checkpoint?"
    )]
    UnknownTensor { path: String, tensor: String, checkpoint: String },

    #[error(
        "the recipe {path} gives no format for tensor {tensor} of {checkpoint}; add a \"{tensor}\" = \"FORMAT\" line to [assignments]"
    )]
    MissingTensor { path: String, tensor: String, checkpoint: String },

    #[error("the recipe {path} assigns {format} to tensor {tensor}, which is not quantized: {reason}")]
    NotQuantized { path: String, tensor: String, format: String, reason: String },

    #[error("the recipe {path} assigns {format} to tensor {tensor}, which it cannot apply to: {reason}")]
    CannotApply { path: String, tensor: String, format: String, reason: String },
}

impl Recipe {
    /// The budget as it was given, if any.
    pub fn budget(&self) -> Option<Budget> {
        self.budget_bpw.map(Budget::Bpw).or(self.budget_mb.map(Budget::Megabytes))
    }

    pub fn set_budget(&mut self, budget: Option<Budget>) {
        (self.budget_bpw, self.budget_mb) = match budget {
            Some(Budget::Bpw(x)) => (Some(x), None),
            Some(Budget::Megabytes(y)) => (None, Some(y)),
            None => (None, None),
        };
    }

    /// The recipe's TOML, after `comments` (each line prefixed with `# `).
    pub fn to_toml(&self, comments: &[String]) -> String {
        let mut out: String = comments.iter().map(|c| format!("# {c}\n")).collect();
        // Plain data (strings, finite floats, a string map): it always serializes.
        out.push_str(&toml::to_string(self).expect("a recipe is plain TOML data"));
        out
    }

    /// Reads a recipe; `path` names the file in every error.
    pub fn from_toml(path: &str, text: &str) -> Result<Recipe, RecipeError> {
        let recipe: Recipe = toml::from_str(text)
            .map_err(|e| RecipeError::NotToml { path: path.to_string(), reason: one_paragraph(&e.to_string()) })?;
        if recipe.budget_bpw.is_some() && recipe.budget_mb.is_some() {
            return Err(RecipeError::TwoBudgets { path: path.to_string() });
        }
        if recipe.assignments.is_empty() {
            return Err(RecipeError::NoAssignments { path: path.to_string() });
        }
        Ok(recipe)
    }

    /// Every format the recipe names (candidates, pins, assignments), once
    /// each and in that order, `keep` left out: what a scan must measure.
    pub fn measured_formats(&self) -> Vec<&str> {
        let pins = self.pins.iter().map(|p| p.format.as_str());
        let all =
            self.formats.iter().map(String::as_str).chain(pins).chain(self.assignments.values().map(String::as_str));
        let mut out: Vec<&str> = Vec::new();
        for name in all.filter(|n| *n != KEEP) {
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }
}

/// Refuses a recipe that does not fit the checkpoint, before any tensor
/// is read: a tensor it lacks, a quantized one left out, a format on a
/// tensor not quantized or whose rows are not whole blocks of it.
/// `selected` marks the tensors the recipe's include/exclude pick; `specs`
/// holds every format the recipe names.
pub fn check_against(
    recipe: &Recipe,
    path: &str,
    ck: &Checkpoint,
    selected: &[bool],
    specs: &[FormatSpec],
) -> Result<(), RecipeError> {
    let path = path.to_string();
    for (name, format) in &recipe.assignments {
        let unknown =
            || RecipeError::UnknownTensor { path: path.clone(), tensor: name.clone(), checkpoint: ck.path.clone() };
        let i = ck.tensors.iter().position(|e| &e.name == name).ok_or_else(unknown)?;
        let entry = &ck.tensors[i];
        let not_quantized = |reason: &str| RecipeError::NotQuantized {
            path: path.clone(),
            tensor: name.clone(),
            format: format.clone(),
            reason: reason.to_string(),
        };
        if !selected[i] {
            return Err(not_quantized("the recipe's include/exclude leave it out"));
        }
        if format == KEEP {
            continue;
        }
        if let Some(reason) = &entry.skipped {
            return Err(not_quantized(reason));
        }
        let spec = specs.iter().find(|s| &s.label == format).expect("specs hold every format of the recipe");
        let cols = crate::compute::weights::matrix_dims(&entry.shape).1;
        spec.cfg.format.format().check(&spec.cfg, Some(cols)).map_err(|e| RecipeError::CannotApply {
            path: path.clone(),
            tensor: name.clone(),
            format: format.clone(),
            reason: e.to_string(),
        })?;
    }
    let quantized = ck.tensors.iter().zip(selected).filter(|(e, s)| **s && e.skipped.is_none());
    if let Some((e, _)) = quantized.into_iter().find(|(e, _)| !recipe.assignments.contains_key(&e.name)) {
        return Err(RecipeError::MissingTensor { path, tensor: e.name.clone(), checkpoint: ck.path.clone() });
    }
    Ok(())
}

/// toml's messages quote the line with a caret under it; one line reads
/// better after `error: `.
fn one_paragraph(message: &str) -> String {
    let quote = |l: &str| l.starts_with('|') || l.split_once(" |").is_some_and(|(n, _)| n.parse::<u32>().is_ok());
    let lines: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty() && !quote(l)).collect();
    lines.join("; ")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sample() -> Recipe {
        Recipe {
            budget_bpw: Some(5.25),
            formats: vec!["q4_0".into(), "q8_0".into()],
            include: vec!["*proj*".into()],
            pins: vec![Pin::parse("*embed*=q6_k").unwrap(), Pin::keep("*norm*")],
            assignments: BTreeMap::from([("a.weight".into(), "q4_0".into()), ("b.norm".into(), KEEP.into())]),
            ..Recipe::default()
        }
    }

    #[test]
    fn a_recipe_reads_back_exactly() {
        let r = sample();
        let text = r.to_toml(&["made by a test".into()]);
        assert!(text.starts_with("# made by a test\n"), "{text}");
        assert_eq!(Recipe::from_toml("r.toml", &text).unwrap(), r);
        assert_eq!(r.budget(), Some(Budget::Bpw(5.25)));
        assert_eq!(r.measured_formats(), ["q4_0", "q8_0", "q6_k"]);
    }

    #[test]
    fn pins_split_at_the_last_equals_and_the_first_match_wins() {
        assert_eq!(Pin::parse("a=b=q8_0").unwrap(), Pin { glob: "a=b".into(), format: "q8_0".into() });
        for bad in ["q8_0", "=q8_0", "*embed*=", "*embed*= "] {
            assert_eq!(Pin::parse(bad).unwrap_err(), RecipeError::BadPin { arg: bad.into() });
        }
        let pins = [Pin::parse("*embed*=q8_0").unwrap(), Pin::parse("*=q4_0").unwrap()];
        assert_eq!(pin_for(&pins, "model.embed.weight").unwrap().format, "q8_0");
        assert_eq!(pin_for(&pins, "layers.0.q").unwrap().format, "q4_0");
        assert!(pin_for(&pins[..1], "layers.0.q").is_none());
    }

    #[test]
    fn weights_parse_and_the_first_match_counts() {
        let w = [RoleWeight::parse("*down*=2.5").unwrap(), RoleWeight::parse("*=0.5").unwrap()];
        assert_eq!((weight_for(&w, "l.down.w"), weight_for(&w, "l.up.w"), weight_for(&[], "x")), (2.5, 0.5, 1.0));
        for bad in ["*down*", "=2", "*=x", "*=0", "*=-1", "*=inf"] {
            assert_eq!(RoleWeight::parse(bad).unwrap_err(), RecipeError::BadWeight { arg: bad.into() });
        }
    }

    #[test]
    fn bad_recipes_are_one_paragraph_naming_the_file() {
        let cases = [
            ("formats = [", "cannot read the recipe r.toml"),
            ("formats = []\nbudget = 3\n[assignments]\na = \"q4_0\"", "unknown field `budget`"),
            ("formats = []\nbudget_bpw = 3\nbudget_mb = 1\n[assignments]\na = \"q4_0\"", "both budget_bpw"),
            ("formats = []\n[assignments]\n", "assigns no tensor"),
            ("formats = []\n[assignments]\na = 4", "r.toml"),
        ];
        for (text, want) in cases {
            let e = Recipe::from_toml("r.toml", text).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("r.toml"), "{text:?}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }

    proptest! {
        /// Arbitrary text, and a good recipe cut or with a byte changed,
        /// gives a recipe or an error: never a panic.
        #[test]
        fn the_reader_never_panics(text in ".{0,300}", cut in 0usize..400, at in 0usize..400, byte in any::<u8>()) {
            let _ = Recipe::from_toml("r.toml", &text);
            let good = sample().to_toml(&[]);
            let _ = Recipe::from_toml("r.toml", &good[..cut.min(good.len())]);
            let mut bytes = good.into_bytes();
            let i = at % bytes.len();
            bytes[i] = byte;
            let _ = Recipe::from_toml("r.toml", &String::from_utf8_lossy(&bytes));
        }
    }
}
