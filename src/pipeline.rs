//! The scan pipeline: a [`ScanRequest`] (what the user asked for, resolved once into a [`Mode`]) is
//! run through the stages in order.
//!
//! 1. The trusted configuration is chosen by the mode ([`trusted_config`]): for file scans the
//!    `.skguard.toml` at the work-tree root of the repository that holds what is scanned, else at the
//!    scanned folder; `--staged` the index's copy; `--range` the base commit's copy (for a null base,
//!    the default branch's); `--git` the work tree's (HEAD's in a bare repository). A baseline the
//!    configuration names is read from the same place, so a pull request cannot allowlist or
//!    baseline its own leak.
//! 2. Rules and the allowlist are prepared from it; allowlist path globs match paths relative to the
//!    configuration's folder, however the path is printed.
//! 3. The source runs (files, standard input, the index, history) and gives hits.
//! 4. [`finish`] turns hits into findings: inline markers, order and dedup, allowlist, baseline, and
//!    the summary.
//! 5. The API stage ([`verify`]) checks (and revokes) the keys found, when asked.
//!
//! The command line builds the request from its flags and keeps output routing and exit statuses.

use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use crate::api::{audit::AuditLog, client::ApiClient, stage};
use crate::config::{self, Config, ConfigError};
use crate::findings::{self, Finding, RevocationStatus, VerificationStatus};
use crate::matching::Matcher;
use crate::printable::printable;
use crate::report::Summary;
use crate::rules::RuleSet;
use crate::sources::progress::{Display, Progress};
use crate::sources::{self, git, Scan, WalkOptions};
use crate::suppress::{self, Allowlist, Baseline};

/// Where `skguard baseline` writes by default, at the work-tree root (else the scanned folder); the
/// configuration then names it (`baseline = ".skguard-baseline.json"`).
pub const BASELINE_FILE_NAME: &str = ".skguard-baseline.json";

/// A range `A..B`, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub base: String,
    pub tip: String,
}

impl Range {
    pub fn parse(text: &str) -> Result<Range, git::GitError> {
        let (base, tip) = git::parse_range(text)?;
        Ok(Range {
            base: base.to_string(),
            tip: tip.to_string(),
        })
    }
}

/// Which commits a history scan reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum History {
    /// Every commit reachable from any ref (`--git`).
    All,
    /// The commits of a range (`--range A..B`).
    Range(Range),
}

/// What is scanned, resolved once from the arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Files and folders on disk.
    Paths(Vec<PathBuf>),
    /// Standard input.
    Stdin,
    /// What is staged in the repository at the path (the pre-commit hook).
    Staged(PathBuf),
    /// Commits of the repository at the path.
    History(PathBuf, History),
}

impl Mode {
    /// The flag that chose the mode, to name it in messages.
    pub fn flag(&self) -> &'static str {
        match self {
            Mode::Paths(_) => "a file scan",
            Mode::Stdin => "standard input",
            Mode::Staged(_) => "--staged",
            Mode::History(_, History::All) => "--git",
            Mode::History(_, History::Range(_)) => "--range",
        }
    }

    pub fn is_git(&self) -> bool {
        matches!(self, Mode::Staged(_) | Mode::History(..))
    }
}

/// A request the pipeline can run, built once from the command line (or by a library user).
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub mode: Mode,
    /// `--default-branch REF`: for a range whose base is the null id (a new branch).
    pub default_branch: Option<String>,
    /// `--config FILE`: used instead of the configuration the mode would trust.
    pub config: Option<PathBuf>,
    /// `--baseline FILE`, on top of a baseline the configuration names.
    pub baseline: Option<PathBuf>,
    /// Whether a baseline the configuration names is applied (`skguard baseline` writes one and
    /// must see every finding).
    pub config_baseline: bool,
    /// How files are walked (file scans).
    pub walk: WalkOptions,
    /// Worker threads; 0: one per core.
    pub threads: usize,
    pub progress: Display,
}

