//! `skguard scan`: find keys, suppress what is allowed, report, and say how it went.

use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use super::{parse_size, stdout_color, Status};
use skguard::api::stage;
use skguard::findings::{Finding, VerificationStatus};
use skguard::pipeline::{self, Flags, Mode, ScanRequest};
use skguard::report::{self, Format, HumanOptions, Report, UriBase};
use skguard::sources::progress::Display;
use skguard::sources::{self, git, WalkOptions};

/// What to scan and with which rules: shared by `scan` and `baseline`.
#[derive(Debug, Args)]
pub struct Target {
    /// Files and folders to scan ("-" reads standard input).
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Also scan what .gitignore and .ignore files exclude.
    #[arg(long)]
    pub no_ignore: bool,
    /// Follow symbolic links (loops are detected and skipped).
    #[arg(long)]
    pub follow: bool,
    /// Skip files (and blobs, in git modes) larger than SIZE (like 500K, 10M, 1G); said in the summary.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_file_size: Option<u64>,
    /// Open archives and compressed files (zip, jar, gzip, tar, …) nested up to N deep; 0 opens
    /// none.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub archive_depth: u32,
    /// Configuration file [default: .skguard.toml at the work-tree root of the repository scanned
    /// (for --staged the index's copy, for --range the base commit's), else in the scanned folder].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Worker threads [default: one per core].
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub threads: usize,
    /// The repository at PATH: what is staged, keys new relative to HEAD (the pre-commit hook).
    #[arg(long, conflicts_with_all = ["git", "range", "no_ignore", "follow"])]
    pub staged: bool,
    /// The history of the repository at PATH: every commit reachable from any ref.
    #[arg(long, conflicts_with = "range")]
    pub git: bool,
    /// Only the commits of B not in A (as `git rev-list A..B`); A may be the null id (a new branch).
    #[arg(long, value_name = "A..B")]
    pub range: Option<String>,
    /// The default branch, for a range whose base is the null id (a new branch): its commits are
    /// not scanned again [default: origin/HEAD, origin/main, origin/master, main, master].
    #[arg(long, value_name = "REF")]
    pub default_branch: Option<String>,
    /// Show progress on stderr even when it is not a terminal.
    #[arg(long)]
    pub progress: bool,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub target: Target,
    /// Output format, optionally to its own file: human, json, jsonl, sarif (code scanning), github
    /// (workflow annotations, and the step summary when GITHUB_STEP_SUMMARY is set). Repeat it to
    /// write several formats in one run; at most one goes to standard output.
    #[arg(long = "format", value_name = "FMT[=FILE]")]
    pub formats: Vec<String>,
    /// Where the (single) format goes.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Which findings make the exit status 1.
    #[arg(long, value_enum, default_value_t = FailOn::Any)]
    pub fail_on: FailOn,
    /// Findings whose fingerprints are listed in FILE (written by `skguard baseline`) are not
    /// reported.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Print whole keys (human, json and jsonl only). Keys are redacted by default.
    #[arg(long)]
    pub show_secret: bool,
    /// Check every distinct key found against the key-management API.
    #[arg(long)]
    pub verify: bool,
    /// Revoke compromised live keys (implies --verify). Refused with --staged and --no-ignore: a
    /// key that has not left the machine is blocked, not revoked.
    #[arg(long)]
    pub revoke: bool,
    /// With --revoke: say what would be revoked, send no DELETE.
    #[arg(long, requires = "revoke")]
    pub dry_run: bool,
    #[command(flatten)]
    pub api: super::api::ApiArgs,
    /// Human output: show the source text around each raw finding, every key in it redacted
    /// (auto: only when standard output is a terminal, never in CI logs, files or pipes).
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ContextWhen::Auto)]
    pub context: ContextWhen,
    /// For the GitHub Action: append its outputs (counts, and the SARIF file when written) to FILE.
    #[arg(long, value_name = "FILE", hide = true)]
    pub github_output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ContextWhen {
    /// When standard output is a terminal.
    Auto,
    /// Always, in a file too.
    Always,
    /// Never.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Any finding.
    Any,
    /// Findings of live keys.
    Live,
    /// Findings of keys the API says work (active or restricted); needs --verify.
    Active,
    /// Never: report only.
    None,
}

