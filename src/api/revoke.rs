//! Revoking a compromised live key, and never the wrong one.
//!
//! The key's id comes from the listing that verified it: a listed key matches when its `prefix` is
//! non-empty and the key starts with it. Only when exactly one listed key matches, and the listing
//! shows no sign of being incomplete (any top-level field besides `success` and `data`, a `Link`
//! header), is that the key; otherwise nothing is revoked and the outcome is
//! `ambiguous`, with the candidates. Revoking the wrong live key takes a business down.
//!
//! The requests are exactly: the verifying GET (already sent), `DELETE {base}/v1/api-keys/{id}` with
//! the key itself as the bearer token, and up to three confirming GETs with the key. `revoked` means
//! the key then answers 401; a DELETE answered 401 or 404 followed by a confirming 401 is
//! `already_revoked`; a key that still authenticates, or anything else, is `failed`. A key id is put
//! in the URL only when it is a plain token; any other id is refused before any request.

use super::client::{is_plain_id, not_plain, Answer, ApiClient};
use super::verify::{ListedKey, Listing};
use crate::findings::{Revocation, RevocationStatus, Secret};
use crate::printable::printable;

/// The key's entry in `listing`, or why it cannot be told (with the candidates).
pub fn identify<'a>(
    listing: &'a Listing,
    key: &Secret,
) -> Result<&'a ListedKey, (String, Vec<&'a ListedKey>)> {
    let candidates: Vec<&ListedKey> = listing
        .keys
        .iter()
        .filter(|k| !k.prefix.is_empty() && key.expose().starts_with(&k.prefix))
        .collect();
    match (candidates.as_slice(), &listing.incomplete) {
        (_, Some(why)) => Err((
            format!("the listing may not show the whole account: {why}"),
            candidates,
        )),
        ([], None) => Err(("no listed key's prefix matches this key".into(), Vec::new())),
        ([k], None) => Ok(k),
        (_, None) => Err((
            format!("{} listed keys match this key's prefix", candidates.len()),
            candidates,
        )),
    }
}

/// At most `max` characters of API text, made printable first, so that a cut never leaves a
/// fragment of a key that is too short to be recognised and redacted.
pub fn clip(s: &str, max: usize) -> String {
    let shown = printable(s);
    match shown.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &shown[..end]),
        None => shown.into_owned(),
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

/// `revocation` with every string that may hold API text (ids, names, the API's messages, field
/// names) made printable: key-shaped text redacted, controls escaped. Done once, here, so the
/// reports and the audit log all print the same clean text and need no special case.
fn printable_revocation(mut revocation: Revocation) -> Revocation {
    revocation.key_id = revocation.key_id.map(|id| printable(&id).into_owned());
    revocation.detail = printable(&revocation.detail).into_owned();
    for c in &mut revocation.candidates {
        *c = printable(c).into_owned();
    }
    revocation
}

/// Revokes `key`, identified in the listing that verified it as active.
pub fn revoke(client: &ApiClient, key: &Secret, listing: &Listing, dry_run: bool) -> Attempt {
    let Attempt {
        revocation,
        http_status,
    } = attempt(client, key, listing, dry_run);
    Attempt {
        revocation: printable_revocation(revocation),
        http_status,
    }
}

/// What the API's answer says in words (its `error` or `message`), briefly, if anything: raw API
/// text, to be printed through `printable`.
pub fn api_says(answer: &Answer) -> String {
    let Answer::Http { body, .. } = answer else {
        return String::new();
    };
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    ["error", "message"]
        .iter()
        .find_map(|f| doc.get(*f).and_then(serde_json::Value::as_str))
        .filter(|m| !m.trim().is_empty())
        .map(|m| format!(" (the API says: \"{}\")", clip(m, 200)))
        .unwrap_or_default()
}

