//! The keys of a `[[ensemble.members]]` table: `kind` and the settings that
//! kind reads ([`MemberKind::settings`]). Export writes only those. Load
//! refuses, in a file written by hand, any other key unless it holds the
//! default value. A file the tool exported (it starts with
//! [`super::export::EXPORT_HEADER`]) is not checked: before this rule an
//! export listed every field for every member, with whatever values a
//! member kept from the kind it had before.

use crate::compute::ensemble::{MemberConfig, MemberKind};

/// Whether a member of `kind` reads `key`, as a settings file spells it.
pub fn reads(kind: MemberKind, key: &str) -> bool {
    // The old name of a forest's `max_features`.
    let key = if key == "feature_fraction" { "max_features" } else { key };
    key == "kind" || kind.settings().contains(&key)
}

/// Drops from each `[[ensemble.members]]` table of `settings` (the whole
/// settings file as a table) the keys its member's kind does not read.
pub fn drop_unread(settings: &mut toml::Table, members: &[MemberConfig]) {
    let Some(tables) =
        settings.get_mut("ensemble").and_then(|e| e.get_mut("members")).and_then(toml::Value::as_array_mut)
    else {
        return;
    };
    for (table, member) in tables.iter_mut().zip(members) {
        if let Some(table) = table.as_table_mut() {
            table.retain(|key, _| reads(member.kind, key));
        }
    }
}

/// A key of `given` (one member's table as the file wrote it) that
/// `member.kind` does not read and that is not at its default: the key and
/// the sentence that says so.
pub fn unread_key(member: &MemberConfig, given: &toml::Table) -> Option<(String, String)> {
    let (key, _) =
        given.iter().find(|(key, value)| !reads(member.kind, key) && !at_default(member.kind, key, value))?;
    let kind = member.kind;
    let message = format!(
        "a {kind} member does not read `{key}` (it reads {}); remove the line, or set `kind` to a kind that reads it",
        kind.settings().join(", ")
    );
    Some((key.clone(), message))
}

/// Whether `key = value` on a member of `kind` gives the default value,
/// compared as typed settings (`c = 1` is `c = 1.0`; an old
/// `feature_fraction` is a `max_features`).
fn at_default(kind: MemberKind, key: &str, value: &toml::Value) -> bool {
    let as_written = toml::Table::from_iter([
        ("kind".to_string(), toml::Value::String(kind.name().to_string())),
        (key.to_string(), value.clone()),
    ]);
    let Ok(member) = as_written.try_into::<MemberConfig>() else { return false };
    let default = MemberConfig { kind, ..MemberConfig::default() };
    member == default
}
