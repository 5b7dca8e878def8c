//! SARIF 2.1.0 for GitHub code scanning: one rule per skguard rule, one result per finding, with
//! relative URIs, regions and `partialFingerprints` that survive moved lines and new commits.
//! Never a whole key and never a source snippet, whatever the flags.

use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::{json, Value};

use super::{Report, MAX_SARIF_RESULTS};
use crate::findings::{fingerprint, Encoding, Finding, Location};
use crate::printable::{redact_keys, write_json};
use crate::rules::{Rule, Severity};

/// How artifact URIs are made: relative to the root of the git work tree that holds what was
/// scanned (`%SRCROOT%`, where code scanning looks for files), else to the scanned root; never
/// with `..` and never absolute.
#[derive(Debug, Clone, Default)]
pub struct UriBase {
    /// The folder reported paths are relative to (canonical).
    base: Option<PathBuf>,
    /// The work tree that holds it (canonical).
    root: Option<PathBuf>,
    /// Where reported paths are, as a person in the current folder types it (see
    /// [`UriBase::for_people`]).
    shown: Option<Shown>,
}

impl UriBase {
    /// Reported paths are relative to `base` (or absolute).
    pub fn new(base: &Path) -> UriBase {
        let base = std::fs::canonicalize(base).ok();
        let root = base
            .as_deref()
            .and_then(|b| b.ancestors().find(|a| a.join(".git").exists()))
            .map(Path::to_path_buf);
        UriBase {
            base,
            root,
            shown: None,
        }
    }

    /// The URI of a reported path (before percent-encoding and redaction).
    pub fn relative(&self, path: &str) -> String {
        // Names that are no file (`(commit message)`, `(tag v1)`), and archive members, as they are.
        if path.starts_with('(') {
            return path.to_string();
        }
        if let Some(base) = &self.base {
            let mut full = normalize(&base.join(path));
            if !full.starts_with(base) {
                // A path typed with `..` or through a link: where it really is.
                if let Ok(real) = std::fs::canonicalize(&full) {
                    full = real;
                }
            }
            for top in [self.root.as_ref(), Some(base)].into_iter().flatten() {
                if let Ok(rel) = full.strip_prefix(top) {
                    return slashes(rel);
                }
            }
        }
        // Outside every root: what is left of the path without its root, `.` and `..`.
        let rest: PathBuf = Path::new(path)
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        slashes(&rest)
    }

    /// Reported paths are relative to `base`, the folder that was scanned as the user typed it
    /// (`typed`: the one folder or repository named on the command line; `None`: paths as typed).
    /// Inside a work tree, [`UriBase::rebase`] makes them relative to its root.
    pub fn for_people(base: &Path, typed: Option<&Path>) -> UriBase {
        let mut uris = UriBase::new(base);
        let cwd = std::env::current_dir().and_then(std::fs::canonicalize).ok();
        uris.shown = match (&uris.root, typed, cwd) {
            (Some(root), Some(typed), _) if typed.is_absolute() => {
                Some(Shown::Absolute(root.clone()))
            }
            (Some(root), _, Some(cwd)) => Some(Shown::FromCwd {
                root: root.clone(),
                cwd,
            }),
            (Some(root), _, None) => Some(Shown::Absolute(root.clone())),
            (None, typed, _) => Some(Shown::Typed(typed.unwrap_or(Path::new(".")).to_path_buf())),
        };
        uris
    }

    /// Inside a work tree, makes every reported path relative to its root (what json, jsonl,
    /// SARIF and annotations print) and keeps them sorted. Paths outside it stay as they are.
    pub fn rebase(&mut self, findings: &mut Vec<Finding>) {
        let (Some(base), Some(root)) = (self.base.clone(), self.root.clone()) else {
            return;
        };
        if base == root {
            return;
        }
        for f in findings.iter_mut() {
            if f.path.starts_with('(') || f.path == "-" {
                continue;
            }
            if let Ok(rel) = normalize(&base.join(&f.path)).strip_prefix(&root) {
                f.path = slashes(rel);
            }
        }
        self.base = Some(root);
        crate::findings::sort_and_dedup(findings);
    }

    /// A reported path as a person in the current folder types it (as ripgrep prints it):
    /// relative to the current folder, or absolute when the scanned folder was named absolute.
    pub fn shown<'p>(&self, path: &'p str) -> std::borrow::Cow<'p, str> {
        let Some(from) = &self.shown else {
            return path.into();
        };
        if path.starts_with('(')
            || path == "-"
            || Path::new(path).is_absolute()
            || (self.root.is_some() && (path == ".." || path.starts_with("../")))
        {
            return path.into();
        }
        let joined = match from {
            Shown::Absolute(root) => return slashes_keep_root(&root.join(path)).into(),
            Shown::FromCwd { root, cwd } => relative_to(&normalize(&root.join(path)), cwd),
            Shown::Typed(dir) => dir.join(path),
        };
        let mut out: Vec<String> = Vec::new();
        for c in joined.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir if out.last().is_some_and(|l| l != ".." && !l.is_empty()) => {
                    out.pop();
                }
                Component::ParentDir => out.push("..".into()),
                Component::RootDir => out.push(String::new()),
                Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
                Component::Prefix(p) => out.push(p.as_os_str().to_string_lossy().into_owned()),
            }
        }
        match out.as_slice() {
            [] => ".".into(),
            [root] if root.is_empty() => "/".into(),
            _ => out.join("/").into(),
        }
    }
}