fn attempt(client: &ApiClient, key: &Secret, listing: &Listing, dry_run: bool) -> Attempt {
    let listed = match identify(listing, key) {
        Ok(listed) => listed,
        Err((why, candidates)) => {
            let mut revocation = outcome(
                RevocationStatus::Ambiguous,
                None,
                format!("nothing revoked: {why}"),
            );
            if !candidates.is_empty() {
                let named: Vec<String> = candidates
                    .iter()
                    .map(|k| format!("{} (\"{}\")", k.id, clip(&k.name, 100)))
                    .collect();
                revocation
                    .detail
                    .push_str(&format!(" (candidates: {})", named.join(", ")));
            }
            revocation.candidates = candidates.iter().map(|k| k.id.clone()).collect();
            return Attempt {
                revocation,
                http_status: None,
            };
        }
    };
    let id = listed.id.as_str();
    if !is_plain_id(id) {
        // Identified, but its id could point a DELETE at another resource: refused before any
        // request, and the key is left working, so the run is incomplete.
        let detail = format!(
            "nothing revoked: {}; revoke the key {} in the dashboard (Settings > API Keys)",
            not_plain(id),
            key.redacted()
        );
        return Attempt {
            revocation: outcome(RevocationStatus::Failed, None, detail),
            http_status: None,
        };
    }
    if dry_run {
        let detail = format!("would send DELETE /v1/api-keys/{id} (--dry-run)");
        return Attempt {
            revocation: outcome(RevocationStatus::DryRun, Some(id), detail),
            http_status: None,
        };
    }
    let deleted = client.delete_key(key, id);
    let http_status = deleted.status();
    let says = api_says(&deleted);
    let revocation = match Deleted::of(&deleted) {
        Deleted::Accepted => match confirm(client, key) {
            Confirmation::Gone => outcome(
                RevocationStatus::Revoked,
                Some(id),
                // The status is said beside it ("revoked — …"): the detail does not repeat it.
                "DELETE accepted; the key now answers 401",
            ),
            // The listing may have left the leaked key out (the identity rule is an inference:
            // the documented listing shows only the kind prefix), so the DELETE may have hit
            // another key. Say so plainly, and what to check.
            Confirmation::StillWorks => outcome(
                RevocationStatus::Failed,
                Some(id),
                format!(
                    "key id {id} was revoked while the leaked key still authenticates, so {id} may not have \
                     been the leaked key: in the dashboard (Settings > API Keys), check which key {leaked} is \
                     and revoke it there, and check whether {id} (\"{name}\") was another key still in use \
                     (then create a replacement for it and deploy it)",
                    leaked = key.redacted(),
                    name = clip(&listed.name, 100),
                ),
            ),
            Confirmation::Unclear(why) => outcome(
                RevocationStatus::Failed,
                Some(id),
                format!("the DELETE was accepted but could not be confirmed: {why}"),
            ),
        },
        Deleted::NotValid(code) | Deleted::NoSuchKey(code) => match confirm_once(client, key) {
            Confirmation::Gone => outcome(
                RevocationStatus::AlreadyRevoked,
                Some(id),
                format!("DELETE answered {code}; the key answers 401"),
            ),
            Confirmation::StillWorks => outcome(
                RevocationStatus::Failed,
                Some(id),
                format!("DELETE answered {code}{says} but the key still authenticates"),
            ),
            Confirmation::Unclear(why) => outcome(
                RevocationStatus::Failed,
                Some(id),
                format!("DELETE answered {code}{says}; then {why}"),
            ),
        },
        Deleted::Forbidden(code) | Deleted::Other(code) => outcome(
            RevocationStatus::Failed,
            Some(id),
            format!("DELETE answered HTTP {code}{says}"),
        ),
        Deleted::Failed(why) => outcome(
            RevocationStatus::Failed,
            Some(id),
            format!("DELETE failed: {why}"),
        ),
    };
    Attempt {
        revocation,
        http_status,
    }
}

/// What the answer to `DELETE /v1/api-keys/{id}` says by itself, before any confirmation: the one
/// table of DELETE statuses, for `scan --revoke` and `skguard revoke`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// 200 or 204.
    Accepted,
    /// 401: the bearer key is not valid (for a key revoking itself: already revoked).
    NotValid(u16),
    /// 404: no such key id in the account.
    NoSuchKey(u16),
    /// 403: the bearer key may not revoke keys.
    Forbidden(u16),
    /// Any other HTTP status.
    Other(u16),
    /// No answer (connection, timeout), in words.
    Failed(String),
}

impl Deleted {
    pub fn of(answer: &Answer) -> Deleted {
        match answer {
            Answer::Http { status, .. } => match *status {
                200 | 204 => Deleted::Accepted,
                401 => Deleted::NotValid(401),
                404 => Deleted::NoSuchKey(404),
                403 => Deleted::Forbidden(403),
                code => Deleted::Other(code),
            },
            Answer::Failed(why) => Deleted::Failed(why.to_string()),
        }
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

    fn listing(prefixes: &[(&str, &str)], paginated: bool) -> Listing {
        Listing {
            keys: prefixes
                .iter()
                .map(|(id, p)| ListedKey {
                    id: id.to_string(),
                    name: String::new(),
                    prefix: p.to_string(),
                    ..ListedKey::default()
                })
                .collect(),
            incomplete: paginated.then(|| "has_more".to_string()),
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
        assert_eq!(identify(&l, &key).map(|k| k.id.as_str()), Ok("key_1"));
        // Several matches: ambiguous, with the candidates.
        let l = listing(&[("key_1", "sk_live_Ab3"), ("key_2", "sk_live_")], false);
        let ids: Vec<&str> = identify(&l, &key)
            .unwrap_err()
            .1
            .iter()
            .map(|k| k.id.as_str())
            .collect();
        assert_eq!(ids, vec!["key_1", "key_2"]);
        // None: ambiguous too. A paginated listing is never trusted.
        assert!(identify(&listing(&[("key_2", "sk_live_Zz9")], false), &key).is_err());
        assert!(identify(&listing(&[("key_1", "sk_live_Ab3")], true), &key).is_err());
        // An empty prefix matches nothing.
        assert!(identify(&listing(&[("key_3", "")], false), &key).is_err());
    }

    #[test]
    fn api_text_is_clipped_after_redaction() {
        let k = format!("sk_live_{}", "Ab3De6Gh9Jk2Mn5Pq8");
        // Cut through the key before redaction would leave "sk_live_Ab3De6Gh9" (9 body characters:
        // not key-shaped, printed whole). Redacted first, no more of the body is ever shown.
        let clipped = clip(&format!("{k}\x1b"), 17);
        assert!(!clipped.contains("Ab3De6"), "{clipped}");
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("a\nb", 10), "a\\nb");
    }
}
