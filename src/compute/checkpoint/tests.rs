use ::safetensors::Dtype;
use ::safetensors::tensor::TensorView;

use super::scan::{self, Budget};
use super::select::parse_formats;
use super::*;
use crate::compute::analysis::weight_stats;
use crate::compute::formats::table;
use crate::compute::watch::Watch;

fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, shape, b)| (n.to_string(), TensorView::new(*d, shape.clone(), b).unwrap()))
        .collect();
    ::safetensors::serialize(views, None).unwrap()
}

fn f32s(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32).flat_map(|i| (((i * 29 + seed) % 97) as f32 / 97.0 - 0.5).to_le_bytes()).collect()
}

fn checkpoint() -> Checkpoint {
    let a = file(&[
        ("w", Dtype::F32, vec![4, 64], f32s(256, 1)),
        ("ids", Dtype::I32, vec![2], vec![0; 8]),
        ("norm", Dtype::F32, vec![4], f32s(4, 2)),
    ]);
    let b = file(&[("v", Dtype::F32, vec![2, 128], f32s(256, 3))]);
    Checkpoint::from_bytes("mem", vec![("a".into(), a), ("b".into(), b)], false).unwrap()
}

#[test]
fn tensors_are_listed_in_file_then_data_order_with_skip_reasons() {
    let ck = checkpoint();
    let names: Vec<&str> = ck.tensors.iter().map(|t| t.name.as_str()).collect();
    // safetensors::serialize orders by dtype alignment then name; the data order is what we keep.
    assert_eq!(names.len(), 4);
    assert_eq!(ck.tensors.iter().filter(|t| t.shard == 1).count(), 1);
    let skipped = |n: &str| ck.tensors.iter().find(|t| t.name == n).unwrap().skipped.clone();
    assert!(skipped("ids").unwrap().contains("integer"));
    assert!(skipped("norm").unwrap().contains("rank 1"));
    assert_eq!((skipped("w"), skipped("v")), (None, None));
    assert_eq!(ck.parameters(), 256 + 2 + 4 + 256);
}

#[test]
fn a_scan_result_is_table_measure_on_the_loaded_tensor_and_the_plan_fits() {
    let ck = checkpoint();
    let specs = parse_formats("int8-sym-pc,q4_0").unwrap();
    let all = vec![true; ck.tensors.len()];
    let s = scan::scan(&ck, &all, &specs, &Watch::NONE).unwrap();
    let entry = ck.tensors.iter().find(|t| t.name == "w").unwrap();
    let w = ck.load(entry).unwrap();
    let stats = weight_stats(&w);
    let t = s.tensors.iter().find(|t| t.name == "w").unwrap();
    for (spec, r) in specs.iter().zip(&t.results) {
        let row = table::measure(&w, &stats, &spec.label, &spec.cfg, &Watch::NONE).unwrap();
        let f = r.figures.as_ref().unwrap();
        assert_eq!((f.mse, f.sqnr_db, f.bpw, r.bytes), (row.metrics.mse, row.metrics.sqnr_db, row.bpw, row.bytes));
    }
    let plan = scan::plan_scan(&s, Budget::Bpw(6.0)).unwrap();
    assert!(plan.bpw <= 6.0 && plan.assignments.len() == 2, "{plan:?}");
    assert!(scan::plan_scan(&s, Budget::Bpw(1.0)).is_err());
}

#[test]
fn a_tensor_named_in_two_files_is_refused() {
    let a = file(&[("w", Dtype::F32, vec![2, 2], f32s(4, 1))]);
    let err = Checkpoint::from_bytes("mem", vec![("a".into(), a.clone()), ("b".into(), a)], false).err().unwrap();
    assert!(matches!(err, CheckpointError::DuplicateTensor { ref path, .. } if path == "b"), "{err:?}");
}

#[test]
fn stats_are_the_moments_by_hand() {
    let (st, signal) = scan::tensor_stats(&[1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.0, 0.0, f32::NAN], 9);
    assert_eq!((st.max_abs, signal, st.outlier_ratio), (3.0, 28.0, 0.0));
    assert!((st.std - 3.5f64.sqrt()).abs() < 1e-12 && (st.kurtosis + 1.0).abs() < 1e-12, "{st:?}");
}

proptest::proptest! {
    /// The lane sums give the two-pass figures of a plain loop, NaN and Inf
    /// left out, on lengths that are and are not multiples of the lanes.
    #[test]
    fn stats_equal_a_plain_two_pass_loop(
        v in proptest::collection::vec(proptest::prop_oneof![
            8 => -10.0f32..10.0,
            1 => proptest::strategy::Just(f32::NAN),
            1 => proptest::strategy::Just(f32::NEG_INFINITY),
            1 => proptest::strategy::Just(1000.0f32),
        ], 1..300)
    ) {
        let finite: Vec<f64> = v.iter().filter(|x| x.is_finite()).map(|&x| f64::from(x)).collect();
        let n = finite.len().max(1) as f64;
        let mean = finite.iter().sum::<f64>() / n;
        let var = finite.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        let m4 = finite.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n;
        let outliers = finite.iter().filter(|x| (*x - mean).abs() > 6.0 * var.sqrt()).count();
        let (st, signal) = scan::tensor_stats(&v, v.len());
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());
        proptest::prop_assert_eq!(st.non_finite, v.len() - finite.len());
        proptest::prop_assert!(close(signal, finite.iter().map(|x| x * x).sum()));
        proptest::prop_assert_eq!(st.max_abs, finite.iter().fold(0.0f64, |a, x| a.max(x.abs())));
        proptest::prop_assert!(close(st.std, var.sqrt()), "{} {}", st.std, var.sqrt());
        let kurtosis = if var > 0.0 { m4 / (var * var) - 3.0 } else { 0.0 };
        proptest::prop_assert!(close(st.kurtosis, kurtosis), "{} {}", st.kurtosis, kurtosis);
        proptest::prop_assert_eq!(st.outlier_ratio, outliers as f64 / n);
    }
}
