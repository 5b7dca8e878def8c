//! The whole history (`--git`), object by object: scan first, attribute later.
//!
//! 1. One pass over every object of the repository in pack order (`git cat-file --batch-all-objects
//!    --batch --unordered`, which inflates each object once, resolves deltas from its cache and
//!    streams a blob stored whole): every blob is scanned once, as it streams past; commit and tag
//!    messages are scanned too; trees are kept as compact lists of child numbers, and commits as
//!    their root tree and parents. Only the few blobs that hold a key keep their findings.
//! 2. The commits reachable from the refs (and HEAD), parents before children; a shallow clone's
//!    boundary commits have no parents here.
//! 3. Whether each distinct tree holds a key-bearing blob, memoised per tree: each tree is visited
//!    once, and a missing tree or blob is found on the way (and named with its path).
//! 4. Attribution, only for commits whose root tree holds a key: the key-bearing (path, blob) pairs
//!    of a tree are listed once per tree (reading its names with libgit2), and the SPEC's newness
//!    rule is applied against the same lists of the parents.
//!
//! Unreachable objects are read (pack order is what makes the pass fast) but never reported.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::rc::Rc;
use std::sync::Arc;

use git2::{Oid, Repository};

use super::revisions::{shallow_boundary, Walked};
use super::{lookup_info, CommitInfo, GitError, COMMIT_MESSAGE};
use crate::findings::Secret;
use crate::matching::Matcher;
use crate::sources::archive;
use crate::sources::progress::Progress;
use crate::sources::stream::{Located, StreamScanner};
use crate::sources::{Hit, Scan, Unreadable};

/// A SHA-1 object id.
type Id = [u8; 20];

/// Object ids are uniformly random: their first 8 bytes are a good hash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        if bytes.len() >= 8 {
            self.0 = u64::from_le_bytes(bytes[..8].try_into().unwrap_or_default());
        } else {
            for &b in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(b);
            }
        }
    }
}

type IdMap<V> = HashMap<Id, V, BuildHasherDefault<IdHasher>>;

const UNSEEN: u8 = 0;
const BLOB: u8 = 1;
const TREE: u8 = 2;
const COMMIT: u8 = 3;
const TAG: u8 = 4;

/// A child of a tree: its object number, with this bit set for a subtree.
const SUBTREE: u32 = 1 << 31;

/// Everything the pass over the objects keeps.
#[derive(Default)]
struct Objects {
    numbers: IdMap<u32>,
    ids: Vec<Id>,
    /// The kind of each object as read (UNSEEN: referenced, never read: missing).
    kinds: Vec<u8>,
    /// Per object number: the tree's children in `children`, as (start, len).
    trees: Vec<(u32, u32)>,
    children: Vec<u32>,
    /// Submodule entries (gitlinks) met in trees, by the commit they name.
    gitlinks: HashSet<u32>,
    /// Per commit number: its root tree and its parents.
    commits: HashMap<u32, (u32, Vec<u32>)>,
    /// Findings in blobs and in commit messages, by object number (only those with findings).
    blob_keys: HashMap<u32, Vec<Located>>,
    message_keys: HashMap<u32, Vec<Located>>,
    /// Blobs whose first bytes say they are archives: opened after the pass.
    archives: Vec<u32>,
    /// Keys in archive members, by blob number (a key-bearing archive also has a `blob_keys`
    /// entry, possibly empty, so that the trees holding it are found).
    member_keys: HashMap<u32, Vec<(String, Located)>>,
    blobs_read: u64,
    /// Objects git listed and then could not read ("<id> missing" from `cat-file`): corrupt,
    /// not absent.
    unreadable: HashSet<u32>,
}

impl Objects {
    fn number(&mut self, id: &Id) -> u32 {
        if let Some(&n) = self.numbers.get(id) {
            return n;
        }
        let n = self.ids.len() as u32;
        self.ids.push(*id);
        self.kinds.push(UNSEEN);
        self.trees.push((0, 0));
        self.numbers.insert(*id, n);
        n
    }

    fn oid(&self, n: u32) -> Oid {
        Oid::from_bytes(&self.ids[n as usize]).unwrap_or(Oid::ZERO_SHA1)
    }
}

