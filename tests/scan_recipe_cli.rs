//! `scan --pin/--keep`, `--recipe-out`, `--recipe` and `--tensor-types-out`
//! on a checkpoint the test writes: pins win, `keep` costs the dtype and
//! no error, a recipe loads back to the same plan and the same files, and
//! every bad recipe is one paragraph naming the file.

use std::path::{Path, PathBuf};

use safetensors::Dtype;
use serde_json::Value;
use tempfile::TempDir;

mod common;
use common::{f32s, fails, json, run, s, safetensors_bytes};

fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n).map(|i| ((((i * 37 + seed * 11) % 101) as f32) - 50.0) / 400.0 + (i % 5) as f32 * 1e-3).collect()
}

const EMBED: &str = "model.embed_tokens.weight";
const Q: &str = "layers.0.q_proj.weight";
/// Rows of 96: whole q4_0/q8_0 blocks (32), not q4_k/q6_k ones (256).
const K: &str = "layers.0.k_proj.weight";

/// Three f32 weights (2048, 2048 and 384 values) and a norm.
fn model(dir: &Path) -> PathBuf {
    let bytes = safetensors_bytes(&[
        (EMBED, Dtype::F32, vec![8, 256], f32s(&values(2048, 1))),
        (Q, Dtype::F32, vec![8, 256], f32s(&values(2048, 2))),
        (K, Dtype::F32, vec![4, 96], f32s(&values(384, 3))),
        ("layers.0.norm.weight", Dtype::F32, vec![16], f32s(&values(16, 4))),
    ]);
    let path = dir.join("model.safetensors");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn scan(args: &[&str]) -> Value {
    json(&[&["scan"], args, &["--format", "json"]].concat())
}

fn assignment<'a>(v: &'a Value, name: &str) -> &'a str {
    v["plan"]["assignments"][name].as_str().unwrap_or_else(|| panic!("{name} in {}", v["plan"]))
}

const COUNT: f64 = 2048.0 + 2048.0 + 384.0;

#[test]
fn pins_take_their_format_and_keep_costs_the_dtype() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let v =
        scan(&[s(&m), "--formats", "q4_0,q8_0", "--pin", "*embed*=q6_k", "--keep", "*q_proj*", "--budget-bpw", "20"]);
    assert_eq!(assignment(&v, EMBED), "q6_k");
    assert_eq!(assignment(&v, Q), "keep");
    // What is left after the pins buys q8_0 for the free tensor.
    assert_eq!(assignment(&v, K), "q8_0");
    let bits = 6.5625 * 2048.0 + 32.0 * 2048.0 + 8.5 * 384.0;
    let plan = &v["plan"];
    assert!((plan["bpw"].as_f64().unwrap() - bits / COUNT).abs() < 1e-9, "{plan}");
    assert_eq!(plan["bytes"], (bits / 8.0).ceil() as u64);
    // The pin's format outside --formats is measured on every tensor (k_proj cannot take it).
    let formats: Vec<&str> = v["totals"].as_array().unwrap().iter().map(|t| t["format"].as_str().unwrap()).collect();
    assert_eq!(formats, ["q4_0", "q8_0", "q6_k"]);

    // A tighter budget than all-q8_0 on the free tensor: it falls back to q4_0, within budget.
    let tight = (bits - 4.0 * 384.0) / COUNT;
    let v = scan(&[
        s(&m),
        "--formats",
        "q4_0,q8_0",
        "--pin",
        "*embed*=q6_k",
        "--keep",
        "*q_proj*",
        "--budget-bpw",
        &tight.to_string(),
    ]);
    assert_eq!(assignment(&v, K), "q4_0");
    assert!(v["plan"]["bpw"].as_f64().unwrap() <= tight);
}

