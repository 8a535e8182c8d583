use super::*;
use crate::compute::data::iris;
use crate::compute::ensemble::{DataConfig, MemberConfig, MemberKind, prepare, train_member};

fn trained(cfg: &EnsembleConfig) -> (Prepared, Vec<MemberResults>) {
    let data = DataConfig::default();
    let p = prepare(iris(), &data).unwrap();
    let results = cfg.members.iter().map(|m| train_member(&p, m, data.seed).unwrap()).collect();
    (p, results)
}

#[test]
fn at_16_bits_the_quantized_ensemble_scores_as_the_float_one() {
    // Every vote that changes at 16 bits is a test value on a split's
    // threshold (see ensemble's test of that); on iris none changes a fused answer.
    let cfg = EnsembleConfig::default();
    let (p, results) = trained(&cfg);
    let refs: Vec<&MemberResults> = results.iter().collect();
    let q = QuantConfig { bits: 16, ..QuantConfig::default() };
    let r = sweep(&p, &cfg, &refs, &q, &DeployConfig::default(), None);
    assert_eq!(
        (r.ensemble.quant_test_accuracy, r.ensemble.quant_cv_accuracy_mean),
        (r.ensemble.float_test_accuracy, r.ensemble.float_cv_accuracy_mean)
    );
    let sixteen = r.by_bits.iter().find(|b| b.bits == 16).unwrap();
    assert_eq!(Some(sixteen.test_accuracy), r.ensemble.float_test_accuracy);
}

/// Under `weights = "optimized"` the Deploy pane fuses with the Ensemble
/// pane's optimized weights (each CV fold with its own): its float row is the
/// Ensemble pane's figure, and on iris 16 bits changes no fused answer, so the
/// quantized ensemble scores the same too. The members' own weights here are
/// bad (a stump weighed 5 to 1), so fusing with them instead shows.
/// With `forest(10, 0)` in place of `forest(30, 2)` the 16-bit CV reads 0.9400
/// against 0.9333: selection takes that forest alone, and the forest itself
/// answers one out-of-fold row otherwise at 16 bits (its own CV moves from
/// 0.9333 to 0.9400 too), which is the members' quantization, not the weights.
#[test]
fn optimized_weights_deploy_with_the_ensemble_panes_weights() {
    use crate::compute::ensemble::{WeightRule, evaluate};
    let members = vec![
        MemberConfig::forest(30, 2),
        MemberConfig { kind: MemberKind::Tree, max_depth: 1, weight: 5.0, ..MemberConfig::default() },
        MemberConfig { kind: MemberKind::Logistic, c: 0.05, ..MemberConfig::default() },
    ];
    let own = EnsembleConfig { fusion: Fusion::Soft, members, ..EnsembleConfig::default() };
    let optimized = EnsembleConfig { weights: WeightRule::Optimized, ..own.clone() };
    let (p, results) = trained(&optimized);
    let refs: Vec<&MemberResults> = results.iter().collect();
    let q = QuantConfig { bits: 16, ..QuantConfig::default() };
    let pane = evaluate(&p, &optimized, &refs);
    let r = sweep(&p, &optimized, &refs, &q, &DeployConfig::default(), None);
    let e = &r.ensemble;
    assert_eq!((e.float_test_accuracy, e.float_cv_accuracy_mean), (pane.test_accuracy, pane.cv_accuracy_mean));
    assert_eq!((e.quant_test_accuracy, e.quant_cv_accuracy_mean), (pane.test_accuracy, pane.cv_accuracy_mean));
    assert_eq!(r.weights, pane.optimized_weights);
    assert_eq!(r.weight_rule, WeightRule::Optimized);
    assert!(r.notes.iter().any(|n| n.contains("out-of-fold probabilities")), "{:?}", r.notes);
    // The members' own weights give other figures: the test above tells them apart.
    let with_own = sweep(&p, &own, &refs, &q, &DeployConfig::default(), None);
    assert!(with_own.ensemble.float_cv_accuracy_mean < e.float_cv_accuracy_mean, "{with_own:?}");
    let shares = with_own.weights.clone().unwrap();
    assert!(shares.iter().zip([1.0, 5.0, 1.0]).all(|(w, x)| (w - x / 7.0).abs() < 1e-15), "{shares:?}");
    assert_eq!(with_own.ensemble.float_cv_accuracy_mean, evaluate(&p, &own, &refs).cv_accuracy_mean);
}

