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
    let groups: Vec<(usize, Vec<usize>)> = super::files(report.findings)
        .into_iter()
        .map(|range| (range.len(), priority.select(range, MAX_PER_FILE)))
        .collect();
    let columns = Columns::new(
        report,
        groups.iter().flat_map(|(_, listed)| listed.iter().copied()),
    );
    for (n, (total, listed)) in groups.into_iter().enumerate() {
        // Grouped by file, each row `path:line:column` so a terminal or editor can jump to it.
        if n > 0 {
            writeln!(out)?;
        }
        for i in &listed {
            row(report, &report.findings[*i], out, &p, &columns)?;
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

/// Column widths of the listed rows, so that kinds, keys and rules line up.
struct Columns {
    place: usize,
    key: usize,
}

impl Columns {
    /// A place longer than this does not widen the column (one deep path would push every row).
    const MAX_PLACE: usize = 48;

    fn new(report: &Report<'_>, listed: impl Iterator<Item = usize>) -> Columns {
        let mut columns = Columns { place: 0, key: 0 };
        for i in listed {
            let f = &report.findings[i];
            let place = place(report, f).chars().count();
            if place <= Self::MAX_PLACE {
                columns.place = columns.place.max(place);
            }
            columns.key = columns.key.max(shown_key(report, f).chars().count());
        }
        columns
    }
}

/// `path:line:column`, the path as the user can type it from where they stand.
fn place(report: &Report<'_>, f: &Finding) -> String {
    format!(
        "{}:{}:{}",
        quote_path(&shown_path(report, &f.path)),
        f.line,
        f.column
    )
}

/// A reported path as the user can type it from the current folder.
fn shown_path<'p>(report: &Report<'_>, path: &'p str) -> Cow<'p, str> {
    match report.uris {
        Some(uris) => uris.shown(path),
        None => Cow::Borrowed(path),
    }
}

fn shown_key(report: &Report<'_>, f: &Finding) -> String {
    if report.show_secret {
        f.secret.expose().to_string()
    } else {
        f.redacted.clone()
    }
}

/// `s` padded with spaces to `width` characters.
fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(width.saturating_sub(n)))
}

/// One finding: `path:line:column  kind  key  rule`; under it the source text around a raw key
/// (with `--context`), the commit for history, and the fingerprint (for the allowlist).
fn row(
    report: &Report<'_>,
    f: &Finding,
    out: &mut dyn Write,
    p: &Palette,
    columns: &Columns,
) -> io::Result<()> {
    let kind_style = if f.kind.is_live() { p.live } else { p.test };
    let key = shown_key(report, f);
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
    writeln!(
        out,
        "{}{}{}  {}{}{}  {}  {}{}{}{}",
        p.path.render(),
        pad(&place(report, f), columns.place),
        p.path.render_reset(),
        kind_style.render(),
        pad(&printable(&f.kind), 4),
        kind_style.render_reset(),
        pad(&key, columns.key),
        p.dim.render(),
        printable(&f.rule),
        p.dim.render_reset(),
        encoding,
    )?;
    // Source text only for a key stored as it is: through a decoder, the text is not the key.
    // And only for the built-in rules: printable redacts their keys, not what a user's rule finds
    // (another token of that rule could stand on the same line).
    let builtin = matches!(
        report.rules.get(f.rule_index).origin,
        crate::rules::Origin::Builtin(_)
    );
    if report.human.context && f.encoding == Encoding::Raw && builtin {
        if let Some(context) = &f.context {
            writeln!(
                out,
                "    {}│{} {context}",
                p.dim.render(),
                p.dim.render_reset()
            )?;
        }
    }
    if let Some(c) = &f.commit {
        writeln!(
            out,
            "    {}commit {} by {}, {}{}",
            p.dim.render(),
            printable(c.short_id()),
            printable(&c.author),
            printable(&c.date),
            p.dim.render_reset()
        )?;
    }
    writeln!(
        out,
        "    {}{}{}",
        p.dim.render(),
        printable(&f.fingerprint),
        p.dim.render_reset()
    )
}

