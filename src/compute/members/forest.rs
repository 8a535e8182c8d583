//! The forest member: bagged trees, each on a bootstrap sample of the rows
//! and a random subset of the features, voting.

use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::trees::{Votes, fit_tree};
use super::{FitResult, MemberPlugin, TrainingSet};
use crate::compute::ensemble::MemberConfig;

pub struct Forest;

impl MemberPlugin for Forest {
    fn name(&self) -> &'static str {
        "forest"
    }

    fn settings(&self) -> &'static [&'static str] {
        &["trees", "max_depth", "feature_fraction", "weight", "seed"]
    }

    fn fit(&self, cfg: &MemberConfig, data: &TrainingSet<'_>, rng: &mut ChaCha8Rng) -> FitResult {
        let (rows, features) = data.x.dim();
        let take = ((cfg.feature_fraction * features as f64).round() as usize).clamp(1, features);
        let trees = (0..cfg.trees)
            .map(|_| {
                let mut counts = vec![0u32; rows];
                for _ in 0..rows {
                    counts[rng.gen_range(0..rows)] += 1;
                }
                let mut columns = rand::seq::index::sample(rng, features, take).into_vec();
                columns.sort_unstable();
                fit_tree(cfg, data, &counts, &columns, rng)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(Votes { trees }))
    }
}
