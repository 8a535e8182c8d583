use ::safetensors::Dtype;
use ::safetensors::tensor::TensorView;

use super::*;
use crate::compute::checkpoint::scan;
use crate::compute::checkpoint::select::parse_formats;
use crate::compute::watch::Watch;

fn checkpoint() -> Checkpoint {
    let values: Vec<u8> = (0..512u32).flat_map(|i| ((i % 37) as f32 / 37.0 - 0.4).to_le_bytes()).collect();
    let norm: Vec<u8> = [1f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let tensors = [("w", Dtype::F32, vec![2, 256], values), ("norm", Dtype::F32, vec![2], norm)];
    let views: Vec<(String, TensorView<'_>)> =
        tensors.iter().map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    let bytes = ::safetensors::serialize(views, None).unwrap();
    Checkpoint::from_bytes("mem", vec![("mem".into(), bytes)], false).unwrap()
}

fn scanned(ck: &Checkpoint, specs: &[FormatSpec]) -> Scan {
    scan::scan(ck, &vec![true; ck.tensors.len()], specs, &Watch::NONE).unwrap()
}

#[test]
fn two_formats_without_a_budget_are_refused_with_what_to_do() {
    let ck = checkpoint();
    let specs = parse_formats("q4_0,q8_0").unwrap();
    let e = assign(&ck, &scanned(&ck, &specs), &specs).err().unwrap().to_string();
    assert!(e.contains("--budget-bpw") && e.contains("q4_0, q8_0"), "{e}");
}

#[test]
fn a_gguf_of_one_format_keeps_the_norm_and_its_bytes_add_up() {
    let ck = checkpoint();
    let specs = parse_formats("q4_0").unwrap();
    let s = scanned(&ck, &specs);
    let assigned = assign(&ck, &s, &specs).unwrap();
    let kept: Vec<(&str, bool)> = assigned.iter().map(|a| (a.entry.name.as_str(), a.spec.is_none())).collect();
    assert_eq!(kept, [("norm", true), ("w", false)], "safetensors::serialize puts the norm first");
    let names = GgufNames { architecture: "qmc", name: "m", recipe: &recipe_json(&assigned, &s) };
    let plan = plan_gguf(&assigned, &names).unwrap();
    // q4_0: 18 bytes a block of 32; the norm 2 f32.
    assert_eq!(plan.pieces.iter().map(|p| p.parts[0]).collect::<Vec<_>>(), [8, 512 / 32 * 18]);
    for piece in &plan.pieces {
        let parts = encode(&ck, piece, plan.target).unwrap();
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), piece.parts);
    }
    assert_eq!(encode(&ck, &plan.pieces[0], plan.target).unwrap()[0], [1f32, 2.0].map(f32::to_le_bytes).concat());
}

#[test]
fn a_format_without_a_ggml_type_is_sent_to_packed() {
    let ck = checkpoint();
    let specs = parse_formats("nf4").unwrap();
    let s = scanned(&ck, &specs);
    let assigned = assign(&ck, &s, &specs).unwrap();
    let names = GgufNames { architecture: "qmc", name: "m", recipe: "{}" };
    let e = plan_gguf(&assigned, &names).err().unwrap().to_string();
    assert!(e.contains("--packed"), "{e}");
    let plan = plan_safetensors(&assigned, Target::Packed, BTreeMap::new()).unwrap();
    let parts = encode(&ck, &plan.pieces[1], plan.target).unwrap();
    // nf4 in blocks of 64: two codes a byte, then an fp32 absmax a block.
    assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [256, 8 * 4]);
}