fn format(name: &str) -> QuantConfig {
    QuantConfig { format: crate::compute::formats::find(name).unwrap(), ..QuantConfig::default() }
}

#[test]
fn a_block_format_that_cannot_form_blocks_says_why_instead_of_figures() {
    let cfg = EnsembleConfig::default();
    let (p, results) = trained(&cfg);
    let refs: Vec<&MemberResults> = results.iter().collect();
    let r = sweep(&p, &cfg, &refs, &format("q4_0"), &DeployConfig::default(), None);
    let why = r.error.as_deref().expect("q4_0 cannot form blocks of 32 on iris");
    assert!(why.contains("q4_0") && why.contains("the rows here hold 4, not a multiple of 32"), "{why}");
    assert!(r.notes.iter().any(|n| n == why), "the pane's notes say it: {:?}", r.notes);
    let e = &r.ensemble;
    assert_eq!((e.quant_test_accuracy, e.quant_cv_accuracy_mean, e.quant_bytes), (None, None, 0));
    assert!(e.float_test_accuracy.is_some() && e.float_bytes > 0, "the float figures stay");
    assert!(r.by_bits.is_empty() && r.recommended_bits.is_none());
    assert!(r.members.iter().all(|m| m.quant_test_accuracy.is_none() && m.float_test_accuracy.is_some()));
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["quant_test_accuracy"].is_null() && json["error"] == why, "{json}");
    // int in groups keeps a scale per group: refused the same way, not indexed as channels.
    let grouped = QuantConfig { granularity: Granularity::PerGroup, group_size: 32, ..QuantConfig::default() };
    let r = sweep(&p, &cfg, &refs, &grouped, &DeployConfig::default(), None);
    assert!(r.error.as_deref().is_some_and(|e| e.contains("not a multiple of the group size 32")), "{:?}", r.error);
    // int per tensor has no error key at all.
    let plain = sweep(&p, &cfg, &refs, &QuantConfig::default(), &DeployConfig::default(), None);
    assert!(plain.error.is_none() && serde_json::to_value(&plain).unwrap().get("error").is_none());
}

/// The x̂ a feature's grid gives each training value is the format's own
/// x̂ of that column (`formats::dequantized`), for every format that gives
/// a column one set of parameters.
#[test]
fn a_feature_grid_gives_the_formats_own_dequantized_column() {
    use crate::compute::formats::{BUILTIN_FORMATS, dequantized};
    let (p, _) = trained(&EnsembleConfig { fusion: Fusion::Soft, members: vec![], ..EnsembleConfig::default() });
    let (x_train, _) = p.dataset.select(&p.split.train);
    let mut applied = Vec::new();
    for &kind in BUILTIN_FORMATS.iter().filter(|k| !k.is_int()) {
        for granularity in [Granularity::PerTensor, Granularity::PerChannel] {
            let q = QuantConfig { format: kind, granularity, ..QuantConfig::default() };
            let Ok(grids) = through_format::feature_grids(x_train.view(), &q) else { continue };
            for (c, column) in x_train.columns().into_iter().enumerate() {
                let values: Vec<f32> = column.iter().map(|&v| v as f32).collect();
                let rows = values.len();
                let w = Weights::in_memory(values, rows, 1);
                let cfg = QuantConfig { channel_axis: 1, ..q.clone() };
                let (expected, _) = dequantized(&w, &cfg).unwrap();
                let got: Vec<f32> = column.iter().map(|&v| grids.grids[c].xhat(v) as f32).collect();
                assert_eq!(got, expected, "{kind} {granularity:?} feature {c}");
            }
            applied.push(kind.name());
        }
    }
    for name in ["fp8-e4m3", "fp8-e5m2", "fp4-e2m1", "binary", "ternary", "codebook"] {
        assert!(applied.contains(&name), "{name} applies to features: {applied:?}");
    }
    for name in ["q4_0", "q8_0", "mxfp4", "nvfp4", "nf4", "q4_k"] {
        assert!(
            crate::compute::formats::find(name).is_ok() && !applied.contains(&name),
            "{name} keeps a scale per block"
        );
    }
}

