//! Git sources: what a commit is about to add (`--staged`), the commits of a pushed range
//! (`--range A..B`), and a repository's whole history (`--git`).
//!
//! One rule decides what is reported in every mode: a key is *new* in a commit when it is in a path
//! there and in that path in none of the commit's parents. So a moved or edited line that keeps its
//! key is not new, a key that a merge carries over from a parent is not new, and a key copied to
//! another path, or introduced by a merge resolution, is.
//!
//! History is scanned by blob, as Nosey Parker and Kingfisher do: the tree diffs of every commit
//! against its parents are computed in parallel and give the (path, blob) pairs each commit
//! changed; every distinct blob is read and scanned once, in parallel, whatever the number of commits
//! that contain it; a parent's blob is read only when the child's blob has a key to compare. Then
//! each distinct (key, path) is attributed, in topological order (parents before children), to the
//! commit that introduced it. Commit messages are scanned too, as the path `(commit message)`.
//!
//! skguard only reads objects: it never runs hooks, filters or anything else a repository's
//! configuration names.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use git2::{Commit, Delta, DiffOptions, FileMode, ObjectType, Oid, Repository, Sort, Tree};
use rayon::prelude::*;

use super::progress::Progress;
use super::stream::{Located, StreamScanner};
use super::{Hit, Scan, Unreadable};
use crate::findings::Secret;
use crate::matching::Matcher;

/// The path under which commit-message findings are reported.
pub const COMMIT_MESSAGE: &str = "(commit message)";

/// The path under which annotated tags' message findings are reported.
pub const TAG_MESSAGE: &str = "(tag message)";

/// The path of a blob a tag points at directly (and the prefix of a tagged tree's paths).
pub fn tag_path(name: &str) -> String {
    format!("(tag {name})")
}

/// A git problem that stops the scan before it starts (not a repository, a bad revision).
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{path}: not a git repository (or any parent up to the root): {source}")]
    NotARepository { path: String, source: git2::Error },
    #[error("{what}: {source}")]
    Git { what: String, source: git2::Error },
    #[error("{0}")]
    Usage(String),
}

fn git_err(what: impl Into<String>) -> impl FnOnce(git2::Error) -> GitError {
    let what = what.into();
    move |source| GitError::Git { what, source }
}

/// The commit a history finding was introduced in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub id: String,
    /// `Name <email>`.
    pub author: String,
    /// ISO-8601 with the author's offset.
    pub date: String,
}

/// Opens the repository at `path` the way git would: `GIT_DIR` when it is set (hooks and worktrees
/// set it), discovery upward from `path` otherwise.
pub fn open(path: &Path) -> Result<Repository, GitError> {
    // libgit2 re-hashes every object it reads by default (with collision detection: a third of a
    // staged scan's time). git does not on ordinary reads, and a corrupted object still fails to
    // inflate, so skguard reads objects as git does.
    git2::opts::strict_hash_verification(false);
    let repo = if std::env::var_os("GIT_DIR").is_some() {
        Repository::open_from_env()
    } else {
        Repository::discover(path)
    };
    repo.map_err(|source| GitError::NotARepository {
        path: path.display().to_string(),
        source,
    })
}

/// The work tree's root (or the git folder of a bare repository): reported paths are relative to it.
pub fn root(repo: &Repository) -> PathBuf {
    repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf()
}

/// git's own plumbing for the repository, for what libgit2 is slow at: reading a large index.
/// It inherits `GIT_INDEX_FILE` (set by `git commit -a` and `git commit PATH`, which run the hook
/// with a temporary index) and takes no optional locks. Nothing it is asked for reads content, so
/// no filter, hook or textconv a repository configures ever runs.
fn plumbing(repo: &Repository, args: &[&str]) -> Result<std::process::Output, GitError> {
    std::process::Command::new("git")
        // A repository's configuration must not make skguard run a program: no fsmonitor hook.
        .args(["-c", "core.fsmonitor=false", "--git-dir"])
        .arg(repo.path())
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            GitError::Usage(format!(
                "--staged runs git's plumbing (git {}) and git could not be run: {e}",
                args[0]
            ))
        })
}

