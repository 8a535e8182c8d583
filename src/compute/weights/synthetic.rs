//! Synthetic weights: seeded draws from a few distribution shapes.

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Open01, StandardNormal, StudentT, Uniform};

use super::{MAX_ELEMENTS, Weights, WeightsError, count_non_finite};

crate::named_enum! {
    /// Shape of a synthetic weight distribution. All of them have unit variance
    /// (except Student's t, whose variance is `dof / (dof - 2)`), so quantization
    /// error is comparable across distributions.
    pub enum Distribution {
        Normal => "normal",
        Uniform => "uniform",
        Laplace => "laplace",
        StudentT => "student-t",
        NormalOutliers => "normal-outliers",
    }
}

/// Parameters of a synthetic draw. `dof` is only read for `student-t` and
/// `outlier_fraction` only for `normal-outliers`, so a config file may keep
/// values for both without tripping validation.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    pub distribution: Distribution,
    pub rows: usize,
    pub cols: usize,
    pub seed: u64,
    pub dof: f64,
    pub outlier_fraction: f64,
}
/// Draws synthetic weights in row-major order from a ChaCha8 stream seeded
/// with `spec.seed`, so a seed reproduces the same matrix on every platform.
pub fn synthetic(spec: &SyntheticSpec) -> Result<Weights, WeightsError> {
    let n = validate_spec(spec)?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);

    let values: Vec<f32> = match spec.distribution {
        Distribution::Normal | Distribution::NormalOutliers => {
            (0..n).map(|_| rng.sample::<f64, _>(StandardNormal) as f32).collect()
        }
        Distribution::Uniform => {
            let half_width = 3f64.sqrt();
            let dist = Uniform::new(-half_width, half_width);
            (0..n).map(|_| rng.sample(dist) as f32).collect()
        }
        Distribution::Laplace => {
            // Inverse CDF with u in the open interval (-1/2, 1/2), so the
            // logarithm never sees zero.
            let b = std::f64::consts::FRAC_1_SQRT_2;
            (0..n)
                .map(|_| {
                    let u = rng.sample::<f64, _>(Open01) - 0.5;
                    (-b * u.signum() * (1.0 - 2.0 * u.abs()).ln()) as f32
                })
                .collect()
        }
        Distribution::StudentT => {
            let dist = StudentT::new(spec.dof).map_err(|_| dof_error(spec.dof))?;
            (0..n).map(|_| rng.sample(dist) as f32).collect()
        }
    };

    let mut values = values;
    if spec.distribution == Distribution::NormalOutliers {
        let count = (spec.outlier_fraction * n as f64).round() as usize;
        let magnitude = Uniform::new_inclusive(10.0f64, 20.0);
        for index in rand::seq::index::sample(&mut rng, n, count.min(n)) {
            let m = rng.sample(magnitude) as f32;
            values[index] = if rng.r#gen::<bool>() { m } else { -m };
        }
    }

    let non_finite = count_non_finite(&values);
    Ok(Weights {
        values,
        rows: spec.rows,
        cols: spec.cols,
        shape: vec![spec.rows, spec.cols],
        dtype: "f32".to_string(),
        source: "synthetic".to_string(),
        tensor: None,
        non_finite,
    })
}

/// Returns the element count once every parameter the distribution uses is
/// in range.
fn validate_spec(spec: &SyntheticSpec) -> Result<usize, WeightsError> {
    if spec.rows == 0 {
        return Err(WeightsError::InvalidParameter {
            name: "rows",
            value: spec.rows.to_string(),
            allowed: "at least 1".to_string(),
        });
    }
    if spec.cols == 0 {
        return Err(WeightsError::InvalidParameter {
            name: "cols",
            value: spec.cols.to_string(),
            allowed: "at least 1".to_string(),
        });
    }
    let n = spec.rows.checked_mul(spec.cols).filter(|&n| n <= MAX_ELEMENTS).ok_or_else(|| {
        WeightsError::InvalidParameter {
            name: "rows x cols",
            value: format!("{} x {}", spec.rows, spec.cols),
            allowed: format!("at most {MAX_ELEMENTS} elements"),
        }
    })?;
    match spec.distribution {
        Distribution::StudentT if !(spec.dof.is_finite() && spec.dof > 0.0) => Err(dof_error(spec.dof)),
        Distribution::NormalOutliers
            if !(0.0..=1.0).contains(&spec.outlier_fraction) || spec.outlier_fraction.is_nan() =>
        {
            Err(WeightsError::InvalidParameter {
                name: "outlier_fraction",
                value: spec.outlier_fraction.to_string(),
                allowed: "between 0 and 1 (inclusive)".to_string(),
            })
        }
        _ => Ok(n),
    }
}

fn dof_error(dof: f64) -> WeightsError {
    WeightsError::InvalidParameter {
        name: "dof",
        value: dof.to_string(),
        allowed: "a finite number greater than 0".to_string(),
    }
}
