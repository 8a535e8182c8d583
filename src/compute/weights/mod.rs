//! The float weights that the tool quantizes: synthetic draws or a tensor
//! loaded from a `.npy`, `.safetensors` or `.gguf` file (dequantized).
//!
//! Every tensor is presented as a row-major matrix `[rows, cols]` whose rows
//! are `dim0` of the original shape, because per-channel quantization treats
//! the first axis as the output channel (the PyTorch/safetensors convention).
//! A `.safetensors` file is read with pread, its header then the chosen
//! tensor's bytes only (through `checkpoint`'s reader, as a one-shard
//! checkpoint), so a file cut short while open is an error, not a SIGBUS.
//! A `.npy` file (one tensor, all of it needed) is memory-mapped.

mod error;
mod npy;
mod py_literal;
mod safetensors;
mod summary;
mod synthetic;

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use crate::compute::gguf;

pub use error::WeightsError;
pub use summary::WeightsSummary;
pub use synthetic::{Distribution, SyntheticSpec, synthetic};

/// Largest tensor the tool accepts (2^29 elements, 2 GiB of `f32`): beyond
/// that the statistics and the quantized copies no longer fit comfortably in
/// memory, so we refuse up front instead of failing halfway.
pub const MAX_ELEMENTS: usize = 1 << 29;

/// A weight tensor flattened to a row-major `[rows, cols]` matrix.
///
/// `rows` is `dim0` of `shape` and `cols` the product of the remaining
/// dimensions. A 0-d scalar becomes `[1, 1]`; a 1-d tensor of length `n`
/// becomes `[1, n]`, i.e. a single channel, because a bias or norm vector has
/// no output-channel axis to split on.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    pub values: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
    pub shape: Vec<usize>,
    pub dtype: String,
    pub source: String,
    pub tensor: Option<String>,
    /// NaN and ±Inf are kept in `values` (so indices still line up with the
    /// file) but counted here so later stages can exclude and report them.
    pub non_finite: usize,
}

impl Weights {
    /// Values already in memory as a `[rows, cols]` f32 tensor (tests, and
    /// callers that made the values themselves).
    pub fn in_memory(values: Vec<f32>, rows: usize, cols: usize) -> Weights {
        let non_finite = values.iter().filter(|x| !x.is_finite()).count();
        Weights {
            values,
            rows,
            cols,
            shape: vec![rows, cols],
            dtype: "f32".into(),
            source: "test".into(),
            tensor: None,
            non_finite,
        }
    }
}

/// A tensor as described by a file header, without its data.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: String,
}

impl TensorInfo {
    /// Floating point: a weight. Integer and bool tensors of a checkpoint
    /// are indices and buffers (`position_ids`), not weights to quantize.
    pub fn is_float(&self) -> bool {
        is_float_dtype(&self.dtype)
    }

    pub fn count(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The dtypes the loaders decode to f32 as weights (lower case, as listed).
pub fn is_float_dtype(dtype: &str) -> bool {
    matches!(dtype, "f16" | "bf16" | "f32" | "f64" | "f8_e4m3" | "f8_e5m2") || gguf::is_decoded_dtype(dtype)
}

/// The tensor a file opens on when none is named: the largest float tensor
/// of rank 2 or more (a weight matrix, not a norm's bias), else the largest
/// float tensor; ties go to the first name.
pub fn default_tensor(tensors: &[TensorInfo]) -> Option<&TensorInfo> {
    let floats = tensors.iter().filter(|t| t.is_float());
    let key = |t: &&TensorInfo| (t.shape.len() >= 2, t.count());
    floats.rev().max_by_key(key)
}

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Npy,
    Safetensors,
    Gguf,
}

impl Format {
    fn of(path: &Path) -> Result<Format, WeightsError> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext.eq_ignore_ascii_case("npy") {
            Ok(Format::Npy)
        } else if ext.eq_ignore_ascii_case("safetensors") {
            Ok(Format::Safetensors)
        } else if ext.eq_ignore_ascii_case("gguf") {
            Ok(Format::Gguf)
        } else {
            Err(WeightsError::UnsupportedExtension { path: path.display().to_string() })
        }
    }
}

