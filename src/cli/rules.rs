//! `skguard rules list`: the rules in force.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use super::Status;
use skguard::config::Config;
use skguard::printable::{printable, redact_keys};
use skguard::rules::RuleSet;

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the rules in force: built-in ones and those of a configuration file.
    List {
        /// Configuration file whose rules are added [default: .skguard.toml at the work-tree root,
        /// else in the current folder, if present: the one a scan from here uses].
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print the rules as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: RulesCommand) -> Result<Status> {
    let RulesCommand::List { config, json } = command;
    let mut rules = RuleSet::builtin();
    // The configuration `skguard scan` run from here uses: the work tree's root first (a run from a
    // subfolder sees the repository's rules), then the current folder.
    let path = config.or_else(|| {
        let root = git2::Repository::discover(".")
            .ok()
            .and_then(|r| r.workdir().map(PathBuf::from));
        root.into_iter()
            .chain([PathBuf::new()])
            .map(|dir| dir.join(skguard::config::FILE_NAME))
            .find(|p| p.is_file())
    });
    if let Some(path) = path {
        let config = Config::load(&path)?;
        rules.extend(config.rules, &path.display().to_string())?;
    }
    let mut out = std::io::stdout().lock();
    if json {
        let list: Vec<serde_json::Value> = rules
            .rules()
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id(), "kind": r.kind(), "name": r.spec.name, "severity": r.spec.severity,
                    "prefixes": r.spec.prefixes, "pattern": r.spec.pattern, "verified": r.verifiable(),
                    "origin": r.origin.to_string(),
                })
            })
            .collect();
        // A configuration's rules are data from what is scanned: key-shaped text redacted.
        let text = serde_json::to_string_pretty(&list)?;
        skguard::printable::write_json_pretty(
            &mut out,
            &serde_json::from_str::<serde_json::Value>(&redact_keys(&text))?,
        )?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{:<10} {:<6} {:<9} {:<10} {:<9} ORIGIN",
            "ID", "KIND", "SEVERITY", "PREFIXES", "VERIFIED"
        )?;
        for r in rules.rules() {
            writeln!(
                out,
                "{:<10} {:<6} {:<9} {:<10} {:<9} {}",
                printable(r.id()),
                printable(r.kind()),
                r.spec.severity.as_str(),
                printable(&r.spec.prefixes.join(",")),
                if r.verifiable() { "yes" } else { "no" },
                printable(&r.origin.to_string())
            )?;
            writeln!(out, "           {}", printable(&r.spec.description))?;
        }
    }
    Ok(Status::Clean)
}
