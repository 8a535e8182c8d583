//! The extra-trees member, scikit-learn's `ExtraTreesClassifier`: like the
//! forest, but every tree sees every row (no bootstrap) and a split tries
//! one uniformly random threshold per candidate feature, keeping the best.

use rand_chacha::ChaCha8Rng;

use super::cart::Splitter;
use super::forest::{FOREST_SETTINGS, fit_forest};
use super::{FitResult, MemberPlugin, TrainingSet};
use crate::compute::ensemble::MemberConfig;

pub struct ExtraTrees;

impl MemberPlugin for ExtraTrees {
    fn name(&self) -> &'static str {
        "extra-trees"
    }

    fn settings(&self) -> &'static [&'static str] {
        FOREST_SETTINGS
    }

    fn fit(&self, cfg: &MemberConfig, data: &TrainingSet<'_>, rng: &mut ChaCha8Rng) -> FitResult {
        Ok(fit_forest(cfg, data, rng, Splitter::Random, false))
    }
}
