//! Files and folders as they are on disk.
//!
//! The `ignore` crate's parallel walker enumerates them: `.gitignore` and `.ignore` are respected
//! (unless `--no-ignore`), hidden files are scanned (`.env` is where keys live), `.git` is never
//! entered, and symbolic links are followed only when asked (the walker detects loops). Only regular
//! files are opened, and they are opened non-blocking and checked again after opening, so a FIFO or
//! a device that appears between the walk and the open cannot hang a scan.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
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

    let counters = Counters::default();
    let hits = Mutex::new(Vec::new());
    let unreadable = Mutex::new(Vec::new());
    let warnings = Mutex::new(Vec::new());

    builder.build_parallel().run(|| {
        let mut scanner = StreamScanner::new(matcher);
        let mut found = Vec::new();
        let (counters, hits, unreadable, warnings, style) =
            (&counters, &hits, &unreadable, &warnings, &style);
        Box::new(move |entry| {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    if is_loop(&err) {
                        counters.loops.fetch_add(1, Ordering::Relaxed);
                    } else if err.io_error().is_some() {
                        let (path, error) = split_walk_error(&err, style);
                        lock(unreadable).push(Unreadable { path, error });
                    } else {
                        lock(warnings).push(err.to_string());
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
            // A path typed on the command line is followed even when it is a link.
            let explicit = entry.depth() == 0;
            if file_type.is_symlink() && !explicit {
                counters.symlinks.fetch_add(1, Ordering::Relaxed);
                return WalkState::Continue;
            }
            if !file_type.is_file() && !file_type.is_symlink() {
                counters.not_regular.fetch_add(1, Ordering::Relaxed);
                return WalkState::Continue;
            }
            let path = entry.path();
            // The reported path is made only for files with something to report.
            match open_regular(path, options.follow || explicit) {
                Ok(Opened::File(mut file, len)) => {
                    if options.max_file_size.is_some_and(|max| len > max) {
                        counters.too_large.fetch_add(1, Ordering::Relaxed);
                        return WalkState::Continue;
                    }
                    found.clear();
                    match scanner.scan(&mut file, &mut found) {
                        Ok(bytes) => {
                            counters.files.fetch_add(1, Ordering::Relaxed);
                            counters.bytes.fetch_add(bytes, Ordering::Relaxed);
                            progress.item(bytes);
                            let opened = match scanner.archive() {
                                Some(kind) if options.archive.depth > 0 => {
                                    let shown = style.display(path);
                                    let scan = archive::scan_file(
                                        &mut scanner,
                                        &shown,
                                        &mut file,
                                        len,
                                        kind,
                                        &options.archive,
                                    );
                                    Some((shown, scan))
                                }
                                _ => None,
                            };
                            if let Some((shown, scan)) = opened {
                                let notes = archive_hits(counters, &shown, scan, &mut found);
                                lock(hits).extend(notes.0);
                                lock(warnings).extend(notes.1);
                            }
                            if !found.is_empty() {
                                let shown = style.display(path);
                                let mut hits = lock(hits);
                                hits.extend(found.drain(..).map(|located| Hit {
                                    path: shown.clone(),
                                    commit: None,
                                    located,
                                }));
                                found.shrink_to(1024);
                            }
                            super::path_keys::push_for_file(
                                matcher,
                                path,
                                || style.display(path),
                                hits,
                            );
                        }
                        Err(err) => lock(unreadable).push(Unreadable {
                            path: style.display(path),
                            error: err.to_string(),
                        }),
                    }
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
                Err(err) => lock(unreadable).push(Unreadable {
                    path: style.display(path),
                    error: err.to_string(),
                }),
            }
            WalkState::Continue
        })
    });

    let mut unreadable = unreadable.into_inner().unwrap_or_else(|e| e.into_inner());
    unreadable.sort_by(|a, b| a.path.cmp(&b.path));
    Scan {
        hits: hits.into_inner().unwrap_or_else(|e| e.into_inner()),
        stats: counters.stats(),
        unreadable,
        warnings: warnings.into_inner().unwrap_or_else(|e| e.into_inner()),
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
        .fetch_add(scan.skipped.len() as u64, Ordering::Relaxed);
    raw.retain(|r| {
        !scan
            .hits
            .iter()
            .any(|m| m.located.candidate.secret == r.candidate.secret)
    });
    let warnings = scan.skipped.iter().map(|k| k.describe(shown)).collect();
    let hits = scan
        .hits
        .into_iter()
        .map(|m| Hit {
            path: format!("{shown}!{}", m.member),
            commit: None,
            located: m.located,
        })
        .collect();
    (hits, warnings)
}

/// A poisoned lock only means another thread panicked; the data is still sound for our appends.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
