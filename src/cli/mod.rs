//! The command line. This is the only place that knows about flags and exit statuses:
//! 0 nothing to report, 1 findings, 2 usage, configuration or I/O error or an incomplete answer
//! (2 wins over 1; findings are still reported).

mod api;
mod baseline;
mod github;
mod hook;
mod rules;
mod scan;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// Keeps secret API keys (sk_live_…, sk_test_…) out of git repositories.
#[derive(Debug, Parser)]
#[command(name = "skguard", version, about, long_about = None, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes, before or after its name.
#[derive(Debug, Clone, Copy, Default, Args)]
#[command(next_help_heading = "Global options")]
struct Global {
    /// When to colour the output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto,
          hide_possible_values = true, overrides_with = "no_color")]
    color: ColorWhen,
    /// The same as --color never.
    #[arg(long, global = true, overrides_with = "color")]
    no_color: bool,
    /// Print nothing when all is well (a clean scan, a baseline written): findings, warnings and
    /// errors are still printed.
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
enum ColorWhen {
    #[default]
    Auto,
    Always,
    Never,
}

/// The global options of this run, set once when the command line is parsed.
#[derive(Debug, Clone, Copy, Default)]
struct Settings {
    /// `--color`/`--no-color`, the last one given winning (clap keeps both when one is given
    /// before the command and the other after it).
    color: ColorWhen,
    quiet: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

fn settings() -> Settings {
    SETTINGS.get().copied().unwrap_or_default()
}

/// `-q/--quiet`: say nothing when all is well.
fn quiet() -> bool {
    settings().quiet
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
    /// Print a shell completion script (bash: `skguard completions bash >
    /// ~/.local/share/bash-completion/completions/skguard`).
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (`skguard man | man -l -`; `skguard man scan` for a command's own
    /// page), or write every page to a folder with --dir.
    Man {
        /// The command whose page to print, like `scan` or `hook install` [default: skguard itself].
        #[arg(value_name = "COMMAND")]
        command: Vec<String>,
        /// Write skguard.1 and a page for every command (skguard-scan.1 …) to DIR.
        #[arg(long, value_name = "DIR", conflicts_with = "command")]
        dir: Option<PathBuf>,
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
    let args: Vec<OsString> = std::env::args_os().collect();
    let color = color_in_args(&args);
    let mut command = Cli::command().color(clap_color(color));
    let cli = match command
        .try_get_matches_from_mut(&args)
        .and_then(|matches| Cli::from_arg_matches(&matches))
    {
        Ok(cli) => cli,
        Err(err) => {
            let err = better_suggestion(err.format(&mut command), &command, &args);
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
    let _ = SETTINGS.set(Settings {
        color,
        quiet: cli.global.quiet,
    });
    let result = match cli.command {
        Command::Scan(args) => scan::run(args),
        Command::Baseline(args) => baseline::run(args),
        Command::Verify(args) => api::run_verify(args),
        Command::Revoke(args) => api::run_revoke(args),
        Command::Hook { command } => hook::run(command),
        Command::Rules { command } => rules::run(command),
        Command::Completions { shell } => completions(shell),
        Command::Man { command, dir } => man(&command, dir),
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
            // Errors may quote scanned data (paths, configuration lines): never a key, never a
            // raw control character.
            let text = skguard::printable::printable_lines(&error_text(&err));
            eprintln!("skguard: error: {text}");
            if github::format_requested() {
                println!("{}", skguard::report::github::error_annotation(&text));
            }
            ExitCode::from(2)
        }
    }
}

/// An error as one line: each cause once (a cause that its wrapper already quotes is not repeated),
/// git errors in words (what went wrong and what to do, not libgit2's class and code).
fn error_text(err: &anyhow::Error) -> String {
    use skguard::printable::printable;
    use skguard::sources::git::GitError;
    use skguard::sources::git_errors::describe;
    let mut text = String::new();
    for cause in err.chain() {
        let part = match cause.downcast_ref::<GitError>() {
            // A path, a revision or libgit2's message may hold anything: printable.
            Some(GitError::NotARepository { path, source }) => {
                printable(&describe(source, path)).into_owned()
            }
            Some(GitError::Git { what, source }) => printable(&describe(source, what)).into_owned(),
            // A git2 error that no GitError wraps: its message, without libgit2's class and code.
            _ => match cause.downcast_ref::<git2::Error>() {
                Some(e) => e.message().to_string(),
                None => cause.to_string(),
            },
        };
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
        if cause.is::<GitError>() {
            // Its source (the git2 error) is what `describe` has just put in words.
            break;
        }
    }
    text
}

/// `skguard completions SHELL`.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<Status> {
    // Into memory first: clap_complete panics on a failed write (`skguard completions bash | head`).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "skguard", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(Status::Clean)
}

/// `skguard man [COMMAND...]` and `skguard man --dir DIR`.
fn man(path: &[String], dir: Option<PathBuf>) -> anyhow::Result<Status> {
    use anyhow::Context;
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    if let Some(dir) = dir {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let written = write_man_pages(&root, &dir)
            .with_context(|| format!("cannot write the manual pages to {}", dir.display()))?;
        if !quiet() {
            eprintln!("skguard: wrote {written} manual pages to {}", dir.display());
        }
        return Ok(Status::Clean);
    }
    let mut command = &root;
    for name in path {
        command = command.find_subcommand(name).with_context(|| {
            // The action's internal commands are hidden: they are not offered here either.
            let names: Vec<&str> = command
                .get_subcommands()
                .filter(|c| !c.is_hide_set())
                .map(|c| c.get_name())
                .collect();
            format!(
                "skguard man: no command {name:?} here (the commands are {})",
                names.join(", ")
            )
        })?;
    }
    let mut out = std::io::stdout().lock();
    man_page(command).render(&mut out)?;
    out.flush()?;
    Ok(Status::Clean)
}

/// The manual page of `command` (skguard, or one of its commands: `skguard-scan`).
fn man_page(command: &clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(command.clone())
        .source(format!("skguard {}", env!("CARGO_PKG_VERSION")))
        .manual("skguard")
}

/// Writes the pages of `command` and of every command under it to `dir`; returns how many.
fn write_man_pages(command: &clap::Command, dir: &std::path::Path) -> std::io::Result<usize> {
    let mut written = 0;
    for sub in command.get_subcommands().filter(|c| !c.is_hide_set()) {
        written += write_man_pages(sub, dir)?;
    }
    man_page(command).generate_to(dir)?;
    Ok(written + 1)
}

/// The `--color`/`--no-color` of the command line, read before clap parses it so that clap's own
/// help and errors follow it too. The last one wins, as in parsing.
fn color_in_args(args: &[OsString]) -> ColorWhen {
    let mut when = ColorWhen::Auto;
    let mut args = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        let value = match arg.as_ref() {
            "--" => break,
            "--no-color" => Some(ColorWhen::Never),
            "--color" => args
                .next()
                .and_then(|v| ColorWhen::from_str(&v, false).ok()),
            other => other
                .strip_prefix("--color=")
                .and_then(|v| ColorWhen::from_str(v, false).ok()),
        };
        when = value.unwrap_or(when);
    }
    when
}

fn clap_color(when: ColorWhen) -> clap::ColorChoice {
    match when {
        ColorWhen::Auto => clap::ColorChoice::Auto,
        ColorWhen::Always => clap::ColorChoice::Always,
        ColorWhen::Never => clap::ColorChoice::Never,
    }
}

/// clap's error for an unknown flag, with a suggestion only when one is really close (clap's own
/// similarity offers `--revoke` for `--verbose` and `--follow` for `--color`), and the command's
/// plain usage rather than one built around a suggested flag.
fn better_suggestion(mut err: clap::Error, root: &clap::Command, args: &[OsString]) -> clap::Error {
    if err.kind() != ErrorKind::UnknownArgument {
        return err;
    }
    let Some(ContextValue::String(invalid)) = err.get(ContextKind::InvalidArg) else {
        return err;
    };
    let Some(name) = invalid.strip_prefix("--") else {
        return err;
    };
    let name = name.split('=').next().unwrap_or(name).to_string();
    let mut root = root.clone();
    root.build();
    // The (sub)command being parsed: its names, in order, among the arguments.
    let mut command = &root;
    for arg in args.iter().skip(1).map(|a| a.to_string_lossy()) {
        if arg == "--" {
            break;
        }
        if let Some(sub) = command.find_subcommand(arg.as_ref()) {
            command = sub;
        }
    }
    let mut flags: Vec<&str> = command
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .collect();
    flags.push("help");
    match nearest(&name, &flags) {
        Some(flag) => err.insert(
            ContextKind::SuggestedArg,
            ContextValue::String(format!("--{flag}")),
        ),
        None => err.remove(ContextKind::SuggestedArg),
    };
    err.insert(
        ContextKind::Usage,
        ContextValue::StyledStr(command.clone().render_usage()),
    );
    err
}

/// The candidate closest to `name`, if it is really close: an edit distance of at most a third of
/// its length (at least 1), so `--colour` finds `--color` and `--stagged` finds `--staged`, but
/// `--verbose` finds nothing.
fn nearest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), *c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1))
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance, counting an adjacent transposition as one edit (`fromat`, `format`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: the distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Whether to colour what goes to standard output: `--color`, and in auto only on a terminal, never
/// with `NO_COLOR` (or TERM=dumb).
fn stdout_color() -> bool {
    decide_color(
        settings().color,
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        std::env::var("TERM").is_ok_and(|t| t == "dumb"),
    )
}

fn decide_color(when: ColorWhen, terminal: bool, no_color: bool, dumb: bool) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => terminal && !no_color && !dumb,
    }
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
        Cli::command().debug_assert();
    }

    fn args(items: &[&str]) -> Vec<OsString> {
        items.iter().map(OsString::from).collect()
    }

    #[test]
    fn color_is_read_from_the_command_line_the_last_one_winning() {
        assert_eq!(color_in_args(&args(&["skguard", "scan"])), ColorWhen::Auto);
        assert_eq!(
            color_in_args(&args(&["skguard", "--color", "always", "scan"])),
            ColorWhen::Always
        );
        assert_eq!(
            color_in_args(&args(&["skguard", "scan", "--color=never"])),
            ColorWhen::Never
        );
        assert_eq!(
            color_in_args(&args(&["skguard", "--color=always", "scan", "--no-color"])),
            ColorWhen::Never
        );
        assert_eq!(
            color_in_args(&args(&["skguard", "scan", "--", "--no-color"])),
            ColorWhen::Auto
        );
        assert_eq!(
            color_in_args(&args(&[
                "skguard",
                "--no-color",
                "scan",
                "--color",
                "always"
            ])),
            ColorWhen::Always
        );
        // What clap accepts: both spellings, before and after the command.
        for line in [
            &["skguard", "--no-color", "scan", "--color", "always"][..],
            &["skguard", "scan", "--color=never", "--no-color", "-q"],
        ] {
            let cli = Cli::try_parse_from(args(line)).unwrap();
            assert!(cli.global.no_color);
        }
    }

    #[test]
    fn an_error_is_said_once_and_git_errors_in_words() {
        use skguard::sources::git::GitError;
        // A cause that its wrapper already quotes is not repeated.
        let io = std::io::Error::other("disk on fire");
        let err = anyhow::Error::new(io).context("cannot read a.txt: disk on fire");
        assert_eq!(error_text(&err), "cannot read a.txt: disk on fire");
        let io = std::io::Error::other("disk on fire");
        let err = anyhow::Error::new(io).context("cannot read a.txt");
        assert_eq!(error_text(&err), "cannot read a.txt: disk on fire");
        // GitError quotes its git2 source in its Display: said once, in words.
        let source = git2::Error::new(
            git2::ErrorCode::NotFound,
            git2::ErrorClass::Reference,
            "revspec 'nope' not found",
        );
        let err = anyhow::Error::new(GitError::Git {
            what: "range base \"nope\"".into(),
            source,
        });
        let text = error_text(&err);
        assert!(
            text.starts_with("range base \"nope\" is not a commit"),
            "{text}"
        );
        assert_eq!(text.matches("nope").count(), 1, "{text}");
        assert!(!text.contains("class="), "{text}");
        let source = git2::Error::new(
            git2::ErrorCode::NotFound,
            git2::ErrorClass::Repository,
            "could not find repository at '/x'",
        );
        let err = anyhow::Error::new(GitError::NotARepository {
            path: "/x\u{1b}[2J".into(),
            source,
        });
        let text = error_text(&err);
        assert!(
            text.starts_with("/x\\x1b[2J is not a git repository, nor in one"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "{text}");
    }

    #[test]
    fn color_decision() {
        use ColorWhen::*;
        assert!(decide_color(Auto, true, false, false));
        assert!(!decide_color(Auto, true, true, false), "NO_COLOR in auto");
        assert!(!decide_color(Auto, true, false, true), "TERM=dumb in auto");
        assert!(!decide_color(Auto, false, false, false), "not a terminal");
        assert!(
            decide_color(Always, false, true, true),
            "always wins over NO_COLOR"
        );
        assert!(!decide_color(Never, true, false, false));
    }

    #[test]
    fn suggestions_only_when_close() {
        let flags = [
            "revoke", "verify", "follow", "color", "staged", "format", "no-color",
        ];
        assert_eq!(nearest("verbose", &flags), None);
        assert_eq!(nearest("colour", &flags), Some("color"));
        assert_eq!(nearest("stagged", &flags), Some("staged"));
        assert_eq!(nearest("fromat", &flags), Some("format"));
        assert_eq!(nearest("no-colour", &flags), Some("no-color"));
        assert_eq!(nearest("colr", &flags), Some("color"));
        assert_eq!(nearest("xyz", &flags), None);
        assert_eq!(edit_distance("verbose", "revoke"), 4);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }
}
