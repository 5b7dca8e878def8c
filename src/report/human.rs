//! The report a person reads: findings grouped by file, then what was scanned, then what to do.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::{Priority, Report, MAX_PER_FILE};
use crate::findings::{Encoding, Finding, RevocationStatus, VerificationStatus};
use crate::printable::{escape_controls, printable, redact_keys};

struct Palette {
    path: Style,
    live: Style,
    test: Style,
    dim: Style,
    bad: Style,
    good: Style,
    heading: Style,
}

impl Palette {
    fn new(color: bool) -> Palette {
        if !color {
            let plain = Style::new();
            return Palette {
                path: plain,
                live: plain,
                test: plain,
                dim: plain,
                bad: plain,
                good: plain,
                heading: plain,
            };
        }
        Palette {
            path: Style::new().bold().underline(),
            live: AnsiColor::Red.on_default().bold(),
            test: AnsiColor::Yellow.on_default(),
            dim: Style::new().dimmed(),
            bad: AnsiColor::Red.on_default().bold(),
            good: AnsiColor::Green.on_default().bold(),
            heading: Style::new().bold(),
        }
    }
}

pub(super) fn write(report: &Report<'_>, out: &mut dyn Write, color: bool) -> io::Result<()> {
    let p = Palette::new(color);
    key_status(report, out, &p)?;
    let priority = Priority::new(report.findings);
    let mut omitted = 0usize;
    for (n, range) in super::files(report.findings).into_iter().enumerate() {
        // Grouped by file, each row `path:line:column` so a terminal or editor can jump to it.
        if n > 0 {
            writeln!(out)?;
        }
        let total = range.len();
        let listed = priority.select(range, MAX_PER_FILE);
        for i in &listed {
            row(report, &report.findings[*i], out, &p)?;
        }
        if listed.len() < total {
            omitted += total - listed.len();
            writeln!(
                out,
                "  {}… {} more in this file (at most {MAX_PER_FILE} a file here; --format json lists every one){}",
                p.dim.render(),
                total - listed.len(),
                p.dim.render_reset()
            )?;
        }
    }
    if !report.findings.is_empty() {
        writeln!(out)?;
    }
    summary(report, out, &p)?;
    if omitted > 0 {
        writeln!(
            out,
            "  {}{omitted} more {} not listed above (at most {MAX_PER_FILE} a file; every one is counted, \
             verified and in --format json/jsonl){}",
            p.dim.render(),
            plural(omitted as u64, "occurrence", "occurrences"),
            p.dim.render_reset()
        )?;
    }
    if !report.findings.is_empty() {
        advice(report, out, &p)?;
    }
    Ok(())
}

/// One finding: `path:line:column  kind key  rule`, and the commit for history.
fn row(report: &Report<'_>, f: &Finding, out: &mut dyn Write, p: &Palette) -> io::Result<()> {
    let kind_style = if f.kind.is_live() { p.live } else { p.test };
    let key = if report.show_secret {
        f.secret.expose().to_string()
    } else {
        f.redacted.clone()
    };
    let encoding = match f.encoding {
        Encoding::Raw => String::new(),
        Encoding::Archive => format!(" {}(in an archive){}", p.dim.render(), p.dim.render_reset()),
        other => format!(
            " {}({} encoded){}",
            p.dim.render(),
            other.as_str(),
            p.dim.render_reset()
        ),
    };
    let commit = match &f.commit {
        Some(c) => {
            format!(
                "\n    {}commit {} by {}, {}{}",
                p.dim.render(),
                printable(c.short_id()),
                printable(&c.author),
                printable(&c.date),
                p.dim.render_reset()
            )
        }
        _ => String::new(),
    };
    writeln!(
        out,
        "{}{}:{}:{}{}  {}{:<4}{} {}  {}{}{}{}{commit}",
        p.path.render(),
        quote_path(&f.path),
        f.line,
        f.column,
        p.path.render_reset(),
        kind_style.render(),
        printable(&f.kind),
        kind_style.render_reset(),
        key,
        p.dim.render(),
        printable(&f.rule),
        p.dim.render_reset(),
        encoding,
    )?;
    Ok(())
}

