use ::safetensors::Dtype;
use ::safetensors::tensor::TensorView;

use super::*;

fn file(tensors: &[(&str, Vec<usize>, &[f32])]) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> =
        tensors.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, shape, _), b)| (n.to_string(), TensorView::new(Dtype::F32, shape.clone(), b).unwrap()))
        .collect();
    ::safetensors::serialize(views, None).unwrap()
}

fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32).map(|i| ((i * 29 + seed * 7) % 97) as f32 / 97.0 - 0.5).collect()
}

fn checkpoint(path: &str, tensors: &[(&str, Vec<usize>, &[f32])], include_1d: bool) -> Checkpoint {
    Checkpoint::from_bytes(path, vec![(path.into(), file(tensors))], include_1d).unwrap()
}

/// A GGUF as `against` sees one: names, types, metadata and decoded values.
struct Fake {
    meta: ModelMeta,
    tensors: Vec<(QuantizedInfo, Vec<f32>)>,
}

impl Fake {
    fn new(meta: ModelMeta) -> Fake {
        Fake { meta, tensors: Vec::new() }
    }

    fn with(mut self, name: &str, shape: Vec<usize>, values: Vec<f32>) -> Fake {
        let count = values.len() as u64;
        let info = QuantizedInfo {
            name: name.into(),
            shape,
            type_name: "q8_0".into(),
            bpw: 8.5,
            bytes: count / 32 * 34,
            not_decoded: None,
        };
        self.tensors.push((info, values));
        self
    }
}

impl Quantized for Fake {
    fn path(&self) -> &str {
        "q.gguf"
    }

    fn tensors(&self) -> Vec<QuantizedInfo> {
        self.tensors.iter().map(|(i, _)| i.clone()).collect()
    }

    fn decode(&self, name: &str) -> Result<Vec<f32>, CheckpointError> {
        Ok(self.tensors.iter().find(|(i, _)| i.name == name).unwrap().1.clone())
    }

    fn metadata(&self) -> Result<ModelMeta, CheckpointError> {
        Ok(self.meta.clone())
    }
}

fn llama(head_count: Option<u64>, head_count_kv: Option<u64>) -> ModelMeta {
    ModelMeta { architecture: Some("llama".into()), head_count, head_count_kv }
}

const Q: &str = "model.layers.0.self_attn.q_proj.weight";
const K: &str = "model.layers.0.self_attn.k_proj.weight";

/// q: 16 rows (4 heads of 4), k: 8 rows (2 kv heads of 4), 32 columns
/// (with heads of 2 rows the permutation would change nothing).
fn llama_original() -> (Checkpoint, Vec<f32>, Vec<f32>) {
    let (q, k) = (values(16 * 32, 1), values(8 * 32, 2));
    let norm = values(32, 3);
    let ck = checkpoint(
        "orig",
        &[(Q, vec![16, 32], &q), (K, vec![8, 32], &k), ("model.norm.weight", vec![32], &norm)],
        false,
    );
    (ck, q, k)
}

#[test]
fn the_same_values_under_the_same_names_are_exact() {
    let v = values(4 * 64, 1);
    let ck = checkpoint("orig", &[("w", vec![4, 64], &v)], false);
    let copy = checkpoint("copy", &[("w", vec![4, 64], &v)], true);
    let a = against(&ck, &copy, &NameMap::Auto, true, &Watch::NONE).unwrap();
    let t = &a.tensors[0];
    assert_eq!((t.sqnr_db, t.max_abs_error, t.cosine, t.rel_rmse), (None, 0.0, 1.0, 0.0));
    assert_eq!((t.type_name.as_str(), t.bpw, t.bytes), ("f32", 32.0, 1024));
    assert_eq!(a.totals, Totals { bytes: 1024, bpw: 32.0, sqnr_db: None });
    assert!(a.unmatched.is_empty(), "{:?}", a.unmatched);
}

#[test]
fn figures_are_those_of_the_error_by_hand() {
    // x = [3, 4, 0, 0], x̂ = [3, 3, 1, 0]: Σx² = 25, Σe² = 2, max|e| = 1,
    // cosine = 9+12 / (5·√19), rel_rmse = √(2/25).
    let ck = checkpoint("orig", &[("w", vec![2, 2], &[3.0, 4.0, 0.0, 0.0])], false);
    let copy = checkpoint("copy", &[("w", vec![2, 2], &[3.0, 3.0, 1.0, 0.0])], false);
    let t = &against(&ck, &copy, &NameMap::Auto, true, &Watch::NONE).unwrap().tensors[0];
    assert!((t.sqnr_db.unwrap() - 10.0 * 12.5f64.log10()).abs() < 1e-12, "{t:?}");
    assert!((t.rel_rmse - (2.0f64 / 25.0).sqrt()).abs() < 1e-15);
    assert!((t.cosine - 21.0 / (5.0 * 19f64.sqrt())).abs() < 1e-15);
    assert_eq!(t.max_abs_error, 1.0);
}

