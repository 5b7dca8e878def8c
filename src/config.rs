//! `.skguard.toml`: extra rules and an allowlist.
//!
//! ```toml
//! baseline = ".skguard-baseline.json"       # written by `skguard baseline`
//!
//! [allowlist]
//! paths = ["fixtures/**", "*.snap"]          # globs over paths relative to this file's folder
//! regexes = ['^sk_test_FIXTURE']             # over the key itself
//! fingerprints = ["sha256:…"]               # as reported by skguard
//!
//! [[rules]]                                  # same shape as rules/*.toml
//! id = "acme"
//! …
//! ```
//!
//! The API base is deliberately not a setting here: the file lives inside what is scanned, and a pull
//! request must not be able to send the keys skguard finds to a server of its choosing.

use std::path::Path;

use serde::Deserialize;

use crate::rules::RuleSpec;

/// The name looked for at the root of what is scanned.
pub const FILE_NAME: &str = ".skguard.toml";

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub allowlist: AllowlistSpec,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// A baseline file (written by `skguard baseline`), relative to this file's folder and read from
    /// the same place as this file (the index, the range's base commit, the work tree).
    #[serde(default)]
    pub baseline: Option<String>,
    /// Only here to refuse it with a clear message.
    #[serde(default, alias = "api-base")]
    api_base: Option<toml::Value>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowlistSpec {
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub regexes: Vec<String>,
    #[serde(default)]
    pub fingerprints: Vec<String>,
}

/// A configuration or baseline file that cannot be used. The message names the file, and the line
/// and column where the parser says so.
/// Shown with key-shaped text redacted and control characters escaped: a parser's excerpt of the
/// offending line must not print a key that stands on it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", crate::printable::printable_lines(.origin), crate::printable::printable_lines(.message))]
pub struct ConfigError {
    pub origin: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(origin: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            origin: origin.into(),
            message: message.into(),
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::new(&origin, e.to_string()))?;
        Config::parse(&text, &origin)
    }

    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|e| ConfigError::new(origin, e.to_string().trim_end()))?;
        if config.api_base.is_some() {
            return Err(ConfigError::new(
                origin,
                "api_base cannot be set in a configuration file (it lives inside what is scanned, and a pull \
                 request must not choose where keys are sent); use --api-base or SKGUARD_API_BASE",
            ));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_allowlist_and_rules() {
        let config = Config::parse(
            r#"
[allowlist]
paths = ["fixtures/**"]
fingerprints = ["sha256:0000000000000000000000000000000000000000000000000000000000000000"]

[[rules]]
id = "acme"
name = "Acme token"
description = "d"
severity = "high"
prefixes = ["acme_"]
pattern = 'acme_[a-z0-9]{20}'
remediation = "rotate"
"#,
            "c.toml",
        )
        .unwrap();
        assert_eq!(config.allowlist.paths, vec!["fixtures/**"]);
        assert_eq!(config.rules[0].id, "acme");
    }

    #[test]
    fn errors_name_the_file_line_and_problem() {
        let err = Config::parse("[allowlist]\npaths = [\"a\"\n", "x/.skguard.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x/.skguard.toml: "), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let err = Config::parse("[allowlist]\npath = []\n", "c")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `path`"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn the_api_base_is_refused() {
        for text in [
            "api_base = \"https://evil.test\"",
            "api-base = \"https://evil.test\"",
        ] {
            let err = Config::parse(text, "c").unwrap_err().to_string();
            assert!(err.contains("--api-base"), "{err}");
        }
    }
}
