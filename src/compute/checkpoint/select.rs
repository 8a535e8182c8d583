//! What a scan measures: the formats (`formats::find` names, plus compact
//! names for `int`) and the tensors (globs over their names).

use crate::compute::formats::{self, BUILTIN_FORMATS, FormatKind};
use crate::compute::quant::{Calibration, Granularity, InvalidSetting, QuantConfig, Scheme};

/// The formats a scan uses when none is asked for.
pub const DEFAULT_FORMATS: &str = "int8-sym-pc,int4-asym-g128";

/// A format to measure: the name the user gave and its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatSpec {
    pub label: String,
    pub cfg: QuantConfig,
}

/// Why `--formats` names no usable format.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormatListError {
    #[error("--formats {list:?} names no format; {}", valid_names())]
    Empty { list: String },

    #[error("unknown format {name:?}; {}", valid_names())]
    Unknown { name: String },

    #[error("format {name:?} cannot be used: {source}")]
    Unusable {
        name: String,
        #[source]
        source: InvalidSetting,
    },
}

/// A comma-separated list of format names.
pub fn parse_formats(list: &str) -> Result<Vec<FormatSpec>, FormatListError> {
    let specs: Vec<FormatSpec> =
        list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(parse_format).collect::<Result<_, _>>()?;
    if specs.is_empty() {
        return Err(FormatListError::Empty { list: list.to_string() });
    }
    Ok(specs)
}

/// One name: `int{bits}-{sym|asym}-{pt|pc|g{N}}`, or a format of `formats::find`.
pub fn parse_format(name: &str) -> Result<FormatSpec, FormatListError> {
    let cfg = match compact_int(name) {
        Some(cfg) => cfg,
        None => match formats::find(name) {
            Ok(kind) => QuantConfig { format: kind, ..QuantConfig::default() },
            Err(_) => return Err(FormatListError::Unknown { name: name.to_string() }),
        },
    };
    let unusable = |source| FormatListError::Unusable { name: name.to_string(), source };
    cfg.format.format().check(&cfg, None).map_err(unusable)?;
    Ok(FormatSpec { label: name.to_string(), cfg })
}

fn valid_names() -> String {
    let names: Vec<&str> = BUILTIN_FORMATS.iter().map(|k| k.name()).collect();
    format!(
        "expected one of {}, or int{{bits}}-{{sym|asym}}-{{pt|pc|g{{N}}}} (int8-sym-pc, int4-asym-g128: per tensor, per channel or in groups of N, min-max)",
        names.join(", ")
    )
}

fn compact_int(name: &str) -> Option<QuantConfig> {
    let mut parts = name.strip_prefix("int")?.split('-');
    let bits: u32 = parts.next()?.parse().ok()?;
    let scheme = match parts.next()? {
        "sym" => Scheme::Symmetric,
        "asym" => Scheme::Asymmetric,
        _ => return None,
    };
    let base = QuantConfig {
        format: FormatKind::Int,
        bits,
        scheme,
        calibration: Calibration::MinMax,
        ..QuantConfig::default()
    };
    let cfg = match parts.next()? {
        "pt" => QuantConfig { granularity: Granularity::PerTensor, ..base },
        "pc" => QuantConfig { granularity: Granularity::PerChannel, ..base },
        g => QuantConfig { granularity: Granularity::PerGroup, group_size: g.strip_prefix('g')?.parse().ok()?, ..base },
    };
    parts.next().is_none().then_some(cfg)
}

/// Whether `name` matches `glob`, where `*` is any run of characters and
/// `?` any one character.
pub fn glob_match(glob: &str, name: &str) -> bool {
    let (g, n): (Vec<char>, Vec<char>) = (glob.chars().collect(), name.chars().collect());
    // The last `*` seen and where in `name` it was tried up to: backtracking
    // to it alone suffices, so this is linear-ish, never exponential.
    let (mut gi, mut ni, mut star): (usize, usize, Option<(usize, usize)>) = (0, 0, None);
    while ni < n.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == n[ni]) {
            gi += 1;
            ni += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some((gi, ni));
            gi += 1;
        } else if let Some((sg, sn)) = star {
            gi = sg + 1;
            ni = sn + 1;
            star = Some((sg, sn + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}

/// Which names pass `--include` (any, when given) and no `--exclude`; a
/// glob that matches no name at all is returned as `Err((flag, glob))`.
pub fn select(names: &[&str], include: &[String], exclude: &[String]) -> Result<Vec<bool>, (&'static str, String)> {
    for (flag, globs) in [("--include", include), ("--exclude", exclude)] {
        if let Some(g) = unmatched(names, globs.iter().map(String::as_str)) {
            return Err((flag, g.to_string()));
        }
    }
    Ok(names
        .iter()
        .map(|n| {
            (include.is_empty() || include.iter().any(|g| glob_match(g, n)))
                && !exclude.iter().any(|g| glob_match(g, n))
        })
        .collect())
}

/// The first glob that matches no name at all.
pub fn unmatched<'g>(names: &[&str], mut globs: impl Iterator<Item = &'g str>) -> Option<&'g str> {
    globs.find(|g| !names.iter().any(|n| glob_match(g, n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_stars_and_question_marks() {
        for (g, n, want) in [
            ("*", "", true),
            ("*", "a.b", true),
            ("*.weight", "layers.0.q_proj.weight", true),
            ("*.weight", "layers.0.q_proj.bias", false),
            ("layers.?.*", "layers.3.mlp", true),
            ("layers.?.*", "layers.12.mlp", false),
            ("*embed*", "model.embed_tokens.weight", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("?", "", false),
        ] {
            assert_eq!(glob_match(g, n), want, "{g} vs {n}");
        }
    }

    #[test]
    fn compact_int_names_are_the_settings_they_say() {
        let s = parse_format("int8-sym-pc").unwrap().cfg;
        assert_eq!(
            (s.bits, s.scheme, s.granularity, s.calibration),
            (8, Scheme::Symmetric, Granularity::PerChannel, Calibration::MinMax)
        );
        let a = parse_format("int4-asym-g128").unwrap().cfg;
        assert_eq!(
            (a.bits, a.scheme, a.granularity, a.group_size),
            (4, Scheme::Asymmetric, Granularity::PerGroup, 128)
        );
        assert_eq!(parse_format("int6-asym-pt").unwrap().cfg.granularity, Granularity::PerTensor);
        assert_eq!(parse_format("q4_0").unwrap().cfg.format.name(), "q4_0");
        for bad in ["int8-sym", "int8-sym-pc-x", "int8-foo-pc", "intx-sym-pc", "int4-asym-gx", "nope", "int99-sym-pc"] {
            let err = parse_format(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
        assert!(parse_format("nope").unwrap_err().to_string().contains("q4_0"));
        assert_eq!(parse_formats(DEFAULT_FORMATS).unwrap().len(), 2);
    }

    #[test]
    fn selection_filters_and_refuses_globs_matching_nothing() {
        let names = ["a.weight", "a.bias", "b.weight"];
        let none: [String; 0] = [];
        assert_eq!(select(&names, &["*.weight".into()], &none).unwrap(), [true, false, true]);
        assert_eq!(select(&names, &none, &["b*".into()]).unwrap(), [true, true, false]);
        assert_eq!(select(&names, &none, &["zz*".into()]).unwrap_err(), ("--exclude", "zz*".to_string()));
    }
}
