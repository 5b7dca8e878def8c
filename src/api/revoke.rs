//! Revoking a compromised live key, and never the wrong one.
//!
//! The key's id comes from the listing that verified it: a listed key matches when its `prefix` is
//! non-empty and the key starts with it. Only when exactly one listed key matches, and the listing
//! shows no sign of pagination, is that the key; otherwise nothing is revoked and the outcome is
//! `ambiguous`, with the candidates. Revoking the wrong live key takes a business down.
//!
//! The requests are exactly: the verifying GET (already sent), `DELETE {base}/v1/api-keys/{id}` with
//! the key itself as the bearer token, and up to three confirming GETs with the key. `revoked` means
//! the key then answers 401; a DELETE answered 401 or 404 followed by a confirming 401 is
//! `already_revoked`; a key that still authenticates, or anything else, is `failed`.

use super::client::{Answer, ApiClient};
use super::verify::Listing;
use crate::findings::{Revocation, RevocationStatus, Secret};

/// The key's id in `listing`, or why it cannot be told (with the candidates' ids).
pub fn identify(listing: &Listing, key: &Secret) -> Result<String, (String, Vec<String>)> {
    let candidates: Vec<&str> = listing
        .keys
        .iter()
        .filter(|k| !k.prefix.is_empty() && key.expose().starts_with(&k.prefix))
        .map(|k| k.id.as_str())
        .collect();
    let ids = || candidates.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match candidates.as_slice() {
        _ if listing.paginated => Err((
            "the listing is paginated, so it may not show the whole account".into(),
            ids(),
        )),
        [] => Err(("no listed key's prefix matches this key".into(), Vec::new())),
        [""] => Err(("the matching listed key has no id".into(), Vec::new())),
        [id] => Ok(id.to_string()),
        _ => Err((
            format!("{} listed keys match this key's prefix", candidates.len()),
            ids(),
        )),
    }
}

fn outcome(
    status: RevocationStatus,
    key_id: Option<&str>,
    detail: impl Into<String>,
) -> Revocation {
    Revocation {
        status,
        key_id: key_id.map(str::to_string),
        detail: detail.into(),
        candidates: Vec::new(),
    }
}

/// What one revocation request came to, for the audit log.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub revocation: Revocation,
    /// The DELETE's HTTP status, if one was sent and answered.
    pub http_status: Option<u16>,
}

/// Revokes `key`, identified in the listing that verified it as active.
pub fn revoke(client: &ApiClient, key: &Secret, listing: &Listing, dry_run: bool) -> Attempt {
    let id = match identify(listing, key) {
        Ok(id) => id,
        Err((why, candidates)) => {
            let mut revocation = outcome(
                RevocationStatus::Ambiguous,
                None,
                format!("nothing revoked: {why}"),
            );
            if !candidates.is_empty() {
                revocation
                    .detail
                    .push_str(&format!(" (candidates: {})", candidates.join(", ")));
            }
            revocation.candidates = candidates;
            return Attempt {
                revocation,
                http_status: None,
            };
        }
    };
    if dry_run {
        let detail = format!("would send DELETE /v1/api-keys/{id} (--dry-run)");
        return Attempt {
            revocation: outcome(RevocationStatus::DryRun, Some(&id), detail),
            http_status: None,
        };
    }
    let deleted = client.delete_key(key, &id);
    let http_status = deleted.status();
    let revocation = match http_status {
        Some(200 | 204) => match confirm(client, key) {
            Confirmation::Gone => outcome(
                RevocationStatus::Revoked,
                Some(&id),
                "revoked: the key now answers 401",
            ),
            Confirmation::StillWorks => outcome(
                RevocationStatus::Failed,
                Some(&id),
                "the DELETE was accepted but the key still authenticates",
            ),
            Confirmation::Unclear(why) => outcome(
                RevocationStatus::Failed,
                Some(&id),
                format!("the DELETE was accepted but could not be confirmed: {why}"),
            ),
        },
        Some(code @ (401 | 404)) => match confirm_once(client, key) {
            Confirmation::Gone => outcome(
                RevocationStatus::AlreadyRevoked,
                Some(&id),
                format!("DELETE answered {code}; the key answers 401"),
            ),
            Confirmation::StillWorks => outcome(
                RevocationStatus::Failed,
                Some(&id),
                format!("DELETE answered {code} but the key still authenticates"),
            ),
            Confirmation::Unclear(why) => outcome(
                RevocationStatus::Failed,
                Some(&id),
                format!("DELETE answered {code}; then {why}"),
            ),
        },
        Some(code) => outcome(
            RevocationStatus::Failed,
            Some(&id),
            format!("DELETE answered HTTP {code}"),
        ),
        None => match deleted {
            Answer::Failed(why) => outcome(
                RevocationStatus::Failed,
                Some(&id),
                format!("DELETE failed: {why}"),
            ),
            Answer::Http { .. } => unreachable!("an HTTP answer has a status"),
        },
    };
    Attempt {
        revocation,
        http_status,
    }
}

enum Confirmation {
    Gone,
    StillWorks,
    Unclear(String),
}

fn judge(answer: &Answer) -> Confirmation {
    match answer {
        Answer::Http { status: 401, .. } => Confirmation::Gone,
        Answer::Http {
            status: 200 | 403, ..
        } => Confirmation::StillWorks,
        Answer::Http { status, .. } => {
            Confirmation::Unclear(format!("a confirming GET answered HTTP {status}"))
        }
        Answer::Failed(why) => Confirmation::Unclear(why.clone()),
    }
}

fn confirm_once(client: &ApiClient, key: &Secret) -> Confirmation {
    judge(&client.list_keys(key))
}

/// Up to three confirming GETs, `confirm_interval` apart (within 10 s by default): revocation may
/// take a moment to reach every server of the provider.
fn confirm(client: &ApiClient, key: &Secret) -> Confirmation {
    let mut last = Confirmation::Unclear("no confirming GET was sent".into());
    for attempt in 0..3 {
        if attempt > 0 {
            std::thread::sleep(client.options.confirm_interval);
        }
        last = confirm_once(client, key);
        if matches!(last, Confirmation::Gone) {
            break;
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::verify::ListedKey;

    fn listing(prefixes: &[(&str, &str)], paginated: bool) -> Listing {
        Listing {
            keys: prefixes
                .iter()
                .map(|(id, p)| ListedKey {
                    id: id.to_string(),
                    name: String::new(),
                    prefix: p.to_string(),
                })
                .collect(),
            paginated,
        }
    }

    #[test]
    fn exactly_one_matching_prefix_identifies_the_key() {
        let key = Secret::new(format!("sk_live_{}", "Ab3De6Gh9Jk2Mn5Pq8"), 8);
        let l = listing(
            &[
                ("key_1", "sk_live_Ab3"),
                ("key_2", "sk_live_Zz9"),
                ("key_3", ""),
                ("key_4", "sk_test_"),
            ],
            false,
        );
        assert_eq!(identify(&l, &key), Ok("key_1".into()));
        // Several matches: ambiguous, with the candidates.
        let l = listing(&[("key_1", "sk_live_Ab3"), ("key_2", "sk_live_")], false);
        assert_eq!(identify(&l, &key).unwrap_err().1, vec!["key_1", "key_2"]);
        // None: ambiguous too. A paginated listing is never trusted.
        assert!(identify(&listing(&[("key_2", "sk_live_Zz9")], false), &key).is_err());
        assert!(identify(&listing(&[("key_1", "sk_live_Ab3")], true), &key).is_err());
        // An empty prefix matches nothing.
        assert!(identify(&listing(&[("key_3", "")], false), &key).is_err());
    }
}
