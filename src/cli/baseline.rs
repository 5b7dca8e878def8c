//! `skguard baseline`: accept today's findings as known.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::scan::{collect, Target};
use super::Status;
use skguard::suppress::Baseline;

#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub target: Target,
    /// Where to write the baseline.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

pub fn run(args: BaselineArgs) -> Result<Status> {
    let collected = collect(&args.target, None)?;
    let text = Baseline::render(&collected.findings);
    std::fs::write(&args.output, text)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    if !super::quiet() {
        eprintln!(
            "skguard: wrote {} {} to {}",
            collected.summary.distinct_keys,
            if collected.summary.distinct_keys == 1 {
                "fingerprint"
            } else {
                "fingerprints"
            },
            args.output.display()
        );
    }
    // An incomplete scan makes an incomplete baseline: say so with the status.
    Ok(if collected.summary.unreadable > 0 {
        Status::Incomplete
    } else {
        Status::Clean
    })
}