/// The staged (index) copy of `path`, if there is one.
pub fn staged_file(repo: &Repository, path: &str) -> Result<Option<Vec<u8>>, GitError> {
    let spec = format!(":{path}");
    let out = plumbing(repo, &["rev-parse", "--verify", "--quiet", &spec])?;
    if !out.status.success() {
        return Ok(None);
    }
    let id = String::from_utf8_lossy(&out.stdout);
    let oid = Oid::from_str(id.trim()).map_err(git_err(format!("git rev-parse {spec}")))?;
    Ok(repo.find_blob(oid).ok().map(|b| b.content().to_vec()))
}

/// The text of a blob at `path` in a commit's tree, if there is one.
pub fn commit_file(repo: &Repository, commit: Oid, path: &str) -> Option<Vec<u8>> {
    let tree = repo.find_commit(commit).ok()?.tree().ok()?;
    let entry = tree.get_path(Path::new(path)).ok()?;
    repo.find_blob(entry.id())
        .ok()
        .map(|b| b.content().to_vec())
}

/// The parents of the commit being made: HEAD (none on an unborn branch), and MERGE_HEAD during a
/// merge.
fn staged_parents(repo: &mut Repository) -> Result<Vec<Oid>, GitError> {
    let mut ids = Vec::new();
    match repo.head() {
        Ok(head) => ids.push(head.peel_to_commit().map_err(git_err("HEAD"))?.id()),
        Err(e)
            if e.code() == git2::ErrorCode::UnbornBranch
                || e.code() == git2::ErrorCode::NotFound => {}
        Err(e) => return Err(git_err("HEAD")(e)),
    }
    // No MERGE_HEAD outside a merge: that is not an error.
    let _ = repo.mergehead_foreach(|oid| {
        ids.push(*oid);
        true
    });
    Ok(ids)
}

fn trees<'r>(repo: &'r Repository, ids: &[Oid]) -> Result<Vec<Tree<'r>>, GitError> {
    ids.iter()
        .map(|id| {
            repo.find_commit(*id)
                .and_then(|c| c.tree())
                .map_err(git_err(format!("commit {id}")))
        })
        .collect()
}

fn diff_options() -> DiffOptions {
    let mut opts = DiffOptions::new();
    // Only which blobs changed matters here: never load content to guess whether it is binary.
    opts.skip_binary_check(true)
        .include_typechange(true)
        .ignore_submodules(true);
    opts
}

/// A path a commit (or the index) changed, and the blob it has there now.
#[derive(Debug, Clone)]
struct Change {
    path: String,
    blob: Oid,
    /// The blobs of the same path in the parents that have it (differing from `blob`).
    parents: Vec<Oid>,
}

/// The changes of a commit (or of the index) against its parents: every added or modified path
/// whose blob differs from the blob of that path in each parent. `diff` is against the first parent;
/// the other parents are looked up by path. Submodules (gitlinks) are not entered, only counted.
fn changes_against(
    parents: &[Tree<'_>],
    diff: &git2::Diff<'_>,
    submodules: &mut u64,
) -> Vec<Change> {
    let mut out = Vec::new();
    for delta in diff.deltas() {
        let first_parent = match delta.status() {
            Delta::Added => None,
            Delta::Modified | Delta::Typechange => Some(delta.old_file().id()),
            _ => continue,
        };
        let new = delta.new_file();
        match new.mode() {
            FileMode::Commit => {
                *submodules += 1;
                continue;
            }
            FileMode::Tree | FileMode::Unreadable => continue,
            _ => {}
        }
        let Some(path) = new.path() else { continue };
        let blob = new.id();
        let others = parents
            .iter()
            .skip(1)
            .map(|tree| tree.get_path(path).ok().map(|e| e.id()));
        let in_parents: Vec<Option<Oid>> = std::iter::once(first_parent).chain(others).collect();
        // A blob that one parent already has at this path adds nothing (a merge carrying it over).
        if in_parents.contains(&Some(blob)) {
            continue;
        }
        out.push(Change {
            path: path.to_string_lossy().replace('\\', "/"),
            blob,
            parents: in_parents.into_iter().flatten().collect(),
        });
    }
    out
}

/// The keys of one blob.
#[derive(Debug, Default)]
struct BlobKeys {
    found: Vec<Located>,
}

impl BlobKeys {
    fn keys(&self) -> impl Iterator<Item = &Secret> {
        self.found.iter().map(|l| &l.candidate.secret)
    }
}

/// The keys of scanned blobs, and the blobs that could not be read.
struct ScannedBlobs {
    keys: HashMap<Oid, BlobKeys>,
    failed: Vec<(Oid, String)>,
}

/// Scans `blobs` in parallel, each once, with a repository handle per thread.
fn scan_blobs(
    git_dir: &Path,
    matcher: &Matcher,
    blobs: Vec<Oid>,
    progress: &Progress,
) -> ScannedBlobs {
    let results: Vec<(Oid, Result<BlobKeys, String>)> = blobs
        .into_par_iter()
        .map_init(
            || (Repository::open(git_dir).ok(), StreamScanner::new(matcher)),
            |(repo, scanner), oid| {
                let Some(repo) = repo.as_ref() else {
                    return (oid, Err(format!("cannot open {}", git_dir.display())));
                };
                let result = repo
                    .find_blob(oid)
                    .map_err(|e| e.message().to_string())
                    .and_then(|blob| {
                        let mut keys = BlobKeys::default();
                        let content = blob.content();
                        scanner
                            .scan(&mut &content[..], &mut keys.found)
                            .map_err(|e| e.to_string())?;
                        progress.item(content.len() as u64);
                        Ok(keys)
                    });
                (oid, result)
            },
        )
        .collect();
    let mut keys = HashMap::with_capacity(results.len());
    let mut failed = Vec::new();
    for (oid, result) in results {
        match result {
            Ok(k) => {
                keys.insert(oid, k);
            }
            Err(e) => failed.push((oid, e)),
        }
    }
    ScannedBlobs { keys, failed }
}

/// One record of `git diff-index --raw -z --no-abbrev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawChange {
    pub new_mode: String,
    pub old_id: Oid,
    pub new_id: Oid,
    pub status: char,
    pub path: String,
}