fn hex_id(hex: &[u8]) -> Option<Id> {
    if hex.len() != 40 {
        return None;
    }
    let mut id = [0u8; 20];
    for (i, pair) in hex.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        id[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(id)
}

/// The history engine could not run on this repository (another object format, no `git`): the
/// caller falls back to per-commit diffs.
#[derive(Debug)]
pub struct Unsupported(pub String);

/// Reads every object once (see the module's documentation).
fn read_objects(
    repo: &Repository,
    matcher: &Matcher,
    max_size: Option<u64>,
    progress: &Progress,
    scan: &mut Scan,
) -> Result<Objects, Unsupported> {
    let mut child = super::git_command(repo.path())
        // Memory: git maps pack windows of up to 1 GiB each by default and keeps them while it
        // reads on; smaller windows under a bound keep its resident memory bounded too.
        .args([
            "-c",
            "core.packedGitWindowSize=32m",
            "-c",
            "core.packedGitLimit=128m",
        ])
        .args(["cat-file", "--batch-all-objects", "--batch", "--unordered"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Unsupported(format!("git could not be run: {e}")))?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr)
            .take(64 * 1024)
            .read_to_string(&mut text);
        text
    });
    let mut input = BufReader::with_capacity(1 << 20, stdout);
    let mut objects = Objects::default();
    let mut scanner = StreamScanner::new(matcher);
    let mut header = Vec::with_capacity(128);
    let mut body = Vec::new();
    let mut found = Vec::new();
    let mut failure = None;
    loop {
        header.clear();
        match input.read_until(b'\n', &mut header) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                failure = Some(format!("reading git cat-file: {e}"));
                break;
            }
        }
        let line = header.strip_suffix(b"\n").unwrap_or(&header);
        let mut parts = line.split(|&b| b == b' ');
        let (Some(hex), Some(kind), Some(size)) = (parts.next(), parts.next(), parts.next()) else {
            // "<id> missing": an object git listed and then could not read (corrupt, or gone).
            match (
                line.strip_suffix(b" missing").and_then(hex_id),
                failure.is_none(),
            ) {
                (Some(id), first) => {
                    let n = objects.number(&id);
                    objects.unreadable.insert(n);
                    if first {
                        failure = Some(format!(
                            "git cat-file could not read object {}",
                            objects.oid(n)
                        ));
                    }
                }
                (None, _) => {
                    failure = Some(format!(
                        "git cat-file: {}",
                        String::from_utf8_lossy(line).trim()
                    ))
                }
            }
            continue;
        };
        let Some(id) = hex_id(hex) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Unsupported("object ids that are not SHA-1".into()));
        };
        let Some(size) = std::str::from_utf8(size)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        else {
            failure = Some(format!(
                "git cat-file: unexpected {:?}",
                String::from_utf8_lossy(line)
            ));
            break;
        };
        let n = objects.number(&id);
        let result = if kind == b"blob" && max_size.is_some_and(|max| size > max) {
            // Larger than --max-file-size: passed over unread, and counted.
            objects.kinds[n as usize] = BLOB;
            scan.stats.skipped_too_large += 1;
            std::io::copy(&mut (&mut input).take(size), &mut std::io::sink()).map(|_| ())
        } else if kind == b"blob" {
            objects.kinds[n as usize] = BLOB;
            found.clear();
            let mut content = (&mut input).take(size);
            let result = scanner.scan(&mut content, &mut found);
            // Whatever the scanner left unread (it stops early on nothing) is drained.
            let _ = std::io::copy(&mut content, &mut std::io::sink());
            objects.blobs_read += 1;
            progress.item(size);
            if !found.is_empty() {
                objects.blob_keys.insert(n, std::mem::take(&mut found));
            }
            if scanner.archive().is_some() {
                objects.archives.push(n);
                // Until it is opened, an archive counts as key-bearing: a tree read after it must
                // keep it among its children (`open_archives` drops the entry if it holds none).
                objects.blob_keys.entry(n).or_default();
            }
            result.map(|_| ())
        } else {
            body.clear();
            let result = (&mut input).take(size).read_to_end(&mut body);
            if let Ok(read) = result {
                if read as u64 != size {
                    failure = Some("git cat-file: output ended inside an object".into());
                    break;
                }
            }
            match kind {
                b"tree" => {
                    objects.kinds[n as usize] = TREE;
                    parse_tree(&mut objects, n, &body);
                }
                b"commit" => {
                    objects.kinds[n as usize] = COMMIT;
                    parse_commit(&mut objects, n, &body, &mut scanner);
                }
                b"tag" => objects.kinds[n as usize] = TAG,
                _ => {}
            }
            result.map(|_| ())
        };
        if let Err(e) = result {
            failure = Some(format!("reading git cat-file: {e}"));
            break;
        }
        let mut newline = [0u8; 1];
        if input.read_exact(&mut newline).is_err() || newline[0] != b'\n' {
            failure = Some("git cat-file: output out of step".into());
            break;
        }
    }
    drop(input);
    let status = child.wait();
    let errors = errors.join().unwrap_or_default();
    let ok = status.as_ref().is_ok_and(|s| s.success());
    if !ok || failure.is_some() {
        let mut what = failure.unwrap_or_else(|| "git cat-file failed".to_string());
        if objects.unreadable.len() > 1 {
            what.push_str(&format!(" and {} more", objects.unreadable.len() - 1));
        }
        // git's own lines, one after the other.
        let said: Vec<&str> = errors
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        scan.unreadable.push(Unreadable {
            path: repo.path().display().to_string(),
            error: if said.is_empty() {
                what
            } else {
                format!("{what}: {}", said.join("; "))
            },
        });
    }
    Ok(objects)
}

