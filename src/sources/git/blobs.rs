//! What the commits of a range change (per-commit tree diffs against their parents) and the
//! parallel scanning of those blobs, each once; shared by `--staged` and `--range`.

use std::collections::HashMap;
use std::collections::HashSet;
use std::path::Path;

use git2::{Delta, DiffOptions, FileMode, Oid, Repository, Tree};
use rayon::prelude::*;

use crate::findings::Secret;
use crate::matching::Matcher;
use crate::sources::progress::Progress;
use crate::sources::stream::{Located, StreamScanner};
use crate::sources::{Scan, Unreadable};

pub(super) fn diff_options() -> DiffOptions {
    let mut opts = DiffOptions::new();
    // Only which blobs changed matters here: never load content to guess whether it is binary.
    opts.skip_binary_check(true)
        .include_typechange(true)
        .ignore_submodules(true);
    opts
}

/// A path a commit (or the index) changed, and the blob it has there now.
#[derive(Debug, Clone)]
pub(super) struct Change {
    pub(super) path: String,
    pub(super) blob: Oid,
    /// The blobs of the same path in the parents that have it (differing from `blob`).
    pub(super) parents: Vec<Oid>,
}

/// The changes of a commit (or of the index) against its parents: every added or modified path
/// whose blob differs from the blob of that path in each parent. `diff` is against the first parent;
/// the other parents are looked up by path. Submodules (gitlinks) are not entered, only counted.
pub(super) fn changes_against(
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
pub(super) struct BlobKeys {
    pub(super) found: Vec<Located>,
}

impl BlobKeys {
    pub(super) fn keys(&self) -> impl Iterator<Item = &Secret> {
        self.found.iter().map(|l| &l.candidate.secret)
    }
}

/// The keys of scanned blobs, and the blobs that could not be read.
pub(super) struct ScannedBlobs {
    pub(super) keys: HashMap<Oid, BlobKeys>,
    pub(super) failed: Vec<(Oid, String)>,
}

/// Scans `blobs` in parallel, each once, with a repository handle per thread.
pub(super) fn scan_blobs(
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

/// The parents' blobs whose keys are needed: those of changes whose new blob has keys (and that
/// were not scanned already).
pub(super) fn parents_to_scan<'c>(
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

pub(super) fn report_failures<'c>(
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
