//! Reading a settings file: the typed model, a preset as the base, and
//! errors that name the key and the line.

use std::path::{Path, PathBuf};

use super::{IRIS, PRESETS, Settings, member_keys, preset};

/// A settings file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{}{message}", .path.as_ref().map(|p| format!("settings file {}: ", p.display())).unwrap_or_default(), .line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct SettingsError {
    pub path: Option<PathBuf>,
    pub line: Option<usize>,
    pub message: String,
}

impl Settings {
    /// Parses a settings file; errors name the key and the line.
    pub fn parse(text: &str) -> Result<Settings, SettingsError> {
        let at = |line, message| SettingsError { path: None, line, message };
        let toml_error =
            |e: toml::de::Error| at(e.span().map(|s| line_of_offset(text, s.start)), e.message().trim().to_string());
        // Parsing into the typed model first catches syntax errors, unknown
        // keys and wrong types, each with its line.
        let direct: Settings = toml::from_str(text).map_err(toml_error)?;
        let settings = match &direct.preset {
            None => direct,
            Some(name) => {
                let p = preset(name).ok_or_else(|| {
                    let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
                    at(
                        line_of_key(text, "preset"),
                        format!("preset: unknown preset {name:?}; expected one of {}", names.join(", ")),
                    )
                })?;
                // The preset is the base; the keys the file gives override it.
                let mut base =
                    toml::Table::try_from(Settings::default().with_preset(p)).map_err(|e| at(None, e.to_string()))?;
                let given: toml::Table = text.parse().map_err(toml_error)?;
                merge(&mut base, given);
                base.try_into().map_err(toml_error)?
            }
        };
        settings.validate().map_err(|e| at(line_of_key(text, &e.key), e.to_string()))?;
        refuse_unread_member_keys(text, &settings).map_err(|(key, message)| at(line_of_key(text, &key), message))?;
        // The preset has done its work as the base; export names it again if it still matches.
        Ok(Settings { preset: None, ..settings })
    }

    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|e| SettingsError {
            path: Some(path.to_owned()),
            line: None,
            message: format!("cannot read it: {e}"),
        })?;
        let mut s = Settings::parse(&text).map_err(|e| SettingsError { path: Some(path.to_owned()), ..e })?;
        // A relative path means relative to the settings file, not to
        // wherever the tool is started.
        let base = path.parent().unwrap_or(Path::new(""));
        let anchor = |source: &mut String| {
            if Path::new(source.as_str()).is_relative() {
                *source = base.join(source.as_str()).display().to_string();
            }
        };
        if !s.weights.is_synthetic() {
            anchor(&mut s.weights.source);
        }
        if s.data.source != IRIS {
            anchor(&mut s.data.source);
        }
        Ok(s)
    }
}

/// The first `[[ensemble.members]]` key the file gives that its member's
/// kind does not read (and not at its default), as `(dotted key, message)`.
fn refuse_unread_member_keys(text: &str, settings: &Settings) -> Result<(), (String, String)> {
    if text.starts_with(super::export::EXPORT_HEADER) {
        return Ok(());
    }
    let given: toml::Table = text.parse().unwrap_or_default();
    let Some(tables) = given.get("ensemble").and_then(|e| e.get("members")).and_then(toml::Value::as_array) else {
        return Ok(());
    };
    for (i, (table, member)) in tables.iter().zip(&settings.ensemble.members).enumerate() {
        let Some(table) = table.as_table() else { continue };
        if let Some((key, message)) = member_keys::unread_key(member, table) {
            let dotted = format!("ensemble.members[{i}].{key}");
            return Err((dotted.clone(), format!("{dotted}: {message}")));
        }
    }
    Ok(())
}

/// Overrides `base` with every key of `over`, table by table.
pub fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line of `table.key` (or a top-level `key`) in a settings file, found
/// by reading table headers and `key =` lines; the n-th `[[array]]` table is
/// `array[n]` (as in `ensemble.members[2].c`).
fn line_of_key(text: &str, dotted: &str) -> Option<usize> {
    let (table, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let mut current = String::new();
    let mut arrays: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(array) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            let count = arrays.entry(array.trim().to_string()).or_default();
            current = format!("{}[{count}]", array.trim());
            *count += 1;
        } else if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = header.trim().to_string();
        } else if current == table && line.split('=').next().map(str::trim) == Some(key) && line.contains('=') {
            return Some(i + 1);
        }
    }
    None
}