/// Where reported paths are for a person in the current folder.
#[derive(Debug, Clone)]
enum Shown {
    /// In a work tree named by an absolute path: absolute paths from its root.
    Absolute(PathBuf),
    /// In a work tree: relative to the current folder.
    FromCwd { root: PathBuf, cwd: PathBuf },
    /// Outside a work tree: under the folder as it was typed.
    Typed(PathBuf),
}

/// An absolute path with `/` separators.
fn slashes_keep_root(path: &Path) -> String {
    let rel = slashes(path);
    if path.has_root() {
        format!("/{rel}")
    } else {
        rel
    }
}

/// `to` as a path relative to `from` (both absolute and canonical), with `..` where needed.
fn relative_to(to: &Path, from: &Path) -> PathBuf {
    let to: Vec<Component<'_>> = to.components().collect();
    let from: Vec<Component<'_>> = from.components().collect();
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// `path` with `.` and `..` resolved as text.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn slashes(path: &Path) -> String {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Characters escaped in a relative URI reference (path segments keep their `/`).
const URI_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

fn level(rule: &Rule) -> &'static str {
    match (rule.kind(), rule.spec.severity) {
        ("live", _) => "error",
        ("test", _) => "warning",
        (_, Severity::Critical | Severity::High) => "error",
        _ => "warning",
    }
}

fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

/// A rule's name in the CamelCase SARIF viewers expect.
fn camel(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
        .collect()
}

fn rule_descriptor(rule: &Rule) -> Value {
    let remediation = rule.spec.remediation.trim();
    json!({
        "id": rule.id(),
        "name": camel(rule.id()),
        "shortDescription": {"text": redact_keys(&rule.spec.name)},
        "fullDescription": {"text": redact_keys(&rule.spec.description)},
        "help": {
            "text": redact_keys(remediation),
            "markdown": redact_keys(&format!("**{}**\n\n{}\n\n{}", rule.spec.name, rule.spec.description, remediation)),
        },
        "defaultConfiguration": {"level": level(rule)},
        "properties": {
            "security-severity": security_severity(rule.spec.severity),
            "precision": "very-high",
            "tags": ["security", "secret", "credential", format!("external/cwe/cwe-798")],
        },
    })
}

/// How many characters the stored form of the key takes on its line.
fn stored_len(f: &Finding) -> u64 {
    let len = f.secret.expose().chars().count() as u64;
    match f.encoding {
        Encoding::Base64 => (len * 4).div_ceil(3),
        _ => len,
    }
}

pub(super) fn message(f: &Finding, rule: &Rule) -> String {
    let mut text = format!("{} {}", rule.spec.name, f.redacted);
    match f.encoding {
        Encoding::Raw => {}
        // As the human report says it: a member's key is not "archive encoded".
        Encoding::Archive => text.push_str(" (in an archive)"),
        other => text.push_str(&format!(" ({} encoded)", other.as_str())),
    }
    if let Some(v) = &f.verification {
        text.push_str(&format!(
            ". Verification: {} ({})",
            v.status.as_str(),
            v.detail
        ));
    }
    if let Some(r) = &f.revocation {
        text.push_str(&format!(
            ". Revocation: {} ({})",
            r.status.as_str(),
            r.detail
        ));
    }
    text.push('.');
    text
}

fn result(f: &Finding, rule: &Rule, uris: Option<&UriBase>) -> Value {
    let column = f.column;
    let mut properties = json!({
        "fingerprint": f.fingerprint,
        "redacted": f.redacted,
        "encoding": f.encoding.as_str(),
        "kind": redact_keys(&f.kind),
    });
    if let Some(c) = &f.commit {
        properties["commit"] = json!(c.id);
        properties["author"] = json!(redact_keys(&c.author));
        properties["date"] = json!(c.date);
    }
    if let Some(v) = &f.verification {
        properties["verification"] = json!(v.status.as_str());
    }
    if let Some(r) = &f.revocation {
        properties["revocation"] = json!(r.status.as_str());
    }
    let location = f.location();
    // An archive's member is not a file code scanning can open: the result points at the archive.
    let artifact = match location {
        Location::ArchiveMember { archive, .. } => archive,
        _ => f.path.as_str(),
    };
    let uri = match uris {
        Some(uris) => uris.relative(artifact),
        None => UriBase::default().relative(artifact),
    };
    let mut physical = json!({
        "artifactLocation": {"uri": utf8_percent_encode(&redact_keys(&uri), URI_PATH).to_string(), "uriBaseId": "%SRCROOT%"},
    });
    let mut text = message(f, rule);
    match location {
        Location::PathName { .. } => properties["inPath"] = json!(true),
        Location::ArchiveMember { member, line, .. } => {
            // The line and column are the member's, not the archive file's: no region.
            properties["member"] = json!(redact_keys(member));
            properties["memberLine"] = json!(line);
            text.push_str(&format!(" In the archive's member {member}, line {line}."));
        }
        _ => {
            physical["region"] = json!({"startLine": f.line, "startColumn": column, "endColumn": column + stored_len(f)});
        }
    }
    json!({
        "ruleId": redact_keys(&f.rule),
        "ruleIndex": f.rule_index,
        "level": level(rule),
        "message": {"text": redact_keys(&text)},
        "locations": [{"physicalLocation": physical}],
        // The same key in the same file is the same alert, wherever the line moves and whichever
        // commit it is seen in.
        "partialFingerprints": {
            "skguardKeyPath/v1": fingerprint(format!("{}\0{}\0{}", f.rule, f.fingerprint, f.path).as_bytes()).trim_start_matches("sha256:").to_string(),
        },
        "properties": properties,
    })
}