/// fp8-e4m3 through the format: one row (it takes no bits), 8-bit codes for
/// the thresholds plus one fp32 scale per feature, and accuracy near float.
#[test]
fn fp8_e4m3_deploys_with_eight_bit_codes_and_a_scale_per_feature() {
    let members =
        vec![MemberConfig::forest(10, 0), MemberConfig { kind: MemberKind::Logistic, ..MemberConfig::default() }];
    let cfg = EnsembleConfig { fusion: Fusion::Soft, members, ..EnsembleConfig::default() };
    let (p, results) = trained(&cfg);
    let refs: Vec<&MemberResults> = results.iter().collect();
    let fp8 = format("fp8-e4m3");
    let r = sweep(&p, &cfg, &refs, &fp8, &DeployConfig::default(), None);
    assert_eq!(r.error, None);
    assert_eq!((r.bits, r.format.name()), (8, "fp8-e4m3"));
    assert_eq!(r.by_bits.len(), 1, "no bits setting: one row");
    let row = &r.by_bits[0];
    assert_eq!(
        (row.bits, Some(row.test_accuracy), row.bytes),
        (8, r.ensemble.quant_test_accuracy, r.ensemble.quant_bytes)
    );
    let features = p.dataset.features.ncols() as u64;
    let scales = features * 32;
    // The logistic weights are one tensor with one fp32 scale.
    let codes: u64 = refs.iter().map(|m| m.test_model.size_bits(8)).sum();
    assert_eq!(r.ensemble.quant_bytes, (codes + 32 + scales).div_ceil(8));
    assert_eq!(r.members[0].quant_bytes, (refs[0].test_model.size_bits(8) + scales).div_ceil(8));
    assert_eq!(r.members[1].quant_bytes, (refs[1].test_model.size_bits(8) + 32 + scales).div_ceil(8));
    // 3 mantissa bits: each feature within 1/16 of itself; iris keeps its answers within 4 points.
    let e = &r.ensemble;
    assert!((e.quant_cv_accuracy_mean.unwrap() - e.float_cv_accuracy_mean.unwrap()).abs() <= 0.04, "{e:?}");
    assert!(r.notes.iter().any(|n| n.contains("format fp8-e4m3")), "{:?}", r.notes);
    // fp4 has half the code bits: smaller, and the sweep is still one row.
    let fp4 = sweep(&p, &cfg, &refs, &format("fp4-e2m1"), &DeployConfig::default(), None);
    assert_eq!((fp4.bits, fp4.by_bits.len()), (4, 1));
    assert!(fp4.ensemble.quant_bytes < r.ensemble.quant_bytes);
}

/// A format that takes `bits` (the codebook) sweeps them, and its x̂
/// thresholds cut the trees where their feature's grid puts them.
#[test]
fn a_format_with_bits_sweeps_them() {
    let cfg = EnsembleConfig::default();
    let (p, results) = trained(&cfg);
    let refs: Vec<&MemberResults> = results.iter().collect();
    let q = QuantConfig { bits: 4, ..format("codebook") };
    let r = sweep(&p, &cfg, &refs, &q, &DeployConfig::default(), None);
    assert_eq!(r.error, None, "{:?}", r.notes);
    assert_eq!(r.bits, 4);
    let bits: Vec<u32> = r.by_bits.iter().map(|b| b.bits).collect();
    assert!(!bits.is_empty() && bits.iter().all(|b| SWEEP_BITS.contains(b)), "{bits:?} {:?}", r.notes);
    let four = r.by_bits.iter().find(|b| b.bits == 4).unwrap();
    assert_eq!((Some(four.test_accuracy), four.bytes), (r.ensemble.quant_test_accuracy, r.ensemble.quant_bytes));
}

#[test]
fn a_grid_cuts_at_midpoints_moved_to_where_the_training_values_went() {
    let levels = [-1.0, 0.0, 0.5, 2.0];
    let g = through_format::Grid::calibrated(&levels, &[], &[]);
    let read = |g: &through_format::Grid, xs: &[f64]| xs.iter().map(|&x| g.xhat(x)).collect::<Vec<f64>>();
    let xs = [-5.0, -0.6, -0.5, 0.2, 0.25, 0.3, 1.25, 1.3, 9.0];
    assert_eq!(read(&g, &xs), [-1.0, -1.0, -1.0, 0.0, 0.0, 0.5, 0.5, 2.0, 2.0]);
    // A format that sent 0.4 to 0 and 0.45 to 0.5 cuts between them (at the
    // gap's edge nearest the midpoint 0.25), and one that sent -0.9 to 0, below -0.5.
    let g = through_format::Grid::calibrated(&levels, &[0.4, 0.45, -0.9], &[0.0, 0.5, 0.0]);
    assert_eq!(read(&g, &[0.3, 0.4, 0.42, 0.45, -0.9, -0.95]), [0.0, 0.0, 0.5, 0.5, 0.0, -1.0]);
}

