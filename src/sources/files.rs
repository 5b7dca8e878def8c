//! Files and folders as they are on disk.
//!
//! The `ignore` crate's parallel walker enumerates them: `.gitignore` and `.ignore` are respected
//! (unless `--no-ignore`) for untracked files only: in a git work tree, every file git tracks is
//! scanned whatever an ignore file says (as in git), hidden files are scanned (`.env` is where keys live), `.git` is never
//! entered, and symbolic links are followed only when asked (the walker detects loops). Only regular
//! files are opened, and they are opened non-blocking and checked again after opening, so a FIFO or
//! a device that appears between the walk and the open cannot hang a scan.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use ignore::{WalkBuilder, WalkState};

use super::archive::{self, ArchiveScan};
use super::progress::Progress;
use super::stream::StreamScanner;
use super::{Hit, Scan, Stats, Unreadable};
use crate::matching::Matcher;

/// How to walk.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    pub no_ignore: bool,
    pub follow: bool,
    pub max_file_size: Option<u64>,
    /// 0: as many threads as cores.
    pub threads: usize,
    /// How archives are opened (depth 0: not at all).
    pub archive: archive::Limits,
}

#[derive(Debug, Default)]
struct Counters {
    files: AtomicU64,
    bytes: AtomicU64,
    too_large: AtomicU64,
    not_regular: AtomicU64,
    symlinks: AtomicU64,
    loops: AtomicU64,
    vanished: AtomicU64,
    archives: AtomicU64,
    archive_members: AtomicU64,
    archive_bounds: AtomicU64,
    archives_not_opened: AtomicU64,
}

impl Counters {
    fn stats(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            files: get(&self.files),
            bytes: get(&self.bytes),
            skipped_too_large: get(&self.too_large),
            skipped_not_regular: get(&self.not_regular),
            skipped_symlinks: get(&self.symlinks),
            skipped_loops: get(&self.loops),
            skipped_vanished: get(&self.vanished),
            archives: get(&self.archives),
            archive_members: get(&self.archive_members),
            archive_bounds: get(&self.archive_bounds),
            archives_not_opened: get(&self.archives_not_opened),
            ..Stats::default()
        }
    }
}

/// How reported paths are made from walked ones.
#[derive(Debug, Clone)]
pub struct PathStyle {
    /// With one folder scanned, paths are relative to it; otherwise they are as typed.
    root: Option<PathBuf>,
}

impl PathStyle {
    pub fn for_roots(roots: &[PathBuf]) -> PathStyle {
        let root = match roots {
            [only] if only.is_dir() => Some(only.clone()),
            _ => None,
        };
        PathStyle { root }
    }

    pub fn display(&self, path: &Path) -> String {
        let relative = self
            .root
            .as_deref()
            .and_then(|root| path.strip_prefix(root).ok())
            .unwrap_or(path);
        let relative = relative.strip_prefix(".").unwrap_or(relative);
        let shown = relative.to_string_lossy();
        if std::path::MAIN_SEPARATOR == '/' {
            shown.into_owned()
        } else {
            shown.replace(std::path::MAIN_SEPARATOR, "/")
        }
    }
}

