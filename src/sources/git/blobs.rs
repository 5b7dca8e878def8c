//! What the commits of a range change (per-commit tree diffs against their parents) and the
//! parallel scanning of those blobs, each once; shared by `--staged` and `--range`.

use std::collections::HashMap;
use std::collections::HashSet;
use std::path::Path;

use git2::{Delta, DiffOptions, FileMode, Oid, Repository, Tree};
use rayon::prelude::*;

use crate::findings::Secret;
use crate::matching::Matcher;
use crate::sources::archive;
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

/// The keys of one blob: in its bytes, and, for an archive, in its members.
#[derive(Debug, Default)]
pub(super) struct BlobKeys {
    pub(super) found: Vec<Located>,
    /// Keys in an archive's members, with the member's path (`inner/path`, `a.zip!b`).
    pub(super) members: Vec<(String, Located)>,
    /// What the archive's bounds stopped (the first few, and how many more).
    pub(super) bounds: Vec<archive::Skipped>,
    pub(super) bounds_more: u64,
    /// An archive left unopened (`--archive-depth 0`).
    pub(super) not_opened: bool,
}

impl BlobKeys {
    pub(super) fn is_empty(&self) -> bool {
        self.found.is_empty() && self.members.is_empty()
    }

    /// The keys of this blob that none of `parents` (the blobs of the same path in the commit's
    /// parents) holds at the same place, each with the archive member it is in: a raw key is new
    /// when no parent's version of the file holds it, a member's key when no parent's version of
    /// the archive holds it in the same member.
    pub(super) fn new_against<'a>(
        &'a self,
        parents: &[&'a BlobKeys],
    ) -> Vec<(Option<&'a str>, &'a Located)> {
        let old: HashSet<&Secret> = parents
            .iter()
            .flat_map(|k| k.found.iter().map(|l| &l.candidate.secret))
            .collect();
        let old_members: HashSet<(&str, &Secret)> = parents
            .iter()
            .flat_map(|k| k.members.iter())
            .map(|(m, l)| (m.as_str(), &l.candidate.secret))
            .collect();
        let raw = self
            .found
            .iter()
            .filter(|l| !old.contains(&l.candidate.secret))
            .map(|l| (None, l));
        let members = self
            .members
            .iter()
            .filter(|(m, l)| !old_members.contains(&(m.as_str(), &l.candidate.secret)))
            .map(|(m, l)| (Some(m.as_str()), l));
        raw.chain(members).collect()
    }
}

/// `path`, or `path!member` for a key in an archive's member.
pub(super) fn member_path(path: &str, member: Option<&str>) -> String {
    match member {
        Some(member) => crate::sources::archive::member_at(path, member),
        None => path.to_string(),
    }
}

/// Scans `content` (a blob already scanned as it is by `scanner`) as an archive when it is one.
pub(super) fn open_archive(
    scanner: &mut StreamScanner<'_>,
    content: &[u8],
    limits: &archive::Limits,
    keys: &mut BlobKeys,
) {
    let Some(kind) = scanner.archive() else {
        return;
    };
    if limits.depth == 0 {
        keys.not_opened = true;
        return;
    }
    let opened = archive::scan_bytes(scanner, "", content, kind, limits);
    // A key in a stored member is reported once, in the member.
    let in_members: HashSet<&Secret> = opened
        .hits
        .iter()
        .map(|m| &m.located.candidate.secret)
        .collect();
    keys.found
        .retain(|r| !in_members.contains(&r.candidate.secret));
    keys.members = opened
        .hits
        .into_iter()
        .map(|m| (m.member, m.located))
        .collect();
    keys.bounds_more = opened.skipped_more;
    keys.bounds = opened.skipped;
}

/// The keys of scanned blobs, and the blobs that could not be read.
pub(super) struct ScannedBlobs {
    pub(super) keys: HashMap<Oid, BlobKeys>,
    pub(super) failed: Vec<(Oid, String)>,
    /// Blobs larger than `--max-file-size`, not scanned.
    pub(super) too_large: u64,
}

/// Scans `blobs` in parallel, each once, with a repository handle per thread.
pub(super) fn scan_blobs(
    git_dir: &Path,
    matcher: &Matcher,
    blobs: Vec<Oid>,
    archives: &archive::Limits,
    max_size: Option<u64>,
    progress: &Progress,
) -> ScannedBlobs {
    let too_large = std::sync::atomic::AtomicU64::new(0);
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
                        if max_size.is_some_and(|max| content.len() as u64 > max) {
                            too_large.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            return Ok(keys);
                        }
                        scanner
                            .scan(&mut &content[..], &mut keys.found)
                            .map_err(|e| e.to_string())?;
                        open_archive(scanner, content, archives, &mut keys);
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
    ScannedBlobs {
        keys,
        failed,
        too_large: too_large.into_inner(),
    }
}

/// The parents' blobs whose keys are needed: those of changes whose new blob has keys (and that
/// were not scanned already).
pub(super) fn parents_to_scan<'c>(
    changes: impl Iterator<Item = &'c Change>,
    keys: &HashMap<Oid, BlobKeys>,
) -> Vec<Oid> {
    changes
        .filter(|c| keys.get(&c.blob).is_some_and(|k| !k.is_empty()))
        .flat_map(|c| c.parents.iter().copied())
        .filter(|p| !keys.contains_key(p))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect()
}

/// The keys of the blobs `changes` bring, each blob read once, and of the parents' blobs of the
/// changes whose new blob holds a key (read whatever their size: only their keys tell whether a key
/// is new). Blobs that could not be read, and blobs over `max_size`, are said in `scan`.
pub(super) fn scan_changes<'c>(
    git_dir: &Path,
    matcher: &Matcher,
    changes: impl Iterator<Item = &'c Change> + Clone,
    archives: &archive::Limits,
    max_size: Option<u64>,
    progress: &Progress,
    scan: &mut Scan,
) -> (HashMap<Oid, BlobKeys>, HashMap<Oid, BlobKeys>) {
    let blobs: Vec<Oid> = changes
        .clone()
        .map(|c| c.blob)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let ScannedBlobs {
        keys,
        failed,
        too_large,
    } = scan_blobs(git_dir, matcher, blobs, archives, max_size, progress);
    scan.stats.skipped_too_large += too_large;
    report_failures(changes.clone(), failed, scan);
    let parent_blobs = parents_to_scan(changes.clone(), &keys);
    let ScannedBlobs {
        keys: parent_keys,
        failed,
        ..
    } = scan_blobs(git_dir, matcher, parent_blobs, archives, None, progress);
    report_failures(changes, failed, scan);
    (keys, parent_keys)
}

/// Says what an archive's bounds stopped (a deliberate skip: a warning, counted in the summary),
/// and counts an archive left unopened.
pub(super) fn archive_bounds(path: &str, keys: &BlobKeys, scan: &mut Scan) {
    scan.stats.archives_not_opened += u64::from(keys.not_opened);
    if keys.bounds.is_empty() {
        return;
    }
    scan.stats.archive_bounds += keys.bounds.len() as u64 + keys.bounds_more;
    scan.warnings.extend(archive::describe_skips(
        &keys.bounds,
        keys.bounds_more,
        path,
    ));
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