/// For a value inside the training range, fp8-e4m3's per-tensor scale stays
/// amax/448: its x̂ is what the format gives that value in the column.
#[test]
fn fp8_reads_a_new_value_as_the_format_would() {
    use crate::compute::formats::dequantized;
    let (p, _) = trained(&EnsembleConfig { fusion: Fusion::Soft, members: vec![], ..EnsembleConfig::default() });
    let (x_train, _) = p.dataset.select(&p.split.train);
    let (x_test, _) = p.dataset.select(&p.split.test);
    let q = QuantConfig { channel_axis: 1, ..format("fp8-e4m3") };
    let grids = through_format::feature_grids(x_train.view(), &q).unwrap();
    let mut checked = 0;
    for c in 0..x_train.ncols() {
        let mut values: Vec<f32> = x_train.column(c).iter().map(|&v| v as f32).collect();
        let amax = values.iter().fold(0f32, |m, v| m.max(v.abs()));
        for &v in x_test.column(c).iter().filter(|v| (v.abs() as f32) < amax) {
            values.push(v as f32);
            let w = Weights::in_memory(values.clone(), values.len(), 1);
            let (xhat, _) = dequantized(&w, &q).unwrap();
            assert_eq!(grids.grids[c].xhat(v), *xhat.last().unwrap() as f64, "feature {c}, {v}");
            values.pop();
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked}");
}

#[test]
fn two_bits_shrink_the_thresholds_eightfold_and_more() {
    let cfg = EnsembleConfig::default();
    let (p, results) = trained(&cfg);
    let refs: Vec<&MemberResults> = results.iter().collect();
    let r = sweep(&p, &cfg, &refs, &QuantConfig::default(), &DeployConfig::default(), None);
    let two = r.by_bits.iter().find(|b| b.bits == 2).unwrap();
    assert!(two.bytes < r.ensemble.float_bytes);
    // Thresholds alone: 2 bits against 32 for each split node.
    let splits: u64 = refs.iter().map(|m| m.test_model.size_bits(1) - m.test_model.size_bits(0)).sum();
    let float_thresholds = splits * 32;
    let two_bit_thresholds = splits * 2;
    assert!(float_thresholds >= 8 * two_bit_thresholds);
    // Sizes grow with the width, and the sweep is ordered.
    assert!(r.by_bits.windows(2).all(|w| w[0].bits < w[1].bits && w[0].bytes <= w[1].bytes));
}

#[test]
fn the_recommendation_is_the_smallest_width_within_tolerance() {
    let cfg = EnsembleConfig::default();
    let (p, results) = trained(&cfg);
    let refs: Vec<&MemberResults> = results.iter().collect();
    let r = sweep(&p, &cfg, &refs, &QuantConfig::default(), &DeployConfig { tolerance: 1.0 }, None);
    let rec = r.recommended_bits.expect("16 bits matches float");
    let ok = |b: &BitsRow| b.cv_accuracy_mean >= r.ensemble.float_cv_accuracy_mean.unwrap() - 0.01 - 1e-12;
    assert!(ok(r.by_bits.iter().find(|b| b.bits == rec).unwrap()));
    assert!(r.by_bits.iter().filter(|b| b.bits < rec).all(|b| !ok(b)));
    let strict = sweep(&p, &cfg, &refs, &QuantConfig::default(), &DeployConfig { tolerance: 0.0 }, None);
    assert!(strict.recommended_bits.unwrap() >= rec);
}

#[test]
fn logistic_members_quantize_their_weights() {
    let cfg = EnsembleConfig {
        fusion: Fusion::Soft,
        members: vec![MemberConfig { kind: MemberKind::Logistic, ..MemberConfig::default() }],
        ..EnsembleConfig::default()
    };
    let (p, results) = trained(&cfg);
    let refs: Vec<&MemberResults> = results.iter().collect();
    let r = sweep(&p, &cfg, &refs, &QuantConfig { bits: 16, ..QuantConfig::default() }, &DeployConfig::default(), None);
    let e = &r.ensemble;
    assert!((e.quant_cv_accuracy_mean.unwrap() - e.float_cv_accuracy_mean.unwrap()).abs() <= 0.02);
    let w = Array2::from_shape_vec((2, 2), vec![0.5, -1.0, 0.25, 2.0]).unwrap();
    let two = quantize_weights(&w, &QuantConfig { bits: 2, scheme: Scheme::Symmetric, ..QuantConfig::default() });
    // 2-bit symmetric per tensor: levels -2, 0, 2 (scale 2 = amax / 1).
    assert_eq!(two, Array2::from_shape_vec((2, 2), vec![0.0, 0.0, 0.0, 2.0]).unwrap());
}

#[test]
fn no_members_has_no_figures() {
    let cfg = EnsembleConfig { fusion: Fusion::Soft, members: vec![], ..EnsembleConfig::default() };
    let (p, _) = trained(&cfg);
    let r = sweep(&p, &cfg, &[], &QuantConfig::default(), &DeployConfig::default(), None);
    assert_eq!((r.recommended_bits, r.ensemble.float_bytes, r.ensemble.quant_bytes), (None, 0, 0));
    let e = &r.ensemble;
    let figures = [e.float_test_accuracy, e.quant_test_accuracy, e.float_cv_accuracy_mean, e.quant_cv_accuracy_mean];
    assert_eq!(figures, [None; 4]);
    // Not a sweep of empty votes scoring 0% at every width.
    assert!(r.by_bits.is_empty() && r.members.is_empty());
    assert_eq!(r.notes, ["no members: nothing to quantize"]);
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["float_test_accuracy"].is_null() && json["recommended_bits"].is_null(), "{json}");
}

