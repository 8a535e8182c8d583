//! The `[weights]` table: synthetic draws or a file, and opening them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SYNTHETIC;
use crate::compute::quant::InvalidSetting;
use crate::compute::weights::{self, Distribution, SyntheticSpec, Weights, WeightsError};

/// What is quantized: the `[weights]` table.
///
/// Its synthetic fields repeat [`SyntheticSpec`]'s rather than hold one:
/// serde does not support `#[serde(flatten)]` together with the
/// `deny_unknown_fields` that refuses a mistyped key, and a flattened table,
/// read from serde's buffer, may lose the spans `Settings::parse` turns into
/// line numbers. The spec is built from them in one place,
/// [`WeightsConfig::load`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeightsConfig {
    /// "synthetic" or the path of a `.npy` / `.safetensors` file.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tensor: Option<String>,
    pub distribution: Distribution,
    pub rows: usize,
    pub cols: usize,
    pub seed: u64,
    pub dof: f64,
    pub outlier_fraction: f64,
}

impl Default for WeightsConfig {
    /// The seed document's weights: `np.random.randn(1000, 10)`.
    fn default() -> Self {
        WeightsConfig {
            source: SYNTHETIC.into(),
            tensor: None,
            distribution: Distribution::Normal,
            rows: 1000,
            cols: 10,
            seed: 42,
            dof: 5.0,
            outlier_fraction: 0.001,
        }
    }
}

impl WeightsConfig {
    pub fn is_synthetic(&self) -> bool {
        self.source == SYNTHETIC
    }

    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if !self.is_synthetic() {
            return Ok(());
        }
        let max = weights::MAX_ELEMENTS;
        if self.rows == 0 || self.cols == 0 || self.rows.saturating_mul(self.cols) > max {
            let key = if self.rows == 0 { "weights.rows" } else { "weights.cols" };
            return Err(InvalidSetting::new(
                key,
                format!("{} x {} must have at least one row and column and at most {max} values", self.rows, self.cols),
            ));
        }
        if !(self.dof.is_finite() && self.dof > 0.0) {
            return Err(InvalidSetting::new("weights.dof", format!("{} must be a finite number > 0", self.dof)));
        }
        if !(0.0..=1.0).contains(&self.outlier_fraction) {
            return Err(InvalidSetting::new(
                "weights.outlier_fraction",
                format!("{} is outside [0, 1]", self.outlier_fraction),
            ));
        }
        if self.seed > i64::MAX as u64 {
            return Err(InvalidSetting::new("weights.seed", format!("{} is larger than {}", self.seed, i64::MAX)));
        }
        Ok(())
    }

    /// Reads only the file's header: is it there, and which tensor will be
    /// used? With several tensors and none named, the largest 2-D float
    /// one, and a note that says so (the caller says how to pick another).
    pub fn check(&mut self) -> Result<Option<String>, WeightsError> {
        if self.is_synthetic() {
            return Ok(None);
        }
        let tensors = weights::list_tensors(Path::new(&self.source))?;
        match &self.tensor {
            Some(name) if !tensors.iter().any(|t| &t.name == name) => Err(WeightsError::TensorNotFound {
                path: self.source.clone(),
                name: name.clone(),
                available: tensors.iter().map(|t| t.name.clone()).collect(),
            }),
            None if tensors.len() > 1 => {
                let Some(chosen) = weights::default_tensor(&tensors) else {
                    return Err(WeightsError::NotFloat {
                        path: self.source.clone(),
                        name: tensors[0].name.clone(),
                        dtype: format!("{} (as is every tensor of the file)", tensors[0].dtype),
                    });
                };
                self.tensor = Some(chosen.name.clone());
                let file =
                    Path::new(&self.source).file_name().map_or(self.source.clone(), |f| f.to_string_lossy().into());
                Ok(Some(format!(
                    "opened tensor {:?}, the largest float matrix of the {} in {file}",
                    chosen.name,
                    tensors.len()
                )))
            }
            _ => Ok(None),
        }
    }

    /// Generates or reads the weights these settings describe.
    pub fn load(&self) -> Result<Weights, WeightsError> {
        if self.is_synthetic() {
            weights::synthetic(&SyntheticSpec {
                distribution: self.distribution,
                rows: self.rows,
                cols: self.cols,
                seed: self.seed,
                dof: self.dof,
                outlier_fraction: self.outlier_fraction,
            })
        } else {
            weights::load_file(Path::new(&self.source), self.tensor.as_deref())
        }
    }
}
