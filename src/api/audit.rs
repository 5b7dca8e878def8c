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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::VerificationStatus;

    fn key() -> Secret {
        Secret::new(format!("sk_live_{}", "KvTnGW5RU7ELrc94bm4fAUk2"), 8)
    }

    #[test]
    fn a_new_log_is_created_readable_by_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        AuditLog::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn an_existing_log_is_made_owner_only_and_a_device_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        AuditLog::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        let err = AuditLog::open(Path::new("/dev/null"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn each_event_is_one_json_line_naming_the_key_without_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        let key = key();
        let subject = KeySubject::new(&key, "sk_live", vec!["a.txt:3".into()]);
        let verification = Verification {
            status: VerificationStatus::Active,
            detail: "the key works".into(),
            key: None,
            matching_keys: None,
        };
        log.record(
            "http://127.0.0.1:9",
            subject.subject(),
            Event::verify(&verification, Some(200)),
        )
        .unwrap();
        log.record(
            "http://127.0.0.1:9",
            subject.subject(),
            Event::revoke(
                Some("key_1"),
                RevocationStatus::Revoked,
                Some(204),
                "revoked",
            ),
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(key.expose()), "{text}");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["action"], "verify");
        assert_eq!(lines[0]["status"], "active");
        assert_eq!(lines[0]["http_status"], 200);
        assert_eq!(lines[0]["fingerprint"], key.fingerprint());
        assert_eq!(lines[0]["redacted"], key.redacted());
        assert_eq!(lines[0]["locations"][0], "a.txt:3");
        assert_eq!(lines[1]["action"], "revoke");
        assert_eq!(lines[1]["key_id"], "key_1");
        assert_eq!(lines[1]["status"], "revoked");
        assert!(lines[1]["time"].as_str().unwrap().ends_with('Z'));
    }
}