/// A request the arguments cannot make: a flag that the mode cannot honour, or a bad mix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

/// The flags of a scan as typed, before they are resolved into a [`ScanRequest`].
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub paths: Vec<PathBuf>,
    pub staged: bool,
    pub git: bool,
    pub range: Option<String>,
    pub no_ignore: bool,
    pub follow: bool,
}

impl Mode {
    /// Resolves the mode from the flags; refuses a flag that the mode cannot honour, naming the mode.
    pub fn resolve(flags: &Flags) -> Result<Mode, RequestError> {
        let repository = || match flags.paths.as_slice() {
            [path] if path.as_os_str() == "-" => Err(RequestError(
                "--staged, --git and --range read a repository, not standard input (\"-\")".into(),
            )),
            [path] => Ok(path.clone()),
            _ => Err(RequestError(
                "--staged, --git and --range take one PATH: the repository".into(),
            )),
        };
        let mode = if flags.staged {
            Mode::Staged(repository()?)
        } else if let Some(range) = &flags.range {
            let range = Range::parse(range).map_err(|e| RequestError(e.to_string()))?;
            Mode::History(repository()?, History::Range(range))
        } else if flags.git {
            Mode::History(repository()?, History::All)
        } else if flags.paths.iter().any(|p| p.as_os_str() == "-") {
            if flags.paths.len() > 1 {
                return Err(RequestError(
                    "\"-\" (standard input) cannot be scanned together with other paths".into(),
                ));
            }
            Mode::Stdin
        } else {
            Mode::Paths(flags.paths.clone())
        };
        if mode.is_git() {
            let refused = [
                (flags.follow, "--follow", "there are no links to follow"),
                (
                    flags.no_ignore,
                    "--no-ignore",
                    "ignore rules do not apply to them",
                ),
            ];
            for (set, flag, why) in refused {
                if set {
                    return Err(RequestError(format!(
                        "{flag} is refused with {}: it reads git's objects, not files on disk, and {why} \
                         (to scan the work tree's files, leave out {})",
                        mode.flag(),
                        mode.flag()
                    )));
                }
            }
        }
        Ok(mode)
    }
}

/// Findings after suppression, with the rules in force and the summary of how they were found.
pub struct Collected {
    pub rules: RuleSet,
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

impl Collected {
    /// Whether the answer is incomplete: something that should have been read was not.
    pub fn is_incomplete(&self) -> bool {
        self.summary.is_incomplete()
    }
}

/// An error of the pipeline, in words.
#[derive(Debug)]
pub enum PipelineError {
    Request(RequestError),
    Config(ConfigError),
    Rule(crate::rules::RuleError),
    Git(git::GitError),
    Io(String, io::Error),
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::Request(e) => e.fmt(f),
            PipelineError::Config(e) => e.fmt(f),
            PipelineError::Rule(e) => e.fmt(f),
            PipelineError::Git(e) => e.fmt(f),
            PipelineError::Io(what, e) => write!(f, "{}: {e}", printable(what)),
        }
    }
}

impl std::error::Error for PipelineError {}

impl From<RequestError> for PipelineError {
    fn from(e: RequestError) -> Self {
        PipelineError::Request(e)
    }
}
impl From<ConfigError> for PipelineError {
    fn from(e: ConfigError) -> Self {
        PipelineError::Config(e)
    }
}
impl From<crate::rules::RuleError> for PipelineError {
    fn from(e: crate::rules::RuleError) -> Self {
        PipelineError::Rule(e)
    }
}
impl From<git::GitError> for PipelineError {
    fn from(e: git::GitError) -> Self {
        PipelineError::Git(e)
    }
}

