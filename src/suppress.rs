//! Suppression: what is found but not reported.
//!
//! Three layers, applied in this order: an inline marker on the key's line (seen by the source while
//! the line is in memory, see [`crate::sources::INLINE_MARKERS`]), the configuration's `[allowlist]`
//! (paths, regexes over the key, fingerprints), and a baseline file of fingerprints. A baseline is
//! keyed by the key's fingerprint only, so it survives rebases, squash merges and moved lines, and
//! holds no line numbers or timestamps that would churn in code review.

use std::borrow::Cow;
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
    /// Globs with a `/`, over the whole path relative to the configuration's folder.
    paths: GlobSet,
    /// Globs without `/`, over the last component after `/` or `!` (an archive member).
    names: GlobSet,
    /// File scans: the absolute folder reported paths are relative to.
    base: Option<String>,
    /// File scans: the configuration's folder, absolute, `/` separators.
    root: Option<String>,
    regexes: RegexSet,
    fingerprints: HashSet<String>,
}

impl Default for Allowlist {
    fn default() -> Self {
        Allowlist {
            paths: GlobSet::empty(),
            names: GlobSet::empty(),
            base: None,
            root: None,
            regexes: RegexSet::empty(),
            fingerprints: HashSet::new(),
        }
    }
}

impl Allowlist {
    /// Globs match paths relative to the configuration's folder (`/` separators, archive members
    /// written `archive!member`), before any redaction; `*` stays within a folder and `**` crosses
    /// folders; a glob without `/` matches the last component after `/` or `!`, as in `.gitignore`.
    pub fn compile(spec: &AllowlistSpec, origin: &str) -> Result<Allowlist, ConfigError> {
        let mut paths = GlobSetBuilder::new();
        let mut names = GlobSetBuilder::new();
        for (i, glob) in spec.paths.iter().enumerate() {
            let glob = glob.trim_start_matches("./");
            let compiled = GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
                .map_err(|e| ConfigError::new(origin, format!("[allowlist] paths[{i}]: {e}")))?;
            if glob.contains('/') {
                paths.add(compiled);
            } else {
                names.add(compiled);
            }
        }
        let built = |set: GlobSetBuilder| {
            set.build()
                .map_err(|e| ConfigError::new(origin, format!("[allowlist] paths: {e}")))
        };
        let (paths, names) = (built(paths)?, built(names)?);
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
            names,
            base: None,
            root: None,
            regexes,
            fingerprints: spec.fingerprints.iter().cloned().collect(),
        })
    }

    /// File scans: reported paths are relative to the absolute folder `base` (or absolute), and
    /// the configuration is in the absolute folder `root`; globs match paths relative to `root`.
    /// Without it (git modes), reported paths are already relative to the configuration's folder.
    pub fn set_base(&mut self, base: Option<String>, root: Option<String>) {
        self.base = base;
        self.root = root;
    }

    pub fn allows(&self, finding: &Finding) -> bool {
        self.fingerprints.contains(&finding.fingerprint)
            || self.allows_path(&finding.path)
            || self.regexes.is_match(finding.secret.expose())
    }

    /// Whether `path` (as reported: relative to the base) is allowlisted.
    pub fn allows_path(&self, path: &str) -> bool {
        if self.paths.is_empty() && self.names.is_empty() {
            return false;
        }
        let full = config_relative(self.base.as_deref(), self.root.as_deref(), path);
        let name = full.rsplit(['/', '!']).next().unwrap_or(&full);
        self.paths.is_match(full.as_ref()) || self.names.is_match(name)
    }
}

