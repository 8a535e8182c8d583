//! The keys of a `[[ensemble.members]]` table: `kind` and the settings that
//! kind reads ([`MemberKind::settings`]). Export writes only those. Load
//! refuses any other key unless it holds the default value: a file written
//! before this rule listed every field for every member, the unread ones at
//! their defaults, and such a file still loads.

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
    let defaults = toml::Table::try_from(MemberConfig { kind: member.kind, ..MemberConfig::default() }).ok()?;
    let (key, _) = given.iter().find(|(key, value)| !reads(member.kind, key) && defaults.get(*key) != Some(*value))?;
    let kind = member.kind;
    let read: Vec<&str> = kind.settings().to_vec();
    let message = format!(
        "a {kind} member does not read `{key}` (it reads {}); remove the line, or set `kind` to a kind that reads it",
        read.join(", ")
    );
    Some((key.clone(), message))
}