/// Where a configuration (and the baseline it names) is read from.
enum Place<'r> {
    /// A folder on disk.
    Disk(PathBuf),
    /// The index of a repository.
    Index(&'r git2::Repository),
    /// A commit's tree.
    Commit(&'r git2::Repository, git2::Oid),
}

/// The configuration a mode trusts, where it came from, and the baseline it names (already read).
pub struct Trusted {
    pub config: Config,
    /// The configuration's name in messages.
    pub origin: String,
    /// The folder that holds the configuration on disk (file scans), for allowlist paths.
    pub dir: Option<PathBuf>,
    pub baseline: Option<Baseline>,
}

/// The configuration and baseline a file scan trusts.
fn files_config(paths: &[PathBuf], explicit: Option<&Path>) -> Result<Trusted, PipelineError> {
    if let Some(path) = explicit {
        let config = Config::load(path)?;
        let dir = absolute_dir(path.parent().unwrap_or(Path::new("")));
        return finish_trusted(config, path.display().to_string(), dir.map(Place::Disk));
    }
    let first = paths
        .first()
        .map(PathBuf::as_path)
        .unwrap_or(Path::new("."));
    let scanned_dir = if first.is_dir() {
        first.to_path_buf()
    } else {
        match first.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    };
    let work_tree = git2::Repository::discover(&scanned_dir)
        .ok()
        .and_then(|r| r.workdir().map(Path::to_path_buf));
    let candidates = work_tree.into_iter().chain(match paths {
        [only] if only.is_dir() => Some(only.clone()),
        _ => None,
    });
    for dir in candidates {
        let path = dir.join(config::FILE_NAME);
        if path.is_file() {
            let config = Config::load(&path)?;
            return finish_trusted(
                config,
                path.display().to_string(),
                absolute_dir(&dir).map(Place::Disk),
            );
        }
    }
    Ok(Trusted {
        config: Config::default(),
        origin: config::FILE_NAME.to_string(),
        dir: None,
        baseline: None,
    })
}

fn absolute_dir(dir: &Path) -> Option<PathBuf> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    dir.canonicalize().ok()
}

/// Reads the baseline `config` names from `place`.
fn finish_trusted(
    config: Config,
    origin: String,
    place: Option<Place<'_>>,
) -> Result<Trusted, PipelineError> {
    let dir = match &place {
        Some(Place::Disk(dir)) => Some(dir.clone()),
        _ => None,
    };
    let baseline = match (&config.baseline, &place) {
        (Some(name), Some(place)) => Some(read_baseline(name, place, &origin)?),
        (Some(_), None) => {
            return Err(ConfigError::new(
                &origin,
                "`baseline` names a file, but the configuration's folder cannot be found",
            )
            .into())
        }
        (None, _) => None,
    };
    Ok(Trusted {
        config,
        origin,
        dir,
        baseline,
    })
}

/// The baseline named `name` by the configuration `origin`, read from where the configuration was.
/// The name is a relative path inside the repository: never absolute, never through `..`.
fn read_baseline(name: &str, place: &Place<'_>, origin: &str) -> Result<Baseline, PipelineError> {
    let relative = Path::new(name);
    if name.is_empty()
        || !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(ConfigError::new(
            origin,
            format!(
                "baseline = {:?}: name a file relative to the configuration's folder (no absolute path, no `..`)",
                printable(name)
            ),
        )
        .into());
    }
    let clean = name.trim_start_matches("./");
    let (text, shown) = match place {
        Place::Disk(dir) => {
            let path = dir.join(clean);
            (std::fs::read(&path).ok(), path.display().to_string())
        }
        Place::Index(repo) => (
            git::staged_file(repo, clean)?,
            format!(":{clean} (the index)"),
        ),
        Place::Commit(repo, id) => (git::commit_file(repo, *id, clean), format!("{id}:{clean}")),
    };
    let Some(text) = text else {
        // The hook reads the index: a baseline written but not staged is there on disk only.
        if let Place::Index(repo) = place {
            if repo.workdir().is_some_and(|w| w.join(clean).is_file()) {
                return Err(ConfigError::new(
                    origin,
                    format!(
                        "baseline = {:?}: {} is not staged (it is in the work tree only): `git add {}`",
                        printable(name),
                        printable(&shown),
                        printable(clean)
                    ),
                )
                .into());
            }
        }
        return Err(ConfigError::new(
            origin,
            format!(
                "baseline = {:?}: {} does not exist; write it with `skguard baseline -o {}`",
                printable(name),
                printable(&shown),
                printable(clean)
            ),
        )
        .into());
    };
    Ok(Baseline::parse(&String::from_utf8_lossy(&text), &shown)?)
}

