//! How an original tensor's name becomes its name in the quantized model:
//! the same name, the Hugging Face → GGUF names of gguf-py's
//! `TensorNameMap` for the llama family, or a map file's lines.

use std::collections::BTreeMap;

use super::AgainstError;

/// The architectures whose GGUF names follow [`gguf_name`].
pub const LLAMA_FAMILY: [&str; 3] = ["llama", "mistral", "qwen2"];

/// Those whose converter reorders the rows of q_proj and k_proj
/// (`LlamaModel.permute` in convert_hf_to_gguf.py; Qwen2's does not).
pub const PERMUTED: [&str; 2] = ["llama", "mistral"];

/// How the names of the two models correspond.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum NameMap {
    /// The same name; else, for the llama family, the GGUF name.
    #[default]
    Auto,
    /// `--map FILE`: the file's names; a tensor it does not list keeps its own.
    File(BTreeMap<String, String>),
}

/// How a pair was found: the permutation is undone for `Gguf` pairs only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Same,
    Gguf,
    Map,
}

impl NameMap {
    /// The name to look for in the quantized model; `has` says whether it holds a name.
    pub fn target(&self, name: &str, architecture: Option<&str>, has: impl Fn(&str) -> bool) -> (String, Rule) {
        match self {
            NameMap::File(map) => match map.get(name) {
                Some(target) => (target.clone(), Rule::Map),
                None => (name.to_string(), Rule::Same),
            },
            NameMap::Auto if has(name) => (name.to_string(), Rule::Same),
            NameMap::Auto => match architecture.filter(|a| LLAMA_FAMILY.contains(a)).and_then(|_| gguf_name(name)) {
                Some(target) => (target, Rule::Gguf),
                None => (name.to_string(), Rule::Same),
            },
        }
    }
}

/// The Hugging Face parts of a decoder layer and their GGUF names.
const LAYER_PARTS: [(&str, &str); 9] = [
    ("input_layernorm", "attn_norm"),
    ("self_attn.q_proj", "attn_q"),
    ("self_attn.k_proj", "attn_k"),
    ("self_attn.v_proj", "attn_v"),
    ("self_attn.o_proj", "attn_output"),
    ("post_attention_layernorm", "ffn_norm"),
    ("mlp.gate_proj", "ffn_gate"),
    ("mlp.up_proj", "ffn_up"),
    ("mlp.down_proj", "ffn_down"),
];

const TOP_LEVEL: [(&str, &str); 3] =
    [("model.embed_tokens", "token_embd"), ("model.norm", "output_norm"), ("lm_head", "output")];

/// A llama-family Hugging Face name's GGUF name, as gguf-py's
/// `TensorNameMap(LLAMA, n).get_name(name, try_suffixes=(".weight", ".bias"))`.
pub fn gguf_name(hf: &str) -> Option<String> {
    let (stem, suffix) = hf.rsplit_once('.').filter(|(_, s)| *s == "weight" || *s == "bias")?;
    if let Some((_, gguf)) = TOP_LEVEL.iter().find(|(h, _)| *h == stem) {
        return Some(format!("{gguf}.{suffix}"));
    }
    let rest = stem.strip_prefix("model.layers.")?;
    let (layer, part) = rest.split_once('.')?;
    if layer.is_empty() || !layer.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (_, gguf) = LAYER_PARTS.iter().find(|(h, _)| *h == part)?;
    Some(format!("blk.{layer}.{gguf}.{suffix}"))
}

/// A map file: `"original" = "quantized"` lines. Unquoted dotted keys are
/// TOML tables, so nested tables are joined back with dots.
pub fn parse_map(path: &str, text: &str) -> Result<BTreeMap<String, String>, AgainstError> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| AgainstError::MapNotToml { path: path.to_string(), reason: one_line(&e) })?;
    let mut map = BTreeMap::new();
    flatten(path, "", &table, &mut map)?;
    let mut by_target: BTreeMap<&str, &str> = BTreeMap::new();
    for (original, target) in &map {
        if let Some(first) = by_target.insert(target, original) {
            return Err(AgainstError::MapTargetTwice {
                path: path.to_string(),
                target: target.clone(),
                first: first.to_string(),
                second: original.clone(),
            });
        }
    }
    Ok(map)
}

