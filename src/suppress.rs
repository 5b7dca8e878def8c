//! Suppression: what is found but not reported.
//!
//! Three layers, applied in this order: an inline marker on the key's line (seen by the source while
//! the line is in memory, see [`crate::sources::INLINE_MARKERS`]), the configuration's `[allowlist]`
//! (paths, regexes over the key, fingerprints), and a baseline file of fingerprints. A baseline is
//! keyed by the key's fingerprint only, so it survives rebases, squash merges and moved lines, and
//! holds no line numbers or timestamps that would churn in code review.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::RegexSet;
use serde::{Deserialize, Serialize};

use crate::config::{AllowlistSpec, ConfigError};
use crate::findings::{is_fingerprint, Finding};

/// The configuration's `[allowlist]`, compiled.
#[derive(Debug, Clone)]
pub struct Allowlist {
    paths: GlobSet,
    regexes: RegexSet,
    fingerprints: HashSet<String>,
}

impl Default for Allowlist {
    fn default() -> Self {
        Allowlist {
            paths: GlobSet::empty(),
            regexes: RegexSet::empty(),
            fingerprints: HashSet::new(),
        }
    }
}

impl Allowlist {
    /// Globs match reported paths (`/` separators); `*` stays within a folder and `**` crosses
    /// folders; a glob without `/` matches a name at any depth, as in `.gitignore`.
    pub fn compile(spec: &AllowlistSpec, origin: &str) -> Result<Allowlist, ConfigError> {
        let mut paths = GlobSetBuilder::new();
        for (i, glob) in spec.paths.iter().enumerate() {
            let glob = glob.trim_start_matches("./");
            let pattern = if glob.contains('/') {
                glob.to_string()
            } else {
                format!("**/{glob}")
            };
            let compiled = GlobBuilder::new(&pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| ConfigError::new(origin, format!("[allowlist] paths[{i}]: {e}")))?;
            paths.add(compiled);
        }
        let paths = paths
            .build()
            .map_err(|e| ConfigError::new(origin, format!("[allowlist] paths: {e}")))?;
        for (i, re) in spec.regexes.iter().enumerate() {
            regex::Regex::new(re)
                .map_err(|e| ConfigError::new(origin, format!("[allowlist] regexes[{i}]: {e}")))?;
        }
        let regexes =
            RegexSet::new(&spec.regexes).map_err(|e| ConfigError::new(origin, e.to_string()))?;
        for (i, fp) in spec.fingerprints.iter().enumerate() {
            if !is_fingerprint(fp) {
                return Err(ConfigError::new(
                    origin,
                    format!("[allowlist] fingerprints[{i}]: {fp:?} is not a fingerprint (sha256: and 64 hex digits)"),
                ));
            }
        }
        Ok(Allowlist {
            paths,
            regexes,
            fingerprints: spec.fingerprints.iter().cloned().collect(),
        })
    }

    pub fn allows(&self, finding: &Finding) -> bool {
        self.fingerprints.contains(&finding.fingerprint)
            || self.paths.is_match(&finding.path)
            || self.regexes.is_match(finding.secret.expose())
    }
}

/// A baseline: fingerprints of findings accepted as known.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    fingerprints: HashSet<String>,
}

/// The baseline file. Entries carry the rule and redacted key for the reviewer's sake; only the
/// fingerprint is used.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineFile {
    version: u32,
    fingerprints: Vec<BaselineEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineEntry {
    fingerprint: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    redacted: String,
}

impl Baseline {
    pub fn load(path: &Path) -> Result<Baseline, ConfigError> {
        let origin = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::new(&origin, e.to_string()))?;
        Baseline::parse(&text, &origin)
    }

    pub fn parse(text: &str, origin: &str) -> Result<Baseline, ConfigError> {
        let file: BaselineFile =
            serde_json::from_str(text).map_err(|e| ConfigError::new(origin, e.to_string()))?;
        if file.version != 1 {
            return Err(ConfigError::new(
                origin,
                format!(
                    "baseline version {} is not supported (expected 1)",
                    file.version
                ),
            ));
        }
        let mut fingerprints = HashSet::new();
        for (i, entry) in file.fingerprints.into_iter().enumerate() {
            if !is_fingerprint(&entry.fingerprint) {
                return Err(ConfigError::new(
                    origin,
                    format!(
                        "fingerprints[{i}]: {:?} is not a fingerprint",
                        entry.fingerprint
                    ),
                ));
            }
            fingerprints.insert(entry.fingerprint);
        }
        Ok(Baseline { fingerprints })
    }

    pub fn contains(&self, finding: &Finding) -> bool {
        self.fingerprints.contains(&finding.fingerprint)
    }

    /// The baseline of `findings`: one entry per fingerprint, sorted, so that the same findings
    /// always give the same bytes.
    pub fn render(findings: &[Finding]) -> String {
        let entries: BTreeMap<&str, &Finding> = findings
            .iter()
            .map(|f| (f.fingerprint.as_str(), f))
            .collect();
        let file = BaselineFile {
            version: 1,
            fingerprints: entries
                .into_values()
                .map(|f| BaselineEntry {
                    fingerprint: f.fingerprint.clone(),
                    rule: f.rule.to_string(),
                    redacted: f.redacted.clone(),
                })
                .collect(),
        };
        let mut text = serde_json::to_string_pretty(&file).expect("a baseline always serializes");
        text.push('\n');
        text
    }
}

/// Removes what the allowlist and baseline suppress; returns how many were removed.
pub fn apply(
    findings: &mut Vec<Finding>,
    allowlist: &Allowlist,
    baseline: Option<&Baseline>,
) -> usize {
    let before = findings.len();
    findings.retain(|f| !allowlist.allows(f) && !baseline.is_some_and(|b| b.contains(f)));
    before - findings.len()
}