/// The configuration a git mode trusts: the index's copy for `--staged`; for `--range`, the copy in
/// the range's base commit, so a pull request cannot allowlist its own leak (for a new branch, the
/// remote's default branch); for `--git`, the work tree's copy, else HEAD's.
fn git_config(
    repo: &git2::Repository,
    mode: &Mode,
    resolved: Option<&git::ResolvedRange>,
) -> Result<Trusted, PipelineError> {
    let name = config::FILE_NAME;
    let (text, origin, place) = match mode {
        Mode::Staged(_) => (
            git::staged_file(repo, name)?,
            format!(":{name} (the index)"),
            Some(Place::Index(repo)),
        ),
        Mode::History(_, History::Range(_)) => {
            let resolved = resolved.ok_or_else(|| {
                RequestError("a range is resolved before its configuration is read".into())
            })?;
            let default = resolved.default.as_ref().map(|(_, id)| *id);
            // A new branch trusts the default branch's copy (the tip's own, on its first push).
            let default = default.or(resolved.tip_is_default.then_some(resolved.tip));
            match resolved.base.or(default) {
                Some(id) => (
                    git::commit_file(repo, id, name),
                    format!("{id}:{name}"),
                    Some(Place::Commit(repo, id)),
                ),
                None => {
                    eprintln!(
                        "skguard: note: no repository configuration is used: the range's base is {} and no \
                         default branch is known to take {name} from (--default-branch REF names it)",
                        if resolved.missing_base.is_some() { "missing" } else { "the null id" }
                    );
                    (None, name.to_string(), None)
                }
            }
        }
        _ => {
            let root = git::root(repo);
            let on_disk = root.join(name);
            if repo.workdir().is_some() && on_disk.is_file() {
                (
                    Some(
                        std::fs::read(&on_disk)
                            .map_err(|e| PipelineError::Io(on_disk.display().to_string(), e))?,
                    ),
                    on_disk.display().to_string(),
                    Some(Place::Disk(root)),
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
                    head.map(|id| Place::Commit(repo, id)),
                )
            }
        }
    };
    let config = match text {
        Some(text) => Config::parse(&String::from_utf8_lossy(&text), &origin)?,
        None => Config::default(),
    };
    let mut trusted = finish_trusted(config, origin, place)?;
    // Git modes report paths relative to the work tree's root, where the configuration is.
    trusted.dir = None;
    Ok(trusted)
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
            printable(name)
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
fn prepare(config: &Config, origin: &str) -> Result<(Matcher, Allowlist), PipelineError> {
    let mut rules = RuleSet::builtin();
    rules.extend(config.rules.clone(), origin)?;
    let allowlist = Allowlist::compile(&config.allowlist, origin)?;
    Ok((Matcher::new(rules), allowlist))
}

/// Runs the request's source and finishes its findings.
/// Unreadable paths and warnings go to stderr as they are known.
pub fn collect(request: &ScanRequest) -> Result<Collected, PipelineError> {
    match &request.mode {
        Mode::Paths(_) | Mode::Stdin => collect_files(request),
        Mode::Staged(_) | Mode::History(..) => collect_git(request),
    }
}

fn baselines(
    request: &ScanRequest,
    from_config: Option<Baseline>,
) -> Result<Option<Baseline>, PipelineError> {
    let from_config = from_config.filter(|_| request.config_baseline);
    let explicit = request
        .baseline
        .as_deref()
        .map(Baseline::load)
        .transpose()?;
    Ok(match (from_config, explicit) {
        (Some(mut a), Some(b)) => {
            a.extend(b);
            Some(a)
        }
        (a, b) => a.or(b),
    })
}

fn collect_git(request: &ScanRequest) -> Result<Collected, PipelineError> {
    let started = Instant::now();
    let (repo_path, history) = match &request.mode {
        Mode::Staged(path) => (path, None),
        Mode::History(path, history) => (path, Some(history)),
        _ => unreachable!("collect_git runs the git modes"),
    };
    if request.threads > 0 {
        // History scans run on rayon's pool; a second call (there is none) would only be refused.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(request.threads)
            .build_global();
    }
    let mut repo = git::open(repo_path)?;
    if history.is_none() && repo.is_bare() {
        // No index, so nothing is staged: "no keys in 0 staged files" would be a success for nothing.
        return Err(git::GitError::Usage(format!(
            "--staged: {} is a bare repository: it has no index, so nothing is staged (scan its history \
             with --git)",
            printable(&repo_path.display().to_string())
        ))
        .into());
    }
    no_commits_yet(&repo, repo_path, history)?;
    // A range is resolved once: its base gives the configuration, and the walk reads its commits.
    let resolved = match history {
        Some(History::Range(range)) => Some(git::resolve_range(
            &repo,
            &range.base,
            &range.tip,
            request.default_branch.as_deref(),
        )?),
        _ => None,
    };
    if let (Some(History::Range(range)), Some(r)) = (history, resolved.as_ref()) {
        // `B..A` for `A..B` is empty, as `git rev-list` says: a success line alone would not show it.
        let empty = r.base.is_some_and(|base| {
            base == r.tip || repo.graph_descendant_of(base, r.tip).unwrap_or(false)
        });
        if empty {
            eprintln!(
                "skguard: note: --range {}: the range end is the base or one of its ancestors, so the \
                 range holds no commits and nothing was scanned (the older commit goes first: A..B)",
                printable(&format!("{}..{}", range.base, range.tip))
            );
        }
    }
    let trusted = match &request.config {
        Some(path) => Trusted {
            config: Config::load(path)?,
            origin: path.display().to_string(),
            dir: None,
            baseline: None,
        },
        None => git_config(&repo, &request.mode, resolved.as_ref())?,
    };
    let (matcher, allowlist) = prepare(&trusted.config, &trusted.origin)?;
    let baseline = baselines(request, trusted.baseline)?;
    let progress = Progress::start(request.progress, "blobs");
    let mut incomplete = Vec::new();
    let limits = &request.walk.archive;
    let max_size = request.walk.max_file_size;
    let scan = match history {
        None => git::scan_staged(&mut repo, &matcher, limits, max_size, &progress)?,
        Some(_) => {
            let commits = match resolved {
                Some(resolved) => git::Commits::Resolved(resolved),
                None => git::Commits::All,
            };
            let (mut scan, walked) =
                git::scan_history(&repo, &matcher, &commits, limits, max_size, &progress)?;
            incomplete.extend(git_incomplete(&walked));
            // History reports only paths with findings: the keys in those paths are findings too.
            sources::path_keys::add_for_hits(&mut scan.hits, &matcher);
            scan
        }
    };
    progress.finish();
    let keep_inline = matches!(history, Some(History::Range(_)));
    Ok(finish(
        matcher,
        &allowlist,
        baseline.as_ref(),
        scan,
        incomplete,
        keep_inline,
        started,
    ))
}

fn collect_files(request: &ScanRequest) -> Result<Collected, PipelineError> {
    let started = Instant::now();
    let paths: &[PathBuf] = match &request.mode {
        Mode::Paths(paths) => paths,
        _ => &[],
    };
    let trusted = match &request.mode {
        Mode::Stdin => match &request.config {
            Some(path) => files_config(&[], Some(path))?,
            None => Trusted {
                config: Config::default(),
                origin: config::FILE_NAME.to_string(),
                dir: None,
                baseline: None,
            },
        },
        _ => files_config(paths, request.config.as_deref())?,
    };
    let (matcher, mut allowlist) = prepare(&trusted.config, &trusted.origin)?;
    if let (Mode::Paths(paths), Some(dir)) = (&request.mode, &trusted.dir) {
        allowlist.set_base(reported_base(paths), Some(slashed(dir)));
    }
    let baseline = baselines(request, trusted.baseline)?;
    let scan = match &request.mode {
        Mode::Stdin => sources::scan_reader(&matcher, "-", &mut io::stdin().lock()),
        _ => {
            let options = WalkOptions {
                threads: request.threads,
                ..request.walk.clone()
            };
            let progress = Progress::start(request.progress, "files");
            let scan = sources::scan_paths(&matcher, paths, &options, &progress);
            progress.finish();
            scan
        }
    };
    Ok(finish(
        matcher,
        &allowlist,
        baseline.as_ref(),
        scan,
        Vec::new(),
        false,
        started,
    ))
}

/// The folder reported paths are relative to, absolute: the one folder scanned, else the current
/// folder (paths as typed).
fn reported_base(paths: &[PathBuf]) -> Option<String> {
    let from = match paths {
        [only] if only.is_dir() => only.canonicalize().ok()?,
        _ => std::env::current_dir().ok()?.canonicalize().ok()?,
    };
    Some(slashed(&from))
}

/// An absolute path with `/` separators.
fn slashed(path: &Path) -> String {
    let shown = path.to_string_lossy();
    if std::path::MAIN_SEPARATOR == '/' {
        shown.into_owned()
    } else {
        shown.replace(std::path::MAIN_SEPARATOR, "/")
    }
}

/// A repository with no commits yet has no history: `--range` cannot be resolved there (an error),
/// and `--git` has nothing to scan (said on stderr). `--staged` is the first commit being made.
fn no_commits_yet(
    repo: &git2::Repository,
    path: &Path,
    history: Option<&History>,
) -> Result<(), PipelineError> {
    // No commit anywhere: HEAD is unborn and no ref names a commit (libgit2's `is_empty` also
    // wants HEAD on its own idea of the default branch name).
    let unborn = repo
        .head()
        .is_err_and(|e| e.code() == git2::ErrorCode::UnbornBranch);
    let no_refs = repo
        .references()
        .is_ok_and(|mut refs| refs.next().is_none());
    let Some(history) = history else {
        return Ok(());
    };
    if !(unborn && no_refs) {
        return Ok(());
    }
    let path = printable(&path.display().to_string()).into_owned();
    if let History::Range(_) = history {
        return Err(RequestError(format!(
            "{path}: no commits yet: a range needs commits to compare; commit first, or scan the files with \
             `skguard scan {path}`"
        ))
        .into());
    }
    eprintln!("skguard: note: {path}: no commits yet: there is no history to scan");
    Ok(())
}

/// From a source's hits to reported findings: inline markers, dedup and order, allowlist, baseline.
pub fn finish(
    matcher: Matcher,
    allowlist: &Allowlist,
    baseline: Option<&Baseline>,
    scan: Scan,
    incomplete: Vec<String>,
    keep_inline: bool,
    started: Instant,
) -> Collected {
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
        finding.commit = hit.commit;
        finding.context = context;
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
    suppressed += suppress::apply(&mut found, allowlist, baseline) as u64;

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
    Collected {
        rules,
        findings: found,
        summary,
    }
}

/// The API stage: verifies every distinct key (and revokes compromised live keys when asked).
/// Returns whether the answer is incomplete because of it: a failed revocation, or (when
/// `unknown_is_incomplete`, for `--fail-on active`) a key the API could not answer for.
pub fn verify(
    collected: &mut Collected,
    client: &ApiClient,
    audit: Option<&AuditLog>,
    options: stage::StageOptions,
    unknown_is_incomplete: bool,
) -> Result<bool, crate::api::audit::AuditError> {
    stage::run(
        &mut collected.findings,
        &collected.rules,
        client,
        audit,
        options,
    )?;
    let mut incomplete = false;
    let problems = &mut collected.summary.problems;
    for f in &collected.findings {
        if f.revocation
            .as_ref()
            .is_some_and(|r| r.status == RevocationStatus::Failed)
        {
            incomplete = true;
            note(
                problems,
                "a revocation failed: the key may still work (see the findings)",
            );
        }
        // With --fail-on active, a key that could not be checked leaves the answer open.
        if unknown_is_incomplete
            && f.verification
                .as_ref()
                .is_some_and(|v| v.status == VerificationStatus::Unknown)
        {
            incomplete = true;
            note(problems, "the key-management API could not answer for a key, so --fail-on active cannot tell whether it works");
        }
    }
    Ok(incomplete)
}

/// Adds `message` to what made the answer incomplete, once.
fn note(problems: &mut Vec<String>, message: &str) {
    if !problems.iter().any(|p| p == message) {
        problems.push(message.to_string());
    }
}

/// Where `skguard baseline` writes when no file is named: `.skguard-baseline.json` at the work-tree
/// root of the repository that holds what is scanned, else in the scanned folder.
pub fn default_baseline_path(mode: &Mode) -> PathBuf {
    let first = match mode {
        Mode::Paths(paths) => paths.first().cloned().unwrap_or_else(|| ".".into()),
        Mode::Staged(path) | Mode::History(path, _) => path.clone(),
        Mode::Stdin => ".".into(),
    };
    let dir = if first.is_dir() {
        first
    } else {
        first
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    };
    let root = git2::Repository::discover(&dir)
        .ok()
        .and_then(|r| r.workdir().map(Path::to_path_buf));
    root.unwrap_or(dir).join(BASELINE_FILE_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(paths: &[&str]) -> Flags {
        Flags {
            paths: paths.iter().map(PathBuf::from).collect(),
            ..Flags::default()
        }
    }

    #[test]
    fn the_mode_is_resolved_once_from_the_flags() {
        assert_eq!(
            Mode::resolve(&flags(&["a", "b"])).unwrap(),
            Mode::Paths(vec!["a".into(), "b".into()])
        );
        assert_eq!(Mode::resolve(&flags(&["-"])).unwrap(), Mode::Stdin);
        assert!(Mode::resolve(&flags(&["-", "a"])).is_err());
        let range = Flags {
            range: Some("main..topic".into()),
            ..flags(&["repo"])
        };
        assert_eq!(
            Mode::resolve(&range).unwrap(),
            Mode::History(
                "repo".into(),
                History::Range(Range {
                    base: "main".into(),
                    tip: "topic".into()
                })
            )
        );
        let staged = Flags {
            staged: true,
            ..flags(&["a", "b"])
        };
        assert!(Mode::resolve(&staged).is_err());
    }

    #[test]
    fn a_flag_a_git_mode_cannot_honour_is_refused_naming_the_mode() {
        let git_follow = Flags {
            git: true,
            follow: true,
            ..flags(&["."])
        };
        let message = Mode::resolve(&git_follow).unwrap_err().to_string();
        assert!(
            message.contains("--follow is refused with --git"),
            "{message}"
        );
        let range_no_ignore = Flags {
            range: Some("a..b".into()),
            no_ignore: true,
            ..flags(&["."])
        };
        let message = Mode::resolve(&range_no_ignore).unwrap_err().to_string();
        assert!(
            message.contains("--no-ignore is refused with --range"),
            "{message}"
        );
    }
}