/// Tree entries: `mode SP name NUL id(20)`.
fn parse_tree(objects: &mut Objects, n: u32, body: &[u8]) {
    let start = objects.children.len() as u32;
    let mut rest = body;
    while let Some(space) = memchr::memchr(b' ', rest) {
        let mode = &rest[..space];
        let Some(nul) = memchr::memchr(0, &rest[space..]).map(|i| space + i) else {
            break;
        };
        let Some(id) = rest.get(nul + 1..nul + 21) else {
            break;
        };
        let id: Id = id.try_into().unwrap_or_default();
        rest = &rest[nul + 21..];
        let child = objects.number(&id);
        match mode {
            b"40000" | b"040000" => objects.children.push(child | SUBTREE),
            b"160000" => {
                objects.gitlinks.insert(child);
            }
            // A blob already read without a key is present and adds nothing to attribution: only
            // blobs with keys and blobs not read yet (checked once the pass is over) are kept.
            _ if objects.kinds[child as usize] == BLOB
                && !objects.blob_keys.contains_key(&child) => {}
            _ => objects.children.push(child),
        }
    }
    let len = objects.children.len() as u32 - start;
    objects.trees[n as usize] = (start, len);
}

/// A commit's tree and parents from its headers, and the keys in its message.
fn parse_commit(objects: &mut Objects, n: u32, body: &[u8], scanner: &mut StreamScanner<'_>) {
    let (headers, message) = match memchr::memmem::find(body, b"\n\n") {
        Some(i) => (&body[..i + 1], &body[i + 2..]),
        None => (body, &b""[..]),
    };
    let mut tree = None;
    let mut parents = Vec::new();
    // `tree` comes first, then the `parent`s; what follows (author, committer, signatures) is not
    // needed.
    for line in headers.split(|&b| b == b'\n') {
        if let Some(hex) = line.strip_prefix(b"tree ") {
            tree = hex_id(hex).map(|id| objects.number(&id));
        } else if let Some(hex) = line.strip_prefix(b"parent ") {
            if let Some(id) = hex_id(hex) {
                parents.push(objects.number(&id));
            }
        } else {
            break;
        }
    }
    if let Some(tree) = tree {
        objects.commits.insert(n, (tree, parents));
    }
    let mut found = Vec::new();
    let _ = scanner.scan(&mut &message[..], &mut found);
    if !found.is_empty() {
        objects.message_keys.insert(n, found);
    }
}