/// Scans `roots` (files or folders) in parallel.
pub fn scan_paths(
    matcher: &Matcher,
    roots: &[PathBuf],
    options: &WalkOptions,
    progress: &Progress,
) -> Scan {
    let style = PathStyle::for_roots(roots);
    let mut builder = WalkBuilder::new(&roots[0]);
    for root in &roots[1..] {
        builder.add(root);
    }
    let respect = !options.no_ignore;
    builder
        .hidden(false)
        .parents(respect)
        .ignore(respect)
        .git_ignore(respect)
        .git_global(respect)
        .git_exclude(respect)
        .require_git(false)
        .follow_links(options.follow)
        .threads(options.threads)
        .filter_entry(|entry| entry.file_name() != ".git");

    let shared = Shared {
        counters: Counters::default(),
        hits: Mutex::new(Vec::new()),
        unreadable: Mutex::new(Vec::new()),
        warnings: Mutex::new(Vec::new()),
        style,
        options,
        progress,
    };
    // In a git work tree, ignore rules apply to untracked files only: what git tracks is scanned
    // even where an ignore file lists it. The walk marks the tracked files it reaches; the others
    // (ignored, or in ignored folders) are scanned after it.
    let tracked = if options.no_ignore {
        Tracked::default()
    } else {
        Tracked::of(roots, &shared.warnings)
    };

    builder.build_parallel().run(|| {
        let mut scanner = StreamScanner::new(matcher);
        let mut found = Vec::new();
        let (shared, tracked) = (&shared, &tracked);
        Box::new(move |entry| {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    if is_loop(&err) {
                        shared.counters.loops.fetch_add(1, Ordering::Relaxed);
                    } else if err.io_error().is_some() {
                        let (path, error) = split_walk_error(&err, &shared.style);
                        lock(&shared.unreadable).push(Unreadable { path, error });
                    } else {
                        lock(&shared.warnings).push(err.to_string());
                    }
                    return WalkState::Continue;
                }
            };
            let Some(file_type) = entry.file_type() else {
                return WalkState::Continue;
            };
            if file_type.is_dir() {
                return WalkState::Continue;
            }
            tracked.mark(entry.path());
            // A path typed on the command line is followed even when it is a link.
            shared.file(
                &mut scanner,
                &mut found,
                entry.path(),
                file_type,
                entry.depth() == 0,
            );
            WalkState::Continue
        })
    });

    let rest = tracked.unseen();
    if !rest.is_empty() {
        use rayon::prelude::*;
        rest.par_iter().for_each_init(
            || (StreamScanner::new(matcher), Vec::new()),
            |(scanner, found), path| {
                // Tracked, but gone from the work tree (deleted, sparse): nothing to scan. A
                // folder is a submodule (a gitlink): not a file of this work tree.
                match std::fs::symlink_metadata(path) {
                    Ok(meta) if !meta.is_dir() => {
                        shared.file(scanner, found, path, meta.file_type(), false)
                    }
                    _ => {}
                }
            },
        );
    }

    let Shared {
        counters,
        hits,
        unreadable,
        warnings,
        ..
    } = shared;
    let mut unreadable = crate::into_inner(unreadable);
    unreadable.sort_by(|a, b| a.path.cmp(&b.path));
    Scan {
        hits: crate::into_inner(hits),
        stats: counters.stats(),
        unreadable,
        warnings: crate::into_inner(warnings),
    }
}

/// The hits of an opened archive at `shown!member`, and the bounds it reached as warnings. A key
/// found both in the archive's own bytes (a stored member) and in a member is reported once, in
/// the member: the raw finding is dropped from `raw`.
fn archive_hits(
    counters: &Counters,
    shown: &str,
    scan: ArchiveScan,
    raw: &mut Vec<super::Located>,
) -> (Vec<Hit>, Vec<String>) {
    counters.archives.fetch_add(1, Ordering::Relaxed);
    counters
        .archive_members
        .fetch_add(scan.members, Ordering::Relaxed);
    counters
        .archive_bounds
        .fetch_add(scan.bounds_reached(), Ordering::Relaxed);
    let in_members: std::collections::HashSet<&crate::findings::Secret> = scan
        .hits
        .iter()
        .map(|m| &m.located.candidate.secret)
        .collect();
    raw.retain(|r| !in_members.contains(&r.candidate.secret));
    let warnings = scan.describe_skips(shown);
    let hits = scan
        .hits
        .into_iter()
        .map(|m| Hit {
            path: format!("{shown}!{}", m.member),
            commit: None,
            located: archive::at_outer(shown, m.located),
        })
        .collect();
    (hits, warnings)
}

/// What the walk's threads share.
struct Shared<'a> {
    counters: Counters,
    hits: Mutex<Vec<Hit>>,
    unreadable: Mutex<Vec<Unreadable>>,
    warnings: Mutex<Vec<String>>,
    style: PathStyle,
    options: &'a WalkOptions,
    progress: &'a Progress,
}