fn summary(report: &Report<'_>, out: &mut dyn Write, p: &Palette) -> io::Result<()> {
    let s = report.summary;
    let what = if s.scanned.commits > 0 || s.scanned.blobs > 0 {
        format!(
            "{} {}, {} {}",
            s.scanned.commits,
            plural(s.scanned.commits, "commit", "commits"),
            s.scanned.blobs,
            plural(s.scanned.blobs, "blob", "blobs")
        )
    } else {
        format!(
            "{} {}",
            s.scanned.files,
            plural(s.scanned.files, "file", "files")
        )
    };
    let scanned = format!(
        "{what}, {} scanned in {:.2} s",
        human_bytes(s.scanned.bytes),
        s.elapsed_ms as f64 / 1000.0
    );
    if report.findings.is_empty() && s.is_incomplete() {
        // Never a success line for an answer known to be incomplete.
        writeln!(
            out,
            "{}! No keys found in what could be read{} · {scanned}",
            p.bad.render(),
            p.bad.render_reset()
        )?;
    } else if report.findings.is_empty() {
        writeln!(
            out,
            "{}✓ No keys found{} · {scanned}",
            p.good.render(),
            p.good.render_reset()
        )?;
    } else {
        let live = report.findings.iter().filter(|f| f.kind.is_live()).count();
        let files: BTreeSet<&str> = report.findings.iter().map(|f| f.path.as_str()).collect();
        writeln!(
            out,
            "{}✗ {} {} found{} ({} live, {} other; {} distinct {}) in {} {} · {scanned}",
            p.bad.render(),
            report.findings.len(),
            plural(report.findings.len() as u64, "key", "keys"),
            p.bad.render_reset(),
            live,
            report.findings.len() - live,
            s.distinct_keys,
            plural(s.distinct_keys, "key", "keys"),
            files.len(),
            plural(files.len() as u64, "file", "files"),
        )?;
    }
    // What was left out on purpose: (count, noun, noun plural, what happened to them).
    let c = &s.scanned;
    let notes = [
        (
            s.suppressed,
            "",
            "",
            "suppressed (inline markers, allowlist, baseline)",
        ),
        (
            c.skipped_too_large,
            "",
            "",
            "larger than --max-file-size skipped",
        ),
        (
            c.skipped_not_regular,
            "special file",
            "special files",
            "(FIFO, socket, device) skipped",
        ),
        (
            c.skipped_symlinks,
            "symbolic link",
            "symbolic links",
            "not followed (--follow follows them)",
        ),
        (
            c.skipped_vanished,
            "file",
            "files",
            "deleted while the scan ran",
        ),
        (
            c.submodules,
            "submodule entry",
            "submodule entries",
            "not entered (scan each submodule on its own)",
        ),
        (c.skipped_loops, "link loop", "link loops", "skipped"),
        (
            c.archive_bounds,
            "archive part",
            "archive parts",
            "not read whole (a bound was reached; see the warnings)",
        ),
    ];
    let notes = notes
        .iter()
        .filter(|(n, ..)| *n > 0)
        .map(|&(n, one, many, what)| match plural(n, one, many) {
            "" => format!("{n} {what}"),
            noun => format!("{n} {noun} {what}"),
        });
    for note in notes {
        writeln!(out, "  {}{note}{}", p.dim.render(), p.dim.render_reset())?;
    }
    if s.is_incomplete() {
        writeln!(
            out,
            "{}! {} {} could not be read (listed on stderr): this answer is incomplete{}",
            p.bad.render(),
            s.unreadable,
            plural(s.unreadable, "path", "paths"),
            p.bad.render_reset()
        )?;
    }
    Ok(())
}

