//! skguard keeps a provider's secret API keys (`sk_live_…`, `sk_test_…`) out of git repositories.
//!
//! The pipeline, one module a stage:
//!
//! - [`sources`]: files on disk and standard input become chunks of bytes with an origin;
//! - [`matching`]: a prefilter over every rule's literals, then confirmation, decoding, placeholder
//!   and boundary rules, give candidate keys;
//! - [`findings`]: a candidate at a place, with its fingerprint and redacted form; [`suppress`]
//!   drops what inline markers, the configuration's allowlist and a baseline say to drop;
//! - [`report`]: human, json and jsonl output.
//!
//! [`rules`] and [`config`] say what is looked for. The command-line interface lives in the binary
//! and is the only place that knows about flags and exit statuses.

pub mod api;
pub mod config;
pub mod findings;
#[doc(hidden)]
pub mod fuzzing;
pub mod matching;
pub mod pipeline;
pub mod printable;
pub mod report;
pub mod rules;
pub mod sources;
pub mod suppress;

/// A mutex's guard, even when a thread panicked while holding it: every mutex here guards data that
/// a panic cannot leave half-written (a push, a counter, a file handle), and a scan must finish
/// and say what it found rather than panic twice.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A mutex's value, by the same rule as [`lock`].
pub(crate) fn into_inner<T>(mutex: std::sync::Mutex<T>) -> T {
    mutex.into_inner().unwrap_or_else(|e| e.into_inner())
}