fn summary(report: &Report<'_>, out: &mut dyn Write, p: &Palette) -> io::Result<()> {
    let s = report.summary;
    let what = if report.staged {
        format!(
            "{} staged {}",
            s.scanned.blobs,
            plural(s.scanned.blobs, "file", "files")
        )
    } else if s.scanned.commits > 0 || s.scanned.blobs > 0 {
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
    // An incomplete answer is never a success: what went wrong comes first, then what to do.
    let incomplete = s.unreadable > 0;
    if report.findings.is_empty() && incomplete {
        incomplete_lines(report, out, p)?;
        writeln!(
            out,
            "  {}No keys in what could be read · {scanned}{}",
            p.dim.render(),
            p.dim.render_reset()
        )?;
    } else if report.findings.is_empty() && report.staged {
        // The pre-commit hook's output on success: one short line (and what was left out, if
        // anything was).
        writeln!(
            out,
            "{}✓ skguard: no keys in {what}{}",
            p.good.render(),
            p.good.render_reset()
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
        let counts = format!(
            "({} live, {} other; {} distinct {}) in {} {}",
            live,
            report.findings.len() - live,
            s.distinct_keys,
            plural(s.distinct_keys, "key", "keys"),
            files.len(),
            plural(files.len() as u64, "file", "files"),
        );
        let headline = format!(
            "{} {} found",
            report.findings.len(),
            plural(report.findings.len() as u64, "key", "keys"),
        );
        // What was scanned goes on a line of its own when the line would not fit the width.
        let width = if report.human.width == 0 {
            80
        } else {
            report.human.width
        };
        let fits = headline.chars().count() + counts.chars().count() + scanned.chars().count() + 6
            <= width;
        let scanned = if fits {
            format!(" · {scanned}")
        } else {
            format!("\n  {scanned}")
        };
        writeln!(
            out,
            "{}✗ {headline}{} {counts}{scanned}",
            p.bad.render(),
            p.bad.render_reset(),
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
        (
            c.archives_not_opened,
            "archive",
            "archives",
            "not opened (--archive-depth 0): scanned as bytes only",
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
    if incomplete && !report.findings.is_empty() {
        incomplete_lines(report, out, p)?;
    }
    Ok(())
}

/// What made the answer incomplete, and what to do about it.
fn incomplete_lines(report: &Report<'_>, out: &mut dyn Write, p: &Palette) -> io::Result<()> {
    let s = report.summary;
    let unread = s
        .problems
        .iter()
        .filter(|m| m.starts_with("cannot read "))
        .count() as u64;
    let other = s.unreadable.saturating_sub(unread);
    let mut what = Vec::new();
    if unread > 0 {
        what.push(format!(
            "{unread} {} could not be read",
            plural(unread, "path", "paths")
        ));
    }
    if other > 0 || what.is_empty() {
        what.push(format!(
            "{} {} could not be scanned",
            other.max(1),
            plural(other.max(1), "part", "parts")
        ));
    }
    writeln!(
        out,
        "{}✗ Incomplete: {}{}",
        p.bad.render(),
        what.join(" and "),
        p.bad.render_reset()
    )?;
    for problem in s.problems.iter().take(5) {
        write_wrapped(report, out, "  ", "    ", &printable(problem))?;
    }
    if s.problems.len() > 5 {
        writeln!(out, "  … and {} more (on stderr)", s.problems.len() - 5)?;
    }
    let todo = if unread > 0 {
        "This answer is incomplete (exit status 2). Check each path above (a typo? \
         permissions? a damaged repository: `git fsck`), then run the scan again."
    } else {
        "This answer is incomplete (exit status 2). Do what the messages above say, then run \
         the scan again."
    };
    write_wrapped(report, out, "  ", "  ", todo)
}

/// `text` broken at spaces into lines of at most `width` characters (a longer word stands alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    // Words are split at spaces outside `code spans`: a command is never broken across lines.
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_code = false;
    for c in text.chars() {
        if c == '`' {
            in_code = !in_code;
        }
        if c.is_whitespace() && !in_code {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    for word in &words {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Writes `text` wrapped to the report's width: the first line after `first`, the others after
/// `rest` (both indents count).
fn write_wrapped(
    report: &Report<'_>,
    out: &mut dyn Write,
    first: &str,
    rest: &str,
    text: &str,
) -> io::Result<()> {
    let width = if report.human.width == 0 {
        80
    } else {
        report.human.width
    };
    let room = width
        .saturating_sub(rest.chars().count().max(first.chars().count()))
        .max(20);
    for (n, line) in wrap(text, room).into_iter().enumerate() {
        writeln!(out, "{}{line}", if n == 0 { first } else { rest })?;
    }
    Ok(())
}

fn advice(report: &Report<'_>, out: &mut dyn Write, p: &Palette) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "{}What to do now{}",
        p.heading.render(),
        p.heading.render_reset()
    )?;
    if report.staged {
        // Nothing was committed yet: fix the commit. (No rotation, no --revoke: refused here.)
        write_wrapped(
            report,
            out,
            "  ",
            "  ",
            "This commit was blocked before the key left this machine. Take the key out of the file (load \
             it from an environment variable instead), `git add` the file again and commit. Do not \
             bypass this with --no-verify: CI scans pushed commits too, and a pushed key has to be replaced.",
        )?;
    } else {
        // Each rule's advice once a run; a built-in rule whose steps the first rule's advice already
        // gives (test keys after live keys) says only what is its own.
        let mut used: Vec<usize> = report.findings.iter().map(|f| f.rule_index).collect();
        used.sort_unstable();
        used.dedup();
        used.sort_by_key(|&i| report.rules.get(i).kind() != "live");
        let mut shown_builtin = false;
        for index in used {
            let rule = report.rules.get(index);
            let builtin = matches!(rule.origin, crate::rules::Origin::Builtin(_));
            writeln!(
                out,
                "  {} ({}):",
                printable(&rule.spec.name),
                printable(rule.id())
            )?;
            let mut paragraphs = remediation_items(&rule.spec.remediation);
            if builtin && shown_builtin && paragraphs.len() > 1 {
                paragraphs.truncate(1);
                paragraphs[0].push_str(" The steps above apply to it too.");
            }
            shown_builtin |= builtin;
            for item in paragraphs {
                let (first, rest) = match item.split_once(". ") {
                    Some((n, text)) if n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit()) => {
                        (format!("    {n}. "), text.to_string())
                    }
                    _ => ("    ".to_string(), item.clone()),
                };
                let indent = " ".repeat(first.chars().count());
                write_wrapped(report, out, &first, &indent, &printable(&rest))?;
            }
        }
    }
    writeln!(out)?;
    write_wrapped(
        report,
        out,
        "  ",
        "  ",
        &format!(
            "Not a real key? Add `skguard:allow` to its line, or its fingerprint (the sha256: line \
             under it) to [allowlist] fingerprints in .skguard.toml. To accept today's findings as \
             known, run `skguard baseline` (it writes .skguard-baseline.json at the work tree's \
             root, or in the scanned folder outside a repository) and add \
             `baseline = \".skguard-baseline.json\"` to .skguard.toml{}.",
            if report.staged {
                "; then `git add` both files (the hook reads the staged copies)"
            } else {
                ""
            }
        ),
    )
}

/// A rule's remediation as items: its first paragraph, then each numbered step, each joined
/// into one line (wrapped again to the terminal's width).
fn remediation_items(text: &str) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    for line in text.trim().lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let numbered = line.split_once(". ").is_some_and(|(n, _)| {
            !n.is_empty() && n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit())
        });
        match items.last_mut() {
            Some(last) if !numbered => {
                last.push(' ');
                last.push_str(line);
            }
            _ => items.push(line.to_string()),
        }
    }
    items
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
            triage(v)
        )?;
        let matching = match v.matching_keys {
            Some(0) => Some("no listed key's prefix matches it".to_string()),
            Some(1) => Some("1 listed key could be it (the listing may not be whole)".to_string()),
            Some(n) => Some(format!("{n} listed keys could be it")),
            None => None,
        };
        if let Some(matching) = matching {
            writeln!(
                out,
                "             {}{matching}{}",
                p.dim.render(),
                p.dim.render_reset()
            )?;
        }
        if let Some(k) = &v.key {
            // The rest of the listed entry, on its own line (the status line stays short).
            let mut rest = Vec::new();
            if !k.created_at.is_empty() {
                rest.push(format!("created {}", when(&k.created_at)));
            }
            if !k.id.is_empty() {
                rest.push(format!("id {}", printable(&k.id)));
            }
            if !rest.is_empty() {
                writeln!(
                    out,
                    "             {}{}{}",
                    p.dim.render(),
                    rest.join(", "),
                    p.dim.render_reset()
                )?;
            }
        }
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
            .map(|f| format!("{}:{}", quote_path(&shown_path(report, &f.path)), f.line))
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
                "Keys that could not be checked: treat them as active until you know otherwise."
            }
            (VerificationStatus::Invalid, _) => "Invalid keys no longer authenticate: remove them from the code; nothing else to do.",
        });
    }
    let unknown = keys.iter().any(|(f, ..)| {
        f.verification
            .as_ref()
            .is_some_and(|v| v.status == VerificationStatus::Unknown)
    });
    for line in advice {
        write_wrapped(report, out, "  → ", "    ", line)?;
    }
    if unknown {
        if let Some(command) = &report.human.reverify {
            // On a line of its own, unwrapped, so that it can be copied whole.
            writeln!(out, "    To check them again, run this scan again:")?;
            writeln!(out, "      {}", printable(command))?;
        }
    }
    writeln!(out)
}

