//! The tree member: one decision tree on every row and feature.

use std::sync::Arc;

use ndarray::ArrayView2;
use rand_chacha::ChaCha8Rng;

use super::trees::{Votes, fit_tree};
use super::{FittedModel, MemberPlugin};
use crate::compute::ensemble::{EnsembleError, MemberConfig};

pub struct Tree;

impl MemberPlugin for Tree {
    fn name(&self) -> &'static str {
        "tree"
    }

    fn settings(&self) -> &'static [&'static str] {
        &["max_depth", "weight"]
    }

    fn fit(
        &self,
        cfg: &MemberConfig,
        x: ArrayView2<f64>,
        y: &[usize],
        classes: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Arc<dyn FittedModel>, EnsembleError> {
        let (rows, features) = x.dim();
        let columns: Vec<usize> = (0..features).collect();
        Ok(Arc::new(Votes { trees: vec![fit_tree(cfg, x, y, classes, &vec![1; rows], &columns, rng)?] }))
    }
}