/// Loads one tensor. For `.safetensors`, `tensor` picks it by name and may be
/// omitted only when the file holds a single tensor; `.npy` ignores it.
pub fn load_file(path: &Path, tensor: Option<&str>) -> Result<Weights, WeightsError> {
    match Format::of(path)? {
        Format::Npy => npy::load(path, &map_file(path)?),
        // A GGUF file is read as a one-shard checkpoint too (pread, no map).
        Format::Safetensors | Format::Gguf => safetensors::load(path, tensor),
    }
}

/// What must hold before one safetensors tensor's stored bytes (`dtype`
/// lower case, as listed) are decoded to f32: a float dtype, and `bytes`
/// the size of `shape`. Gives the number of values; a checkpoint then
/// decodes them with `decode_safetensors_into` (or reads f32 data straight
/// into its values), one tensor at a time.
pub(crate) fn check_safetensors(
    path: &Path,
    name: &str,
    dtype: &str,
    shape: &[usize],
    bytes: usize,
) -> Result<usize, WeightsError> {
    safetensors::check_tensor(path, name, dtype, shape, bytes)
}

/// The bytes of a tensor `check_safetensors` accepted, decoded into `out`
/// (as many values as the check gave).
pub(crate) fn decode_safetensors_into(dtype: &str, data: &[u8], out: &mut [f32]) {
    safetensors::decode_values(dtype, data, out)
}

/// Decoded values whose NaN and ±Inf the caller has already counted (the
/// scan's statistics do, in their first pass).
pub(crate) fn counted_weights(
    path: &Path,
    values: Vec<f32>,
    shape: Vec<usize>,
    dtype: String,
    tensor: Option<String>,
    non_finite: usize,
) -> Weights {
    let (rows, cols) = matrix_dims(&shape);
    debug_assert_eq!(rows * cols, values.len());
    Weights { non_finite, values, rows, cols, shape, dtype, source: path.display().to_string(), tensor }
}

/// Describes the tensors in a file from its header alone, so listing a
/// multi-gigabyte checkpoint is instant.
pub fn list_tensors(path: &Path) -> Result<Vec<TensorInfo>, WeightsError> {
    match Format::of(path)? {
        Format::Npy => npy::list(path, &map_file(path)?),
        Format::Safetensors | Format::Gguf => safetensors::list(path),
    }
}

fn map_file(path: &Path) -> Result<Mmap, WeightsError> {
    let io_error = |source| WeightsError::Io { path: path.display().to_string(), source };
    let file = File::open(path).map_err(io_error)?;
    // SAFETY: the map is read-only and dropped before this module returns;
    // a concurrent truncation by another process could still fault, which is
    // the accepted trade-off for not copying gigabytes of weights.
    unsafe { Mmap::map(&file) }.map_err(io_error)
}

fn invalid(path: &Path, format: &'static str, reason: impl Into<String>) -> WeightsError {
    WeightsError::InvalidFile { path: path.display().to_string(), format, reason: reason.into() }
}

/// Checks the element count against the limits before anything is allocated.
fn checked_len(path: &Path, shape: &[usize]) -> Result<usize, WeightsError> {
    let n = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match n {
        Some(0) => Err(WeightsError::EmptyTensor { path: path.display().to_string(), shape: shape.to_vec() }),
        Some(n) if n <= MAX_ELEMENTS => Ok(n),
        _ => Err(WeightsError::TooLarge { path: path.display().to_string(), shape: shape.to_vec(), max: MAX_ELEMENTS }),
    }
}

/// The 2-D view of a shape: the first dimension by the product of the rest.
pub fn matrix_dims(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (1, *n),
        [rows, rest @ ..] => (*rows, rest.iter().product()),
    }
}

fn count_non_finite(values: &[f32]) -> usize {
    values.iter().filter(|v| !v.is_finite()).count()
}

fn file_weights(path: &Path, values: Vec<f32>, shape: Vec<usize>, dtype: String, tensor: Option<String>) -> Weights {
    let non_finite = count_non_finite(&values);
    counted_weights(path, values, shape, dtype, tensor, non_finite)
}

