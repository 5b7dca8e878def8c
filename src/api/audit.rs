//! `--audit-log FILE`: one JSON line per verification and per revocation attempt, appended and
//! flushed to disk before the next action, in a file readable by its owner only (a new one is
//! created 0600, an existing one is made 0600, or refused). It holds fingerprints and redacted
//! keys, never a key; key ids and details from the API arrive printable (see `api::revoke`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use crate::findings::{RevocationStatus, Secret, Verification};

/// The key an audit line is about: never the key itself.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Subject<'a> {
    pub fingerprint: &'a str,
    pub redacted: &'a str,
    pub rule: &'a str,
    /// Where the key was found: `path:line`, with `@commit` for history.
    pub locations: &'a [String],
}

/// What one request came to.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Event<'a> {
    /// `verify` or `revoke`.
    pub action: &'a str,
    pub key_id: Option<&'a str>,
    pub status: &'a str,
    pub http_status: Option<u16>,
    pub detail: &'a str,
}

/// The key an audit line is about, owned: built once per key from the key itself, so every line
/// about it (verify, revoke) names it the same way.
#[derive(Debug, Clone)]
pub struct KeySubject {
    pub fingerprint: String,
    pub redacted: String,
    pub rule: String,
    pub locations: Vec<String>,
}

impl KeySubject {
    pub fn new(key: &Secret, rule: &str, locations: Vec<String>) -> KeySubject {
        KeySubject {
            fingerprint: key.fingerprint(),
            redacted: key.redacted(),
            rule: rule.to_string(),
            locations,
        }
    }

    pub fn subject(&self) -> Subject<'_> {
        Subject {
            fingerprint: &self.fingerprint,
            redacted: &self.redacted,
            rule: &self.rule,
            locations: &self.locations,
        }
    }
}

impl<'a> Event<'a> {
    /// A verification's line.
    pub fn verify(verification: &'a Verification, http_status: Option<u16>) -> Event<'a> {
        Event {
            action: "verify",
            key_id: None,
            status: verification.status.as_str(),
            http_status,
            detail: &verification.detail,
        }
    }

    /// A revocation attempt's line.
    pub fn revoke(
        key_id: Option<&'a str>,
        status: RevocationStatus,
        http_status: Option<u16>,
        detail: &'a str,
    ) -> Event<'a> {
        Event {
            action: "revoke",
            key_id,
            status: status.as_str(),
            http_status,
            detail,
        }
    }
}

/// One line of the audit log.
#[derive(Debug, Serialize)]
struct AuditEntry<'a> {
    /// RFC 3339, UTC.
    time: String,
    api_base: &'a str,
    #[serde(flatten)]
    subject: Subject<'a>,
    #[serde(flatten)]
    event: Event<'a>,
}

#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

#[derive(Debug, thiserror::Error)]
#[error("audit log {path}: {source}")]
pub struct AuditError {
    pub path: String,
    pub source: io::Error,
}

impl AuditLog {
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        let error = |source: io::Error| AuditError {
            path: path.display().to_string(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(error)?;
        // `mode` applies to a new file only: an existing log keeps whatever mode it had, so it is
        // made 0600 here (on the file opened, not on whatever the path names by now). A log that
        // is not a regular file (a device, a pipe) is not chmod-ed and is refused.
        let meta = file.metadata().map_err(error)?;
        if !meta.is_file() {
            return Err(error(io::Error::other(
                "not a regular file: the audit log must be a file readable by its owner only",
            )));
        }
        if meta.permissions().mode() & 0o7777 != 0o600 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| {
                    error(io::Error::new(
                        e.kind(),
                        format!("cannot make it readable by its owner only (mode 0600): {e}"),
                    ))
                })?;
        }
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// Appends a line for `event` on `subject` at `api_base`, stamped with the time, and waits until
    /// it is on disk.
    pub fn record(
        &self,
        api_base: &str,
        subject: Subject<'_>,
        event: Event<'_>,
    ) -> Result<(), AuditError> {
        let entry = AuditEntry {
            time: now(),
            api_base,
            subject,
            event,
        };
        let mut line = serde_json::to_vec(&entry).expect("an audit entry always serializes");
        line.push(b'\n');
        let mut file = crate::lock(&self.file);
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(|source| AuditError {
                path: self.path.display().to_string(),
                source,
            })
    }
}

/// Now, as RFC 3339 in UTC.
fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