fn advice(report: &Report<'_>, out: &mut dyn Write, p: &Palette) -> io::Result<()> {
    let used: BTreeSet<usize> = report.findings.iter().map(|f| f.rule_index).collect();
    writeln!(out)?;
    writeln!(
        out,
        "{}What to do now{}",
        p.heading.render(),
        p.heading.render_reset()
    )?;
    if report.staged {
        writeln!(
            out,
            "  This commit was blocked: the key has not left this machine yet. Take it out\n  \
             of the file (load it from an environment variable instead), `git add` the\n  \
             file again and commit. Do not bypass this with --no-verify: CI scans pushed\n  \
             commits too, and a pushed key must be rotated."
        )?;
    }
    for index in used {
        let rule = report.rules.get(index);
        writeln!(
            out,
            "  {} ({}):",
            printable(&rule.spec.name),
            printable(rule.id())
        )?;
        for line in rule.spec.remediation.trim().lines() {
            writeln!(out, "    {}", printable(line))?;
        }
    }
    writeln!(
        out,
        "  {}Not a real key? Add `skguard:allow` to its line, or its fingerprint\n  \
         (--format json) to [allowlist] fingerprints in .skguard.toml. To accept\n  \
         today's findings as known, run `skguard baseline` (it writes\n  \
         .skguard-baseline.json at the repository's root) and add\n  \
         `baseline = \".skguard-baseline.json\"` to .skguard.toml{}.{}",
        p.dim.render(),
        if report.staged {
            ";\n  then `git add` both files (the hook reads the staged copies)"
        } else {
            ""
        },
        p.dim.render_reset()
    )
}

