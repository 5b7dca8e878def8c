//! Reports: the same findings and summary, written as `human`, `json` or `jsonl`.
//!
//! Keys are written whole only with `show_secret`, and only by these formats; everywhere else a
//! finding carries its redacted form and fingerprint.

pub mod github;
mod human;
mod sarif;

use std::collections::HashSet;
use std::io::{self, Write};
use std::ops::Range;
use std::str::FromStr;

use serde::Serialize;

pub use sarif::UriBase;

use crate::findings::{Finding, VerificationStatus};
use crate::printable;
use crate::rules::RuleSet;
use crate::sources::Stats;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Jsonl,
    Sarif,
    Github,
}

impl Format {
    /// SARIF and workflow commands go where others can read them: never a whole key.
    pub fn may_show_secrets(self) -> bool {
        matches!(self, Format::Human | Format::Json | Format::Jsonl)
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "human" => Ok(Format::Human),
            "json" => Ok(Format::Json),
            "jsonl" => Ok(Format::Jsonl),
            "sarif" => Ok(Format::Sarif),
            "github" => Ok(Format::Github),
            other => Err(format!(
                "unknown format {other:?} (expected human, json, jsonl, sarif or github)"
            )),
        }
    }
}

/// What was scanned, skipped and suppressed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// What the source read and skipped (flattened into the JSON `stats`).
    #[serde(flatten)]
    pub scanned: Stats,
    pub findings: u64,
    pub distinct_keys: u64,
    pub suppressed: u64,
    /// Things it was asked to scan and could not read: the answer is incomplete.
    pub unreadable: u64,
    pub elapsed_ms: u64,
    /// What made the answer incomplete, one message each (GitHub annotations and step summary).
    #[serde(skip)]
    pub problems: Vec<String>,
    /// `--range`: the keys an inline marker suppressed, listed in the step summary (a pull request
    /// can add its own marker, and reviewers should see it).
    #[serde(skip)]
    pub inline_suppressed: Vec<Finding>,
}

impl Summary {
    /// The one rule: anything the scan was asked to read and could not makes the answer incomplete.
    pub fn is_incomplete(&self) -> bool {
        self.unreadable > 0
    }
}

/// Everything a format writes.
pub struct Report<'a> {
    pub findings: &'a [Finding],
    pub summary: &'a Summary,
    pub rules: &'a RuleSet,
    pub show_secret: bool,
    /// The findings are in a commit being made (`--staged`): the advice is to fix the commit.
    pub staged: bool,
    /// How SARIF URIs are made from reported paths (`None`: the paths as they are, never `..` or
    /// absolute).
    pub uris: Option<&'a UriBase>,
    /// What only the human report uses.
    pub human: HumanOptions,
}

/// How the human report is laid out.
#[derive(Debug, Clone, Default)]
pub struct HumanOptions {
    /// Show the source text around each raw finding (`--context`).
    pub context: bool,
    /// Show it in a human report written to a file too (`--context always`).
    pub context_in_files: bool,
    /// Columns to wrap advice to (80 when 0).
    pub width: usize,
    /// The command that runs this scan again with `--verify` (advice after an unreachable API).
    pub reverify: Option<String>,
}

/// At most this many occurrences of one file in `human` and `github` output (json and jsonl list
/// every one).
pub const MAX_PER_FILE: usize = 100;
/// At most this many SARIF results (GitHub code scanning rejects larger runs).
pub const MAX_SARIF_RESULTS: usize = 25_000;
/// At most this many rows in the step summary (GitHub takes at most 1 MiB of it).
pub const MAX_SUMMARY_ROWS: usize = 1_000;

/// Which findings a capped format lists first: each distinct key's first occurrence, live (or
/// working) keys before others, then the other occurrences of live keys, then the rest. A cap
/// only shortens a listing: every finding still counts, is verified and decides the exit status.
pub(crate) struct Priority {
    ranks: Vec<u8>,
}

impl Priority {
    pub(crate) fn new(findings: &[Finding]) -> Priority {
        let mut seen: HashSet<u64> = HashSet::new();
        let ranks = findings
            .iter()
            .map(|f| {
                let first = seen.insert(crate::findings::fingerprint_bits(&f.fingerprint));
                let important = f.kind.is_live()
                    || f.verification.as_ref().is_some_and(|v| {
                        matches!(
                            v.status,
                            VerificationStatus::Active | VerificationStatus::Restricted
                        )
                    });
                match (first, important) {
                    (true, true) => 0,
                    (true, false) => 1,
                    (false, true) => 2,
                    (false, false) => 3,
                }
            })
            .collect();
        Priority { ranks }
    }

    /// The indices of `range` to list under `cap`, in report order; linear in the range.
    pub(crate) fn select(&self, range: Range<usize>, cap: usize) -> Vec<usize> {
        self.select_from(range.collect(), cap)
    }

    /// The indices of `candidates` (in report order) to list under `cap`, in report order.
    pub(crate) fn select_from(&self, candidates: Vec<usize>, cap: usize) -> Vec<usize> {
        if candidates.len() <= cap {
            return candidates;
        }
        let mut counts = [0usize; 4];
        for &i in &candidates {
            counts[self.ranks[i] as usize] += 1;
        }
        // Every rank below `cut` is listed whole; of rank `cut`, the first `room` in order.
        let mut cut = 0;
        let mut room = cap;
        while cut < 4 && counts[cut] <= room {
            room -= counts[cut];
            cut += 1;
        }
        candidates
            .into_iter()
            .filter(|&i| {
                let rank = self.ranks[i] as usize;
                rank < cut
                    || (rank == cut && room > 0 && {
                        room -= 1;
                        true
                    })
            })
            .collect()
    }
}

