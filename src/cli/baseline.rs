//! `skguard baseline`: accept today's findings as known.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use super::scan::{collect, Target};
use super::Status;
use skguard::pipeline::{self, BASELINE_FILE_NAME};
use skguard::printable::printable;
use skguard::suppress::Baseline;

#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub target: Target,
    /// Where to write the baseline [default: .skguard-baseline.json at the work tree's root, else
    /// in the scanned folder; name it in .skguard.toml with `baseline = ".skguard-baseline.json"`].
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: BaselineArgs) -> Result<Status> {
    let mut request = args.target.request(None)?;
    // Every finding goes into the new baseline, those of the baseline it replaces too.
    request.config_baseline = false;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| pipeline::default_baseline_path(&request.mode));
    let collected = collect(&request)?;
    // Replacing a baseline with the findings of less than it covered (a subfolder) forgets keys.
    let forgotten = Baseline::load(&output)
        .map(|previous| previous.forgotten_by(&collected.findings))
        .unwrap_or(0);
    let text = Baseline::render(&collected.findings);
    std::fs::write(&output, text).with_context(|| format!("cannot write {}", output.display()))?;
    if forgotten > 0 {
        eprintln!(
            "skguard: warning: {forgotten} {} of the baseline it replaces {} not found by this scan and \
             no longer accepted: keys since removed, or keys where this scan did not look (a subfolder \
             covers less than the repository, the files less than `--git`); to accept them all again, \
             run `skguard baseline` at the work tree's root, with `--git` if the old baseline had it",
            if forgotten == 1 { "fingerprint" } else { "fingerprints" },
            if forgotten == 1 { "was" } else { "were" },
        );
    }
    if !super::quiet() {
        eprintln!(
            "skguard: wrote {} {} to {}",
            collected.summary.distinct_keys,
            if collected.summary.distinct_keys == 1 {
                "fingerprint"
            } else {
                "fingerprints"
            },
            printable(&output.display().to_string())
        );
        if args.output.is_none()
            && output.file_name() == Some(Path::new(BASELINE_FILE_NAME).as_os_str())
            && !configured_next_to(&output)
        {
            eprintln!(
                "skguard: to use it in every scan and in the pre-commit hook, put `baseline = \"{BASELINE_FILE_NAME}\"` \
                 at the top of .skguard.toml (next to it) and commit both files"
            );
        }
    }
    // An incomplete scan makes an incomplete baseline: say so with the status.
    Ok(if collected.is_incomplete() {
        Status::Incomplete
    } else {
        Status::Clean
    })
}

/// Whether the `.skguard.toml` next to `baseline` already names a baseline (then the hint to add one
/// is noise).
fn configured_next_to(baseline: &Path) -> bool {
    let config = baseline
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(skguard::config::FILE_NAME);
    config.is_file() && skguard::config::Config::load(&config).is_ok_and(|c| c.baseline.is_some())
}
