//! Reports: the same findings and summary, written as `human`, `json` or `jsonl`.
//!
//! Keys are written whole only with `show_secret`, and only by these formats; everywhere else a
//! finding carries its redacted form and fingerprint.

pub mod github;
mod human;
mod sarif;

use std::io::{self, Write};
use std::str::FromStr;

use serde::Serialize;

use crate::findings::Finding;
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

/// Everything a format writes.
pub struct Report<'a> {
    pub findings: &'a [Finding],
    pub summary: &'a Summary,
    pub rules: &'a RuleSet,
    pub show_secret: bool,
    /// The findings are in a commit being made (`--staged`): the advice is to fix the commit.
    pub staged: bool,
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
            struct Document<'a> {
                version: u32,
                findings: Vec<FindingOut<'a>>,
                stats: &'a Summary,
            }
            let doc = Document {
                version: 1,
                findings: report
                    .findings
                    .iter()
                    .map(|f| report.finding_out(f))
                    .collect(),
                stats: report.summary,
            };
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)
        }
        Format::Jsonl => {
            for finding in report.findings {
                serde_json::to_writer(&mut *out, &report.finding_out(finding))?;
                writeln!(out)?;
            }
            Ok(())
        }
    }
}
