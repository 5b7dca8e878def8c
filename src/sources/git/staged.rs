//! `--staged`: what the index adds relative to the commit's parents (HEAD, and MERGE_HEAD during a
//! merge), from git's own `diff-index`, which is fast on large indexes.

use std::path::Path;

use git2::{ObjectType, Oid, Repository, Tree};

use super::blobs::{archive_bounds, member_path, scan_changes, BlobKeys, Change};
use super::{git_err, plumbing, GitError};
use crate::matching::Matcher;
use crate::sources::archive;
use crate::sources::progress::Progress;
use crate::sources::{Hit, Scan};

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

/// The parents of the commit being made: HEAD (none on an unborn branch), and MERGE_HEAD during a
/// merge.
pub(super) fn staged_parents(repo: &mut Repository) -> Result<Vec<Oid>, GitError> {
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

pub(super) fn trees<'r>(repo: &'r Repository, ids: &[Oid]) -> Result<Vec<Tree<'r>>, GitError> {
    ids.iter()
        .map(|id| {
            repo.find_commit(*id)
                .and_then(|c| c.tree())
                .map_err(git_err(format!("commit {id}")))
        })
        .collect()
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

/// What the index changes relative to the commit's parents, from `git diff-index --cached`
/// against the first parent (the empty tree on an unborn branch); the other parents (MERGE_HEAD)
/// are looked up by path.
pub(super) fn staged_changes(
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
    archives: &archive::Limits,
    max_size: Option<u64>,
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
    let (keys, parent_keys) = scan_changes(
        &git_dir,
        matcher,
        changes.iter(),
        archives,
        max_size,
        progress,
        &mut scan,
    );
    for change in &changes {
        let Some(found) = keys.get(&change.blob) else {
            continue;
        };
        scan.stats.files += 1;
        archive_bounds(&change.path, found, &mut scan);
        let parents: Vec<&BlobKeys> = change
            .parents
            .iter()
            .filter_map(|p| parent_keys.get(p))
            .collect();
        // Every occurrence of a new key: the person fixing the commit needs every line.
        for (member, located) in found.new_against(&parents) {
            let located = match member {
                Some(_) => crate::sources::archive::at_outer(&change.path, located.clone()),
                None => located.clone(),
            };
            scan.hits.push(Hit {
                path: member_path(&change.path, member),
                commit: None,
                located,
            });
        }
    }
    // A path the commit adds (in none of its parents) with a key in its name.
    let added = changes.iter().filter(|c| c.parents.is_empty());
    crate::sources::path_keys::push_for_paths(
        &mut scan.hits,
        matcher,
        added.map(|c| c.path.as_str()),
    );
    scan.stats.blobs = (keys.len() + parent_keys.len()) as u64;
    scan.stats.bytes = progress.bytes();
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