/// Element conversion to `f32`; lossy for wide integers and `f64`, which is
/// fine because the tool only studies the value distribution.
trait ToF32: Copy {
    fn to_f32(self) -> f32;
}

macro_rules! impl_to_f32 {
    ($($t:ty),*) => {
        $(impl ToF32 for $t {
            #[inline]
            fn to_f32(self) -> f32 {
                self as f32
            }
        })*
    };
}
impl_to_f32!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);

/// Decodes a packed little- or big-endian buffer whose length has already
/// been validated; `chunks` keeps it allocation-free apart from the output.
fn decode<const N: usize>(bytes: &[u8], convert: impl Fn([u8; N]) -> f32) -> Vec<f32> {
    let (chunks, rest) = bytes.as_chunks::<N>();
    debug_assert!(rest.is_empty());
    chunks.iter().map(|&c| convert(c)).collect()
}

/// `out[i]` = `convert` of the i-th `N` bytes of `bytes` (into a buffer the caller reuses).
fn decode_into<const N: usize>(bytes: &[u8], out: &mut [f32], convert: impl Fn([u8; N]) -> f32) {
    let (chunks, rest) = bytes.as_chunks::<N>();
    debug_assert!(rest.is_empty() && chunks.len() == out.len());
    out.iter_mut().zip(chunks).for_each(|(o, &c)| *o = convert(c));
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::safetensors::Dtype;
    use ::safetensors::tensor::TensorView;
    use ndarray::{Array, Array1, Array2, Array3, ShapeBuilder};
    use ndarray_npy::WriteNpyExt;
    use std::path::PathBuf;
    use tempfile::TempDir;

    fn spec(distribution: Distribution, rows: usize, cols: usize, seed: u64) -> SyntheticSpec {
        SyntheticSpec { distribution, rows, cols, seed, dof: 10.0, outlier_fraction: 0.05 }
    }

    fn mean_std(values: &[f32]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var.sqrt())
    }

    fn write_npy_file<A, D>(dir: &TempDir, name: &str, array: &Array<A, D>) -> PathBuf
    where
        A: ndarray_npy::WritableElement,
        D: ndarray::Dimension,
    {
        let path = dir.path().join(name);
        array.write_npy(File::create(&path).unwrap()).unwrap();
        path
    }

    /// A version-1 `.npy` file with an arbitrary descriptor, for dtypes that
    /// ndarray-npy (without its complex feature) cannot write.
    fn raw_npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let order = if fortran { "True" } else { "False" };
        let mut header = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn write_bytes(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn write_safetensors(dir: &TempDir, name: &str, tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> PathBuf {
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .map(|(n, dtype, shape, bytes)| (n.to_string(), TensorView::new(*dtype, shape.clone(), bytes).unwrap()))
            .collect();
        let bytes = ::safetensors::serialize(views, None).unwrap();
        write_bytes(dir, name, &bytes)
    }

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn iota(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32).collect()
    }

    // --- synthetic -------------------------------------------------------

    #[test]
    fn distributions_have_stated_moments() {
        let t_std = (10.0f64 / 8.0).sqrt();
        for (dist, want_std) in [
            (Distribution::Normal, 1.0),
            (Distribution::Uniform, 1.0),
            (Distribution::Laplace, 1.0),
            (Distribution::StudentT, t_std),
        ] {
            let w = synthetic(&spec(dist, 1000, 100, 7)).unwrap();
            assert_eq!(w.values.len(), 100_000);
            let (mean, std) = mean_std(&w.values);
            assert!(mean.abs() < 0.02, "{dist}: mean {mean}");
            assert!((std - want_std).abs() < 0.03, "{dist}: std {std}");
            assert_eq!(w.non_finite, 0);
        }
        let u = synthetic(&spec(Distribution::Uniform, 100, 1000, 1)).unwrap();
        let bound = 3f32.sqrt();
        assert!(u.values.iter().all(|v| (-bound..=bound).contains(v)));
    }

    #[test]
    fn normal_outliers_inserts_exact_count_with_magnitude_10_to_20() {
        let w = synthetic(&spec(Distribution::NormalOutliers, 200, 500, 3)).unwrap();
        let outliers: Vec<f32> = w.values.iter().copied().filter(|v| v.abs() >= 10.0).collect();
        assert_eq!(outliers.len(), 5_000);
        assert!(outliers.iter().all(|v| (10.0..=20.0).contains(&v.abs())));
        assert!(outliers.iter().any(|&v| v > 0.0) && outliers.iter().any(|&v| v < 0.0));
        // The inliers are still standard normal.
        let inliers: Vec<f32> = w.values.iter().copied().filter(|v| v.abs() < 10.0).collect();
        let (mean, std) = mean_std(&inliers);
        assert!(mean.abs() < 0.02 && (std - 1.0).abs() < 0.03);

        let mut s = spec(Distribution::NormalOutliers, 10, 100, 3);
        s.outlier_fraction = 0.0015; // 1.5 rounds to 2
        let w = synthetic(&s).unwrap();
        assert_eq!(w.values.iter().filter(|v| v.abs() >= 10.0).count(), 2);
        s.outlier_fraction = 1.0;
        let w = synthetic(&s).unwrap();
        assert!(w.values.iter().all(|v| (10.0..=20.0).contains(&v.abs())));
    }

    #[test]
    fn synthetic_is_reproducible_per_seed() {
        for &dist in Distribution::ALL {
            let a = synthetic(&spec(dist, 50, 20, 42)).unwrap();
            let b = synthetic(&spec(dist, 50, 20, 42)).unwrap();
            let c = synthetic(&spec(dist, 50, 20, 43)).unwrap();
            assert_eq!(a, b, "{dist}");
            assert_ne!(a.values, c.values, "{dist}");
            assert_eq!((a.rows, a.cols, a.shape.clone()), (50, 20, vec![50, 20]));
            assert_eq!((a.dtype.as_str(), a.source.as_str(), a.tensor.clone()), ("f32", "synthetic", None));
        }
    }

    #[test]
    fn bad_synthetic_parameters_name_the_parameter() {
        let check = |s: SyntheticSpec, name: &str| {
            let err = synthetic(&s).unwrap_err();
            assert!(matches!(&err, WeightsError::InvalidParameter { name: n, .. } if *n == name), "{err:?}");
            assert!(err.to_string().contains(name), "{err}");
        };
        check(spec(Distribution::Normal, 0, 10, 1), "rows");
        check(spec(Distribution::Normal, 10, 0, 1), "cols");
        check(spec(Distribution::Normal, MAX_ELEMENTS, 2, 1), "rows x cols");
        check(spec(Distribution::Normal, usize::MAX, 2, 1), "rows x cols");
        for dof in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut s = spec(Distribution::StudentT, 10, 10, 1);
            s.dof = dof;
            check(s, "dof");
        }
        for fraction in [1.5, -0.1, f64::NAN] {
            let mut s = spec(Distribution::NormalOutliers, 10, 10, 1);
            s.outlier_fraction = fraction;
            check(s, "outlier_fraction");
        }
        // Parameters a distribution does not use are not validated.
        let mut s = spec(Distribution::Normal, 10, 10, 1);
        s.dof = 0.0;
        s.outlier_fraction = 1.5;
        assert!(synthetic(&s).is_ok());
    }

    #[test]
    fn distribution_names_round_trip() {
        for &dist in Distribution::ALL {
            assert_eq!(dist.name().parse::<Distribution>().unwrap(), dist);
            let json = serde_json::to_string(&dist).unwrap();
            assert_eq!(json, format!("\"{}\"", dist.name()));
        }
        let err = "gaussian".parse::<Distribution>().unwrap_err().to_string();
        assert!(err.contains("gaussian") && err.contains("normal-outliers"), "{err}");
    }

    // --- .npy ------------------------------------------------------------

    #[test]
    fn npy_round_trip_flattens_to_dim0_by_rest_in_c_order() {
        let dir = TempDir::new().unwrap();
        let f32s = Array3::from_shape_vec((2, 3, 4), iota(24)).unwrap();
        let f64s = f32s.mapv(f64::from);
        let i32s = f32s.mapv(|v| v as i32);
        let paths = [
            (write_npy_file(&dir, "a.npy", &f32s), "f32"),
            (write_npy_file(&dir, "b.NPY", &f64s), "f64"),
            (write_npy_file(&dir, "c.npy", &i32s), "i32"),
        ];
        for (path, dtype) in paths {
            let w = load_file(&path, None).unwrap();
            assert_eq!((w.rows, w.cols), (2, 12), "{dtype}");
            assert_eq!(w.shape, vec![2, 3, 4]);
            assert_eq!(w.values, iota(24));
            assert_eq!(w.dtype, dtype);
            assert_eq!(w.source, path.display().to_string());
            assert_eq!((w.tensor, w.non_finite), (None, 0));
        }
    }

    #[test]
    fn npy_fortran_order_is_returned_in_c_order() {
        let dir = TempDir::new().unwrap();
        let c = Array2::from_shape_vec((3, 4), iota(12)).unwrap();
        let f = Array2::from_shape_vec((3, 4).f(), vec![0.0f32; 12]).unwrap();
        let mut f = f;
        f.assign(&c);
        let path = write_npy_file(&dir, "f.npy", &f);
        let bytes = std::fs::read(&path).unwrap();
        assert!(String::from_utf8_lossy(&bytes[..128]).contains("'fortran_order': True"));
        let w = load_file(&path, None).unwrap();
        assert_eq!((w.rows, w.cols), (3, 4));
        assert_eq!(w.values, iota(12));

        // The hand-decoded f16 path honours Fortran order too.
        let data: Vec<u8> =
            f.as_slice_memory_order().unwrap().iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect();
        let path = write_bytes(&dir, "h.npy", &raw_npy("<f2", true, "(3, 4)", &data));
        let w = load_file(&path, None).unwrap();
        assert_eq!((w.values, w.dtype.as_str()), (iota(12), "f16"));
    }

    #[test]
    fn npy_big_endian_and_low_rank() {
        let dir = TempDir::new().unwrap();
        let data: Vec<u8> = [1.5f32, -2.0, 3.25].iter().flat_map(|v| v.to_be_bytes()).collect();
        let path = write_bytes(&dir, "be.npy", &raw_npy(">f4", false, "(3,)", &data));
        let w = load_file(&path, None).unwrap();
        assert_eq!(w.values, vec![1.5, -2.0, 3.25]);
        assert_eq!((w.rows, w.cols, w.shape), (1, 3, vec![3]));

        let scalar = ndarray::arr0(7.0f64);
        let w = load_file(&write_npy_file(&dir, "s.npy", &scalar), None).unwrap();
        assert_eq!((w.rows, w.cols, w.values), (1, 1, vec![7.0]));

        let u8s = Array1::from_vec(vec![0u8, 255]);
        let w = load_file(&write_npy_file(&dir, "u.npy", &u8s), None).unwrap();
        assert_eq!((w.values, w.dtype.as_str()), (vec![0.0, 255.0], "u8"));
    }

    #[test]
    fn npy_bool_and_complex_are_refused_by_name() {
        let dir = TempDir::new().unwrap();
        for (descr, data, name) in [("|b1", vec![1u8, 0], "bool"), ("<c8", vec![0u8; 16], "complex64")] {
            let path = write_bytes(&dir, "x.npy", &raw_npy(descr, false, "(2,)", &data));
            let err = load_file(&path, None).unwrap_err();
            assert!(matches!(err, WeightsError::UnsupportedDtype { .. }), "{err:?}");
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn truncated_and_garbage_npy_are_errors_not_panics() {
        let dir = TempDir::new().unwrap();
        let arr = Array3::from_shape_vec((2, 3, 4), iota(24)).unwrap();
        let bytes = std::fs::read(write_npy_file(&dir, "full.npy", &arr)).unwrap();

        let half = write_bytes(&dir, "half.npy", &bytes[..bytes.len() / 2]);
        let err = load_file(&half, None).unwrap_err();
        assert!(matches!(err, WeightsError::InvalidFile { .. }), "{err:?}");

        let short = write_bytes(&dir, "short.npy", &bytes[..bytes.len() - 4]);
        let err = load_file(&short, None).unwrap_err().to_string();
        assert!(err.contains("truncated") && err.contains("short.npy"), "{err}");

        let mut long = bytes.clone();
        long.extend_from_slice(&[0; 4]);
        let err = load_file(&write_bytes(&dir, "long.npy", &long), None).unwrap_err();
        assert!(matches!(err, WeightsError::InvalidFile { .. }), "{err:?}");

        for (i, garbage) in [
            &b"this is definitely not a numpy file"[..],
            b"",
            b"\x93NUMPY\x01\x00\xff\xff{'descr'",
            &raw_npy("<f4", false, "((((((((((((((((((((1,),),),),),),),),),),),),),),),),),),),)", &[]),
            &raw_npy("<f4", false, "(-3,)", &[]),
        ]
        .into_iter()
        .enumerate()
        {
            let path = write_bytes(&dir, &format!("g{i}.npy"), garbage);
            let err = load_file(&path, None).unwrap_err();
            assert!(matches!(err, WeightsError::InvalidFile { .. }), "{i}: {err:?}");
            assert!(list_tensors(&path).is_err());
        }
    }

    #[test]
    fn npy_huge_shape_is_refused_before_allocating() {
        let dir = TempDir::new().unwrap();
        let path = write_bytes(&dir, "big.npy", &raw_npy(">f8", false, "(100000, 100000)", &[]));
        let err = load_file(&path, None).unwrap_err();
        assert!(matches!(err, WeightsError::TooLarge { .. }), "{err:?}");
        let path = write_bytes(&dir, "ok.npy", &raw_npy(">f8", false, "(1000, 1000)", &[]));
        let err = load_file(&path, None).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn empty_tensors_are_refused() {
        let dir = TempDir::new().unwrap();
        let empty = Array2::<f32>::zeros((0, 3));
        let err = load_file(&write_npy_file(&dir, "e.npy", &empty), None).unwrap_err();
        assert!(matches!(err, WeightsError::EmptyTensor { .. }), "{err:?}");
        assert!(err.to_string().contains("empty"));

        let path = write_safetensors(&dir, "e.safetensors", &[("w", Dtype::F32, vec![4, 0], vec![])]);
        // The header reader refuses a zero-size tensor up front, as a scan does.
        let err = load_file(&path, None).unwrap_err();
        assert!(matches!(&err, WeightsError::File(e) if e.to_string().contains("zero values")), "{err:?}");
    }

    #[test]
    fn non_finite_values_are_kept_and_counted() {
        let dir = TempDir::new().unwrap();
        let values = vec![1.0f32, f32::NAN, f32::INFINITY, -2.0, f32::NEG_INFINITY, 0.0];
        let arr = Array2::from_shape_vec((2, 3), values.clone()).unwrap();
        let w = load_file(&write_npy_file(&dir, "n.npy", &arr), None).unwrap();
        assert_eq!((w.non_finite, w.values.len()), (3, 6));
        assert!(w.values[1].is_nan() && w.values[2] == f32::INFINITY);

        let path = write_safetensors(&dir, "n.safetensors", &[("w", Dtype::F32, vec![2, 3], f32_bytes(&values))]);
        assert_eq!(load_file(&path, None).unwrap().non_finite, 3);
    }

    // --- .safetensors ----------------------------------------------------

    #[test]
    fn safetensors_float_dtypes_load_the_chosen_tensor() {
        let dir = TempDir::new().unwrap();
        let v = [0.5f32, -1.25, 2.0, 3.5, -0.75, 8.0];
        let f16: Vec<u8> = v.iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect();
        let bf16: Vec<u8> = v.iter().flat_map(|&x| half::bf16::from_f32(x).to_le_bytes()).collect();
        let f64: Vec<u8> = v.iter().flat_map(|&x| f64::from(x).to_le_bytes()).collect();
        let i32: Vec<u8> = [-3i32, 0, 7].iter().flat_map(|x| x.to_le_bytes()).collect();
        let path = write_safetensors(
            &dir,
            "m.SafeTensors",
            &[
                ("a.f32", Dtype::F32, vec![2, 3], f32_bytes(&v)),
                ("b.f16", Dtype::F16, vec![2, 3], f16),
                ("c.bf16", Dtype::BF16, vec![3, 2], bf16),
                ("d.f64", Dtype::F64, vec![1, 2, 3], f64),
                ("e.i32", Dtype::I32, vec![3], i32),
            ],
        );
        for (name, dtype, rows, cols) in
            [("a.f32", "f32", 2, 3), ("b.f16", "f16", 2, 3), ("c.bf16", "bf16", 3, 2), ("d.f64", "f64", 1, 6)]
        {
            let w = load_file(&path, Some(name)).unwrap();
            assert_eq!(w.values, v, "{name}");
            assert_eq!((w.rows, w.cols, w.dtype.as_str()), (rows, cols, dtype), "{name}");
            assert_eq!(w.tensor.as_deref(), Some(name));
        }
        // An integer tensor of a checkpoint is a buffer, not a weight: refused by name.
        let err = load_file(&path, Some("e.i32")).unwrap_err();
        assert!(matches!(err, WeightsError::NotFloat { .. }), "{err:?}");
        assert!(err.to_string().contains("e.i32") && err.to_string().contains("i32"), "{err}");
    }

    #[test]
    fn the_default_tensor_is_the_largest_float_matrix() {
        let t = |name: &str, shape: &[usize], dtype: &str| TensorInfo {
            name: name.into(),
            shape: shape.to_vec(),
            dtype: dtype.into(),
        };
        let tensors = [
            t("embeddings.LayerNorm.bias", &[384], "f32"),
            t("embeddings.position_ids", &[1, 512_000], "i64"),
            t("embeddings.word_embeddings.weight", &[30522, 384], "f32"),
            t("encoder.layer.0.attention.self.query.weight", &[384, 384], "f16"),
            t("pooler.dense.weight", &[30522, 384], "bf16"),
        ];
        assert_eq!(default_tensor(&tensors).unwrap().name, "embeddings.word_embeddings.weight");
        // Only vectors: the largest of them.
        assert_eq!(default_tensor(&[t("a", &[3], "f32"), t("b", &[5], "f32")]).unwrap().name, "b");
        assert_eq!(default_tensor(&[t("ids", &[5, 5], "i64")]), None);
    }

    #[test]
    fn safetensors_tensor_selection_errors_list_names() {
        let dir = TempDir::new().unwrap();
        let t = |n: &'static str| (n, Dtype::F32, vec![1, 2], f32_bytes(&[1.0, 2.0]));
        let path = write_safetensors(&dir, "m.safetensors", &[t("zeta"), t("alpha"), t("mid")]);

        let err = load_file(&path, Some("nope")).unwrap_err();
        assert!(matches!(&err, WeightsError::TensorNotFound { available, .. }
                if available == &["alpha", "mid", "zeta"]));
        assert!(err.to_string().contains("alpha, mid, zeta") && err.to_string().contains("nope"));

        let err = load_file(&path, None).unwrap_err();
        assert!(matches!(err, WeightsError::TensorRequired { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("alpha, mid, zeta") && msg.contains("--tensor"), "{msg}");

        let single = write_safetensors(&dir, "one.safetensors", &[t("only")]);
        let w = load_file(&single, None).unwrap();
        assert_eq!((w.tensor.as_deref(), w.values), (Some("only"), vec![1.0, 2.0]));

        let none = write_safetensors(&dir, "none.safetensors", &[]);
        let err = load_file(&none, None).unwrap_err();
        assert!(matches!(err, WeightsError::NoTensors { .. }), "{err:?}");
    }

    #[test]
    fn safetensors_bool_and_garbage_are_refused() {
        let dir = TempDir::new().unwrap();
        let path = write_safetensors(&dir, "b.safetensors", &[("mask", Dtype::BOOL, vec![2], vec![1, 0])]);
        let err = load_file(&path, None).unwrap_err();
        assert!(matches!(err, WeightsError::NotFloat { .. }), "{err:?}");
        assert!(err.to_string().contains("bool"), "{err}");

        for (i, garbage) in
            [&b"not a safetensors file, just some text"[..], b"", b"\x10\0\0\0\0\0\0\0{\"a\":"].into_iter().enumerate()
        {
            let path = write_bytes(&dir, &format!("g{i}.safetensors"), garbage);
            let err = load_file(&path, None).unwrap_err();
            // The checkpoint reader's header check refuses it, naming the file.
            assert!(matches!(err, WeightsError::File(_)), "{err:?}");
            assert!(err.to_string().contains(&format!("g{i}.safetensors")), "{err}");
            assert!(list_tensors(&path).is_err());
        }
    }

    // --- paths -----------------------------------------------------------

    #[test]
    fn missing_file_and_unsupported_extension() {
        let dir = TempDir::new().unwrap();
        let missing = dir.path().join("missing.npy");
        let err = load_file(&missing, None).unwrap_err();
        assert!(matches!(err, WeightsError::Io { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("missing.npy") && msg.contains("No such file"), "{msg}");

        let other = write_bytes(&dir, "w.pt", b"whatever");
        for err in [load_file(&other, None).unwrap_err(), list_tensors(&other).unwrap_err()] {
            assert!(matches!(err, WeightsError::UnsupportedExtension { .. }), "{err:?}");
            let msg = err.to_string();
            assert!(msg.contains(".npy") && msg.contains(".safetensors") && msg.contains("w.pt"));
        }
    }

    #[test]
    fn list_tensors_reads_headers_of_both_formats() {
        let dir = TempDir::new().unwrap();
        let path = write_safetensors(
            &dir,
            "m.safetensors",
            &[
                ("layer.1", Dtype::F16, vec![2, 2], vec![0; 8]),
                ("layer.0", Dtype::F32, vec![3], vec![0; 12]),
                ("mask", Dtype::BOOL, vec![4], vec![0; 4]),
            ],
        );
        let info = list_tensors(&path).unwrap();
        let expect = |name: &str, shape: Vec<usize>, dtype: &str| TensorInfo {
            name: name.to_string(),
            shape,
            dtype: dtype.to_string(),
        };
        assert_eq!(
            info,
            vec![
                expect("layer.0", vec![3], "f32"),
                expect("layer.1", vec![2, 2], "f16"),
                expect("mask", vec![4], "bool"),
            ]
        );

        let arr = Array3::<f64>::zeros((2, 3, 4));
        let npy = write_npy_file(&dir, "weights.npy", &arr);
        assert_eq!(list_tensors(&npy).unwrap(), vec![expect("weights", vec![2, 3, 4], "f64")]);

        // Only the header is read: data missing from the file does not matter.
        let bool_npy = write_bytes(&dir, "flags.npy", &raw_npy("|b1", false, "(5, 2)", &[]));
        let listed = list_tensors(&bool_npy).unwrap();
        assert_eq!(listed[0].shape, vec![5, 2]);
        assert!(listed[0].dtype.contains("bool"));
    }

    /// `cargo test --release --lib compute::weights -- --ignored`
    #[test]
    #[ignore = "timing check, meaningful only in a release build"]
    fn twelve_million_f32_load_quickly() {
        let dir = TempDir::new().unwrap();
        let n = 12_000_000;
        let values: Vec<f32> = (0..n).map(|i| (i % 1000) as f32).collect();
        let path =
            write_safetensors(&dir, "big.safetensors", &[("w", Dtype::F32, vec![3000, 4000], f32_bytes(&values))]);
        let start = std::time::Instant::now();
        let w = load_file(&path, None).unwrap();
        let elapsed = start.elapsed();
        assert_eq!(w.values.len(), n);
        assert!(elapsed.as_millis() < 500, "took {elapsed:?}");
        eprintln!("loaded 12M f32 in {elapsed:?}");
    }
}
