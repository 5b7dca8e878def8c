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

use super::audit::{AuditError, AuditLog, Event, KeySubject};
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
    live: bool,
    subject: KeySubject,
}

fn record(
    audit: Option<&AuditLog>,
    client: &ApiClient,
    key: &Key,
    event: Event<'_>,
) -> Result<(), AuditError> {
    audit.map_or(Ok(()), |audit| {
        audit.record(client.base().as_str(), key.subject.subject(), event)
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
            Some(commit) => format!("{}:{}@{}", path, f.line, commit.short_id()),
            None => format!("{}:{}", path, f.line),
        };
        let i = *index.entry(f.fingerprint.clone()).or_insert_with(|| {
            keys.push(Key {
                secret: f.secret.clone(),
                live: f.kind.is_live(),
                subject: KeySubject::new(&f.secret, &f.rule, Vec::new()),
            });
            keys.len() - 1
        });
        keys[i].subject.locations.push(location);
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
                if i >= keys.len() || crate::lock(&failure).is_some() {
                    break;
                }
                let key = &keys[i];
                let verdict = verify(client, &key.secret);
                let event = Event::verify(&verdict.verification, verdict.http_status);
                if let Err(e) = record(audit, client, key, event) {
                    *crate::lock(&failure) = Some(e);
                    break;
                }
                crate::lock(&verdicts)[i] = Some(verdict);
            });
        }
    });
    if let Some(e) = crate::into_inner(failure) {
        return Err(e);
    }
    let mut verdicts = crate::into_inner(verdicts);
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
                    let event = Event::revoke(
                        revocation.key_id.as_deref(),
                        revocation.status,
                        http_status,
                        &revocation.detail,
                    );
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    use super::*;
    use crate::api::client::{ApiBase, ApiOptions};
    use crate::findings::{Encoding, Kind};

    /// An API that answers every request 401 (every key invalid), counting the requests.
    fn invalid_api() -> (ApiClient, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                seen.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(
                    b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        let base = ApiBase::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        (ApiClient::new(ApiOptions::new(base)).unwrap(), count)
    }

    fn finding(rules: &RuleSet, rule: &str, body: &str, path: &str) -> Finding {
        let index = rules.rules().iter().position(|r| r.id() == rule).unwrap();
        Finding::new(
            rules.get(index),
            index,
            path.into(),
            1,
            1,
            Secret::new(format!("{rule}_{body}"), 8),
            Encoding::Raw,
        )
    }

    #[test]
    fn each_distinct_key_is_verified_once_and_its_verdict_given_to_every_finding() {
        let rules = RuleSet::builtin();
        let (client, requests) = invalid_api();
        let mut findings = vec![
            finding(&rules, "sk_live", "BnBDXEk35L3Xrha2apJXbNHJ", "a.txt"),
            finding(&rules, "sk_live", "BnBDXEk35L3Xrha2apJXbNHJ", "b.txt"),
            finding(&rules, "sk_test", "89HqK7HnRhxPpLxPCgWJBp6x", "c.txt"),
        ];
        assert_eq!(findings[2].kind, Kind::Test);
        let options = StageOptions {
            revoke: true,
            dry_run: false,
        };
        run(&mut findings, &rules, &client, None, options).unwrap();
        assert_eq!(requests.load(Ordering::SeqCst), 2, "one GET a distinct key");
        for f in &findings {
            let v = f.verification.as_ref().expect("verified");
            assert_eq!(v.status, VerificationStatus::Invalid);
            let r = f.revocation.as_ref().expect("a revocation outcome");
            assert_eq!(r.status, RevocationStatus::Skipped);
        }
        assert!(findings[0]
            .revocation
            .as_ref()
            .unwrap()
            .detail
            .contains("invalid"));
        assert!(findings[2]
            .revocation
            .as_ref()
            .unwrap()
            .detail
            .contains("test keys are verified, never revoked"));
    }

    #[test]
    fn without_revoke_nothing_is_revoked_and_the_audit_log_has_a_line_a_key() {
        let rules = RuleSet::builtin();
        let (client, _) = invalid_api();
        let dir = tempfile::tempdir().unwrap();
        let audit = AuditLog::open(&dir.path().join("audit.jsonl")).unwrap();
        let mut findings = vec![
            finding(&rules, "sk_live", "v3S963YryVgd2bTSf76bMUz4", "a.txt"),
            finding(&rules, "sk_live", "v3S963YryVgd2bTSf76bMUz4", "b.txt"),
        ];
        run(
            &mut findings,
            &rules,
            &client,
            Some(&audit),
            StageOptions::default(),
        )
        .unwrap();
        assert!(findings.iter().all(|f| f.revocation.is_none()));
        let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
        assert_eq!(log.lines().count(), 1, "{log}");
        assert!(
            log.contains("\"a.txt:1\"") && log.contains("\"b.txt:1\""),
            "{log}"
        );
    }
}