/// The commits reachable from `roots`, parents before children (a post-order walk), with shallow
/// boundaries cut and missing parents named.
fn reachable(
    objects: &Objects,
    roots: &[u32],
    boundary: &HashSet<u32>,
    scan: &mut Scan,
) -> Vec<u32> {
    let mut order = Vec::new();
    let mut state: HashMap<u32, bool> = HashMap::new(); // false: entered, true: done
    let mut stack: Vec<(u32, usize)> = Vec::new();
    for &root in roots {
        if state.contains_key(&root) {
            continue;
        }
        state.insert(root, false);
        stack.push((root, 0));
        while let Some((commit, next)) = stack.pop() {
            let parents: &[u32] = if boundary.contains(&commit) {
                &[]
            } else {
                objects.commits.get(&commit).map_or(&[], |(_, p)| p)
            };
            if let Some(&parent) = parents.get(next) {
                stack.push((commit, next + 1));
                if state.contains_key(&parent) {
                    continue;
                }
                if !objects.commits.contains_key(&parent) {
                    state.insert(parent, true);
                    scan.unreadable.push(Unreadable {
                        path: format!("commit {}", objects.oid(parent)),
                        error: format!(
                            "missing: the parent of commit {} is not in this repository",
                            objects.oid(commit)
                        ),
                    });
                    continue;
                }
                state.insert(parent, false);
                stack.push((parent, 0));
            } else {
                state.insert(commit, true);
                order.push(commit);
            }
        }
    }
    order
}

/// Per tree: whether it holds a key-bearing blob, each tree visited once; missing trees and blobs
/// are collected with the trees on the way to them.
struct KeyTrees<'o> {
    objects: &'o Objects,
    /// 0: not visited, 1: no key, 2: holds a key.
    state: Vec<u8>,
    blob_seen: Vec<bool>,
    /// (missing object, the trees from a root tree down to the tree that names it).
    missing: Vec<(u32, Vec<u32>)>,
    path: Vec<u32>,
}

impl<'o> KeyTrees<'o> {
    fn new(objects: &'o Objects) -> Self {
        KeyTrees {
            objects,
            state: vec![0; objects.ids.len()],
            blob_seen: vec![false; objects.ids.len()],
            missing: Vec::new(),
            path: Vec::new(),
        }
    }

    fn has_key(&mut self, tree: u32) -> bool {
        match self.state[tree as usize] {
            1 => return false,
            2 => return true,
            _ => {}
        }
        if self.objects.kinds[tree as usize] != TREE {
            self.state[tree as usize] = 1;
            self.missing.push((tree, self.path.clone()));
            return false;
        }
        self.path.push(tree);
        let (start, len) = self.objects.trees[tree as usize];
        let mut key = false;
        for i in start..start + len {
            let child = self.objects.children[i as usize];
            if child & SUBTREE != 0 {
                key |= self.has_key(child & !SUBTREE);
            } else if !self.blob_seen[child as usize] {
                self.blob_seen[child as usize] = true;
                if self.objects.kinds[child as usize] != BLOB {
                    self.missing.push((child, self.path.clone()));
                }
                key |= self.objects.blob_keys.contains_key(&child);
            } else {
                key |= self.objects.blob_keys.contains_key(&child);
            }
        }
        self.path.pop();
        self.state[tree as usize] = if key { 2 } else { 1 };
        key
    }
}

/// The key-bearing (path, blob) pairs under a tree, listed once per tree.
type KeyPaths = Rc<Vec<(String, u32)>>;

struct Lister<'a> {
    repo: &'a Repository,
    objects: &'a Objects,
    keys: &'a KeyTrees<'a>,
    memo: HashMap<u32, KeyPaths>,
}

impl Lister<'_> {
    fn list(&mut self, tree: u32, scan: &mut Scan) -> KeyPaths {
        if let Some(list) = self.memo.get(&tree) {
            return list.clone();
        }
        let mut list = Vec::new();
        if self.keys.state[tree as usize] == 2 {
            match self.repo.find_tree(self.objects.oid(tree)) {
                Ok(t) => {
                    for entry in t.iter() {
                        let Some(&child) = self.objects.numbers.get(entry.id().as_bytes()) else {
                            continue;
                        };
                        let name = String::from_utf8_lossy(entry.name_bytes()).replace('\\', "/");
                        match entry.filemode() {
                            0o160000 => {}
                            0o040000 => {
                                if self.keys.state[child as usize] == 2 {
                                    for (path, blob) in self.list(child, scan).iter() {
                                        list.push((format!("{name}/{path}"), *blob));
                                    }
                                }
                            }
                            _ => {
                                if self.objects.blob_keys.contains_key(&child) {
                                    list.push((name, child));
                                }
                            }
                        }
                    }
                }
                Err(e) => scan.unreadable.push(Unreadable {
                    path: format!("tree {}", self.objects.oid(tree)),
                    error: e.message().to_string(),
                }),
            }
        }
        let list = Rc::new(list);
        self.memo.insert(tree, list.clone());
        list
    }
}

