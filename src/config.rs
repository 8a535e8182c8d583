//! The user's own configuration: a TOML file in the platform's config
//! directory (`theme = "light"` and a `[keys]` table), or `--keys FILE`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

crate::named_enum! {
    /// The theme chosen with `--theme` (NO_COLOR in the environment means mono).
    pub enum ThemeName {
        Dark => "dark",
        Light => "light",
        Mono => "mono",
    }
}

impl ThemeName {
    /// `--theme` if given; else mono when NO_COLOR is set; else the config
    /// file's theme; else dark.
    pub fn choose(flag: Option<ThemeName>, no_color: bool, config: Option<ThemeName>) -> ThemeName {
        match (flag, config) {
            (Some(name), _) => name,
            _ if no_color => ThemeName::Mono,
            (None, Some(name)) => name,
            (None, None) => ThemeName::Dark,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub theme: Option<ThemeName>,
    #[serde(default)]
    pub keys: toml::Table,
}

/// Where the config file lives on this platform (`~/.config/qmc-tui/config.toml` on Linux).
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "qmc-tui").map(|d| d.config_dir().join("config.toml"))
}

/// The config file (absent: no changes), with `--keys FILE`'s `[keys]` in place of its own.
pub fn load(config: Option<&Path>, keys_file: Option<&Path>) -> Result<UserConfig, ConfigError> {
    let mut user = match config {
        Some(path) if path.exists() => read(path)?,
        _ => UserConfig::default(),
    };
    if let Some(path) = keys_file {
        user.keys = read(path)?.keys;
    }
    Ok(user)
}

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {}: cannot read it: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The TOML parser's message: an unknown key, a bad theme, a syntax error.
    #[error("config file {}: {message}", .path.display())]
    Invalid { path: PathBuf, message: String },
}

fn read(path: &Path) -> Result<UserConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    toml::from_str(&text)
        .map_err(|e| ConfigError::Invalid { path: path.to_owned(), message: e.message().trim().to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_file_sets_the_theme_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "theme = \"light\"\n[keys]\nquit = [\"x\"]\n").unwrap();
        let user = load(Some(&path), None).unwrap();
        assert_eq!(user.theme, Some(ThemeName::Light));
        assert_eq!(user.keys["quit"].as_array().unwrap().len(), 1);
        let keys = dir.path().join("keys.toml");
        std::fs::write(&keys, "[keys]\nhelp = [\"h\"]\n").unwrap();
        let both = load(Some(&path), Some(&keys)).unwrap();
        assert!(both.keys.contains_key("help") && !both.keys.contains_key("quit"));
        assert_eq!(load(Some(&dir.path().join("none.toml")), None).unwrap().theme, None);
    }

    #[test]
    fn unknown_settings_and_bad_themes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "colour = \"red\"\n").unwrap();
        assert!(load(Some(&path), None).unwrap_err().to_string().contains("colour"));
        std::fs::write(&path, "theme = \"pink\"\n").unwrap();
        assert!(load(Some(&path), None).unwrap_err().to_string().contains("pink"));
    }
}
