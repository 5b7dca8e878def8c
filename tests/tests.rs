//! The integration tests: one binary made of modules (as ripgrep's `tests/tests.rs`), so the
//! helpers in `common` are compiled once and a helper no module uses is a warning.

mod common;

mod api;
mod archives;
mod ci;
mod cli_scan;
mod cli_ux;
mod config;
mod fail_closed;
mod fuzz_corpora;
mod git;
mod golden;
mod hostile;
mod human_output;
mod hygiene;
mod output;
mod properties;
mod range_engine;