/// The path of a missing object: the names of the trees on the way to it, read with libgit2.
fn missing_path(repo: &Repository, objects: &Objects, missing: u32, trees: &[u32]) -> String {
    let mut names = Vec::new();
    let targets = trees
        .iter()
        .skip(1)
        .copied()
        .chain(std::iter::once(missing));
    for (&tree, target) in trees.iter().zip(targets) {
        let name = repo.find_tree(objects.oid(tree)).ok().and_then(|t| {
            t.iter()
                .find(|e| e.id() == objects.oid(target))
                .map(|e| String::from_utf8_lossy(e.name_bytes()).into_owned())
        });
        names.push(name.unwrap_or_else(|| "?".into()));
    }
    if names.is_empty() {
        format!("tree {}", objects.oid(missing))
    } else {
        names.join("/")
    }
}

/// Opens the archives the pass met (they are rare: each is read again, whole, with libgit2) and
/// keeps the keys of their members.
fn open_archives(
    repo: &Repository,
    matcher: &Matcher,
    limits: &archive::Limits,
    objects: &mut Objects,
    scan: &mut Scan,
) {
    let archives = std::mem::take(&mut objects.archives);
    if limits.depth == 0 {
        scan.stats.archives_not_opened += archives.len() as u64;
    }
    let mut scanner = StreamScanner::new(matcher);
    for &n in archives.iter().filter(|_| limits.depth > 0) {
        let oid = objects.oid(n);
        let Ok(blob) = repo.find_blob(oid) else {
            // The pass read it; a second read failing is said, not fatal to the answer.
            scan.warnings.push(format!(
                "blob {oid}: could not be read again to open it as an archive"
            ));
            continue;
        };
        let content = blob.content();
        let Some(kind) = archive::sniff(content) else {
            continue;
        };
        let opened = archive::scan_bytes(&mut scanner, "", content, kind, limits);
        scan.stats.archives += 1;
        scan.stats.archive_members += opened.members;
        scan.stats.archive_bounds += opened.bounds_reached();
        let name = format!("blob {oid}");
        scan.warnings.extend(opened.describe_skips(&name));
        if opened.hits.is_empty() {
            continue;
        }
        let raw = objects.blob_keys.entry(n).or_default();
        // A key in a stored member is reported once, in the member.
        let in_members: HashSet<&Secret> = opened
            .hits
            .iter()
            .map(|m| &m.located.candidate.secret)
            .collect();
        raw.retain(|r| !in_members.contains(&r.candidate.secret));
        objects.member_keys.insert(
            n,
            opened
                .hits
                .into_iter()
                .map(|m| (m.member, m.located))
                .collect(),
        );
    }
    // Archives without a key, in their bytes or their members, are like any other blob.
    for n in archives {
        if objects.blob_keys.get(&n).is_some_and(|k| k.is_empty())
            && !objects.member_keys.contains_key(&n)
        {
            objects.blob_keys.remove(&n);
        }
    }
}