#[test]
fn pins_apply_without_a_budget_and_the_first_match_wins() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let pins = ["--pin", "*embed*=q8_0", "--pin", "*k_proj*=keep", "--pin", "*=q6_k"];
    let v = scan(&[&[s(&m), "--formats", "q4_0"][..], &pins].concat());
    assert_eq!((assignment(&v, EMBED), assignment(&v, K), assignment(&v, Q)), ("q8_0", "keep", "q6_k"));
    // With `*` first, k_proj takes q6_k's pin, whose blocks its rows cannot hold.
    let err = fails(&["scan", s(&m), "--formats", "q4_0", "--pin", "*=q6_k"]);
    assert!(
        err.contains("q6_k") && err.contains(K) && err.contains("256") && err.contains("model.safetensors"),
        "{err}"
    );

    let v = scan(&[s(&m), "--formats", "q4_0", "--pin", "*embed*=q8_0"]);
    assert_eq!((assignment(&v, EMBED), assignment(&v, Q), assignment(&v, K)), ("q8_0", "q4_0", "q4_0"));
    assert_eq!(v["plan"]["budget_bpw"], v["plan"]["bpw"], "no budget: the plan is its own");

    let err = fails(&["scan", s(&m), "--formats", "q4_0", "--pin", "*nothing*=q8_0"]);
    assert!(err.contains("--pin") && err.contains("*nothing*"), "{err}");
    let err = fails(&["scan", s(&m), "--formats", "q4_0,q8_0", "--pin", "*embed*=q8_0"]);
    assert!(err.contains("no budget chooses"), "{err}");
    let err = fails(&["scan", s(&m), "--pin", "*embed*"]);
    assert!(err.contains("GLOB=FORMAT"), "{err}");
    let err = fails(&["scan", s(&m), "--pin", "*embed*=q9_9"]);
    assert!(err.contains("q9_9") && err.contains("q4_0"), "{err}");
}

#[test]
fn a_recipe_loads_back_to_the_same_plan_and_the_same_files() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let p = |name: &str| dir.path().join(name);
    let [r, r2, a, b, a_st, b_st] = ["r.toml", "r2.toml", "a.gguf", "b.gguf", "a.st", "b.st"].map(p);
    for budget in [["--budget-bpw", "6"], ["--budget-mb", "0.0035"]] {
        let mut first = vec![
            s(&m),
            "--formats",
            "q4_0,q8_0",
            "--pin",
            "*embed*=q6_k",
            "--include",
            "*.weight",
            "--weight",
            "*q_proj*=2",
        ];
        first.extend(budget);
        first.extend(["--recipe-out", s(&r), "--write", s(&a), "--dequantized", s(&a_st)]);
        let v1 = scan(&first);
        let text = std::fs::read_to_string(&r).unwrap();
        assert!(text.starts_with("# qmc-tui scan recipe of"), "{text}");
        assert!(text.contains("[assignments]") && text.contains(&format!("\"{EMBED}\" = \"q6_k\"")), "{text}");
        assert!(text.contains(&budget[0][2..].replace('-', "_")), "the budget as given: {text}");
        assert!(text.contains("[[weights]]") && text.contains("weight = 2.0"), "{text}");

        let second = [s(&m), "--recipe", s(&r), "--recipe-out", s(&r2)];
        let v2 = scan(&[&second[..], &["--write", s(&b), "--dequantized", s(&b_st)]].concat());
        assert_eq!(v1["plan"], v2["plan"]);
        assert_eq!(v1["tensors"], v2["tensors"]);
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert_eq!(std::fs::read(&a_st).unwrap(), std::fs::read(&b_st).unwrap());
        assert_eq!(text, std::fs::read_to_string(&r2).unwrap());
    }
}

/// A recipe of `m` with `edit` applied to its text.
fn edited_recipe(dir: &Path, m: &Path, edit: impl Fn(&str) -> String) -> PathBuf {
    let good = dir.join("good.toml");
    if !good.exists() {
        json(&[
            "scan",
            s(m),
            "--formats",
            "q4_0,q8_0",
            "--budget-bpw",
            "6",
            "--recipe-out",
            s(&good),
            "--format",
            "json",
        ]);
    }
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, edit(&std::fs::read_to_string(&good).unwrap())).unwrap();
    bad
}

/// A change to a good recipe's text.
type Edit = Box<dyn Fn(&str) -> String>;

