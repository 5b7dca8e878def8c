//! Verification and revocation over a scan's findings.
//!
//! Every distinct key (by fingerprint) of a verifiable rule is verified once, by up to
//! `concurrency` workers under the client's rate limit; every verification is written to the audit
//! log before the next request. Then, with `--revoke`, each live key found active is revoked, one at
//! a time. A key found in a hundred places is verified once and revoked once. Results are attached
//! to every finding of the key.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::audit::{AuditError, AuditLog, Event, Subject};
use super::client::ApiClient;
use super::revoke::clip;
use super::revoke::{revoke, Attempt};
use super::verify::{verify, Verdict};
use crate::findings::{
    Finding, KeyEntry, Revocation, RevocationStatus, Secret, VerificationStatus,
};
use crate::rules::RuleSet;

#[derive(Debug, Clone, Copy, Default)]
pub struct StageOptions {
    pub revoke: bool,
    pub dry_run: bool,
}

/// A distinct key and where it was found.
struct Key {
    secret: Secret,
    fingerprint: String,
    redacted: String,
    rule: String,
    live: bool,
    locations: Vec<String>,
}

impl Key {
    fn subject(&self) -> Subject<'_> {
        Subject {
            fingerprint: &self.fingerprint,
            redacted: &self.redacted,
            rule: &self.rule,
            locations: &self.locations,
        }
    }
}

fn record(
    audit: Option<&AuditLog>,
    client: &ApiClient,
    key: &Key,
    event: Event<'_>,
) -> Result<(), AuditError> {
    audit.map_or(Ok(()), |audit| {
        audit.record(client.base().as_str(), key.subject(), event)
    })
}

/// What the listing that verified a key says of it, for a person deciding what to do: its entry
/// when the listing identifies it (by the same rule as revocation), else how many listed keys could
/// be it. API text is made printable here, where it is stored.
fn triage(verdict: &mut Verdict, secret: &Secret) {
    let Some(listing) = &verdict.listing else {
        return;
    };
    let v = &mut verdict.verification;
    match super::revoke::identify(listing, secret) {
        Ok(k) => {
            v.key = Some(KeyEntry {
                id: clip(&k.id, 128),
                name: clip(&k.name, 128),
                created_at: clip(&k.created_at, 64),
                last_used: clip(&k.last_used, 64),
            })
        }
        Err((_, candidates)) => v.matching_keys = Some(candidates.len() as u64),
    }
}

/// Verifies (and with `options.revoke`, revokes) the keys of `findings`, attaching the outcomes.
pub fn run(
    findings: &mut [Finding],
    rules: &RuleSet,
    client: &ApiClient,
    audit: Option<&AuditLog>,
    options: StageOptions,
) -> Result<(), AuditError> {
    let mut keys: Vec<Key> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for f in findings.iter() {
        if !rules.get(f.rule_index).verifiable() {
            continue;
        }
        // A path is scanned data: a key in it is written redacted.
        let path = crate::printable::redact_keys(&f.path);
        let location = match &f.commit {
            Some(commit) => format!("{}:{}@{}", path, f.line, &commit[..commit.len().min(12)]),
            None => format!("{}:{}", path, f.line),
        };
        let i = *index.entry(f.fingerprint.clone()).or_insert_with(|| {
            keys.push(Key {
                secret: f.secret.clone(),
                fingerprint: f.fingerprint.clone(),
                redacted: f.redacted.clone(),
                rule: f.rule.to_string(),
                live: f.kind == "live",
                locations: Vec::new(),
            });
            keys.len() - 1
        });
        keys[i].locations.push(location);
    }

    // Verification, in parallel.
    let verdicts: Mutex<Vec<Option<Verdict>>> = Mutex::new(vec![None; keys.len()]);
    let failure: Mutex<Option<AuditError>> = Mutex::new(None);
    let next = AtomicUsize::new(0);
    let workers = client.options.concurrency.clamp(1, keys.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= keys.len() || failure.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                    break;
                }
                let key = &keys[i];
                let verdict = verify(client, &key.secret);
                let v = &verdict.verification;
                let event = Event {
                    action: "verify",
                    key_id: None,
                    status: v.status.as_str(),
                    http_status: verdict.http_status,
                    detail: &v.detail,
                };
                if let Err(e) = record(audit, client, key, event) {
                    *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                    break;
                }
                verdicts.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(verdict);
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let mut verdicts = verdicts.into_inner().unwrap_or_else(|e| e.into_inner());
    for (key, verdict) in keys.iter().zip(verdicts.iter_mut()) {
        if let Some(verdict) = verdict {
            triage(verdict, &key.secret);
        }
    }

    // Revocation, one key at a time.
    let mut revocations: Vec<Option<Revocation>> = vec![None; keys.len()];
    if options.revoke {
        for (i, key) in keys.iter().enumerate() {
            let Some(verdict) = &verdicts[i] else {
                continue;
            };
            let skipped = |detail: String| Revocation {
                status: RevocationStatus::Skipped,
                key_id: None,
                detail,
                candidates: Vec::new(),
            };
            revocations[i] = Some(match (&verdict.listing, verdict.verification.status) {
                _ if !key.live => skipped("test keys are verified, never revoked".into()),
                (Some(listing), VerificationStatus::Active) => {
                    let Attempt {
                        revocation,
                        http_status,
                    } = revoke(client, &key.secret, listing, options.dry_run);
                    let event = Event {
                        action: "revoke",
                        key_id: revocation.key_id.as_deref(),
                        status: revocation.status.as_str(),
                        http_status,
                        detail: &revocation.detail,
                    };
                    record(audit, client, key, event)?;
                    revocation
                }
                (_, status) => skipped(format!("not revoked: the key is {}", status.as_str())),
            });
        }
    }

    for f in findings.iter_mut() {
        if let Some(&i) = index.get(&f.fingerprint) {
            f.verification = verdicts[i]
                .as_ref()
                .map(|v| Box::new(v.verification.clone()));
            f.revocation = revocations[i].clone().map(Box::new);
        }
    }
    Ok(())
}