#[test]
fn totals_pool_signal_and_noise_and_leave_out_rank_1_tensors() {
    // a: Σx² = 25, Σe² = 1; b: Σx² = 4, Σe² = 4; the norm (rank 1) is listed, not totalled.
    let ck = checkpoint(
        "orig",
        &[("a", vec![1, 2], &[3.0, 4.0]), ("b", vec![1, 2], &[2.0, 0.0]), ("n", vec![2], &[1.0, 1.0])],
        false,
    );
    let copy = checkpoint(
        "copy",
        &[("a", vec![1, 2], &[3.0, 3.0]), ("b", vec![1, 2], &[0.0, 0.0]), ("n", vec![2], &[1.0, 0.0])],
        true,
    );
    let a = against(&ck, &copy, &NameMap::Auto, true, &Watch::NONE).unwrap();
    assert_eq!(a.tensors.len(), 3);
    assert!((a.totals.sqnr_db.unwrap() - 10.0 * (29.0f64 / 5.0).log10()).abs() < 1e-12, "{:?}", a.totals);
    assert_eq!((a.totals.bytes, a.totals.bpw), (16, 32.0));
}

#[test]
fn llama_names_and_permuted_rows_line_up_exactly() {
    let (ck, q, k) = llama_original();
    // The converter: q permuted with 4 heads, k with the 2 kv heads.
    let fake = Fake::new(llama(Some(4), Some(2)))
        .with("blk.0.attn_q.weight", vec![16, 32], permute::to_gguf_order(&q, 16, 4))
        .with("blk.0.attn_k.weight", vec![8, 32], permute::to_gguf_order(&k, 8, 2))
        .with("output_norm.weight", vec![32], values(32, 3));
    let a = against(&ck, &fake, &NameMap::Auto, true, &Watch::NONE).unwrap();
    assert_eq!(a.tensors.len(), 3, "{:?}", a.unmatched);
    for t in &a.tensors {
        assert_eq!((t.sqnr_db, t.max_abs_error, t.cosine), (None, 0.0, 1.0), "{}", t.name);
    }
    let q_pair = a.tensors.iter().find(|t| t.name == Q).unwrap();
    assert_eq!(q_pair.quantized_name, "blk.0.attn_q.weight");
    // Left in the converter's order, q would not line up.
    let unpermuted = Fake::new(ModelMeta { architecture: Some("qwen2".into()), ..llama(Some(4), Some(2)) }).with(
        "blk.0.attn_q.weight",
        vec![16, 32],
        permute::to_gguf_order(&q, 16, 4),
    );
    let a = against(&ck, &unpermuted, &NameMap::Auto, true, &Watch::NONE).unwrap();
    assert!(a.tensors[0].max_abs_error > 0.0);
}

#[test]
fn k_takes_head_count_when_there_is_no_head_count_kv() {
    let (ck, q, k) = llama_original();
    let fake = Fake::new(llama(Some(2), None))
        .with("blk.0.attn_q.weight", vec![16, 32], permute::to_gguf_order(&q, 16, 2))
        .with("blk.0.attn_k.weight", vec![8, 32], permute::to_gguf_order(&k, 8, 2));
    let a = against(&ck, &fake, &NameMap::Auto, true, &Watch::NONE).unwrap();
    assert!(a.tensors.iter().all(|t| t.max_abs_error == 0.0), "{:?}", a.tensors);
}

#[test]
fn a_permutation_without_its_head_count_or_with_one_that_does_not_divide_is_refused() {
    let (ck, q, _) = llama_original();
    let fake = Fake::new(llama(None, None)).with("blk.0.attn_q.weight", vec![16, 32], q.clone());
    let e = against(&ck, &fake, &NameMap::Auto, true, &Watch::NONE).unwrap_err();
    assert!(matches!(&e, AgainstError::NoHeadCount { key, .. } if key == "llama.attention.head_count"), "{e}");
    let fake = Fake::new(llama(Some(3), None)).with("blk.0.attn_q.weight", vec![16, 32], q);
    let e = against(&ck, &fake, &NameMap::Auto, true, &Watch::NONE).unwrap_err();
    assert!(matches!(e, AgainstError::HeadsDoNotDivide { rows: 16, heads: 3, .. }), "{e}");
    // A head count whose double wraps around, and a kv key that is there but
    // not a count (read as 0): refused, never a wrong or a fallback order.
    let (ck, q, k) = llama_original();
    let fake = Fake::new(llama(Some((1 << 63) + 1), None)).with("blk.0.attn_q.weight", vec![16, 32], q.clone());
    let e = against(&ck, &fake, &NameMap::Auto, true, &Watch::NONE).unwrap_err();
    assert!(matches!(e, AgainstError::HeadsDoNotDivide { rows: 16, .. }), "{e}");
    let fake = Fake::new(llama(Some(2), Some(0)))
        .with("blk.0.attn_q.weight", vec![16, 32], permute::to_gguf_order(&q, 16, 2))
        .with("blk.0.attn_k.weight", vec![8, 32], k);
    let e = against(&ck, &fake, &NameMap::Auto, true, &Watch::NONE).unwrap_err();
    assert!(
        matches!(&e, AgainstError::HeadsDoNotDivide { heads: 0, key, .. } if key.ends_with("head_count_kv")),
        "{e}"
    );
}