/// What the API says of a key, for a person deciding what to do: the key's entry in the listing
/// ("Production Key, last used 2 hours ago") when the listing identifies it, else the API's detail
/// (how many listed keys could be it follows on the next line).
fn triage(v: &crate::findings::Verification) -> String {
    if let Some(k) = &v.key {
        let name = if k.name.is_empty() {
            format!("key {}", printable(&k.id))
        } else {
            printable(&k.name).into_owned()
        };
        return match k.last_used.as_str() {
            "" => name,
            last => format!("{name}, last used {}", when(last)),
        };
    }
    printable(&v.detail).into_owned()
}

/// An API timestamp as a person reads it: "2 hours ago", or the text itself when it is not an
/// RFC 3339 time.
fn when(timestamp: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    match rfc3339_seconds(timestamp) {
        Some(t) => ago(now - t),
        None => printable(timestamp).into_owned(),
    }
}

fn ago(seconds: i64) -> String {
    if seconds < 0 {
        return "in the future (by the API's clock)".into();
    }
    let units = [
        (365 * 86_400, "year", "years"),
        (30 * 86_400, "month", "months"),
        (7 * 86_400, "week", "weeks"),
        (86_400, "day", "days"),
        (3_600, "hour", "hours"),
        (60, "minute", "minutes"),
    ];
    for (size, one, many) in units {
        if seconds >= size {
            let n = seconds / size;
            return format!("{n} {} ago", plural(n as u64, one, many));
        }
    }
    "just now".into()
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
fn rfc3339_seconds(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':' =>
        {
            let h: i64 = rest.get(1..3)?.parse().ok()?;
            let m: i64 = rest.get(4..6)?.parse().ok()?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
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
            human: Default::default(),
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

    #[test]
    fn api_times_read_as_ages() {
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_seconds("2025-01-15T10:30:00Z"), Some(1_736_937_000));
        assert_eq!(
            rfc3339_seconds("2025-01-15T12:30:00.123+02:00"),
            Some(1_736_937_000)
        );
        assert_eq!(rfc3339_seconds("yesterday"), None);
        assert_eq!(rfc3339_seconds("2025-13-15T10:30:00Z"), None);
        assert_eq!(ago(2 * 3600 + 5), "2 hours ago");
        assert_eq!(ago(86_400), "1 day ago");
        assert_eq!(ago(30), "just now");
        assert_eq!(when("not a time \u{1b}[2J"), "not a time \\x1b[2J");
    }

    #[test]
    fn advice_wraps_at_spaces() {
        let lines = wrap("one two three four five", 9);
        assert_eq!(lines, vec!["one two", "three", "four five"]);
        assert_eq!(
            wrap("averyveryverylongword x", 5),
            vec!["averyveryverylongword", "x"]
        );
        let items =
            remediation_items("Intro line\ngoes on:\n1. First step\n   continued.\n2. Second.\n");
        assert_eq!(
            items,
            vec![
                "Intro line goes on:",
                "1. First step continued.",
                "2. Second."
            ]
        );
    }
}
