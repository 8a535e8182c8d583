//! The tree member: one decision tree on every row and feature.

use std::sync::Arc;

use rand_chacha::ChaCha8Rng;

use super::trees::{Votes, fit_tree};
use super::{FitResult, MemberPlugin, TrainingSet};
use crate::compute::ensemble::MemberConfig;

pub struct Tree;

impl MemberPlugin for Tree {
    fn name(&self) -> &'static str {
        "tree"
    }

    fn settings(&self) -> &'static [&'static str] {
        &["max_depth", "weight"]
    }

    fn fit(&self, cfg: &MemberConfig, data: &TrainingSet<'_>, rng: &mut ChaCha8Rng) -> FitResult {
        let (rows, features) = data.x.dim();
        let columns: Vec<usize> = (0..features).collect();
        Ok(Arc::new(Votes { trees: vec![fit_tree(cfg, data, &vec![1; rows], &columns, rng)?] }))
    }
}