/// The stacking row is stacking: the float figures are the Ensemble
/// pane's stacking figures (not soft voting's), and the same float
/// meta-learners read the quantized members' probabilities.
#[test]
fn stacking_is_deployed_through_its_meta_learner() {
    use crate::compute::ensemble::evaluate;
    // A forest and a single tree: stacking and soft voting disagree on iris.
    let members = vec![MemberConfig::forest(10, 0), MemberConfig { kind: MemberKind::Tree, ..MemberConfig::default() }];
    let cfg = EnsembleConfig { fusion: Fusion::Stacking, members, ..EnsembleConfig::default() };
    let (p, results) = trained(&cfg);
    let refs: Vec<&MemberResults> = results.iter().collect();
    let stacking = evaluate(&p, &cfg, &refs);
    let soft = evaluate(&p, &EnsembleConfig { fusion: Fusion::Soft, ..cfg.clone() }, &refs);
    assert_ne!(
        (stacking.test_accuracy, stacking.cv_accuracy_mean),
        (soft.test_accuracy, soft.cv_accuracy_mean),
        "the test needs members on which the two rules differ"
    );
    let q16 = QuantConfig { bits: 16, ..QuantConfig::default() };
    let r = sweep(&p, &cfg, &refs, &q16, &DeployConfig::default(), None);
    assert_eq!(r.ensemble.float_test_accuracy, stacking.test_accuracy);
    assert_eq!(r.ensemble.float_cv_accuracy_mean, stacking.cv_accuracy_mean);
    // At 16 bits the members vote as in float here, so the meta-learner answers as in float.
    assert_eq!(r.ensemble.quant_test_accuracy, stacking.test_accuracy);
    assert_eq!(r.ensemble.quant_cv_accuracy_mean, stacking.cv_accuracy_mean);
    assert!(r.notes.iter().any(|n| n.contains("meta-learner reads the quantized")), "{:?}", r.notes);
    // The stored model includes the float32 meta-learner: 2 members x 3 classes in, 3 out, 3 intercepts.
    let members_bytes: u64 = r.members.iter().map(|m| m.float_bytes).sum();
    assert_eq!(r.ensemble.float_bytes, members_bytes + (6 * 3 + 3) * 4);
    // A stacking that failed is replaced by soft voting, and says so.
    let failed: Result<Stacked, EnsembleError> = Err(EnsembleError::Shape("no".into()));
    let r = sweep(&p, &cfg, &refs, &q16, &DeployConfig::default(), Some(&failed));
    assert_eq!(r.ensemble.float_test_accuracy, soft.test_accuracy);
    assert!(r.notes.iter().any(|n| n.starts_with("stacking failed")), "{:?}", r.notes);
}

