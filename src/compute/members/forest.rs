//! The forest member, scikit-learn's `RandomForestClassifier`: trees of our
//! CART ([`super::cart`]), each on a bootstrap sample of the rows, drawing
//! `max_features` candidate features at every split; the forest's
//! probabilities are the mean of its trees' leaf class shares.

use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::cart::{CartParams, Splitter, forest_threads, grow_forest};
use super::trees::Votes;
use super::{FitResult, MemberPlugin, TrainingSet};
use crate::compute::ensemble::MemberConfig;

pub struct Forest;

/// The settings a forest of our trees reads, in the pane's order.
pub(crate) const FOREST_SETTINGS: &[&str] =
    &["trees", "max_depth", "max_features", "criterion", "min_samples_leaf", "weight", "seed"];

impl MemberPlugin for Forest {
    fn name(&self) -> &'static str {
        "forest"
    }

    fn settings(&self) -> &'static [&'static str] {
        FOREST_SETTINGS
    }

    fn fit(&self, cfg: &MemberConfig, data: &TrainingSet<'_>, rng: &mut ChaCha8Rng) -> FitResult {
        Ok(fit_forest(cfg, data, rng, Splitter::Best, true))
    }
}

/// `cfg.trees` trees of ours with `cfg`'s settings, seeded from `rng`.
pub(crate) fn fit_forest(
    cfg: &MemberConfig,
    data: &TrainingSet<'_>,
    rng: &mut ChaCha8Rng,
    splitter: Splitter,
    bootstrap: bool,
) -> Arc<Votes> {
    let params = CartParams {
        criterion: cfg.criterion,
        splitter,
        max_features: cfg.max_features.count(data.x.ncols()),
        max_depth: cfg.max_depth,
        min_samples_leaf: cfg.min_samples_leaf,
        bootstrap,
    };
    let threads = forest_threads(cfg.trees, data);
    Arc::new(Votes { trees: grow_forest(data, &params, cfg.trees, rng.r#gen(), threads) })
}

#[cfg(test)]
#[path = "forest_tests.rs"]
mod tests;
