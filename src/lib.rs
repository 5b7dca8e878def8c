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