impl FailOn {
    fn fails(self, finding: &Finding) -> bool {
        match self {
            FailOn::Any => true,
            FailOn::Live => finding.kind.is_live(),
            FailOn::Active => finding.verification.as_ref().is_some_and(|v| {
                matches!(
                    v.status,
                    VerificationStatus::Active | VerificationStatus::Restricted
                )
            }),
            FailOn::None => false,
        }
    }
}

/// Findings after suppression, with the summary of how they were found.
pub use skguard::pipeline::Collected;

/// The exit status of `collected`: incomplete first, then whether a finding `fails`.
pub fn status(collected: &Collected, fails: impl Fn(&Finding) -> bool) -> Status {
    if collected.is_incomplete() {
        Status::Incomplete
    } else if collected.findings.iter().any(fails) {
        Status::Findings
    } else {
        Status::Clean
    }
}

impl Target {
    /// The request the pipeline runs: the flags resolved once into a mode.
    pub fn request(&self, baseline: Option<&Path>) -> Result<ScanRequest> {
        let flags = Flags {
            paths: self.paths.clone(),
            staged: self.staged,
            git: self.git,
            range: self.range.clone(),
            no_ignore: self.no_ignore,
            follow: self.follow,
        };
        let display = if std::io::stderr().is_terminal() {
            Display::Terminal
        } else if self.progress {
            Display::Lines
        } else {
            Display::Hidden
        };
        let mode = Mode::resolve(&flags)?;
        if let Mode::Staged(path) | Mode::History(path, _) = &mode {
            if path.is_file() {
                eprintln!(
                    "skguard: warning: {} reads the whole repository that holds {}: a file does \
                     not narrow it",
                    mode.flag(),
                    skguard::printable::printable(&path.display().to_string())
                );
            }
        }
        if self.default_branch.is_some() && self.range.is_none() {
            eprintln!(
                "skguard: warning: --default-branch is used only with --range (for a null base): ignored"
            );
        }
        Ok(ScanRequest {
            mode,
            default_branch: self.default_branch.clone(),
            config: self.config.clone(),
            baseline: baseline.map(Path::to_path_buf),
            config_baseline: true,
            walk: WalkOptions {
                no_ignore: self.no_ignore,
                follow: self.follow,
                max_file_size: self.max_file_size,
                threads: self.threads,
                archive: sources::archive::Limits {
                    depth: self.archive_depth,
                    ..Default::default()
                },
            },
            threads: self.threads,
            progress: display,
        })
    }
}

/// Scans `target` and applies inline markers, the configuration's allowlist and baselines.
pub fn collect(request: &ScanRequest) -> Result<Collected> {
    use pipeline::PipelineError as E;
    // Each cause keeps its own type, so `cli::report_error` says a git error once, in words.
    pipeline::collect(request).map_err(|e| match e {
        E::Request(e) => anyhow::Error::new(e),
        E::Config(e) => anyhow::Error::new(e),
        E::Rule(e) => anyhow::Error::new(e),
        E::Git(e) => anyhow::Error::new(e),
        E::Io(what, e) => anyhow::Error::new(e).context(format!("cannot read {what}")),
    })
}

/// Where each requested format goes: `None` is standard output.
fn outputs(formats: &[String], output: Option<&Path>) -> Result<Vec<(Format, Option<PathBuf>)>> {
    let mut outputs = Vec::new();
    for spec in formats {
        let (name, file) = match spec.split_once('=') {
            Some((name, file)) if !file.is_empty() => (name, Some(PathBuf::from(file))),
            Some((name, _)) => bail!("--format {name}=: the file name is missing"),
            None => (spec.as_str(), None),
        };
        let format: Format = name.parse().map_err(anyhow::Error::msg)?;
        outputs.push((format, file));
    }
    if outputs.is_empty() {
        outputs.push((Format::Human, None));
    }
    if let Some(file) = output {
        let to_stdout: Vec<usize> = (0..outputs.len())
            .filter(|&i| outputs[i].1.is_none())
            .collect();
        match to_stdout.as_slice() {
            [only] => outputs[*only].1 = Some(file.to_path_buf()),
            [] => bail!("-o/--output: every --format already names its own file"),
            _ => bail!("-o/--output takes one format; give the others their own file with --format FMT=FILE"),
        }
    }
    if outputs.iter().filter(|(_, file)| file.is_none()).count() > 1 {
        bail!("at most one --format can go to standard output; give the others a file with --format FMT=FILE");
    }
    let mut files: Vec<&PathBuf> = outputs.iter().filter_map(|(_, f)| f.as_ref()).collect();
    files.sort();
    if files.windows(2).any(|w| w[0] == w[1]) {
        bail!("two formats cannot be written to the same file");
    }
    Ok(outputs)
}

