//! Commits scanned by their changes: each commit's tree diff against its parents (`--range`), and
//! what tags add to a history (messages, blobs and trees a tag points at).

use std::collections::HashSet;
use std::sync::Arc;

use git2::{ObjectType, Oid, Repository, Tree};
use rayon::prelude::*;

use super::blobs::{
    archive_bounds, changes_against, diff_options, member_path, scan_changes, BlobKeys, Change,
};
use super::revisions::{shallow_boundary, walk, Commits, Walked};
use super::{lookup_info, tag_path, CommitInfo, GitError, COMMIT_MESSAGE, TAG_MESSAGE};
use crate::findings::Secret;
use crate::matching::Matcher;
use crate::sources::archive;
use crate::sources::progress::Progress;
use crate::sources::stream::{Located, StreamScanner};
use crate::sources::{Hit, Scan, Unreadable};

/// What one commit contributes: its message's keys and its changes. Author and date are read
/// again, at attribution, for the few commits with findings: keeping them for every commit of a
/// long history would cost memory for nothing.
pub(super) struct CommitWork {
    id: Oid,
    message: Vec<Located>,
    changes: Vec<Change>,
    submodules: u64,
    error: Option<String>,
}

/// From how many commits on a range is read by the object engine (every object of the repository
/// once: a fixed cost, about 20 s of CPU on git/git) rather than by per-commit diffs (about 2.2 ms
/// of CPU per commit there): on git/git, 5,053 commits took 11.7 s of CPU by diffs and 20.0 s by
/// the engine, 10,128 commits 22.1 s and 20.1 s, 20,156 commits 43.1 s and 19.6 s (`bench/range.sh`).
/// `SKGUARD_RANGE_ENGINE_MIN_COMMITS` (undocumented, for tests and benchmarks) overrides it.
const RANGE_ENGINE_MIN_COMMITS: usize = 8000;

fn range_engine_threshold() -> usize {
    std::env::var("SKGUARD_RANGE_ENGINE_MIN_COMMITS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(RANGE_ENGINE_MIN_COMMITS)
}

/// Scans the history of `repo`: each distinct (key, path) once, at the commit that introduced it.
pub fn scan_history(
    repo: &Repository,
    matcher: &Matcher,
    commits: &Commits,
    archives: &archive::Limits,
    max_size: Option<u64>,
    progress: &Progress,
) -> Result<(Scan, Walked), GitError> {
    if matches!(commits, Commits::All) {
        match super::objects::scan_all(repo, matcher, archives, max_size, progress) {
            Ok(result) => return result,
            Err(super::objects::Unsupported(why)) => eprintln!(
                "skguard: note: history read commit by commit ({why}): slower, same answer"
            ),
        }
    }
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
    progress.set_commits_total(ids.len() as u64);
    // A range, as given or as the pipeline resolved it (all of history fell back here already).
    if !matches!(commits, Commits::All) && !ids.is_empty() && ids.len() >= range_engine_threshold()
    {
        match super::objects::scan_commits(
            repo, matcher, archives, max_size, progress, &ids, &boundary,
        ) {
            Ok(scan) => return Ok((scan, walked)),
            // Something is missing: the diffs below say exactly what, for this range.
            Err(super::objects::Unsupported(why)) if why.is_empty() => {}
            Err(super::objects::Unsupported(why)) => {
                eprintln!("skguard: note: range read commit by commit ({why}): slower, same answer")
            }
        }
    }
    let mut scan = Scan::default();
    scan.stats.commits = ids.len() as u64;

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
    let (keys, parent_keys) = scan_changes(
        &git_dir,
        matcher,
        changes(),
        archives,
        max_size,
        progress,
        &mut scan,
    );
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
            archive_bounds(&change.path, found, &mut scan);
            if found.is_empty() {
                continue;
            }
            let parents: Vec<&BlobKeys> = change.parents.iter().filter_map(keys_of).collect();
            for (member, located) in found.new_against(&parents) {
                let path = member_path(&change.path, member);
                if seen.insert((located.candidate.secret.clone(), path.clone())) {
                    let located = match member {
                        Some(_) => crate::sources::archive::at_outer(&change.path, located.clone()),
                        None => located.clone(),
                    };
                    scan.hits.push(Hit {
                        path,
                        commit: Some(info()),
                        located,
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

/// Annotated tags' messages, and blobs and trees that a ref (a tag) points at directly rather than
/// through a commit. Tags that end at a commit add only their messages: the walk has the commit.
pub(super) fn scan_tags(
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

pub(super) fn commit_work(
    repo: Option<&Repository>,
    scanner: &mut StreamScanner<'_>,
    id: Oid,
) -> CommitWork {
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
