//! Sources: where bytes come from. Each source turns what it reads into located candidates with an
//! origin (a path); [`stream`] is the one place that reads bytes in chunks and counts lines.

pub mod files;
pub mod stream;

pub use files::{
    scan_paths, scan_reader, FileHit, FileScan, PathStyle, Stats, Unreadable, WalkOptions,
};
pub use stream::{Located, StreamScanner, INLINE_MARKERS};