impl Shared<'_> {
    /// Scans the file at `path` (not a folder); `explicit` when it was typed on the command line.
    fn file(
        &self,
        scanner: &mut StreamScanner<'_>,
        found: &mut Vec<super::Located>,
        path: &Path,
        file_type: std::fs::FileType,
        explicit: bool,
    ) {
        let (counters, options, style) = (&self.counters, self.options, &self.style);
        if file_type.is_symlink() && !explicit {
            counters.symlinks.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if !file_type.is_file() && !file_type.is_symlink() {
            counters.not_regular.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // The reported path is made only for files with something to report.
        match open_regular(path, options.follow || explicit) {
            Ok(Opened::File(mut file, len)) => {
                if options.max_file_size.is_some_and(|max| len > max) {
                    counters.too_large.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                found.clear();
                match scanner.scan(&mut ToItsSize::new(&mut file, len), found) {
                    Ok(bytes) => {
                        counters.files.fetch_add(1, Ordering::Relaxed);
                        counters.bytes.fetch_add(bytes, Ordering::Relaxed);
                        self.progress.item(bytes);
                        if let Some(kind) = scanner.archive().filter(|_| options.archive.depth > 0)
                        {
                            let shown = style.display(path);
                            let scan = archive::scan_file(
                                scanner,
                                &shown,
                                &mut file,
                                len,
                                kind,
                                &options.archive,
                            );
                            let (hits, warnings) = archive_hits(counters, &shown, scan, found);
                            lock(&self.hits).extend(hits);
                            lock(&self.warnings).extend(warnings);
                        } else if scanner.archive().is_some() {
                            counters.archives_not_opened.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    // Keys read before an error are reported with it.
                    Err(err) => lock(&self.unreadable).push(Unreadable {
                        path: style.display(path),
                        error: err.to_string(),
                    }),
                }
                if !found.is_empty() {
                    let shown = style.display(path);
                    let mut hits = lock(&self.hits);
                    hits.extend(found.drain(..).map(|located| Hit {
                        path: shown.clone(),
                        commit: None,
                        located,
                    }));
                    found.shrink_to(1024);
                }
                super::path_keys::push_for_file(
                    scanner.matcher(),
                    path,
                    || style.display(path),
                    &self.hits,
                );
            }
            Ok(Opened::NotRegular) => {
                counters.not_regular.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Opened::Symlink) => {
                counters.symlinks.fetch_add(1, Ordering::Relaxed);
            }
            // Listed by the walk, gone when opened: nothing is left to scan.
            Err(err) if err.kind() == io::ErrorKind::NotFound && !explicit => {
                counters.vanished.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => lock(&self.unreadable).push(Unreadable {
                path: style.display(path),
                error: err.to_string(),
            }),
        }
    }
}

/// The files git tracks under the folders scanned, named as the walk names them (as bytes: cheap
/// to hash), and whether the walk reached each.
#[derive(Default)]
struct Tracked {
    index: HashMap<Vec<u8>, usize>,
    seen: Vec<AtomicBool>,
}

impl Tracked {
    /// Reads the index of the work tree that holds each folder of `roots` (files typed on the
    /// command line are scanned whatever the ignore rules say). A repository whose index cannot
    /// be read is said in a warning; outside a repository there is nothing to do.
    fn of(roots: &[PathBuf], warnings: &Mutex<Vec<String>>) -> Tracked {
        let mut tracked = Tracked::default();
        for root in roots.iter().filter(|r| r.is_dir()) {
            let Ok(repo) = git2::Repository::discover(root) else {
                continue;
            };
            let Some(workdir) = repo.workdir() else {
                continue;
            };
            let (Ok(workdir), Ok(canonical)) = (workdir.canonicalize(), root.canonicalize()) else {
                continue;
            };
            let Ok(prefix) = canonical.strip_prefix(&workdir) else {
                continue;
            };
            // Keys are made as the walk makes its paths (`root.join(name)`), in bytes.
            let prefix = prefix.as_os_str().as_bytes();
            let root_bytes = root.as_os_str().as_bytes();
            let separator: &[u8] = if root_bytes.ends_with(b"/") {
                b""
            } else {
                b"/"
            };
            let mut add = |path: &[u8]| {
                let relative = if prefix.is_empty() {
                    Some(path)
                } else {
                    path.strip_prefix(prefix)
                        .and_then(|rest| rest.strip_prefix(b"/"))
                };
                if let Some(relative) = relative {
                    let key = [root_bytes, separator, relative].concat();
                    let next = tracked.seen.len();
                    if let std::collections::hash_map::Entry::Vacant(slot) =
                        tracked.index.entry(key)
                    {
                        slot.insert(next);
                        tracked.seen.push(AtomicBool::new(false));
                    }
                }
            };
            // git's own listing is several times faster than libgit2's index reading on a large
            // index; libgit2 when git cannot be run.
            if let Some(listing) = ls_files(repo.path()) {
                listing
                    .split(|&b| b == 0)
                    .filter(|p| !p.is_empty())
                    .for_each(&mut add);
                continue;
            }
            match repo.index() {
                Ok(index) => index.iter().for_each(|entry| add(&entry.path)),
                Err(err) => lock(warnings).push(format!(
                    "cannot read the git index of {}: files git tracks that an ignore file lists \
                     are not scanned ({}); --no-ignore scans them",
                    root.display(),
                    err.message()
                )),
            }
        }
        tracked
    }

    fn mark(&self, path: &Path) {
        if self.index.is_empty() {
            return;
        }
        if let Some(&i) = self.index.get(path.as_os_str().as_bytes()) {
            self.seen[i].store(true, Ordering::Relaxed);
        }
    }

    /// The tracked files the walk did not reach.
    fn unseen(&self) -> Vec<PathBuf> {
        let mut rest: Vec<PathBuf> = self
            .index
            .iter()
            .filter(|(_, &i)| !self.seen[i].load(Ordering::Relaxed))
            .map(|(path, _)| PathBuf::from(std::ffi::OsStr::from_bytes(path)))
            .collect();
        rest.sort();
        rest
    }
}

/// `git ls-files -z` of the repository at `git_dir`: the tracked paths, NUL-separated. It reads
/// the index only (no work tree, no content): the repository's configuration cannot make it run a
/// program (no fsmonitor), and it takes no optional locks.
fn ls_files(git_dir: &Path) -> Option<Vec<u8>> {
    let out = super::git::git_command(git_dir)
        .args(["ls-files", "-z", "--full-name"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// A poisoned lock only means another thread panicked; the data is still sound for our appends.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    crate::lock(m)
}

enum Opened {
    File(File, u64),
    NotRegular,
    Symlink,
}

/// Opens a regular file without blocking (a FIFO opened for reading would wait for a writer) and
/// without following a link unless asked; checks what was opened, since the walk saw it earlier.
fn open_regular(path: &Path, follow: bool) -> io::Result<Opened> {
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let file = match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(file) => file,
        Err(err) if err.raw_os_error() == Some(libc::ELOOP) && !follow => {
            return Ok(Opened::Symlink)
        }
        Err(err) => return Err(err),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Opened::NotRegular);
    }
    Ok(Opened::File(file, meta.len()))
}

/// A file read to the end its size says, without the read that returns nothing: a small file
/// costs one read instead of two (a tenth of the system calls of a walk). The end is taken only
/// when a read comes back short exactly at the size: a file that grew since it was opened reads
/// on, and one whose size says nothing (0 in `/proc`) is read to its end like a stream.
struct ToItsSize<R> {
    inner: R,
    size: u64,
    read: u64,
    at_end: bool,
}

impl<R: io::Read> ToItsSize<R> {
    fn new(inner: R, size: u64) -> ToItsSize<R> {
        ToItsSize {
            inner,
            size,
            read: 0,
            at_end: false,
        }
    }
}

impl<R: io::Read> io::Read for ToItsSize<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at_end || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        self.at_end = n > 0 && n < buf.len() && self.read == self.size;
        Ok(n)
    }
}

fn is_loop(err: &ignore::Error) -> bool {
    match err {
        ignore::Error::Loop { .. } => true,
        ignore::Error::WithPath { err, .. }
        | ignore::Error::WithDepth { err, .. }
        | ignore::Error::WithLineNumber { err, .. } => is_loop(err),
        _ => false,
    }
}

/// The path an error is about (if it names one) and the error without it.
fn split_walk_error(err: &ignore::Error, style: &PathStyle) -> (String, String) {
    match err {
        ignore::Error::WithPath { path, err } => (style.display(path), err.to_string()),
        ignore::Error::WithDepth { err, .. } => split_walk_error(err, style),
        other => (String::from("?"), other.to_string()),
    }
}

/// Scans standard input (or any reader) as one file called `name`.
pub fn scan_reader(matcher: &Matcher, name: &str, reader: &mut dyn io::Read) -> Scan {
    let mut scanner = StreamScanner::new(matcher);
    let mut found = Vec::new();
    let mut scan = Scan::default();
    match scanner.scan(reader, &mut found) {
        Ok(bytes) => {
            scan.stats.files = 1;
            scan.stats.bytes = bytes;
        }
        Err(err) => scan.unreadable.push(Unreadable {
            path: name.to_string(),
            error: err.to_string(),
        }),
    }
    scan.hits = found
        .into_iter()
        .map(|located| Hit {
            path: name.to_string(),
            commit: None,
            located,
        })
        .collect();
    scan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;

    fn key(body: &str) -> String {
        format!("sk_{}_{body}", "live")
    }

    fn scan_dir(dir: &Path, options: &WalkOptions) -> Scan {
        let matcher = Matcher::new(RuleSet::builtin());
        scan_paths(&matcher, &[dir.to_path_buf()], options, &Progress::hidden())
    }

    #[test]
    fn paths_are_relative_to_one_scanned_folder_and_as_typed_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let style = PathStyle::for_roots(&[dir.path().to_path_buf()]);
        assert_eq!(style.display(&dir.path().join("a/b.txt")), "a/b.txt");
        let style = PathStyle::for_roots(&[PathBuf::from("x.txt"), PathBuf::from("y")]);
        assert_eq!(style.display(Path::new("./x.txt")), "x.txt");
        assert_eq!(style.display(Path::new("y/z.txt")), "y/z.txt");
    }

    #[test]
    fn a_walk_finds_keys_in_hidden_files_and_skips_what_is_too_large() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            format!("K={}\n", key("jrpP4v2kg6cy6fXZapgy2SaT")),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("big.txt"),
            format!("{}\n{}", "x".repeat(2000), key("3QncKDXXpr6csc8sBtmgB9DB")),
        )
        .unwrap();
        let scan = scan_dir(dir.path(), &WalkOptions::default());
        let mut paths: Vec<&str> = scan.hits.iter().map(|h| h.path.as_str()).collect();
        paths.sort();
        assert_eq!(paths, [".env", "big.txt"]);
        assert_eq!(scan.stats.files, 2);

        let options = WalkOptions {
            max_file_size: Some(1000),
            ..WalkOptions::default()
        };
        let scan = scan_dir(dir.path(), &options);
        let paths: Vec<&str> = scan.hits.iter().map(|h| h.path.as_str()).collect();
        assert_eq!(paths, [".env"]);
        assert_eq!(scan.stats.skipped_too_large, 1);
    }

    #[test]
    fn gitignore_applies_outside_a_repository_unless_no_ignore() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitignore"), "ignored.txt\n").unwrap();
        std::fs::write(
            dir.path().join("ignored.txt"),
            key("ZMBJzUHh7z8uhvDQgBDJcu39"),
        )
        .unwrap();
        assert!(scan_dir(dir.path(), &WalkOptions::default())
            .hits
            .is_empty());
        let options = WalkOptions {
            no_ignore: true,
            ..WalkOptions::default()
        };
        assert_eq!(scan_dir(dir.path(), &options).hits.len(), 1);
    }

    /// A reader over `data` that counts its reads and hands out at most `step` bytes a read.
    struct Counted<'a> {
        data: &'a [u8],
        step: usize,
        reads: usize,
    }

    impl io::Read for Counted<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            let n = buf.len().min(self.step).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn read_all(data: &[u8], size: u64, step: usize, chunk: usize) -> (Vec<u8>, usize) {
        let mut counted = Counted {
            data,
            step,
            reads: 0,
        };
        let mut sized = ToItsSize::new(&mut counted, size);
        let mut out = Vec::new();
        let mut buf = vec![0; chunk];
        loop {
            let n = io::Read::read(&mut sized, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        (out, counted.reads)
    }

    #[test]
    fn a_file_is_read_to_its_size_in_one_read_and_past_it_when_it_says_more() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        // Its size, read in one short read: no second read for the end.
        assert_eq!(read_all(&data, 5000, usize::MAX, 8192), (data.clone(), 1));
        // A full buffer is not the end, even at the size: the next read tells.
        let (out, reads) = read_all(&data, 5000, usize::MAX, 5000);
        assert_eq!((out, reads), (data.clone(), 2));
        // A read that stops short before the size (a pipe-like file system) is not the end.
        assert_eq!(read_all(&data, 5000, 1000, 8192), (data.clone(), 5));
        // A file that grew since it was opened, or whose size says nothing (/proc), reads on.
        assert_eq!(read_all(&data, 3000, usize::MAX, 8192).0, data);
        assert_eq!(read_all(&data, 0, 700, 8192).0, data);
        // One that shrank ends where its bytes end.
        assert_eq!(read_all(&data, 9000, usize::MAX, 8192).0, data);
    }

    #[test]
    fn a_missing_path_is_unreadable_and_a_reader_is_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let scan = scan_dir(&dir.path().join("nonexistent"), &WalkOptions::default());
        assert_eq!(scan.unreadable.len(), 1);
        let matcher = Matcher::new(RuleSet::builtin());
        let text = format!("a\nb {}\n", key("RUT7gcNhw25PjM5shQTgLCFw"));
        let scan = scan_reader(&matcher, "-", &mut text.as_bytes());
        assert_eq!(scan.stats.files, 1);
        assert_eq!(scan.hits.len(), 1);
        assert_eq!(scan.hits[0].path, "-");
        assert_eq!(scan.hits[0].located.line, 2);
    }
}
