//! The command line. This is the only place that knows about flags and exit statuses:
//! 0 nothing to report, 1 findings, 2 usage, configuration or I/O error or an incomplete answer
//! (2 wins over 1; findings are still reported).

mod api;
mod baseline;
mod github;
mod hook;
mod rules;
mod scan;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keeps secret API keys (sk_live_…, sk_test_…) out of git repositories.
#[derive(Debug, Parser)]
#[command(name = "skguard", version, about, long_about = None, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan files and folders for secret keys.
    Scan(scan::ScanArgs),
    /// Check keys (one a line on standard input) against the key-management API.
    Verify(api::VerifyArgs),
    /// Revoke one key by id; the authorising key comes from SKGUARD_API_KEY or standard input.
    Revoke(api::RevokeArgs),
    /// Write today's findings as a baseline, to accept them as known.
    Baseline(baseline::BaselineArgs),
    /// Install or remove the native git pre-commit hook.
    Hook {
        #[command(subcommand)]
        command: hook::HookCommand,
    },
    /// The rules in force.
    Rules {
        #[command(subcommand)]
        command: rules::RulesCommand,
    },
    /// For the GitHub Action: a field of the event payload.
    #[command(hide = true)]
    GithubEvent(github::EventArgs),
    /// For the GitHub Action: an input path resolved inside GITHUB_WORKSPACE.
    #[command(hide = true)]
    GithubPath(github::PathArgs),
}

/// How a command ended, as an exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Nothing to report.
    Clean = 0,
    /// Findings (revoked or not).
    Findings = 1,
    /// The answer is incomplete: something could not be read.
    Incomplete = 2,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            if err.use_stderr() && github::format_requested() {
                let detail = err.to_string();
                let message: Vec<&str> = detail
                    .lines()
                    .map(str::trim)
                    .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
                    .filter(|l| !l.is_empty())
                    .collect();
                println!(
                    "{}",
                    skguard::report::github::error_annotation(&message.join(" "))
                );
            }
            return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Scan(args) => scan::run(args),
        Command::Baseline(args) => baseline::run(args),
        Command::Verify(args) => api::run_verify(args),
        Command::Revoke(args) => api::run_revoke(args),
        Command::Hook { command } => hook::run(command),
        Command::Rules { command } => rules::run(command),
        Command::GithubEvent(args) => github::run_event(args),
        Command::GithubPath(args) => github::run_path(args),
    };
    match result {
        Ok(status) => ExitCode::from(status as u8),
        Err(err) => {
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                // The reader went away (`skguard scan | head`): nothing more to say to it.
                return ExitCode::from(2);
            }
            eprintln!("skguard: error: {err:#}");
            if github::format_requested() {
                println!(
                    "{}",
                    skguard::report::github::error_annotation(&format!("{err:#}"))
                );
            }
            ExitCode::from(2)
        }
    }
}

/// Whether to colour what goes to standard output: only on a terminal, never with `NO_COLOR`.
fn stdout_color() -> bool {
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// Parses a size: plain bytes, or with a K, M, G or T suffix (powers of 1024; `KB`, `KiB` too).
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (like 500K, 10M, 1G)"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("{text:?} is not a size (like 500K, 10M, 1G)")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("10MB"), Ok(10 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("1X").is_err());
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