fn flatten(
    path: &str,
    prefix: &str,
    table: &toml::Table,
    out: &mut BTreeMap<String, String>,
) -> Result<(), AgainstError> {
    for (key, value) in table {
        let key = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(t) => flatten(path, &key, t, out)?,
            other => {
                return Err(AgainstError::MapNotString { path: path.to_string(), key, value: other.to_string() });
            }
        }
    }
    Ok(())
}

/// A TOML error's text on one line (it spans several, with a caret).
fn one_line(e: &toml::de::Error) -> String {
    e.message().to_string() + &e.span().map(|s| format!(" (at byte {})", s.start)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_names_follow_gguf_py() {
        // Each pair checked against gguf-py's TensorNameMap (scripts/crosscheck_against.py does it for all).
        let pairs = [
            ("model.embed_tokens.weight", "token_embd.weight"),
            ("model.norm.weight", "output_norm.weight"),
            ("lm_head.weight", "output.weight"),
            ("model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"),
            ("model.layers.11.self_attn.q_proj.weight", "blk.11.attn_q.weight"),
            ("model.layers.3.self_attn.k_proj.bias", "blk.3.attn_k.bias"),
            ("model.layers.3.self_attn.o_proj.weight", "blk.3.attn_output.weight"),
            ("model.layers.1.post_attention_layernorm.weight", "blk.1.ffn_norm.weight"),
            ("model.layers.1.mlp.gate_proj.weight", "blk.1.ffn_gate.weight"),
            ("model.layers.1.mlp.down_proj.weight", "blk.1.ffn_down.weight"),
        ];
        for (hf, gguf) in pairs {
            assert_eq!(gguf_name(hf).as_deref(), Some(gguf), "{hf}");
        }
        for other in
            ["model.layers.x.mlp.up_proj.weight", "model.layers.0.mlp.up_proj", "encoder.weight", "lm_head.scale"]
        {
            assert_eq!(gguf_name(other), None, "{other}");
        }
    }

    #[test]
    fn auto_keeps_a_name_the_quantized_model_holds_and_maps_the_rest_for_llama_only() {
        let has = |n: &str| n == "lm_head.weight";
        let auto = NameMap::Auto;
        assert_eq!(auto.target("lm_head.weight", Some("llama"), has), ("lm_head.weight".into(), Rule::Same));
        assert_eq!(auto.target("model.norm.weight", Some("qwen2"), has), ("output_norm.weight".into(), Rule::Gguf));
        assert_eq!(auto.target("model.norm.weight", Some("bert"), has), ("model.norm.weight".into(), Rule::Same));
        assert_eq!(auto.target("model.norm.weight", None, has), ("model.norm.weight".into(), Rule::Same));
    }

    #[test]
    fn a_map_file_takes_quoted_or_dotted_keys_and_refuses_what_is_not_a_map() {
        let map = parse_map("m.toml", "\"enc.w\" = \"a\"\nenc.b = \"b\"\n").unwrap();
        assert_eq!(map, BTreeMap::from([("enc.b".into(), "b".into()), ("enc.w".into(), "a".into())]));
        let m = NameMap::File(map);
        assert_eq!(m.target("enc.w", Some("llama"), |_| false), ("a".into(), Rule::Map));
        assert_eq!(m.target("other", Some("llama"), |_| false), ("other".into(), Rule::Same));

        let e = parse_map("m.toml", "a = = b").unwrap_err();
        assert!(matches!(e, AgainstError::MapNotToml { .. }) && !e.to_string().contains('\n'), "{e}");
        let e = parse_map("m.toml", "\"x.w\" = 3").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the name map m.toml gives x.w the value 3, which is not a string; write `\"x.w\" = \"its name in the quantized model\"`"
        );
        let e = parse_map("m.toml", "a = \"t\"\nb = \"t\"").unwrap_err();
        assert!(matches!(&e, AgainstError::MapTargetTwice { target, .. } if target == "t"), "{e}");
    }
}