#[test]
fn tensors_that_match_nothing_or_differ_in_shape_are_listed_with_why() {
    let (ck, q, _) = llama_original();
    let fake = Fake::new(llama(Some(4), Some(2)))
        .with("blk.0.attn_q.weight", vec![16, 32], permute::to_gguf_order(&q, 16, 4))
        .with("blk.0.attn_k.weight", vec![2, 64], values(128, 2))
        .with("rope_freqs.weight", vec![16], values(16, 4));
    let a = against(&ck, &fake, &NameMap::Auto, true, &Watch::NONE).unwrap();
    assert_eq!(a.tensors.len(), 1);
    let why = |n: &str| a.unmatched.iter().find(|u| u.name == n).map(|u| u.reason.clone()).unwrap();
    assert_eq!(why(K), "shape [8, 32] here but [2, 64] in q.gguf (blk.0.attn_k.weight)");
    assert_eq!(why("model.norm.weight"), "q.gguf holds no tensor output_norm.weight");
    assert_eq!(why("rope_freqs.weight"), "in q.gguf only: no original tensor maps to it");
    assert!(why("blk.0.attn_k.weight").contains("only"));
}

#[test]
fn nothing_matched_is_an_error_that_shows_both_sides_names() {
    let (ck, _, _) = llama_original();
    let fake = Fake::new(ModelMeta::default()).with("enc.w", vec![16, 32], values(512, 1));
    let e = against(&ck, &fake, &NameMap::Auto, true, &Watch::NONE).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, AgainstError::NothingMatched { .. }));
    assert!(text.contains("enc.w") && text.contains(Q) && text.contains("--map"), "{text}");
    // A map file names the pair.
    let map = NameMap::File(BTreeMap::from([(Q.to_string(), "enc.w".to_string())]));
    let a = against(&ck, &fake, &map, true, &Watch::NONE).unwrap();
    assert_eq!(a.tensors[0].quantized_name, "enc.w");
}

#[test]
fn the_plan_fits_within_the_quantized_models_bits() {
    let (ck, q, k) = llama_original();
    let noisy = |v: &[f32]| v.iter().map(|x| x + 0.01).collect::<Vec<f32>>();
    let fake = Fake::new(llama(Some(4), Some(2)))
        .with("blk.0.attn_q.weight", vec![16, 32], permute::to_gguf_order(&noisy(&q), 16, 4))
        .with("blk.0.attn_k.weight", vec![8, 32], permute::to_gguf_order(&noisy(&k), 8, 2));
    let a = against(&ck, &fake, &NameMap::Auto, true, &Watch::NONE).unwrap();
    assert_eq!(a.totals.bpw, 8.5);
    let p = a.plan_at_same_size.expect("q8_0 everywhere fits 8.5 bpw");
    assert!(p.bpw <= 8.5 + 1e-12, "{p:?}");
    assert_eq!(p.assignments.len(), 2);
    assert!(p.assignments.values().all(|f| plan_candidates().contains(&f.as_str())));
    assert!(plan_candidates().contains(&"q4_k") && !plan_candidates().contains(&"tq2_0"));
    // Below every candidate: no plan, and why.
    let small =
        Fake::new(llama(Some(4), Some(2))).with("blk.0.attn_q.weight", vec![16, 32], permute::to_gguf_order(&q, 16, 4));
    let mut small = small;
    small.tensors[0].0.bytes = 8;
    let a = against(&ck, &small, &NameMap::Auto, true, &Watch::NONE).unwrap();
    assert!(a.plan_at_same_size.is_none() && a.plan_note.as_deref().unwrap().contains("q4_0"), "{:?}", a.plan_note);
}

#[test]
fn error_sums_leave_out_non_finite_originals() {
    let s = error_sums(&[1.0, f32::NAN, 2.0], &[1.0, 5.0, 1.0]);
    assert_eq!((s.n, s.sq, s.x2, s.max_abs), (2, 1.0, 5.0, 1.0));
}