/// Writes the run piece by piece: at most [`MAX_SARIF_RESULTS`] results (each distinct key's first
/// occurrence and live keys first), what is left out said in a notification and the run's
/// properties. Only one result at a time is held as a JSON value.
pub(super) fn write(report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    let rules = report.rules.rules();
    let listed = super::capped(report.findings, usize::MAX, MAX_SARIF_RESULTS);
    let omitted = report.findings.len() - listed.len();
    let mut notifications = Vec::new();
    if omitted > 0 {
        notifications.push(json!({
            "level": "warning",
            "message": {"text": format!(
                "{omitted} of {} findings are not listed: a SARIF run holds at most {MAX_SARIF_RESULTS} results \
                 (each distinct key's first occurrence and live keys first). --format json lists every one.",
                report.findings.len()
            )},
        }));
    }
    let head = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
    });
    let run = json!({
        "tool": {"driver": {
            "name": "skguard",
            "version": env!("CARGO_PKG_VERSION"),
            "semanticVersion": env!("CARGO_PKG_VERSION"),
            "informationUri": env!("CARGO_PKG_REPOSITORY"),
            "rules": rules.iter().map(rule_descriptor).collect::<Vec<_>>(),
        }},
        "invocations": [{
            "executionSuccessful": !report.summary.is_incomplete(),
            "toolExecutionNotifications": notifications,
        }],
        "columnKind": "unicodeCodePoints",
        "properties": {"findings": report.findings.len(), "resultsOmitted": omitted},
    });
    // `{"$schema":…,"version":…,"runs":[{…run…,"results":[` then each result, then `]}]}`.
    let text = |value: &Value| -> io::Result<String> {
        let mut buf = Vec::new();
        write_json(&mut buf, value)?;
        String::from_utf8(buf).map_err(io::Error::other)
    };
    let (head, run) = (text(&head)?, text(&run)?);
    write!(
        out,
        "{},\"runs\":[{},\"results\":[",
        &head[..head.len() - 1],
        &run[..run.len() - 1]
    )?;
    for (n, &i) in listed.iter().enumerate() {
        if n > 0 {
            out.write_all(b",\n")?;
        } else {
            out.write_all(b"\n")?;
        }
        let f = &report.findings[i];
        write_json(&mut *out, &result(f, &rules[f.rule_index], report.uris))?;
    }
    writeln!(out, "\n]}}]}}")
}

#[cfg(test)]
mod people_tests {
    use super::*;

    #[test]
    fn paths_are_shown_from_the_current_folder() {
        assert_eq!(
            relative_to(Path::new("/r/docs/a.md"), Path::new("/r/docs")),
            PathBuf::from("a.md")
        );
        assert_eq!(
            relative_to(Path::new("/r"), Path::new("/r/docs/deep")),
            PathBuf::from("../..")
        );
        assert_eq!(
            relative_to(Path::new("/r"), Path::new("/r")),
            PathBuf::from(".")
        );
        let uris = UriBase {
            base: None,
            root: Some("/r".into()),
            shown: Some(Shown::FromCwd {
                root: "/r".into(),
                cwd: "/r/docs".into(),
            }),
        };
        assert_eq!(uris.shown("docs/setup.md"), "setup.md");
        assert_eq!(uris.shown("src/a.rs"), "../src/a.rs");
        assert_eq!(uris.shown("(commit message)"), "(commit message)");
        let typed = UriBase {
            shown: Some(Shown::Typed("./sub/".into())),
            ..UriBase::default()
        };
        assert_eq!(typed.shown("x.env"), "sub/x.env");
        assert_eq!(typed.shown("-"), "-");
        let absolute = UriBase {
            shown: Some(Shown::Absolute("/r".into())),
            ..UriBase::default()
        };
        assert_eq!(absolute.shown("a/b"), "/r/a/b");
    }
}