/// Parses `git diff-index --raw -z` output: records of `:old_mode new_mode old_id new_id status`,
/// NUL, path, NUL.
pub fn parse_raw_diff(bytes: &[u8]) -> Result<Vec<RawChange>, GitError> {
    let unexpected =
        |what: &str| GitError::Usage(format!("git diff-index: unexpected output {what:?}"));
    let mut fields = bytes.split(|&b| b == 0);
    let mut changes = Vec::new();
    while let Some(meta) = fields.next() {
        if meta.is_empty() {
            continue;
        }
        let meta = String::from_utf8_lossy(meta);
        let path = fields
            .next()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| unexpected(&meta))?;
        let parts: Vec<&str> = meta
            .strip_prefix(':')
            .ok_or_else(|| unexpected(&meta))?
            .split(' ')
            .collect();
        let [_, new_mode, old_id, new_id, status] = parts[..] else {
            return Err(unexpected(&meta));
        };
        let id = |id: &str| Oid::from_str(id).map_err(|_| unexpected(&meta));
        let mut status_chars = status.chars();
        let (Some(status), None) = (status_chars.next(), status_chars.next()) else {
            return Err(unexpected(&meta));
        };
        changes.push(RawChange {
            new_mode: new_mode.to_string(),
            old_id: id(old_id)?,
            new_id: id(new_id)?,
            status,
            path: String::from_utf8_lossy(path).into_owned(),
        });
    }
    Ok(changes)
}

/// Splits `A..B` into its two revisions.
pub fn parse_range(range: &str) -> Result<(&str, &str), GitError> {
    match range.split_once("..") {
        Some((base, tip)) if !base.is_empty() && !tip.is_empty() && !tip.starts_with('.') => {
            Ok((base, tip))
        }
        _ => Err(GitError::Usage(format!(
            "--range {range:?}: expected A..B (two revisions)"
        ))),
    }
}