/// Writes `report` in every requested format.
pub fn write_outputs(outputs: &[(Format, Option<PathBuf>)], report: &Report<'_>) -> Result<()> {
    if outputs.iter().any(|(f, _)| *f == Format::Github) {
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
            let mut file = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| {
                    format!(
                        "cannot append to GITHUB_STEP_SUMMARY ({})",
                        Path::new(&path).display()
                    )
                })?;
            file.write_all(report::github::summary_markdown(report).as_bytes())?;
        }
    }
    for (format, file) in outputs {
        match file {
            None => {
                let stdout = io::stdout();
                let mut out = BufWriter::new(stdout.lock());
                report::write(
                    *format,
                    report,
                    &mut out,
                    *format == Format::Human && stdout_color(),
                )?;
                out.flush()?;
            }
            Some(path) => {
                let file = File::create(path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                let mut out = BufWriter::new(file);
                // A file never carries source text unless --context always asks for it.
                let human = HumanOptions {
                    context: report.human.context_in_files,
                    width: 80,
                    ..report.human.clone()
                };
                let report = &Report { human, ..*report };
                report::write(*format, report, &mut out, false)
                    .and_then(|()| out.flush())
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// What reported paths are relative to, for SARIF's repository-relative URIs: the work tree's root
/// in git modes, the one folder scanned, else the current folder (paths as typed).
fn uri_base(mode: &Mode) -> Option<UriBase> {
    match mode {
        Mode::Staged(path) | Mode::History(path, _) => git::open(path)
            .ok()
            .map(|repo| UriBase::for_people(&git::root(&repo), Some(path))),
        Mode::Paths(paths) => match paths.as_slice() {
            [path] if path.is_dir() => Some(UriBase::for_people(path, Some(path))),
            _ => Some(UriBase::for_people(Path::new("."), None)),
        },
        Mode::Stdin => Some(UriBase::for_people(Path::new("."), None)),
    }
}

pub fn run(args: ScanArgs) -> Result<Status> {
    // Check what can be checked before the scan, so a mistake costs nothing.
    let outputs = outputs(&args.formats, args.output.as_deref())?;
    let sarif_file = outputs
        .iter()
        .find(|(f, _)| *f == Format::Sarif)
        .and_then(|(_, file)| file.clone());
    if args.github_output.is_some() {
        let sarif = sarif_file.as_deref().unwrap_or(Path::new(""));
        super::github::check_output_value("sarif-file", &sarif.display().to_string())?;
    }
    if args.revoke && (args.target.staged || args.target.no_ignore) {
        bail!(
            "--revoke is refused with {}: a key that has not left this machine is blocked, not revoked (remove it \
             from the commit; revoke what was pushed with --git or --range)",
            if args.target.staged { "--staged" } else { "--no-ignore" }
        );
    }
    let verify = args.verify || args.revoke;
    if args.fail_on == FailOn::Active && !verify {
        bail!("--fail-on active needs --verify: only the API can tell whether a key is active");
    }
    if args.api.api_base.is_some() && !verify {
        // A warning, not a refusal: the GitHub Action passes one `args` input on every event.
        eprintln!(
            "skguard: warning: --api-base is used only with --verify or --revoke: without them no key is sent \
             anywhere"
        );
    }
    let api = if verify {
        Some((args.api.client()?, args.api.audit()?))
    } else {
        None
    };

    let request = args.target.request(args.baseline.as_deref())?;
    let mut collected = collect(&request)?;
    // Paths in reports: relative to the work tree's root inside one (after the allowlist matched).
    let mut uris = uri_base(&request.mode);
    if let Some(uris) = uris.as_mut() {
        uris.rebase(&mut collected.findings);
    }
    let mut api_incomplete = false;
    if let Some((client, audit)) = &api {
        let options = stage::StageOptions {
            revoke: args.revoke,
            dry_run: args.dry_run,
        };
        api_incomplete = pipeline::verify(
            &mut collected,
            client,
            audit.as_ref(),
            options,
            args.fail_on == FailOn::Active,
        )?;
    }
    let report = Report {
        findings: &collected.findings,
        summary: &collected.summary,
        rules: &collected.rules,
        show_secret: args.show_secret,
        staged: args.target.staged,
        uris: uris.as_ref(),
        human: human_options(args.context),
    };
    let status = status(&collected, |f| args.fail_on.fails(f));
    let status = if api_incomplete {
        Status::Incomplete
    } else {
        status
    };
    let outputs = quiet_outputs(
        outputs,
        super::quiet(),
        status,
        collected.findings.is_empty(),
    );
    write_outputs(&outputs, &report)?;
    if let Some(file) = &args.github_output {
        super::github::write_outputs(file, &collected.findings, sarif_file.as_deref())?;
    }
    Ok(status)
}

/// The human report's layout: source text per `--context`, advice wrapped to the terminal's width
/// (80 columns elsewhere), and the command that verifies this scan's keys again.
fn human_options(context: ContextWhen) -> HumanOptions {
    let terminal = io::stdout().is_terminal();
    let width = terminal
        .then(terminal_size::terminal_size)
        .flatten()
        .map_or(80, |(w, _)| usize::from(w.0).max(40));
    HumanOptions {
        context: match context {
            ContextWhen::Auto => terminal,
            ContextWhen::Always => true,
            ContextWhen::Never => false,
        },
        context_in_files: context == ContextWhen::Always,
        width,
        reverify: Some(reverify_command(std::env::args_os().skip(1))),
    }
}

/// This command line with `--verify` and without `--revoke`/`--dry-run`: it verifies the keys of
/// this scan again and changes nothing. Arguments are quoted for a POSIX shell.
fn reverify_command(args: impl Iterator<Item = std::ffi::OsString>) -> String {
    let mut words = vec!["skguard".to_string()];
    let mut verify = false;
    for arg in args {
        let arg = arg.to_string_lossy().into_owned();
        match arg.as_str() {
            "--revoke" | "--dry-run" => continue,
            "--verify" => verify = true,
            _ => {}
        }
        words.push(arg);
    }
    if !verify {
        words.push("--verify".into());
    }
    words
        .iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_./=:@%+,-".contains(&b));
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// With `-q/--quiet`, a clean run (no finding, exit status 0) writes no human report to standard
/// output; findings, other formats and files are written as always.
fn quiet_outputs(
    outputs: Vec<(Format, Option<PathBuf>)>,
    quiet: bool,
    status: Status,
    no_findings: bool,
) -> Vec<(Format, Option<PathBuf>)> {
    if !(quiet && status == Status::Clean && no_findings) {
        return outputs;
    }
    outputs
        .into_iter()
        .filter(|(format, file)| !(*format == Format::Human && file.is_none()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn formats_go_to_stdout_or_their_own_files() {
        let o = outputs(&[], None).unwrap();
        assert_eq!(o, vec![(Format::Human, None)]);
        let o = outputs(&strings(&["json=a.json", "human"]), None).unwrap();
        assert_eq!(
            o,
            vec![(Format::Json, Some("a.json".into())), (Format::Human, None)]
        );
        let o = outputs(&strings(&["jsonl"]), Some(Path::new("x"))).unwrap();
        assert_eq!(o, vec![(Format::Jsonl, Some("x".into()))]);
        assert!(outputs(&strings(&["json", "human"]), None).is_err());
        assert!(outputs(&strings(&["json=a", "jsonl=a"]), None).is_err());
        assert!(outputs(&strings(&["xml"]), None).is_err());
        assert!(outputs(&strings(&["json="]), None).is_err());
    }

    #[test]
    fn quiet_drops_only_the_human_report_of_a_clean_run_on_stdout() {
        let all = vec![
            (Format::Human, None),
            (Format::Json, Some(PathBuf::from("a.json"))),
        ];
        let only_json = vec![(Format::Json, Some(PathBuf::from("a.json")))];
        assert_eq!(
            quiet_outputs(all.clone(), true, Status::Clean, true),
            only_json
        );
        assert_eq!(quiet_outputs(all.clone(), false, Status::Clean, true), all);
        // Findings (even with --fail-on none) and incomplete answers are still reported.
        assert_eq!(quiet_outputs(all.clone(), true, Status::Clean, false), all);
        assert_eq!(
            quiet_outputs(all.clone(), true, Status::Incomplete, true),
            all
        );
        let human_file = vec![(Format::Human, Some(PathBuf::from("r.txt")))];
        assert_eq!(
            quiet_outputs(human_file.clone(), true, Status::Clean, true),
            human_file
        );
    }
}
