//! GitHub Actions output: workflow-command annotations (`::error`, `::warning`), escaped by
//! GitHub's rules, and a Markdown step summary. GitHub shows a limited number of annotations per
//! step, so the summary is the complete list. Never a whole key, whatever the flags.

use std::io::{self, Write};

use super::{sarif, Report, MAX_PER_FILE, MAX_SUMMARY_ROWS};
use crate::findings::Location;
use crate::findings::{RevocationStatus, VerificationStatus};
use crate::printable::{code_span, printable};

/// A workflow command's message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Annotations: at most [`MAX_PER_FILE`] a file, each distinct key's first occurrence and live keys
/// first; what is left out is said in a final notice (the step summary counts everything).
/// Every string from scanned data is [`printable`] first (no raw control character, no whole key),
/// then escaped by the workflow-command rules, so nothing can start a command line.
pub(super) fn write(report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    for problem in &report.summary.problems {
        writeln!(out, "{}", error_annotation(problem))?;
    }
    let listed = super::capped(report.findings, MAX_PER_FILE, usize::MAX);
    for &i in &listed {
        let f = &report.findings[i];
        let rule = report.rules.get(f.rule_index);
        let command = if f.kind.is_live() { "error" } else { "warning" };
        let title = printable(&format!("skguard: {} ({})", rule.spec.name, f.rule)).into_owned();
        let mut properties = Vec::new();
        // Relative to the work tree's root, as SARIF's URIs (where GitHub looks for files).
        let file = |path: &str| match report.uris {
            Some(uris) => uris.relative(path),
            None => path.to_string(),
        };
        let location = f.location();
        match location {
            Location::CommitMessage { .. } => {}
            // The annotation points at the archive file itself; the member is named below.
            Location::ArchiveMember { archive, .. } => {
                properties.push(format!(
                    "file={}",
                    escape_property(&printable(&file(archive)))
                ));
            }
            Location::PathName { path, .. } => {
                properties.push(format!("file={}", escape_property(&printable(&file(path)))));
            }
            Location::File { path, line, column } | Location::TaggedBlob { path, line, column } => {
                properties.push(format!("file={}", escape_property(&printable(&file(path)))));
                properties.push(format!("line={line}"));
                properties.push(format!("col={column}"));
            }
            Location::TagMessage { line, column } => {
                properties.push(format!("file={}", escape_property(&printable(&f.path))));
                properties.push(format!("line={line}"));
                properties.push(format!("col={column}"));
            }
        }
        properties.push(format!("title={}", escape_property(&title)));
        let mut message = sarif::message(f, rule);
        if let Some(commit) = &f.commit {
            message.push_str(&format!(" Introduced in {}", commit.id));
            if let Location::CommitMessage { .. } = location {
                message.push_str(" (in its commit message)");
            }
            message.push('.');
        }
        match location {
            Location::PathName { .. } => message.push_str(" The key is in the file's path."),
            Location::ArchiveMember { member, line, .. } => message.push_str(&format!(
                " In the archive's member {}, line {line}.",
                printable(member)
            )),
            _ => {}
        }
        message
            .push_str(" Rotate it in the dashboard (Settings > API Keys) if it was ever pushed.");
        writeln!(
            out,
            "::{command} {}::{}",
            properties.join(","),
            escape_data(&printable(&message))
        )?;
    }
    if listed.len() < report.findings.len() {
        writeln!(
            out,
            "::notice title=skguard::{} more findings not annotated (at most {MAX_PER_FILE} a file): every one is \
             counted in the step summary and listed by --format json",
            report.findings.len() - listed.len()
        )?;
    }
    Ok(())
}

/// An `::error` annotation without a file: what made the answer incomplete, or why the run was
/// refused. The message is printable (keys redacted, control characters escaped).
pub fn error_annotation(message: &str) -> String {
    format!(
        "::error title=skguard::{}",
        escape_data(&printable(message))
    )
}