#[test]
fn every_bad_recipe_is_one_paragraph_naming_the_file() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let cases: [(&str, Edit); 8] = [
        ("cannot read the recipe", Box::new(|_| "formats = [\n".into())),
        ("unknown field `budget`", Box::new(|t| t.replace("budget_bpw", "budget"))),
        ("does not have", Box::new(|t| t.replace(K, "layers.9.k_proj.weight"))),
        (
            "gives no format for tensor",
            Box::new(|t| t.lines().filter(|l| !l.contains(K)).collect::<Vec<_>>().join("\n")),
        ),
        ("unknown format \"q9_9\"", Box::new(|t| t.replacen("\"q4_0\"", "\"q9_9\"", 1))),
        (
            "blocks of 256",
            Box::new(|t| {
                format!(
                    "{}\"{K}\" = \"q4_k\"\n",
                    t.lines().filter(|l| !l.contains(K)).map(|l| format!("{l}\n")).collect::<String>()
                )
            }),
        ),
        ("not quantized", Box::new(|t| format!("{t}\"layers.0.norm.weight\" = \"q8_0\"\n"))),
        ("both budget_bpw", Box::new(|t| t.replace("budget_bpw = 6.0", "budget_bpw = 6.0\nbudget_mb = 1.0"))),
    ];
    for (want, edit) in cases {
        let bad = edited_recipe(dir.path(), &m, edit);
        let err = fails(&["scan", s(&m), "--recipe", s(&bad)]);
        assert!(err.contains(want) && err.contains("bad.toml"), "{want}: {err}");
    }
    let bad = edited_recipe(dir.path(), &m, |t| t.to_string());
    let err = fails(&["scan", s(&m), "--recipe", s(&bad), "--budget-bpw", "5"]);
    assert!(err.contains("bad.toml") && err.contains("--budget-bpw"), "{err}");
    let err = fails(&["scan", s(&m), "--recipe", s(&dir.path().join("none.toml"))]);
    assert!(err.contains("none.toml"), "{err}");
    let err = fails(&["scan", s(&m), "--recipe", s(&bad), "--recipe-out", s(&bad)]);
    assert!(err.contains("input file"), "{err}");
    let err = fails(&["scan", s(&m), "--formats", "q4_0", "--recipe-out", s(&m)]);
    assert!(err.contains("input file"), "{err}");
}

#[test]
fn the_llama_cpp_override_list_names_every_quantized_tensor() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    let out = dir.path().join("types.txt");
    let args =
        [s(&m), "--formats", "q4_0", "--pin", "*embed*=q6_k", "--keep", "*q_proj*", "--tensor-types-out", s(&out)];
    scan(&args);
    let text = std::fs::read_to_string(&out).unwrap();
    // Anchored regexes with escaped dots: llama-quantize searches each
    // pattern in every name and the first match wins.
    let pattern = |name: &str| format!("^{}$", name.replace('.', "\\."));
    let want = format!("{}=q4_0\n{}=f32\n{}=q6_k\n", pattern(K), pattern(Q), pattern(EMBED));
    let mut lines: Vec<&str> = text.lines().collect();
    let mut wanted: Vec<&str> = want.lines().collect();
    lines.sort();
    wanted.sort();
    assert_eq!(lines, wanted, "the norm (not quantized) has no line");

    let bad = dir.path().join("int.txt");
    let err = fails(&["scan", s(&m), "--formats", "int8-sym-pc", "--tensor-types-out", s(&bad)]);
    assert!(err.contains("int8-sym-pc") && err.contains("--packed") && err.contains("llama.cpp"), "{err}");
    assert!(!bad.exists(), "no partial output");
    let out = run(&["scan", s(&m), "--formats", "q4_0,q8_0", "--tensor-types-out", s(&bad)]);
    assert!(!out.status.success() && !bad.exists());
}

#[test]
fn the_override_list_of_a_llama_checkpoint_uses_the_gguf_names() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    std::fs::write(dir.path().join("config.json"), r#"{"model_type": "llama"}"#).unwrap();
    let out = dir.path().join("types.txt");
    scan(&[s(&m), "--formats", "q8_0", "--tensor-types-out", s(&out)]);
    let text = std::fs::read_to_string(&out).unwrap();
    // model.embed_tokens is token_embd in llama.cpp; names outside the
    // llama map (layers.0.q_proj, no "model." prefix) keep their own.
    assert!(text.lines().any(|l| l == "^token_embd\\.weight$=q8_0"), "{text}");
    assert!(text.lines().any(|l| l == "^layers\\.0\\.q_proj\\.weight$=q8_0"), "{text}");
}

#[test]
fn a_weight_moves_the_budget_to_the_tensor_that_counts() {
    let dir = TempDir::new().unwrap();
    let m = model(dir.path());
    // Room for one of the two 2048-value tensors at q8_0, not both.
    let base = [s(&m), "--formats", "q4_0,q8_0", "--budget-bpw", "6.4"];
    for (glob, upgraded, other) in [("*q_proj*=1000", Q, EMBED), ("*embed*=1000", EMBED, Q)] {
        let v = scan(&[&base[..], &["--weight", glob]].concat());
        assert_eq!((assignment(&v, upgraded), assignment(&v, other)), ("q8_0", "q4_0"), "{glob}: {}", v["plan"]);
        assert!(v["plan"]["bpw"].as_f64().unwrap() <= 6.4);
    }
    let err = fails(&["scan", s(&m), "--budget-bpw", "6.4", "--weight", "*nothing*=2"]);
    assert!(err.contains("--weight") && err.contains("*nothing*"), "{err}");
    let err = fails(&["scan", s(&m), "--budget-bpw", "6.4", "--weight", "*q_proj*=-1"]);
    assert!(err.contains("positive"), "{err}");
}
