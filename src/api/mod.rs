//! The key-management API, a stage of its own over the findings: matching never talks to the
//! network. [`verify`] asks the API whether each distinct key is live; [`revoke`] takes a
//! compromised live key out of service when asked to, and refuses whenever it cannot tell exactly
//! which key it would revoke; [`audit`] records every request's outcome; [`stage`] runs them over
//! a scan's findings with bounded concurrency and rate.
//!
//! Only keys of built-in rules that declare this provider are ever sent (see
//! [`crate::rules::Rule::verifiable`]), and only to the API base ([`client`]).

pub mod audit;
pub mod client;
pub mod revoke;
pub mod stage;
pub mod verify;

pub use client::{ApiBase, ApiClient, ApiOptions, DEFAULT_BASE};