/// A fusion or weight change re-scores the members kept quantized and
/// quantizes nothing, and gives the report a fresh sweep gives; a new
/// width setting is quantized anew.
#[test]
fn a_fusion_change_reuses_the_kept_quantized_members() {
    let cfg = EnsembleConfig::default();
    let (p, results) = trained(&cfg);
    let refs: Vec<&MemberResults> = results.iter().collect();
    let q = QuantConfig { bits: 4, ..QuantConfig::default() };
    let d = DeployConfig::default();
    let mut kept = QuantizedMembers::default();
    let first = sweep_kept(&p, &cfg, &refs, (&q, &d), None, &mut kept);
    assert_eq!(first, sweep(&p, &cfg, &refs, &q, &d, None));
    let settings = kept.entries.len();
    assert_eq!(settings, SWEEP_BITS.len(), "the current width is one of the sweep's");
    let ptrs: Vec<_> = kept.entries.iter().map(|(_, at)| Arc::as_ptr(at)).collect();
    for fusion in [Fusion::Hard, Fusion::Stacking] {
        let other = EnsembleConfig { fusion, ..cfg.clone() };
        let again = sweep_kept(&p, &other, &refs, (&q, &d), None, &mut kept);
        assert_eq!(again, sweep(&p, &other, &refs, &q, &d, None), "{fusion:?}");
        assert_ne!(again.fusion, first.fusion);
        let now: Vec<_> = kept.entries.iter().map(|(_, at)| Arc::as_ptr(at)).collect();
        assert_eq!(now, ptrs, "{fusion:?}: nothing quantized anew");
    }
    let grouped = QuantConfig { format: crate::compute::formats::find("q4_0").unwrap(), ..q.clone() };
    sweep_kept(&p, &cfg, &refs, (&grouped, &d), None, &mut kept);
    assert!(kept.entries.len() > settings, "a new setting is quantized");
}

/// Kept quantized members of `rows` test rows and one fold of as many, 3
/// classes each: 2 · rows · 3 probabilities of 8 bytes.
fn held_at(rows: usize) -> QuantizedAt {
    let probabilities = || Array2::<f64>::zeros((rows, 3));
    let quantized = Quantized { test: vec![probabilities()], folds: vec![vec![probabilities()]] };
    QuantizedAt { quantized, member_bytes: Vec::new(), bytes: 0 }
}

/// Past the byte cap the oldest settings are forgotten (quantized again
/// when met again), well before the count cap; a setting larger than the
/// cap alone is still kept, alone, as the newest always is.
#[test]
fn the_kept_quantized_members_stop_at_their_byte_cap() {
    let entry_bytes = held_at(10).bytes_held();
    assert_eq!(entry_bytes, 2 * 10 * 3 * 8);
    let mut kept = QuantizedMembers { max_bytes: 3 * entry_bytes, ..QuantizedMembers::default() };
    let members = [MemberConfig::default()];
    let at_bits = |bits| QuantConfig { bits, ..QuantConfig::default() };
    let kept_bits = |kept: &QuantizedMembers| kept.entries.iter().map(|(k, _)| k.quant.bits).collect::<Vec<_>>();
    let mut quantized = 0;
    for bits in 2..=5 {
        kept.get_or_quantize(&members, &at_bits(bits), || {
            quantized += 1;
            Ok(held_at(10))
        });
    }
    assert_eq!(kept_bits(&kept), [3, 4, 5], "the fourth setting pushed out the first");
    assert!(kept.entries.len() < QUANTIZED_KEPT);
    kept.get_or_quantize(&members, &at_bits(4), || unreachable!("4 bits is kept"));
    kept.get_or_quantize(&members, &at_bits(2), || {
        quantized += 1;
        Ok(held_at(10))
    });
    assert_eq!((kept_bits(&kept), quantized), (vec![4, 5, 2], 5), "2 bits was forgotten, so quantized again");
    kept.get_or_quantize(&members, &at_bits(6), || Ok(held_at(40)));
    assert_eq!(kept_bits(&kept), [6], "too large for the cap, yet kept alone");
}