/// Scans every commit reachable from any ref (and HEAD): each distinct (key, path) once, at the
/// commit that introduced it. `Err` when this engine cannot read the repository: the caller falls
/// back to per-commit diffs.
pub fn scan_all(
    repo: &Repository,
    matcher: &Matcher,
    archives: &archive::Limits,
    max_size: Option<u64>,
    progress: &Progress,
) -> Result<Result<(Scan, Walked), GitError>, Unsupported> {
    let mut scan = Scan::default();
    let mut objects = read_objects(repo, matcher, max_size, progress, &mut scan)?;
    open_archives(repo, matcher, archives, &mut objects, &mut scan);

    // The refs' commits (tags peeled; blobs and trees tags point at are the tag pass's).
    let mut roots = Vec::new();
    let mut tips: Vec<Oid> = Vec::new();
    match repo.references() {
        Ok(references) => {
            for reference in references.flatten() {
                if let Ok(commit) = reference.peel_to_commit() {
                    tips.push(commit.id());
                }
            }
        }
        Err(e) => return Ok(Err(super::git_err("listing refs")(e))),
    }
    if let Ok(head) = repo.head().and_then(|h| h.peel_to_commit()) {
        tips.push(head.id());
    }
    for tip in tips {
        match objects.numbers.get(tip.as_bytes()) {
            Some(&n) if objects.commits.contains_key(&n) => roots.push(n),
            _ => scan.unreadable.push(Unreadable {
                path: format!("commit {tip}"),
                error: "a ref names it, and it could not be read".into(),
            }),
        }
    }
    let boundary_ids = shallow_boundary(repo);
    let boundary: HashSet<u32> = boundary_ids
        .iter()
        .filter_map(|id| objects.numbers.get(id.as_bytes()).copied())
        .collect();
    let order = reachable(&objects, &roots, &boundary, &mut scan);
    let walked = Walked {
        range: None,
        shallow: order
            .iter()
            .filter(|c| boundary.contains(c))
            .map(|&c| objects.oid(c).to_string())
            .collect(),
    };
    scan.stats.commits = order.len() as u64;
    progress.set_commits_total(order.len() as u64);
    let mut keys = KeyTrees::new(&objects);
    let mut seen = attribute(
        repo, &objects, &mut keys, &order, &boundary, &mut scan, progress,
    );
    super::history::scan_tags(repo, matcher, &mut seen, &mut scan, progress);
    scan.stats.bytes = progress.bytes();
    Ok(Ok((scan, walked)))
}

/// The commits of `order` (parents before children) whose root trees hold a key, or whose messages
/// do: each distinct (key, path) once, at the first commit of `order` that introduces it against its
/// parents (which may lie outside `order`). Missing trees and blobs met under the trees of `order`
/// are reported. `keys` must be fresh: every tree it is asked about is visited once.
fn attribute<'o>(
    repo: &Repository,
    objects: &'o Objects,
    keys: &mut KeyTrees<'o>,
    order: &[u32],
    boundary: &HashSet<u32>,
    scan: &mut Scan,
    progress: &Progress,
) -> HashSet<(Secret, String)> {
    let mut key_commits = Vec::with_capacity(order.len());
    for &commit in order {
        let (tree, parents) = &objects.commits[&commit];
        let has = keys.has_key(*tree);
        // The parents' trees are needed to tell what is new; in a range they may lie outside it.
        if has && !boundary.contains(&commit) {
            for parent in parents {
                if let Some((tree, _)) = objects.commits.get(parent) {
                    keys.has_key(*tree);
                }
            }
        }
        key_commits.push(has);
    }
    for (missing, trees) in std::mem::take(&mut keys.missing) {
        let kind = if trees.is_empty() { "tree" } else { "object" };
        let why = if objects.unreadable.contains(&missing) {
            "in the repository but cannot be read (damaged? `git fsck` says more)"
        } else {
            "missing from the repository"
        };
        scan.unreadable.push(Unreadable {
            path: missing_path(repo, objects, missing, &trees),
            error: format!("{kind} {}: {why}", objects.oid(missing)),
        });
    }
    scan.stats.blobs = objects.blobs_read;
    scan.stats.files = objects.blobs_read;
    scan.stats.submodules = objects.gitlinks.len() as u64;

    // Attribution, parents before children: the first commit that introduces (key, path) wins.
    let mut lister = Lister {
        repo,
        objects,
        keys: &*keys,
        memo: HashMap::new(),
    };
    let mut seen: HashSet<(Secret, String)> = HashSet::new();
    for (&commit, &has) in order.iter().zip(&key_commits) {
        progress.commit();
        let message = objects.message_keys.get(&commit);
        if !has && message.is_none() {
            continue;
        }
        let mut info: Option<Arc<CommitInfo>> = None;
        let mut info = || {
            info.get_or_insert_with(|| Arc::new(lookup_info(repo, objects.oid(commit))))
                .clone()
        };
        for located in message.into_iter().flatten() {
            if seen.insert((located.candidate.secret.clone(), COMMIT_MESSAGE.to_string())) {
                scan.hits.push(Hit {
                    path: COMMIT_MESSAGE.to_string(),
                    commit: Some(info()),
                    located: located.clone(),
                });
            }
        }
        if !has {
            continue;
        }
        let (tree, parents) = &objects.commits[&commit];
        let list = lister.list(*tree, scan);
        let parents: &[u32] = if boundary.contains(&commit) {
            &[]
        } else {
            parents
        };
        let parent_paths: Vec<KeyPaths> = parents
            .iter()
            .filter_map(|p| objects.commits.get(p))
            .map(|(t, _)| lister.list(*t, scan))
            .collect();
        let parent_lists: Vec<HashMap<&str, u32>> = parent_paths
            .iter()
            .map(|l| l.iter().map(|(p, b)| (p.as_str(), *b)).collect())
            .collect();
        for (path, blob) in list.iter() {
            let in_parents: Vec<u32> = parent_lists
                .iter()
                .filter_map(|m| m.get(path.as_str()).copied())
                .collect();
            // A blob that one parent already has at this path adds nothing.
            if in_parents.contains(blob) {
                continue;
            }
            let old: HashSet<&Secret> = in_parents
                .iter()
                .filter_map(|b| objects.blob_keys.get(b))
                .flatten()
                .map(|l| &l.candidate.secret)
                .collect();
            for located in &objects.blob_keys[blob] {
                let secret = &located.candidate.secret;
                if !old.contains(secret) && seen.insert((secret.clone(), path.clone())) {
                    scan.hits.push(Hit {
                        path: path.clone(),
                        commit: Some(info()),
                        located: located.clone(),
                    });
                }
            }
            // Keys in an archive's members are new when no parent's version of the archive holds
            // them in the same member.
            let Some(members) = objects.member_keys.get(blob) else {
                continue;
            };
            let old_members: HashSet<(&str, &Secret)> = in_parents
                .iter()
                .filter_map(|b| objects.member_keys.get(b))
                .flatten()
                .map(|(m, l)| (m.as_str(), &l.candidate.secret))
                .collect();
            for (member, located) in members {
                let secret = &located.candidate.secret;
                let at = archive::member_at(path, member);
                if !old_members.contains(&(member.as_str(), secret))
                    && seen.insert((secret.clone(), at.clone()))
                {
                    scan.hits.push(Hit {
                        path: at,
                        commit: Some(info()),
                        located: archive::at_outer(path, located.clone()),
                    });
                }
            }
        }
    }
    seen
}

