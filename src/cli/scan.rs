//! `skguard scan`: find keys, suppress what is allowed, report, and say how it went.

use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use super::{parse_size, stdout_color, Status};
use skguard::api::stage;
use skguard::config::{self, Config};
use skguard::findings::{self, Finding, RevocationStatus, VerificationStatus};
use skguard::matching::Matcher;
use skguard::printable::printable;
use skguard::report::{self, Format, HumanOptions, Report, Summary, UriBase};
use skguard::rules::RuleSet;
use skguard::sources::progress::{Display, Progress};
use skguard::sources::{self, git, Scan, WalkOptions};
use skguard::suppress::{self, Allowlist, Baseline};

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
    /// Skip files larger than SIZE (like 500K, 10M, 1G); said in the summary.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_file_size: Option<u64>,
    /// Open archives and compressed files (zip, jar, gzip, tar, …) nested up to N deep; 0 opens
    /// none.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub archive_depth: u32,
    /// Configuration file [default: .skguard.toml at the root of what is scanned, if present].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Worker threads [default: one per core].
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub threads: usize,
    /// The repository at PATH: what is staged, keys new relative to HEAD (the pre-commit hook).
    #[arg(long, conflicts_with_all = ["git", "range", "no_ignore", "follow", "max_file_size"])]
    pub staged: bool,
    /// The history of the repository at PATH: every commit reachable from any ref.
    #[arg(long)]
    pub git: bool,
    /// Only the commits of B not in A (as `git rev-list A..B`); A may be the null id (a new branch).
    #[arg(long, value_name = "A..B", conflicts_with_all = ["no_ignore", "follow"])]
    pub range: Option<String>,
    /// The default branch, for a range whose base is the null id (a new branch): its commits are
    /// not scanned again [default: origin/HEAD, origin/main, origin/master, main, master].
    #[arg(long, value_name = "REF")]
    pub default_branch: Option<String>,
    /// Show progress on stderr even when it is not a terminal.
    #[arg(long)]
    pub progress: bool,
}

impl Target {
    /// How archives are opened.
    fn archive_limits(&self) -> sources::archive::Limits {
        sources::archive::Limits {
            depth: self.archive_depth,
            ..Default::default()
        }
    }

    fn progress(&self, what: &'static str) -> Progress {
        let display = if std::io::stderr().is_terminal() {
            Display::Terminal
        } else if self.progress {
            Display::Lines
        } else {
            Display::Hidden
        };
        Progress::start(display, what)
    }