/// `path` (reported relative to the absolute folder `base`, or absolute) relative to the
/// configuration's folder `root`, with `.` and `..` resolved outside archive members. A path that
/// is not inside `root`, or any path without a `root`, is matched as reported.
fn config_relative<'a>(base: Option<&str>, root: Option<&str>, path: &'a str) -> Cow<'a, str> {
    let Some(root) = root else {
        return path.into();
    };
    let (outer, member) = match path.split_once('!') {
        Some((outer, member)) => (outer, Some(member)),
        None => (path, None),
    };
    let start = if outer.starts_with('/') {
        ""
    } else {
        match base {
            Some(base) => base,
            None => return path.into(),
        }
    };
    let mut parts: Vec<&str> = start.split('/').filter(|c| !c.is_empty()).collect();
    for component in outer.split('/') {
        match component {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let full = format!("/{}", parts.join("/"));
    let root = root.trim_end_matches('/');
    let relative = if full == root || (root.is_empty() && full == "/") {
        String::new()
    } else {
        match full
            .strip_prefix(root)
            .and_then(|rest| rest.strip_prefix('/'))
        {
            Some(rest) => rest.to_string(),
            None => return path.into(),
        }
    };
    match member {
        Some(member) => format!("{relative}!{member}").into(),
        None => relative.into(),
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

    /// Adds the fingerprints of `other` (a `--baseline` on top of the configuration's).
    pub fn extend(&mut self, other: Baseline) {
        self.fingerprints.extend(other.fingerprints);
    }

    /// How many of this baseline's fingerprints none of `findings` has: what replacing it with
    /// `findings` forgets.
    pub fn forgotten_by(&self, findings: &[Finding]) -> usize {
        let kept: HashSet<&str> = findings.iter().map(|f| f.fingerprint.as_str()).collect();
        self.fingerprints
            .iter()
            .filter(|f| !kept.contains(f.as_str()))
            .count()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AllowlistSpec;
    use crate::findings::{Encoding, Secret};
    use crate::rules::RuleSet;

    fn finding(path: &str, body: &str) -> Finding {
        let rules = RuleSet::builtin();
        Finding::new(
            rules.get(0),
            0,
            path.to_string(),
            1,
            1,
            Secret::new(format!("sk_live_{body}"), 8),
            Encoding::Raw,
        )
    }

    fn allowlist(paths: &[&str]) -> Allowlist {
        let spec = AllowlistSpec {
            paths: paths.iter().map(|p| p.to_string()).collect(),
            ..AllowlistSpec::default()
        };
        Allowlist::compile(&spec, ".skguard.toml").unwrap()
    }

    #[test]
    fn a_glob_without_a_slash_matches_the_last_component_after_a_slash_or_a_bang() {
        let a = allowlist(&["*.example", "keys.txt"]);
        assert!(a.allows_path("env.example"));
        assert!(a.allows_path("web/deep/env.example"));
        assert!(a.allows_path("dist/app.zip!config/keys.txt"));
        assert!(a.allows_path("dist/app.zip!keys.txt"));
        assert!(!a.allows_path("keys.txt.bak"));
        assert!(!a.allows_path("keys.txt/other"));
    }

    #[test]
    fn a_glob_with_a_slash_matches_the_whole_path_from_the_configuration_folder() {
        let mut a = allowlist(&["fixtures/**", "./docs/*.md"]);
        assert!(a.allows_path("fixtures/a/b.txt"));
        assert!(a.allows_path("fixtures/a.zip!inner/b.txt"));
        assert!(a.allows_path("docs/setup.md"));
        assert!(!a.allows_path("docs/deep/setup.md"));
        assert!(!a.allows_path("src/fixtures/a.txt"));
        // Reported relative to a scanned subfolder: matched from the configuration's folder.
        let root = Some("/r".to_string());
        a.set_base(Some("/r/fixtures".into()), root.clone());
        assert!(a.allows_path("a/b.txt"));
        a.set_base(Some("/r/web".into()), root.clone());
        assert!(!a.allows_path("a/b.txt"));
        assert!(a.allows_path("../fixtures/a/b.txt"));
        assert!(a.allows_path("./../fixtures/x"));
        // Typed from outside the repository, or absolute.
        a.set_base(Some("/elsewhere".into()), root.clone());
        assert!(a.allows_path("../r/fixtures/x"));
        assert!(a.allows_path("/r/fixtures/x"));
        assert!(!a.allows_path("/fixtures/x"));
    }

    #[test]
    fn the_base_is_resolved_outside_archive_members_only() {
        let root = Some("/r");
        assert_eq!(
            config_relative(Some("/r/a/b"), root, "../c.zip!../m"),
            "a/c.zip!../m"
        );
        assert_eq!(config_relative(Some("/r"), root, "x/./y"), "x/y");
        assert_eq!(config_relative(None, None, "plain/./path"), "plain/./path");
        // Outside the configuration's folder: as reported.
        assert_eq!(config_relative(Some("/r"), root, "../q/p"), "../q/p");
        assert_eq!(config_relative(Some("/"), Some("/"), "q/p"), "q/p");
    }

    #[test]
    fn allowlist_regexes_and_fingerprints_suppress_by_the_key() {
        let f = finding("src/a.txt", "2Pxwq3eFfgu7HEzXHAGnAA9x");
        let spec = AllowlistSpec {
            regexes: vec![format!("^sk_{}_2Pxwq3eF", "live")],
            ..AllowlistSpec::default()
        };
        assert!(Allowlist::compile(&spec, "c").unwrap().allows(&f));
        let spec = AllowlistSpec {
            fingerprints: vec![f.fingerprint.clone()],
            ..AllowlistSpec::default()
        };
        assert!(Allowlist::compile(&spec, "c").unwrap().allows(&f));
        assert!(!Allowlist::default().allows(&f));
        let bad = AllowlistSpec {
            fingerprints: vec!["sha256:nothex".into()],
            ..AllowlistSpec::default()
        };
        let message = Allowlist::compile(&bad, "c.toml").unwrap_err().to_string();
        assert!(message.contains("fingerprints[0]"), "{message}");
    }

    #[test]
    fn a_baseline_round_trips_and_suppresses_by_fingerprint_only() {
        let known = finding("a.txt", "6bheWBY3Rk87Cz7JYWBcPkbB");
        let moved = finding("elsewhere/b.txt", "6bheWBY3Rk87Cz7JYWBcPkbB");
        let new = finding("a.txt", "pdvGpn6UEzBL5sXyzrDeG72c");
        let text = Baseline::render(&[known.clone(), known.clone()]);
        assert!(!text.contains(known.secret.expose()), "{text}");
        assert_eq!(text, Baseline::render(std::slice::from_ref(&known)));
        let baseline = Baseline::parse(&text, "b.json").unwrap();
        let mut findings = vec![moved, new.clone()];
        let removed = apply(&mut findings, &Allowlist::default(), Some(&baseline));
        assert_eq!(removed, 1);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].fingerprint, new.fingerprint);

        let mut both = Baseline::parse(&Baseline::render(std::slice::from_ref(&new)), "n").unwrap();
        both.extend(baseline);
        assert!(both.contains(&known) && both.contains(&new));
        assert!(
            Baseline::parse("{\"version\": 2, \"fingerprints\": []}", "b")
                .unwrap_err()
                .to_string()
                .contains("version 2")
        );
    }
}