/// Scans the commits `ids` (a range's, parents before children, as the walk resolved them) with the
/// same engine: every object once, then attribution of `ids` only, each commit's keys new against
/// its parents' versions of the path (parents outside `ids` included; `boundary`: a shallow clone's
/// boundary commits, which have none here), and the messages of `ids`.
///
/// `Err` when this engine cannot give the answer that per-commit diffs would here: a repository it
/// cannot read, a commit, parent, tree or blob it does not have (the empty reason: the diffs name
/// exactly what a range is missing). The caller then reads the range commit by commit.
pub(super) fn scan_commits(
    repo: &Repository,
    matcher: &Matcher,
    archives: &archive::Limits,
    max_size: Option<u64>,
    progress: &Progress,
    ids: &[Oid],
    boundary: &HashSet<Oid>,
) -> Result<Scan, Unsupported> {
    let incomplete = || Unsupported(String::new());
    let mut scan = Scan::default();
    let mut objects = read_objects(repo, matcher, max_size, progress, &mut scan)?;
    if !scan.unreadable.is_empty() {
        return Err(incomplete());
    }
    let boundary: HashSet<u32> = boundary
        .iter()
        .filter_map(|id| objects.numbers.get(id.as_bytes()).copied())
        .collect();
    let mut order = Vec::with_capacity(ids.len());
    for id in ids {
        let n = match objects.numbers.get(id.as_bytes()) {
            Some(&n) if objects.commits.contains_key(&n) => n,
            _ => return Err(incomplete()),
        };
        let parents = &objects.commits[&n].1;
        if !boundary.contains(&n) && parents.iter().any(|p| !objects.commits.contains_key(p)) {
            return Err(incomplete());
        }
        order.push(n);
    }
    open_archives(repo, matcher, archives, &mut objects, &mut scan);
    scan.stats.commits = order.len() as u64;
    let mut keys = KeyTrees::new(&objects);
    attribute(
        repo, &objects, &mut keys, &order, &boundary, &mut scan, progress,
    );
    if !scan.unreadable.is_empty() {
        return Err(incomplete());
    }
    scan.stats.bytes = progress.bytes();
    Ok(scan)
}