    /// The repository folder of a git mode: the one PATH given.
    fn repository(&self) -> Result<&Path> {
        match self.paths.as_slice() {
            [path] if path.as_os_str() != "-" => Ok(path),
            _ => bail!("--staged, --git and --range take one PATH: the repository"),
        }
    }
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
            FailOn::Live => finding.kind == "live",
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
pub struct Collected {
    pub rules: RuleSet,
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

impl Collected {
    pub fn status(&self, fails: impl Fn(&Finding) -> bool) -> Status {
        if self.summary.unreadable > 0 {
            Status::Incomplete
        } else if self.findings.iter().any(fails) {
            Status::Findings
        } else {
            Status::Clean
        }
    }
}

/// Scans `target` and applies inline markers, the configuration's allowlist and `baseline`.
/// Unreadable paths and warnings go to stderr as they are known.
pub fn collect(target: &Target, baseline: Option<&Path>) -> Result<Collected> {
    if target.git || target.range.is_some() || target.staged {
        collect_git(target, baseline)
    } else {
        collect_files(target, baseline)
    }
}

fn collect_git(target: &Target, baseline: Option<&Path>) -> Result<Collected> {
    let started = Instant::now();
    if target.threads > 0 {
        // History scans run on rayon's pool; a second call (there is none) would only be refused.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(target.threads)
            .build_global();
    }
    let mut repo = git::open(target.repository()?)?;
    no_commits_yet(&repo, target)?;
    let (config, origin) = match &target.config {
        Some(path) => (Config::load(path)?, path.display().to_string()),
        None => git_config(&repo, target)?,
    };
    let (matcher, allowlist) = prepare(config, &origin)?;
    let progress = target.progress("blobs");
    let mut incomplete = Vec::new();
    let scan = if target.staged {
        git::scan_staged(&mut repo, &matcher, &target.archive_limits(), &progress)?
    } else {
        let commits = match &target.range {
            Some(range) => {
                let (base, tip) = git::parse_range(range)?;
                git::Commits::Range {
                    base: base.into(),
                    tip: tip.into(),
                    default_branch: target.default_branch.clone(),
                }
            }
            None => git::Commits::All,
        };
        let (mut scan, walked) = git::scan_history(
            &repo,
            &matcher,
            &commits,
            &target.archive_limits(),
            &progress,
        )?;
        incomplete.extend(git_incomplete(&walked));
        // History reports only paths with findings: the keys in those paths are findings too.
        sources::path_keys::add_for_hits(&mut scan.hits, &matcher);
        scan
    };
    progress.finish();
    let keep_inline = target.range.is_some();
    finish(
        matcher,
        allowlist,
        baseline,
        scan,
        incomplete,
        keep_inline,
        started,
    )
}

fn collect_files(target: &Target, baseline: Option<&Path>) -> Result<Collected> {
    let started = Instant::now();
    let stdin = target.paths.iter().any(|p| p.as_os_str() == "-");
    if stdin && target.paths.len() > 1 {
        bail!("\"-\" (standard input) cannot be scanned together with other paths");
    }
    let config_path = match &target.config {
        Some(path) => Some(path.clone()),
        None => match target.paths.as_slice() {
            [root] if root.is_dir() => Some(root.join(config::FILE_NAME)).filter(|p| p.is_file()),
            _ => None,
        },
    };
    let config = match &config_path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let origin = config_path.as_deref().map_or_else(
        || config::FILE_NAME.to_string(),
        |p| p.display().to_string(),
    );
    let (matcher, allowlist) = prepare(config, &origin)?;
    let scan = if stdin {
        sources::scan_reader(&matcher, "-", &mut io::stdin().lock())
    } else {
        let options = WalkOptions {
            no_ignore: target.no_ignore,
            follow: target.follow,
            max_file_size: target.max_file_size,
            threads: target.threads,
            archive: target.archive_limits(),
        };
        let progress = target.progress("files");
        let scan = sources::scan_paths(&matcher, &target.paths, &options, &progress);
        progress.finish();
        scan
    };
    finish(
        matcher,
        allowlist,
        baseline,
        scan,
        Vec::new(),
        false,
        started,
    )
}

/// A repository with no commits yet has no history: `--range` cannot be resolved there (an error),
/// and `--git` has nothing to scan (said on stderr). `--staged` is the first commit being made.
fn no_commits_yet(repo: &git2::Repository, target: &Target) -> Result<()> {
    // No commit anywhere: HEAD is unborn and no ref names a commit (libgit2's `is_empty` also
    // wants HEAD on its own idea of the default branch name).
    let unborn = repo
        .head()
        .is_err_and(|e| e.code() == git2::ErrorCode::UnbornBranch);
    let no_refs = repo
        .references()
        .is_ok_and(|mut refs| refs.next().is_none());
    if target.staged || !(unborn && no_refs) {
        return Ok(());
    }
    let path =
        skguard::printable::printable(&target.repository()?.display().to_string()).into_owned();
    if target.range.is_some() {
        bail!(
            "{path}: no commits yet: a range needs commits to compare; commit first, or scan the files with \
             `skguard scan {path}`"
        );
    }
    eprintln!("skguard: note: {path}: no commits yet: there is no history to scan");
    Ok(())
}

/// The configuration a git mode trusts: the index's copy for `--staged`; for `--range`, the copy in
/// the range's base commit, so a pull request cannot allowlist its own leak (for a new branch, the
/// remote's default branch); for `--git`, the work tree's copy, else HEAD's.
fn git_config(repo: &git2::Repository, target: &Target) -> Result<(Config, String)> {
    let name = config::FILE_NAME;
    let (text, origin) = if target.staged {
        (
            git::staged_file(repo, name)?,
            format!(":{name} (the index)"),
        )
    } else if let Some(range) = &target.range {
        let (base, tip) = git::parse_range(range)?;
        let resolved = git::resolve_range(repo, base, tip, target.default_branch.as_deref())?;
        let default = resolved.default.as_ref().map(|(_, id)| *id);
        // A new branch trusts the default branch's copy (the tip's own, on its first push).
        let default = default.or(resolved.tip_is_default.then_some(resolved.tip));
        match resolved.base.or(default) {
            Some(id) => (git::commit_file(repo, id, name), format!("{id}:{name}")),
            None => {
                eprintln!(
                    "skguard: note: no repository configuration is used: the range's base is {} and no \
                     default branch is known to take {name} from (--default-branch REF names it)",
                    if resolved.missing_base.is_some() { "missing" } else { "the null id" }
                );
                (None, name.to_string())
            }
        }
    } else {
        let on_disk = git::root(repo).join(name);
        if on_disk.is_file() {
            (
                Some(
                    fs::read(&on_disk)
                        .with_context(|| format!("cannot read {}", on_disk.display()))?,
                ),
                on_disk.display().to_string(),
            )
        } else {
            let head = repo
                .head()
                .ok()
                .and_then(|h| h.peel_to_commit().ok())
                .map(|c| c.id());
            (
                head.and_then(|id| git::commit_file(repo, id, name)),
                format!("HEAD:{name}"),
            )
        }
    };
    let config = match text {
        Some(text) => Config::parse(&String::from_utf8_lossy(&text), &origin)?,
        None => Config::default(),
    };
    Ok((config, origin))
}

/// What a history or range scan could not see: a missing base, commits past a shallow boundary.
fn git_incomplete(walked: &git::Walked) -> Vec<String> {
    let mut incomplete = Vec::new();
    let range = walked.range.as_ref();
    if let Some(missing) = range.and_then(|r| r.missing_base.as_ref()) {
        incomplete.push(format!(
            "the range base {missing} is not in this clone (a shallow clone, or a force push): every commit of \
             the range end that is here was scanned instead, so this answer may hold findings that are not new \
             and is incomplete. Fetch the whole history for an exact answer: `fetch-depth: 0` in \
             actions/checkout, or `git fetch --unshallow`"
        ));
    }
    if !walked.shallow.is_empty() {
        let mut named: Vec<&str> = walked.shallow.iter().take(5).map(String::as_str).collect();
        if walked.shallow.len() > 5 {
            named.push("…");
        }
        incomplete.push(format!(
            "this is a shallow clone and the commits to scan reach its boundary: the parents of {} are not in \
             this clone, so what they and older commits changed could not be seen. Fetch the whole history: \
             `fetch-depth: 0` in actions/checkout, or `git fetch --unshallow`",
            named.join(", ")
        ));
    }
    if let Some((name, _)) = range.and_then(|r| r.default.as_ref()) {
        eprintln!(
            "skguard: note: a new branch: its commits not reachable from {} were scanned",
            skguard::printable::printable(name)
        );
    } else if range.is_some_and(|r| r.base.is_none() && r.missing_base.is_none()) {
        eprintln!(
            "skguard: note: a new branch that is the default branch itself, or no default branch is known \
             (--default-branch REF): its whole history was scanned"
        );
    }
    incomplete
}

/// The rules in force and the allowlist, from a configuration.
fn prepare(config: Config, origin: &str) -> Result<(Matcher, Allowlist)> {
    let mut rules = RuleSet::builtin();
    rules.extend(config.rules, origin)?;
    let allowlist = Allowlist::compile(&config.allowlist, origin)?;
    Ok((Matcher::new(rules), allowlist))
}

/// From a source's hits to reported findings: inline markers, dedup and order, allowlist, baseline.
fn finish(
    matcher: Matcher,
    allowlist: Allowlist,
    baseline: Option<&Path>,
    scan: Scan,
    incomplete: Vec<String>,
    keep_inline: bool,
    started: Instant,
) -> Result<Collected> {
    let baseline = baseline.map(Baseline::load).transpose()?;
    let Scan {
        hits,
        stats,
        unreadable,
        warnings,
    } = scan;
    for warning in &warnings {
        eprintln!("skguard: warning: {}", printable(warning));
    }
    for problem in &unreadable {
        eprintln!(
            "skguard: cannot read {}: {}",
            printable(&problem.path),
            printable(&problem.error)
        );
    }
    for problem in &incomplete {
        eprintln!("skguard: {}", printable(problem));
    }
    if stats.submodules > 0 {
        eprintln!(
            "skguard: note: {} submodule {} not entered (scan each submodule on its own)",
            stats.submodules,
            if stats.submodules == 1 {
                "entry"
            } else {
                "entries"
            }
        );
    }

    let rules = matcher.rules().clone();
    let mut suppressed = 0u64;
    let mut found = Vec::with_capacity(hits.len());
    let mut inline_suppressed = Vec::new();
    // From the end, giving memory back as it goes: hits and findings are never both whole.
    let mut hits = hits;
    while let Some(hit) = hits.pop() {
        if hits.capacity() > 2 * hits.len() + 4096 {
            hits.shrink_to_fit();
        }
        if hit.located.allowed_inline {
            suppressed += 1;
            if !keep_inline {
                continue;
            }
        }
        let allowed_inline = hit.located.allowed_inline;
        let context = hit.located.context;
        let c = hit.located.candidate;
        let inside = findings::builtin_inside(&rules, c.rule, &c.secret);
        let mut finding = Finding::new(
            rules.get(c.rule),
            c.rule,
            hit.path,
            hit.located.line,
            hit.located.column,
            c.secret,
            c.encoding,
        );
        finding.context = context;
        if let Some(commit) = hit.commit {
            finding.commit = Some(commit.id.as_str().into());
            finding.author = Some(commit.author.as_str().into());
            finding.date = Some(commit.date.as_str().into());
        }
        // A user's rule never hides the built-in finding of a key inside its match.
        if let Some((index, offset)) = inside {
            found.push(finding.as_rule(rules.get(index), index, offset));
        }
        if allowed_inline {
            inline_suppressed.push(finding);
        } else {
            found.push(finding);
        }
    }
    findings::sort_and_dedup(&mut found);
    findings::sort_and_dedup(&mut inline_suppressed);
    suppressed += suppress::apply(&mut found, &allowlist, baseline.as_ref()) as u64;

    // Sorted bits, not a hash set: 8 bytes a finding while a million findings are held.
    let mut distinct: Vec<u64> = found
        .iter()
        .map(|f| findings::fingerprint_bits(&f.fingerprint))
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    let summary = Summary {
        scanned: stats,
        findings: found.len() as u64,
        distinct_keys: distinct.len() as u64,
        suppressed,
        unreadable: (unreadable.len() + incomplete.len()) as u64,
        elapsed_ms: started.elapsed().as_millis() as u64,
        problems: unreadable
            .iter()
            .map(|p| format!("cannot read {}: {}", p.path, p.error))
            .chain(incomplete)
            .collect(),
        inline_suppressed,
    };
    Ok(Collected {
        rules,
        findings: found,
        summary,
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
fn uri_base(target: &Target) -> Option<UriBase> {
    let git_mode = target.git || target.range.is_some() || target.staged;
    match target.paths.as_slice() {
        [path] if git_mode => git::open(path)
            .ok()
            .map(|repo| UriBase::for_people(&git::root(&repo), Some(path))),
        [path] if path.is_dir() => Some(UriBase::for_people(path, Some(path))),
        _ => Some(UriBase::for_people(Path::new("."), None)),
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

    let mut collected = collect(&args.target, args.baseline.as_deref())?;
    // Paths in reports: relative to the work tree's root inside one (after the allowlist matched).
    let mut uris = uri_base(&args.target);
    if let Some(uris) = uris.as_mut() {
        uris.rebase(&mut collected.findings);
    }
    let mut api_incomplete = false;
    if let Some((client, audit)) = &api {
        let options = stage::StageOptions {
            revoke: args.revoke,
            dry_run: args.dry_run,
        };
        stage::run(
            &mut collected.findings,
            &collected.rules,
            client,
            audit.as_ref(),
            options,
        )?;
        for f in &collected.findings {
            if f.revocation
                .as_ref()
                .is_some_and(|r| r.status == RevocationStatus::Failed)
            {
                api_incomplete = true;
                note(
                    &mut collected.summary.problems,
                    "a revocation failed: the key may still work (see the findings)",
                );
            }
            // With --fail-on active, a key that could not be checked leaves the answer open.
            if args.fail_on == FailOn::Active
                && f.verification
                    .as_ref()
                    .is_some_and(|v| v.status == VerificationStatus::Unknown)
            {
                api_incomplete = true;
                note(&mut collected.summary.problems, "the key-management API could not answer for a key, so --fail-on active cannot tell whether it works");
            }
        }
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
    let status = collected.status(|f| args.fail_on.fails(f));
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

/// Adds `message` to what made the answer incomplete, once.
fn note(problems: &mut Vec<String>, message: &str) {
    if !problems.iter().any(|p| p == message) {
        problems.push(message.to_string());
    }
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
