//! What the Quantize pane and `report` show of the weights themselves.

use serde::Serialize;

use super::Weights;
use crate::compute::calibrate::{mean_std, min_max};

/// The weights' identity and statistics over their finite values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightsSummary {
    /// "synthetic" or the file path.
    pub source: String,
    /// null for synthetic weights and .npy files.
    pub tensor: Option<String>,
    pub shape: Vec<usize>,
    pub dtype: String,
    pub count: usize,
    pub non_finite: usize,
    /// Smallest finite value (0 when there is none).
    pub min: f32,
    /// Largest finite value (0 when there is none).
    pub max: f32,
    /// Mean and population standard deviation; NaN (null) when no value is finite.
    #[serde(serialize_with = "finite_or_null")]
    pub mean: f64,
    #[serde(serialize_with = "finite_or_null")]
    pub std: f64,
}

impl WeightsSummary {
    pub fn of(w: &Weights) -> Self {
        let finite: Vec<f32> = w.values.iter().copied().filter(|x| x.is_finite()).collect();
        let (mean, std) = if finite.is_empty() { (f64::NAN, f64::NAN) } else { mean_std(&finite) };
        let (min, max) = if finite.is_empty() { (0.0, 0.0) } else { min_max(&finite) };
        WeightsSummary {
            source: w.source.clone(),
            tensor: w.tensor.clone(),
            shape: w.shape.clone(),
            dtype: w.dtype.clone(),
            count: w.values.len(),
            non_finite: w.non_finite,
            min,
            max,
            mean,
            std,
        }
    }
}

fn finite_or_null<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() { s.serialize_some(v) } else { s.serialize_none() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_skip_non_finite_values() {
        let w = Weights::in_memory(vec![1.0, f32::NAN, 3.0, f32::INFINITY, -2.0, 2.0], 2, 3);
        let s = WeightsSummary::of(&w);
        assert_eq!((s.count, s.non_finite, s.min, s.max), (6, 2, -2.0, 3.0));
        assert_eq!(s.mean, 1.0);
        assert_eq!(s.std, (3.5f64).sqrt());
    }

    #[test]
    fn no_finite_value_gives_null_statistics() {
        let s = WeightsSummary::of(&Weights::in_memory(vec![f32::NAN; 4], 2, 2));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!((json["mean"].clone(), json["std"].clone()), (serde_json::Value::Null, serde_json::Value::Null));
    }
}
