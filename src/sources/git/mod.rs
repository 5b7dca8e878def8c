//! Git sources: what a commit is about to add (`--staged`), the commits of a pushed range
//! (`--range A..B`), and a repository's whole history (`--git`).
//!
//! One rule decides what is reported in every mode: a key is *new* in a commit when it is in a path
//! there and in that path in none of the commit's parents. So a moved or edited line that keeps its
//! key is not new, a key that a merge carries over from a parent is not new, and a key copied to
//! another path, or introduced by a merge resolution, is.
//!
//! - [`revisions`]: ranges, the default branch of a new branch, the commits a walk covers.
//! - [`staged`]: the index against the commit's parents (`--staged`).
//! - [`blobs`]: the per-commit changes of a range and the parallel scanning of their blobs.
//! - [`history`]: ranges by per-commit tree diffs; tags.
//! - [`objects`]: the whole history: every object once, in pack order, attributed afterwards.
//!
//! skguard only reads objects: it never runs hooks, filters or anything else a repository's
//! configuration names.

mod blobs;
pub mod history;
pub mod objects;
pub mod revisions;
pub mod staged;

use std::path::{Path, PathBuf};

use git2::{Commit, Oid, Repository};

pub use history::scan_history;
pub use revisions::{
    default_branch, is_null_id, parse_range, resolve_range, shallow_boundary, Commits,
    ResolvedRange, Walked, DEFAULT_BRANCHES,
};
pub use staged::{parse_raw_diff, scan_staged, staged_file, RawChange};

/// The path under which commit-message findings are reported.
pub use crate::findings::COMMIT_MESSAGE;

/// The path under which annotated tags' message findings are reported.
pub use crate::findings::TAG_MESSAGE;

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

pub use crate::findings::CommitInfo;

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

/// `git --git-dir GIT_DIR` as skguard runs it, whatever it is asked for: the repository's
/// configuration cannot make it run a program (no fsmonitor, no hooks), replace refs cannot change
/// what an object id reads as, and it takes no optional locks. Every git process skguard starts is
/// made here.
pub fn git_command(git_dir: &Path) -> std::process::Command {
    let mut git = std::process::Command::new("git");
    git.args([
        "-c",
        "core.fsmonitor=false",
        "-c",
        "core.hooksPath=/dev/null",
    ])
    .arg("--git-dir")
    .arg(git_dir)
    .env("GIT_NO_REPLACE_OBJECTS", "1")
    .env("GIT_OPTIONAL_LOCKS", "0");
    git
}

/// git's own plumbing for the repository, for what libgit2 is slow at: reading a large index.
/// It inherits `GIT_INDEX_FILE` (set by `git commit -a` and `git commit PATH`, which run the hook
/// with a temporary index) and takes no optional locks. Nothing it is asked for reads content, so
/// no filter, hook or textconv a repository configures ever runs.
fn plumbing(repo: &Repository, args: &[&str]) -> Result<std::process::Output, GitError> {
    git_command(repo.path())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            GitError::Usage(format!(
                "--staged runs git's plumbing (git {}) and git could not be run: {e}",
                args[0]
            ))
        })
}

/// The text of a blob at `path` in a commit's tree, if there is one.
pub fn commit_file(repo: &Repository, commit: Oid, path: &str) -> Option<Vec<u8>> {
    let tree = repo.find_commit(commit).ok()?.tree().ok()?;
    let entry = tree.get_path(Path::new(path)).ok()?;
    repo.find_blob(entry.id())
        .ok()
        .map(|b| b.content().to_vec())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_keeps_the_authors_offset() {
        assert_eq!(iso8601(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000, 60), "2023-11-14T23:13:20+01:00");
        assert_eq!(iso8601(1_700_000_000, -300), "2023-11-14T17:13:20-05:00");
    }
}
