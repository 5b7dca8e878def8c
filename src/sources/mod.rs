//! Sources: where bytes come from. Each source turns what it reads into [`Hit`]s, located
//! candidates with an origin (a path, and for history a commit); [`stream`] is the one place that
//! reads bytes in chunks and counts lines.

pub mod archive;
pub mod files;
pub mod git;
pub mod git_errors;
pub mod path_keys;
pub mod progress;
pub mod stream;

use std::sync::Arc;

use serde::Serialize;

pub use files::{scan_paths, scan_reader, PathStyle, WalkOptions};
pub use git::CommitInfo;
pub use stream::{Located, StreamScanner, INLINE_MARKERS};

/// A located candidate with its origin.
#[derive(Debug, Clone)]
pub struct Hit {
    /// As reported: relative to the scanned root (the work tree's root for git), `/` separators.
    pub path: String,
    /// The commit that introduced it (history and range scans).
    pub commit: Option<Arc<CommitInfo>>,
    pub located: Located,
}

/// Something the scan was asked to read and could not: the answer is incomplete.
#[derive(Debug, Clone, Serialize)]
pub struct Unreadable {
    pub path: String,
    pub error: String,
}

/// What a scan read and what it skipped on purpose.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub files: u64,
    pub bytes: u64,
    pub commits: u64,
    pub blobs: u64,
    pub skipped_too_large: u64,
    pub skipped_not_regular: u64,
    pub skipped_symlinks: u64,
    pub skipped_loops: u64,
    /// Files that were deleted between the walk and their opening.
    pub skipped_vanished: u64,
    pub submodules: u64,
    /// Archives and compressed files opened, and the members scanned inside them.
    pub archives: u64,
    pub archive_members: u64,
    /// Parts of archives not read whole: a bound was reached (said in the warnings).
    pub archive_bounds: u64,
    /// Archives and compressed files met but not opened (`--archive-depth 0`): scanned as bytes.
    pub archives_not_opened: u64,
}

/// The outcome of a source.
#[derive(Debug, Default)]
pub struct Scan {
    pub hits: Vec<Hit>,
    pub stats: Stats,
    pub unreadable: Vec<Unreadable>,
    /// Problems that do not make the answer incomplete (an ignore file with a bad glob).
    pub warnings: Vec<String>,
}