/// The findings of each file, as ranges of consecutive findings with one path (findings are
/// sorted by path).
pub(crate) fn files(findings: &[Finding]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=findings.len() {
        if i == findings.len() || findings[i].path != findings[start].path {
            if i > start {
                out.push(start..i);
            }
            start = i;
        }
    }
    out
}

/// The findings listed under a cap per file (and a cap in all): indices in report order.
pub(crate) fn capped(findings: &[Finding], per_file: usize, total: usize) -> Vec<usize> {
    let priority = Priority::new(findings);
    let listed: Vec<usize> = files(findings)
        .into_iter()
        .flat_map(|range| priority.select(range, per_file))
        .collect();
    priority.select_from(listed, total)
}

/// The findings of a document, written one by one (never collected in memory).
struct Findings<'r, 'a>(&'r Report<'a>);

impl Serialize for Findings<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.findings.iter().map(|f| self.0.finding_out(f)))
    }
}

#[derive(Serialize)]
struct FindingOut<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
}

impl<'a> Report<'a> {
    fn finding_out(&self, finding: &'a Finding) -> FindingOut<'a> {
        FindingOut {
            finding,
            secret: self.show_secret.then(|| finding.secret.expose()),
        }
    }
}

/// Writes `report` as `format`; colour only for `human`, and only when `color` says so.
pub fn write(
    format: Format,
    report: &Report<'_>,
    out: &mut dyn Write,
    color: bool,
) -> io::Result<()> {
    if report.show_secret && !format.may_show_secrets() {
        let redacted = Report {
            show_secret: false,
            human: report.human.clone(),
            ..*report
        };
        return write(format, &redacted, out, color);
    }
    match format {
        Format::Sarif => sarif::write(report, out),
        Format::Github => github::write(report, out),
        Format::Human => human::write(report, out, color),
        Format::Json => {
            #[derive(Serialize)]
            struct Document<'r, 'a> {
                version: u32,
                findings: Findings<'r, 'a>,
                stats: &'a Summary,
            }
            let doc = Document {
                version: 1,
                findings: Findings(report),
                stats: report.summary,
            };
            printable::write_json_pretty(&mut *out, &doc)?;
            writeln!(out)
        }
        Format::Jsonl => {
            for finding in report.findings {
                printable::write_json(&mut *out, &report.finding_out(finding))?;
                writeln!(out)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Encoding, Location, Secret};
    use crate::rules::RuleSet;

    fn finding(path: &str, line: u64, body: &str, live: bool) -> Finding {
        let rules = RuleSet::builtin();
        let index = usize::from(!live);
        let prefix = if live { "sk_live_" } else { "sk_test_" };
        Finding::new(
            rules.get(index),
            index,
            path.into(),
            line,
            1,
            Secret::new(format!("{prefix}{body}"), 8),
            Encoding::Raw,
        )
    }

    #[test]
    fn an_archive_members_location_is_the_archive() {
        let mut f = finding(
            "dist/h.tgz!../../src/main.rs",
            3,
            "Member1Key2Path3Zz",
            true,
        );
        // Not found inside an archive: a file whose name holds `!`.
        assert!(matches!(
            f.location(),
            Location::File {
                path: "dist/h.tgz!../../src/main.rs",
                line: 3,
                ..
            }
        ));
        f.encoding = Encoding::Archive;
        let Location::ArchiveMember {
            archive, member, ..
        } = f.location()
        else {
            panic!("{:?}", f.location());
        };
        assert_eq!((archive, member), ("dist/h.tgz", "../../src/main.rs"));
        assert_eq!(UriBase::default().relative(archive), "dist/h.tgz");
    }

    #[test]
    fn caps_list_first_occurrences_and_live_keys_first_in_report_order() {
        let mut findings = Vec::new();
        // One test key repeated, then a live key at the end, then a second test key.
        for line in 1..=10 {
            findings.push(finding("a", line, "Repeated1Test2Key3", false));
        }
        findings.push(finding("a", 11, "Lonely1Live2Key3Zz", true));
        findings.push(finding("a", 12, "Other1Test2Key3Zzq", false));
        findings.push(finding("b", 1, "Lonely1Live2Key3Zz", true));
        let priority = Priority::new(&findings);
        assert_eq!(priority.select(0..12, 3), vec![0, 10, 11]);
        assert_eq!(priority.select(0..12, 2), vec![0, 10]);
        assert_eq!(priority.select(0..12, 1), vec![10]);
        assert_eq!(priority.select(0..12, 12), (0..12).collect::<Vec<_>>());
        assert_eq!(files(&findings), vec![0..12, 12..13]);
        // b's live key was seen in a first: its occurrence in b ranks after first occurrences.
        assert_eq!(capped(&findings, 2, 3), vec![0, 10, 12]);
        assert_eq!(capped(&findings, 1, 100), vec![10, 12]);
    }
}