/// Text in a table cell, outside a code span: printable, with Markdown's active characters
/// escaped so that nothing from scanned data or the API becomes a link, code, bold text or HTML.
fn cell(s: &str) -> String {
    let mut out = String::new();
    for c in printable(s).chars() {
        if "\\`*[]<>|~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The step summary: counts, every finding, and what to do next.
pub fn summary_markdown(report: &Report<'_>) -> String {
    let findings = report.findings;
    let live = findings.iter().filter(|f| f.kind.is_live()).count();
    let active = findings
        .iter()
        .filter(|f| {
            f.verification
                .as_ref()
                .is_some_and(|v| v.status == VerificationStatus::Active)
        })
        .count();
    let revoked = findings
        .iter()
        .filter(|f| {
            f.revocation
                .as_ref()
                .is_some_and(|r| r.status == RevocationStatus::Revoked)
        })
        .count();
    let mut md = String::from("## skguard\n\n");
    let incomplete = report.summary.is_incomplete() || !report.summary.problems.is_empty();
    if findings.is_empty() && incomplete {
        md.push_str("⚠️ **Incomplete**: no key found in what could be read, but not everything could be (below).\n");
    } else if findings.is_empty() {
        md.push_str("✅ No secret keys found.\n");
    } else {
        md.push_str(&format!(
            "❌ **{} {} found** ({} live, {} distinct). ",
            findings.len(),
            if findings.len() == 1 { "key" } else { "keys" },
            live,
            report.summary.distinct_keys
        ));
        if findings.iter().any(|f| f.verification.is_some()) {
            md.push_str(&format!(
                "{active} active by the key-management API, {revoked} revoked by this run."
            ));
        }
        md.push_str("\n\n| | Key | Where | Commit | Verification | Revocation |\n|---|---|---|---|---|---|\n");
        let listed = super::capped(findings, MAX_PER_FILE, MAX_SUMMARY_ROWS);
        for &i in &listed {
            let f = &findings[i];
            let icon = if f.kind.is_live() {
                "🔴 live"
            } else {
                "🟡 test"
            };
            let commit = f
                .commit
                .as_ref()
                .map(|c| code_span(&printable(c.short_id())))
                .unwrap_or_default();
            let verification = f
                .verification
                .as_ref()
                .map_or("not checked", |v| v.status.as_str());
            let revocation = f
                .revocation
                .as_ref()
                .map(|r| match &r.key_id {
                    Some(id) => format!("{} ({})", r.status.as_str(), cell(id)),
                    None => r.status.as_str().to_string(),
                })
                .unwrap_or_default();
            md.push_str(&format!(
                "| {icon} | {} | {} | {commit} | {verification} | {revocation} |\n",
                code_span(&printable(&f.redacted)),
                code_span(&printable(&format!("{}:{}", f.path, f.line))),
            ));
        }
        if listed.len() < findings.len() {
            md.push_str(&format!(
                "\n{} more findings are not listed here (at most {MAX_PER_FILE} a file and {MAX_SUMMARY_ROWS} in all; \
                 each distinct key's first occurrence and live keys first). Every one is counted above; the SARIF \
                 upload and `--format json` hold them.\n",
                findings.len() - listed.len()
            ));
        }
        md.push_str(
            "\n### What to do now\n\n\
             1. **Rotate first.** A key that was pushed is leaked: in the dashboard, Settings > API Keys, create a \
             new key, deploy it, then revoke the old one (or run skguard with `revoke: true`). Rewriting history \
             does not un-leak a pushed key.\n\
             2. Load keys from environment variables or your CI's secret store, never from code.\n\
             3. Restrict keys by IP address, referrer URL and endpoint.\n\
             4. Not a real key? Add `skguard:allow` to its line, or its fingerprint to `[allowlist]` in `.skguard.toml`.\n",
        );
    }
    let inline = &report.summary.inline_suppressed;
    if !inline.is_empty() {
        md.push_str(&format!(
            "\n### Suppressed by an inline marker ({})\n\nA `skguard:allow` (or `gitleaks:allow`, `pragma: allowlist secret`) \
             next to the key hides it: check that each one is not a real key.\n\n\
             | | Key | Where | Commit |\n|---|---|---|---|\n",
            inline.len()
        ));
        for f in inline {
            let commit = f
                .commit
                .as_ref()
                .map(|c| format!("`{}`", c.short_id()))
                .unwrap_or_default();
            md.push_str(&format!(
                "| {} | `{}` | {}:{} | {commit} |\n",
                f.kind,
                f.redacted,
                cell(&f.path),
                f.line
            ));
        }
    }
    if incomplete {
        md.push_str("\n⚠️ **This answer is incomplete** (see also the step's log):\n\n");
        for problem in &report.summary.problems {
            md.push_str(&format!("- {}\n", cell(problem)));
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_escaping() {
        assert_eq!(escape_data("50%\r\nnext"), "50%25%0D%0Anext");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }
}
