//! SARIF 2.1.0 for GitHub code scanning: one rule per skguard rule, one result per finding, with
//! relative URIs, regions and `partialFingerprints` that survive moved lines and new commits.
//! Never a whole key and never a source snippet, whatever the flags.

use std::io::{self, Write};

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::{json, Value};

use super::Report;
use crate::findings::{fingerprint, Encoding, Finding};
use crate::rules::{Rule, Severity};

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
        "shortDescription": {"text": rule.spec.name},
        "fullDescription": {"text": rule.spec.description},
        "help": {
            "text": remediation,
            "markdown": format!("**{}**\n\n{}\n\n{}", rule.spec.name, rule.spec.description, remediation),
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
    if f.encoding != Encoding::Raw {
        text.push_str(&format!(" ({} encoded)", f.encoding.as_str()));
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

fn result(f: &Finding, rule: &Rule) -> Value {
    let column = f.column;
    let mut properties = json!({
        "fingerprint": f.fingerprint,
        "redacted": f.redacted,
        "encoding": f.encoding.as_str(),
        "kind": f.kind,
    });
    if let (Some(commit), Some(author), Some(date)) = (&f.commit, &f.author, &f.date) {
        properties["commit"] = json!(commit);
        properties["author"] = json!(author);
        properties["date"] = json!(date);
    }
    if let Some(v) = &f.verification {
        properties["verification"] = json!(v.status.as_str());
    }
    if let Some(r) = &f.revocation {
        properties["revocation"] = json!(r.status.as_str());
    }
    json!({
        "ruleId": f.rule,
        "ruleIndex": f.rule_index,
        "level": level(rule),
        "message": {"text": message(f, rule)},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": utf8_percent_encode(&f.path, URI_PATH).to_string(), "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": f.line, "startColumn": column, "endColumn": column + stored_len(f)},
            }
        }],
        // The same key in the same file is the same alert, wherever the line moves and whichever
        // commit it is seen in.
        "partialFingerprints": {
            "skguardKeyPath/v1": fingerprint(format!("{}\0{}\0{}", f.rule, f.fingerprint, f.path).as_bytes()).trim_start_matches("sha256:").to_string(),
        },
        "properties": properties,
    })
}

pub(super) fn write(report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    let rules = report.rules.rules();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "skguard",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": rules.iter().map(rule_descriptor).collect::<Vec<_>>(),
            }},
            "invocations": [{"executionSuccessful": report.summary.unreadable == 0}],
            "columnKind": "unicodeCodePoints",
            "results": report.findings.iter().map(|f| result(f, &rules[f.rule_index])).collect::<Vec<_>>(),
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}
