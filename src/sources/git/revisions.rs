//! Revisions: `A..B` ranges, the default branch a new branch is compared with, shallow
//! boundaries, and the commits a history scan walks.

use std::collections::HashSet;

use git2::{Oid, Repository, Sort};

use super::{git_err, GitError};

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
    /// A range already resolved (by the pipeline, which also takes the configuration from its
    /// base): resolved once, read once.
    Resolved(ResolvedRange),
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
            // `describe` says what is wrong and how to fetch it: this names only what it resolved.
            .map_err(git_err(format!("--default-branch {name:?}")))?;
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
pub(super) fn walk(
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
        Commits::Range { .. } | Commits::Resolved(_) => {
            let range = match commits {
                Commits::Range {
                    base,
                    tip,
                    default_branch,
                } => resolve_range(repo, base, tip, default_branch.as_deref())?,
                Commits::Resolved(range) => range.clone(),
                Commits::All => unreachable!("matched above"),
            };
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

#[cfg(test)]
mod tests {
    use super::*;

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