/// Each distinct key's verdict first: what the API said, what happened to it, where it was found,
/// live and active keys at the top.
fn key_status(report: &Report<'_>, out: &mut dyn Write, p: &Palette) -> io::Result<()> {
    let mut keys: Vec<(&Finding, Vec<&Finding>, usize)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for f in report.findings.iter().filter(|f| f.verification.is_some()) {
        match index.get(f.fingerprint.as_str()) {
            Some(&i) => {
                let all = &mut keys[i].1;
                // Five places are shown; the rest are counted.
                if all.len() < 6 {
                    all.push(f);
                }
                keys[i].2 += 1;
            }
            None => {
                index.insert(&f.fingerprint, keys.len());
                keys.push((f, vec![f], 1));
            }
        }
    }
    if keys.is_empty() {
        return Ok(());
    }
    let rank = |f: &Finding| {
        let status = match f.verification.as_ref().map(|v| v.status) {
            Some(VerificationStatus::Active) => 0,
            Some(VerificationStatus::Restricted) => 1,
            Some(VerificationStatus::Unknown) => 2,
            _ => 3,
        };
        (status, !f.kind.is_live())
    };
    keys.sort_by_key(|(f, ..)| rank(f));
    writeln!(
        out,
        "{}Keys, as the key-management API sees them{}",
        p.heading.render(),
        p.heading.render_reset()
    )?;
    let mut advice = BTreeSet::new();
    for (f, all, count) in &keys {
        let v = f.verification.as_ref().expect("filtered on verification");
        let (label, style) = match v.status {
            VerificationStatus::Active => ("ACTIVE", p.bad),
            VerificationStatus::Restricted => ("RESTRICTED", p.bad),
            VerificationStatus::Unknown => ("unknown", p.test),
            VerificationStatus::Invalid => ("invalid", p.dim),
        };
        let key = if report.show_secret {
            f.secret.expose().to_string()
        } else {
            f.redacted.clone()
        };
        writeln!(
            out,
            "  {}{label:<10}{} {:<4} {key}  {}",
            style.render(),
            style.render_reset(),
            printable(&f.kind),
            printable(&v.detail)
        )?;
        if let Some(r) = &f.revocation {
            let id = r
                .key_id
                .as_deref()
                .map(|id| format!(" {}", printable(id)))
                .unwrap_or_default();
            let status = r.status.as_str();
            let style = if r.status == RevocationStatus::Revoked {
                p.good
            } else if r.status == RevocationStatus::Failed {
                p.bad
            } else {
                p.dim
            };
            writeln!(
                out,
                "             revocation{id}: {}{status}{} — {}",
                style.render(),
                style.render_reset(),
                printable(&r.detail)
            )?;
        }
        let places: Vec<String> = all
            .iter()
            .take(5)
            .map(|f| format!("{}:{}", quote_path(&f.path), f.line))
            .collect();
        let more = if *count > 5 {
            format!(" and {} more", count - 5)
        } else {
            String::new()
        };
        writeln!(
            out,
            "             {}found at {}{more}{}",
            p.dim.render(),
            places.join(", "),
            p.dim.render_reset()
        )?;
        advice.insert(match (v.status, f.revocation.as_ref().map(|r| r.status)) {
            (_, Some(RevocationStatus::Revoked | RevocationStatus::AlreadyRevoked)) => {
                "Revoked keys no longer work: create a new key (Settings > API Keys > Create New API Key), deploy it from an environment variable, and remove the old one from the code."
            }
            (VerificationStatus::Active | VerificationStatus::Restricted, _) => {
                "ACTIVE keys work right now, for anyone who has them: rotate them first (Settings > API Keys: create a new key, deploy it, revoke the old one; or skguard scan --revoke), then clean up. Rewriting history does not un-leak a pushed key. Restrict keys by IP address, referrer URL and endpoint."
            }
            (VerificationStatus::Unknown, _) => {
                "Keys that could not be checked: treat them as active until you know otherwise (skguard verify < keys.txt checks again)."
            }
            (VerificationStatus::Invalid, _) => "Invalid keys no longer authenticate: remove them from the code; nothing else to do.",
        });
    }
    for line in advice {
        writeln!(out, "  → {line}")?;
    }
    writeln!(out)
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// A path as a person can read and copy it: keys redacted, and quoted (with `\` and `"` escaped,
/// control characters written as escapes) when it holds control characters or quotes.
fn quote_path(path: &str) -> String {
    let redacted = redact_keys(path);
    if matches!(escape_controls(&redacted), Cow::Borrowed(_)) && !redacted.contains('"') {
        return redacted.into_owned();
    }
    let escaped = redacted.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{}\"", escape_controls(&escaped))
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{CommitInfo, Encoding, Secret};
    use crate::report::{Format, Report, Summary};
    use crate::rules::RuleSet;

    fn render(findings: &[Finding], staged: bool, show_secret: bool) -> String {
        let rules = RuleSet::builtin();
        let summary = Summary {
            findings: findings.len() as u64,
            distinct_keys: findings.len() as u64,
            ..Summary::default()
        };
        let report = Report {
            findings,
            summary: &summary,
            rules: &rules,
            show_secret,
            staged,
            uris: None,
        };
        let mut out = Vec::new();
        crate::report::write(Format::Human, &report, &mut out, false).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn live_finding(path: &str) -> Finding {
        let rules = RuleSet::builtin();
        let index = rules
            .rules()
            .iter()
            .position(|r| r.id() == "sk_live")
            .unwrap();
        Finding::new(
            rules.get(index),
            index,
            path.into(),
            3,
            7,
            Secret::new(format!("sk_{}_Hq4mW8zR2kP9tX6vB3nJ7cYd", "live"), 8),
            Encoding::Raw,
        )
    }

    #[test]
    fn a_finding_is_shown_redacted_at_its_place() {
        let f = live_finding("src/app.rs");
        let shown = render(std::slice::from_ref(&f), false, false);
        assert!(shown.contains("src/app.rs:3:7"), "{shown}");
        assert!(shown.contains(&f.redacted), "{shown}");
        assert!(!shown.contains(f.secret.expose()), "{shown}");
        let shown = render(std::slice::from_ref(&f), false, true);
        assert!(shown.contains(f.secret.expose()), "{shown}");
    }

    #[test]
    fn a_history_finding_names_its_commit_and_a_staged_one_how_to_fix_the_commit() {
        let mut f = live_finding("a.txt");
        f.commit = Some(std::sync::Arc::new(CommitInfo {
            id: "0123456789abcdef0123456789abcdef01234567".into(),
            author: "Alice <a@example.test>".into(),
            date: "2025-01-02T03:04:05+01:00".into(),
        }));
        let shown = render(std::slice::from_ref(&f), false, false);
        assert!(shown.contains("commit 0123456789ab by Alice"), "{shown}");
        assert!(!shown.contains("This commit was blocked"), "{shown}");
        let shown = render(&[live_finding("a.txt")], true, false);
        assert!(shown.contains("This commit was blocked"), "{shown}");
        assert!(shown.contains("skguard baseline"), "{shown}");
    }

    #[test]
    fn no_finding_is_said_plainly() {
        let shown = render(&[], false, false);
        assert!(!shown.contains("sk_live_"), "{shown}");
        assert!(shown.to_lowercase().contains("no keys found"), "{shown}");
    }
}