/// What the index changes relative to the commit's parents, from `git diff-index --cached`
/// against the first parent (the empty tree on an unborn branch); the other parents (MERGE_HEAD)
/// are looked up by path.
fn staged_changes(
    repo: &Repository,
    head: Option<Oid>,
    parents: &[Tree<'_>],
    submodules: &mut u64,
) -> Result<Vec<Change>, GitError> {
    let base = match head {
        Some(id) => id.to_string(),
        None => Oid::hash_object(ObjectType::Tree, b"")
            .map_err(git_err("the empty tree"))?
            .to_string(),
    };
    let args = [
        "diff-index",
        "--cached",
        "--raw",
        "-z",
        "--no-renames",
        "--no-abbrev",
        &base,
    ];
    let out = plumbing(repo, &args)?;
    if !out.status.success() {
        return Err(GitError::Usage(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let mut changes = Vec::new();
    for raw in parse_raw_diff(&out.stdout)? {
        match raw.status {
            'A' | 'M' | 'T' => {}
            'U' => {
                return Err(GitError::Usage(format!(
                    "{} has unresolved conflicts: resolve them and stage the result",
                    raw.path
                )))
            }
            _ => continue,
        }
        if raw.new_mode == "160000" {
            *submodules += 1;
            continue;
        }
        let (path, blob) = (raw.path, raw.new_id);
        let first = (raw.status != 'A').then_some(raw.old_id);
        let others = parents
            .iter()
            .skip(1)
            .map(|tree| tree.get_path(Path::new(&path)).ok().map(|e| e.id()));
        let in_parents: Vec<Option<Oid>> = std::iter::once(first).chain(others).collect();
        // A blob one parent already has at this path adds nothing (a merge carrying it over).
        if in_parents.contains(&Some(blob)) {
            continue;
        }
        changes.push(Change {
            path,
            blob,
            parents: in_parents.into_iter().flatten().collect(),
        });
    }
    Ok(changes)
}

/// Scans what is staged in `repo`: keys in the index that are new relative to the commit's parents.
pub fn scan_staged(
    repo: &mut Repository,
    matcher: &Matcher,
    progress: &Progress,
) -> Result<Scan, GitError> {
    let git_dir = repo.path().to_path_buf();
    let mut scan = Scan::default();
    let mut submodules = 0;
    let changes = {
        let parent_ids = staged_parents(repo)?;
        let parents = trees(repo, &parent_ids)?;
        staged_changes(repo, parent_ids.first().copied(), &parents, &mut submodules)?
    };
    scan.stats.submodules = submodules;
    let blobs: Vec<Oid> = changes
        .iter()
        .map(|c| c.blob)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let ScannedBlobs { keys, failed } = scan_blobs(&git_dir, matcher, blobs, progress);
    report_failures(&changes, failed, &mut scan);
    let parent_blobs = parents_to_scan(changes.iter(), &keys);
    let ScannedBlobs {
        keys: parent_keys,
        failed,
    } = scan_blobs(&git_dir, matcher, parent_blobs, progress);
    report_failures(&changes, failed, &mut scan);
    for change in &changes {
        let Some(found) = keys.get(&change.blob) else {
            continue;
        };
        scan.stats.files += 1;
        let old: HashSet<&Secret> = change
            .parents
            .iter()
            .filter_map(|p| parent_keys.get(p))
            .flat_map(|k| k.keys())
            .collect();
        // Every occurrence of a new key: the person fixing the commit needs every line.
        for located in &found.found {
            if !old.contains(&located.candidate.secret) {
                scan.hits.push(Hit {
                    path: change.path.clone(),
                    commit: None,
                    located: located.clone(),
                });
            }
        }
    }
    scan.stats.blobs = (keys.len() + parent_keys.len()) as u64;
    scan.stats.bytes = progress.bytes();
    Ok(scan)
}

/// The parents' blobs whose keys are needed: those of changes whose new blob has keys (and that
/// were not scanned already).
fn parents_to_scan<'c>(
    changes: impl Iterator<Item = &'c Change>,
    keys: &HashMap<Oid, BlobKeys>,
) -> Vec<Oid> {
    changes
        .filter(|c| keys.get(&c.blob).is_some_and(|k| !k.found.is_empty()))
        .flat_map(|c| c.parents.iter().copied())
        .filter(|p| !keys.contains_key(p))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect()
}

fn report_failures<'c>(
    changes: impl IntoIterator<Item = &'c Change> + Clone,
    failed: Vec<(Oid, String)>,
    scan: &mut Scan,
) {
    for (oid, error) in failed {
        let path = changes
            .clone()
            .into_iter()
            .find(|c| c.blob == oid || c.parents.contains(&oid))
            .map_or_else(|| oid.to_string(), |c| c.path.clone());
        scan.unreadable.push(Unreadable {
            path,
            error: format!("blob {oid}: {error}"),
        });
    }
}

/// Which commits a history scan covers.
#[derive(Debug, Clone)]
pub enum Commits {
    /// Every commit reachable from any ref (branches, tags, remote-tracking refs, the stash) and HEAD.
    All,
    /// `git rev-list base..tip`; a null base: tip's commits not reachable from the default branch
    /// (`default_branch` when given, else the first of [`DEFAULT_BRANCHES`] that exists).
    Range {
        base: String,
        tip: String,
        default_branch: Option<String>,
    },
}

/// Where the default branch is looked for when `--default-branch` is not given, in this order.
pub const DEFAULT_BRANCHES: [&str; 5] = [
    "refs/remotes/origin/HEAD",
    "refs/remotes/origin/main",
    "refs/remotes/origin/master",
    "refs/heads/main",
    "refs/heads/master",
];

/// The default branch a null base stands for: `given` (`--default-branch`), else the first of
/// [`DEFAULT_BRANCHES`] that exists; its name and commit. A given name that names no commit here is
/// an error: guessing another branch could hide commits.
pub fn default_branch(
    repo: &Repository,
    given: Option<&str>,
) -> Result<Option<(String, Oid)>, GitError> {
    if let Some(name) = given {
        let commit = repo
            .revparse_single(name)
            .and_then(|o| o.peel_to_commit())
            .map_err(git_err(format!(
                "--default-branch {name:?}: no such commit in this clone (fetch it, e.g. \
                 `fetch-depth: 0` in actions/checkout)"
            )))?;
        return Ok(Some((name.to_string(), commit.id())));
    }
    for name in DEFAULT_BRANCHES {
        if let Ok(commit) = repo.find_reference(name).and_then(|r| r.peel_to_commit()) {
            let short = name
                .strip_prefix("refs/remotes/")
                .or_else(|| name.strip_prefix("refs/heads/"))
                .unwrap_or(name);
            return Ok(Some((short.to_string(), commit.id())));
        }
    }
    Ok(None)
}

/// A parsed range, with what happened to its base.
#[derive(Debug, Clone)]
pub struct ResolvedRange {
    pub tip: Oid,
    /// None for a null base, and for a base missing from a shallow clone.
    pub base: Option<Oid>,
    /// The base named a commit that is not in this clone.
    pub missing_base: Option<String>,
    /// For a null base: the default branch (name, commit) whose commits are not scanned again; None
    /// when none is known or the tip is the default branch itself (its whole history is scanned).
    pub default: Option<(String, Oid)>,
    /// For a null base: the default branch was found but is the tip itself (its first push).
    pub tip_is_default: bool,
}

/// Whether `rev` is the null object id (a push that creates a branch).
pub fn is_null_id(rev: &str) -> bool {
    !rev.is_empty() && rev.bytes().all(|b| b == b'0') && (rev.len() == 40 || rev.len() == 64)
}

/// Resolves `A..B`. A base given as a full object id that is not in the repository is missing (a
/// shallow clone, a force push): the scan goes on over what is there and says so.
pub fn resolve_range(
    repo: &Repository,
    base: &str,
    tip: &str,
    default_branch: Option<&str>,
) -> Result<ResolvedRange, GitError> {
    let tip_id = repo
        .revparse_single(tip)
        .and_then(|o| o.peel_to_commit())
        .map_err(git_err(format!("range end {tip:?}")))?
        .id();
    if is_null_id(base) {
        let default = self::default_branch(repo, default_branch)?;
        let tip_is_default = default.as_ref().is_some_and(|(_, id)| *id == tip_id);
        return Ok(ResolvedRange {
            tip: tip_id,
            base: None,
            missing_base: None,
            default: default.filter(|_| !tip_is_default),
            tip_is_default,
        });
    }
    match repo.revparse_single(base).and_then(|o| o.peel_to_commit()) {
        Ok(commit) => Ok(ResolvedRange {
            tip: tip_id,
            base: Some(commit.id()),
            missing_base: None,
            default: None,
            tip_is_default: false,
        }),
        Err(e)
            if base.len() >= 40
                && base.bytes().all(|b| b.is_ascii_hexdigit())
                && e.code() == git2::ErrorCode::NotFound =>
        {
            Ok(ResolvedRange {
                tip: tip_id,
                base: None,
                missing_base: Some(base.to_string()),
                default: None,
                tip_is_default: false,
            })
        }
        Err(e) => Err(git_err(format!("range base {base:?}"))(e)),
    }
}

/// The commits to scan, parents before children.
fn walk(
    repo: &Repository,
    commits: &Commits,
) -> Result<(Vec<Oid>, Option<ResolvedRange>), GitError> {
    let mut walk = repo.revwalk().map_err(git_err("walking history"))?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)
        .map_err(git_err("walking history"))?;
    let mut resolved = None;
    match commits {
        Commits::All => {
            for reference in repo
                .references()
                .map_err(git_err("listing refs"))?
                .flatten()
            {
                if let Ok(commit) = reference.peel_to_commit() {
                    walk.push(commit.id()).map_err(git_err("walking history"))?;
                }
            }
            if let Ok(head) = repo.head().and_then(|h| h.peel_to_commit()) {
                walk.push(head.id()).map_err(git_err("walking history"))?;
            }
        }
        Commits::Range {
            base,
            tip,
            default_branch,
        } => {
            let range = resolve_range(repo, base, tip, default_branch.as_deref())?;
            walk.push(range.tip).map_err(git_err("walking history"))?;
            // A new branch hides only the default branch, never "every other ref": refs pushed
            // together would hide each other's commits.
            if let Some(hidden) = range.base.or(range.default.as_ref().map(|(_, id)| *id)) {
                walk.hide(hidden).map_err(git_err("walking history"))?;
            }
            resolved = Some(range);
        }
    }
    let ids = walk
        .collect::<Result<Vec<Oid>, _>>()
        .map_err(git_err("walking history"))?;
    Ok((ids, resolved))
}

fn commit_info(commit: &Commit<'_>) -> CommitInfo {
    let author = commit.author();
    let name = String::from_utf8_lossy(author.name_bytes()).into_owned();
    let email = String::from_utf8_lossy(author.email_bytes()).into_owned();
    let when = author.when();
    CommitInfo {
        id: commit.id().to_string(),
        author: format!("{name} <{email}>"),
        date: iso8601(when.seconds(), when.offset_minutes()),
    }
}

/// A git timestamp as ISO-8601 (RFC 3339) in the author's own offset.
fn iso8601(seconds: i64, offset_minutes: i32) -> String {
    use time::format_description::well_known::Rfc3339;
    let utc = time::OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let offset =
        time::UtcOffset::from_whole_seconds(offset_minutes * 60).unwrap_or(time::UtcOffset::UTC);
    utc.to_offset(offset)
        .format(&Rfc3339)
        .unwrap_or_else(|_| seconds.to_string())
}

/// The author and date of a commit (just its id if it cannot be read again).
fn lookup_info(repo: &Repository, id: Oid) -> CommitInfo {
    repo.find_commit(id)
        .map(|c| commit_info(&c))
        .unwrap_or_else(|_| CommitInfo {
            id: id.to_string(),
            author: String::new(),
            date: String::new(),
        })
}

/// What one commit contributes: its message's keys and its changes. Author and date are read
/// again, at attribution, for the few commits with findings: keeping them for every commit of a
/// long history would cost memory for nothing.
struct CommitWork {
    id: Oid,
    message: Vec<Located>,
    changes: Vec<Change>,
    submodules: u64,
    error: Option<String>,
}

/// Scans the history of `repo`: each distinct (key, path) once, at the commit that introduced it.
pub fn scan_history(
    repo: &Repository,
    matcher: &Matcher,
    commits: &Commits,
    progress: &Progress,
) -> Result<(Scan, Walked), GitError> {
    let git_dir = repo.path().to_path_buf();
    let (ids, resolved) = walk(repo, commits)?;
    let boundary = shallow_boundary(repo);
    let walked = Walked {
        range: resolved,
        shallow: ids
            .iter()
            .filter(|id| boundary.contains(id))
            .map(|id| id.to_string())
            .collect(),
    };
    let mut scan = Scan::default();
    scan.stats.commits = ids.len() as u64;
    progress.set_commits_total(ids.len() as u64);

    // Tree diffs, in parallel: each thread opens its own handle (a Repository is not Sync).
    let work: Vec<CommitWork> = ids
        .par_iter()
        .map_init(
            || (Repository::open(&git_dir).ok(), StreamScanner::new(matcher)),
            |(repo, scanner), id| {
                let work = commit_work(repo.as_ref(), scanner, *id);
                progress.commit();
                work
            },
        )
        .collect();

    let changes = || work.iter().flat_map(|w| w.changes.iter());
    let blobs: Vec<Oid> = changes()
        .map(|c| c.blob)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let ScannedBlobs { keys, failed } = scan_blobs(&git_dir, matcher, blobs, progress);
    report_failures(changes(), failed, &mut scan);
    let parent_blobs = parents_to_scan(changes(), &keys);
    let ScannedBlobs {
        keys: parent_keys,
        failed,
    } = scan_blobs(&git_dir, matcher, parent_blobs, progress);
    report_failures(changes(), failed, &mut scan);
    let keys_of = |oid: &Oid| keys.get(oid).or_else(|| parent_keys.get(oid));

    // Attribution, parents before children: the first commit that introduces (key, path) wins.
    let mut seen: HashSet<(Secret, String)> = HashSet::new();
    for w in &work {
        if let Some(error) = &w.error {
            scan.unreadable.push(Unreadable {
                path: format!("commit {}", w.id),
                error: error.clone(),
            });
        }
        scan.stats.submodules += w.submodules;
        let mut info: Option<Arc<CommitInfo>> = None;
        let mut info = || {
            info.get_or_insert_with(|| Arc::new(lookup_info(repo, w.id)))
                .clone()
        };
        for located in &w.message {
            if seen.insert((located.candidate.secret.clone(), COMMIT_MESSAGE.to_string())) {
                scan.hits.push(Hit {
                    path: COMMIT_MESSAGE.to_string(),
                    commit: Some(info()),
                    located: located.clone(),
                });
            }
        }
        for change in &w.changes {
            let Some(found) = keys_of(&change.blob) else {
                continue;
            };
            if found.found.is_empty() {
                continue;
            }
            let old: HashSet<&Secret> = change
                .parents
                .iter()
                .filter_map(keys_of)
                .flat_map(|k| k.keys())
                .collect();
            for located in &found.found {
                let secret = &located.candidate.secret;
                if !old.contains(secret) && seen.insert((secret.clone(), change.path.clone())) {
                    scan.hits.push(Hit {
                        path: change.path.clone(),
                        commit: Some(info()),
                        located: located.clone(),
                    });
                }
            }
        }
    }
    if matches!(commits, Commits::All) {
        scan_tags(repo, matcher, &mut seen, &mut scan, progress);
    }
    scan.stats.files = changes().count() as u64;
    scan.stats.blobs = (keys.len() + parent_keys.len()) as u64;
    scan.stats.bytes = progress.bytes();
    Ok((scan, walked))
}

/// What a history walk covered, beyond its findings.
#[derive(Debug, Clone, Default)]
pub struct Walked {
    /// The range, as resolved (`--range`).
    pub range: Option<ResolvedRange>,
    /// Commits of the walk at a shallow clone's boundary: their parents are not in this clone.
    pub shallow: Vec<String>,
}

/// The commits at a shallow clone's boundary (`$GIT_DIR/shallow`): none in a full clone.
pub fn shallow_boundary(repo: &Repository) -> HashSet<Oid> {
    let mut dirs = vec![repo.path().to_path_buf()];
    // A linked worktree's shallow file is the main repository's.
    if let Ok(common) = std::fs::read_to_string(repo.path().join("commondir")) {
        dirs.push(repo.path().join(common.trim()));
    }
    dirs.iter()
        .filter_map(|d| std::fs::read(d.join("shallow")).ok())
        .flat_map(|text| {
            text.split(|&b| b == b'\n')
                .filter_map(|line| Oid::from_str(std::str::from_utf8(line).ok()?.trim()).ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Annotated tags' messages, and blobs and trees that a ref (a tag) points at directly rather than
/// through a commit. Tags that end at a commit add only their messages: the walk has the commit.
fn scan_tags(
    repo: &Repository,
    matcher: &Matcher,
    seen: &mut HashSet<(Secret, String)>,
    scan: &mut Scan,
    progress: &Progress,
) {
    let Ok(references) = repo.references() else {
        return;
    };
    let mut scanner = StreamScanner::new(matcher);
    let mut done: HashSet<Oid> = HashSet::new();
    let mut push = |scan: &mut Scan, path: String, found: Vec<Located>| {
        for located in found {
            if seen.insert((located.candidate.secret.clone(), path.clone())) {
                scan.hits.push(Hit {
                    path: path.clone(),
                    commit: None,
                    located,
                });
            }
        }
    };
    for reference in references.flatten() {
        let Some(mut id) = reference.target() else {
            continue;
        };
        let full = String::from_utf8_lossy(reference.name_bytes()).into_owned();
        let name = full.strip_prefix("refs/tags/").unwrap_or(&full).to_string();
        // Follow the chain of tags to what it ends at; each object once.
        while done.insert(id) {
            let object = match repo.find_object(id, None) {
                Ok(object) => object,
                Err(e) => {
                    scan.unreadable.push(Unreadable {
                        path: tag_path(&name),
                        error: format!("object {id}: {}", e.message()),
                    });
                    break;
                }
            };
            match object.kind() {
                Some(ObjectType::Tag) => {
                    let Some(tag) = object.as_tag() else { break };
                    let mut found = Vec::new();
                    let message = tag.message_bytes().unwrap_or_default();
                    let _ = scanner.scan(&mut &message[..], &mut found);
                    push(scan, TAG_MESSAGE.to_string(), found);
                    id = tag.target_id();
                }
                Some(ObjectType::Blob) => {
                    let Some(blob) = object.as_blob() else { break };
                    let mut found = Vec::new();
                    let _ = scanner.scan(&mut blob.content(), &mut found);
                    progress.item(blob.content().len() as u64);
                    scan.stats.blobs += 1;
                    push(scan, tag_path(&name), found);
                    break;
                }
                Some(ObjectType::Tree) => {
                    let Some(tree) = object.as_tree() else { break };
                    let prefix = tag_path(&name);
                    let _ = tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
                        if entry.kind() != Some(ObjectType::Blob) {
                            return git2::TreeWalkResult::Ok;
                        }
                        let path = format!(
                            "{prefix}/{dir}{}",
                            String::from_utf8_lossy(entry.name_bytes())
                        );
                        match repo.find_blob(entry.id()) {
                            Ok(blob) => {
                                let mut found = Vec::new();
                                let _ = scanner.scan(&mut blob.content(), &mut found);
                                progress.item(blob.content().len() as u64);
                                scan.stats.blobs += 1;
                                push(scan, path, found);
                            }
                            Err(e) => scan.unreadable.push(Unreadable {
                                path,
                                error: format!("blob {}: {}", entry.id(), e.message()),
                            }),
                        }
                        git2::TreeWalkResult::Ok
                    });
                    break;
                }
                _ => break,
            }
        }
    }
}

fn commit_work(repo: Option<&Repository>, scanner: &mut StreamScanner<'_>, id: Oid) -> CommitWork {
    let mut work = CommitWork {
        id,
        message: Vec::new(),
        changes: Vec::new(),
        submodules: 0,
        error: None,
    };
    let result = (|| -> Result<(), git2::Error> {
        let repo = repo.ok_or_else(|| git2::Error::from_str("cannot open the repository"))?;
        let commit = repo.find_commit(id)?;
        let _ = scanner.scan(&mut commit.message_bytes(), &mut work.message);
        let tree = commit.tree()?;
        // A shallow clone's boundary commits have no parents here: everything in them is new.
        let parents: Vec<Tree<'_>> = commit
            .parents()
            .map(|p| p.tree())
            .collect::<Result<_, _>>()?;
        let diff =
            repo.diff_tree_to_tree(parents.first(), Some(&tree), Some(&mut diff_options()))?;
        work.changes = changes_against(&parents, &diff, &mut work.submodules);
        Ok(())
    })();
    if let Err(e) = result {
        work.error = Some(e.message().to_string());
    }
    work
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_keeps_the_authors_offset() {
        assert_eq!(iso8601(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000, 60), "2023-11-14T23:13:20+01:00");
        assert_eq!(iso8601(1_700_000_000, -300), "2023-11-14T17:13:20-05:00");
    }

    #[test]
    fn raw_diff_records() {
        let a = "1".repeat(40);
        let b = "2".repeat(40);
        let raw = format!(
            ":100644 100644 {a} {b} M\0src/a b.rs\0:000000 160000 {} {b} A\0vendor/sub\0",
            "0".repeat(40)
        );
        let changes = parse_raw_diff(raw.as_bytes()).unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(
            (
                changes[0].status,
                changes[0].path.as_str(),
                changes[0].new_id.to_string()
            ),
            ('M', "src/a b.rs", b.clone())
        );
        assert_eq!(changes[1].new_mode, "160000");
        assert!(parse_raw_diff(b":100644 100644 zz yy M\0a\0").is_err());
        assert!(
            parse_raw_diff(format!(":100644 100644 {a} {b} M\0").as_bytes()).is_err(),
            "a record without its path"
        );
        assert!(parse_raw_diff(b"").unwrap().is_empty());
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("a..b").unwrap(), ("a", "b"));
        for bad in ["a", "..b", "a..", "a...b"] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn null_ids() {
        assert!(is_null_id(&"0".repeat(40)));
        assert!(is_null_id(&"0".repeat(64)));
        assert!(!is_null_id("0000"));
        assert!(!is_null_id(&"0".repeat(39)));
    }
}
