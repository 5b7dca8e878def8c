//! Verifying a key: `GET {base}/v1/api-keys` with the key as the bearer token.
//!
//! | answer                                             | status       |
//! | -------------------------------------------------- | ------------ |
//! | 200 with the documented body (`success`, `data`)   | `active`     |
//! | 401                                                | `invalid`    |
//! | 403 with a JSON body                               | `restricted` |
//! | 429                                                | retried after `Retry-After` (capped), then `unknown` |
//! | 5xx, timeout, connection error, malformed body     | retried with backoff and jitter, then `unknown` |
//! | anything else (3xx included: never followed)       | `unknown`    |
//!
//! The listing that verified an active key is kept: revocation identifies the key in it, and sends
//! no second listing.

use std::time::Duration;

use serde_json::Value;

use super::client::{Answer, ApiClient};
use crate::findings::{Secret, Verification, VerificationStatus};

/// One key of the account, as the listing shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    /// Raw API text (print through `printable`); empty when the listing leaves it out.
    pub created_at: String,
    pub last_used: String,
}

/// The account's keys, from the listing that verified a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub keys: Vec<ListedKey>,
    /// Why the listing may not be the whole account, if it shows any sign of that: a top-level
    /// field besides `success` and `data` (`has_more`, `next`, `meta`, `total_count` of any type,
    /// anything unknown), or a `Link` header. Raw API text: print it through `printable`.
    pub incomplete: Option<String>,
}

/// What verifying one key came to.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub verification: Verification,
    /// The HTTP status of the last answer, if there was one.
    pub http_status: Option<u16>,
    pub listing: Option<Listing>,
}

impl Verdict {
    fn new(
        status: VerificationStatus,
        detail: impl Into<String>,
        http_status: Option<u16>,
    ) -> Verdict {
        Verdict {
            verification: Verification {
                status,
                // Details may quote what the server or the connection said: printable here, so
                // every format and the audit log print the same clean text.
                detail: crate::printable::printable(&detail.into()).into_owned(),
                key: None,
                matching_keys: None,
            },
            http_status,
            listing: None,
        }
    }
}

/// How an answer to the verifying GET is judged.
enum Judged {
    Final(Verdict),
    /// Try again (after `after` when the server said so); `unknown` with this detail if no attempt is left.
    Retry {
        after: Option<Duration>,
        detail: String,
        http_status: Option<u16>,
    },
}

fn judge(answer: Answer) -> Judged {
    let (status, json, body, retry_after, link) = match answer {
        Answer::Http {
            status,
            json,
            body,
            retry_after,
            link,
        } => (status, json, body, retry_after, link),
        Answer::Failed(detail) => {
            return Judged::Retry {
                after: None,
                detail,
                http_status: None,
            }
        }
    };
    let http = Some(status);
    match status {
        200 if !json => Judged::Retry {
            after: None,
            detail: "HTTP 200 that is not JSON (by its content type)".into(),
            http_status: http,
        },
        200 => match parse_listing(&body) {
            Some(mut listing) => {
                if link && listing.incomplete.is_none() {
                    listing.incomplete = Some("the answer has a Link header (pagination)".into());
                }
                let n = listing.keys.len();
                let mut verdict = Verdict::new(
                    VerificationStatus::Active,
                    format!(
                        "the key authenticates and lists {n} {} of its account",
                        if n == 1 { "key" } else { "keys" }
                    ),
                    http,
                );
                verdict.listing = Some(listing);
                Judged::Final(verdict)
            }
            None => Judged::Retry {
                after: None,
                detail: "HTTP 200 without the documented body".into(),
                http_status: http,
            },
        },
        401 => Judged::Final(Verdict::new(
            VerificationStatus::Invalid,
            "HTTP 401: never valid, or already revoked",
            http,
        )),
        403 if json && serde_json::from_slice::<Value>(&body).is_ok() => {
            Judged::Final(Verdict::new(
                VerificationStatus::Restricted,
                "HTTP 403: the key authenticates but may not list keys (proof of nothing else)",
                http,
            ))
        }
        403 => Judged::Final(Verdict::new(
            VerificationStatus::Unknown,
            "HTTP 403 without a JSON body",
            http,
        )),
        429 => Judged::Retry {
            after: Some(retry_after.unwrap_or(Duration::from_secs(1))),
            detail: "HTTP 429: rate limited".into(),
            http_status: http,
        },
        500..=599 => Judged::Retry {
            after: None,
            detail: format!("HTTP {status}: server error"),
            http_status: http,
        },
        300..=399 => Judged::Final(Verdict::new(
            VerificationStatus::Unknown,
            format!("HTTP {status}: a redirect, not followed with a key"),
            http,
        )),
        other => Judged::Final(Verdict::new(
            VerificationStatus::Unknown,
            format!("HTTP {other}: not an answer the API documents"),
            http,
        )),
    }
}

/// The documented listing: `{"success": true, "data": [{"id", "name", "prefix", …}]}`.
pub fn parse_listing(body: &[u8]) -> Option<Listing> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    let obj = doc.as_object()?;
    if obj.get("success") != Some(&Value::Bool(true)) {
        return None;
    }
    let data = obj.get("data")?.as_array()?;
    let text = |item: &Value, field: &str| {
        item.get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let keys = data
        .iter()
        .map(|item| {
            item.as_object()?;
            Some(ListedKey {
                id: text(item, "id"),
                name: text(item, "name"),
                prefix: text(item, "prefix"),
                created_at: text(item, "created_at"),
                last_used: text(item, "last_used"),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Listing {
        incomplete: incomplete(obj),
        keys,
    })
}

/// Whether the listing's body shows any sign of not being the whole account: the documented body
/// has `success` and `data` and nothing else, so any other top-level field (`has_more`, `next`,
/// `next_page_token`, `meta`, `total_count` of any type, a field nobody documented) may mean more
/// pages, and a listing that may be partial never identifies a key.
fn incomplete(obj: &serde_json::Map<String, Value>) -> Option<String> {
    let mut extra: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| !matches!(*k, "success" | "data"))
        .collect();
    if extra.is_empty() {
        return None;
    }
    let n = extra.len();
    extra.truncate(5);
    let names: Vec<String> = extra
        .iter()
        .map(|k| format!("\"{}\"", super::revoke::clip(k, 64)))
        .collect();
    Some(format!(
        "the answer has {} besides \"success\" and \"data\" ({}{})",
        if n == 1 {
            "a top-level field".to_string()
        } else {
            format!("{n} top-level fields")
        },
        names.join(", "),
        if n > extra.len() { ", …" } else { "" }
    ))
}

/// Verifies `key`, retrying what the table above says to retry.
pub fn verify(client: &ApiClient, key: &Secret) -> Verdict {
    let attempts = client.options.attempts.max(1);
    let mut attempt = 1;
    loop {
        match judge(client.list_keys(key)) {
            Judged::Final(verdict) => return verdict,
            Judged::Retry {
                after,
                detail,
                http_status,
            } => {
                let wait = match after {
                    Some(after) => after.min(client.options.retry_after_cap),
                    None => backoff(client.options.backoff, attempt),
                };
                if attempt >= attempts || wait >= client.time_left() {
                    let tries = if attempt == 1 {
                        "1 attempt".to_string()
                    } else {
                        format!("{attempt} attempts")
                    };
                    return Verdict::new(
                        VerificationStatus::Unknown,
                        format!("{detail} ({tries})"),
                        http_status,
                    );
                }
                std::thread::sleep(wait);
                attempt += 1;
            }
        }
    }
}

/// Exponential backoff with full jitter on its upper half: base·2^(n-1), between half and all of it.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let full = base.saturating_mul(1 << (attempt - 1).min(10));
    full / 2 + full.mul_f64(fastrand::f64() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_listing_parses() {
        let body = br#"{"success": true, "data": [{"id": "key_123", "name": "Production Key", "prefix": "sk_live_",
            "created_at": "2025-01-01T00:00:00Z", "last_used": "2025-01-15T10:30:00Z"}]}"#;
        let listing = parse_listing(body).unwrap();
        assert_eq!(
            listing.keys,
            vec![ListedKey {
                id: "key_123".into(),
                name: "Production Key".into(),
                prefix: "sk_live_".into(),
                created_at: "2025-01-01T00:00:00Z".into(),
                last_used: "2025-01-15T10:30:00Z".into(),
            }]
        );
        assert!(listing.incomplete.is_none());
    }

    #[test]
    fn bodies_that_are_not_the_documented_listing() {
        for body in [
            &br#"{"success": false, "data": []}"#[..],
            br#"{"data": []}"#,
            br#"{"success": true}"#,
            b"<html>",
            br#"{"success": true, "data": [1]}"#,
        ] {
            assert!(
                parse_listing(body).is_none(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn any_top_level_field_besides_success_and_data_is_a_sign_of_pagination() {
        for body in [
            &br#"{"success": true, "data": [], "has_more": true}"#[..],
            br#"{"success": true, "data": [], "has_more": false}"#,
            br#"{"success": true, "data": [], "next_cursor": "abc"}"#,
            br#"{"success": true, "data": [], "next_page_token": "abc"}"#,
            br#"{"success": true, "data": [{"id": "a"}], "total": 5}"#,
            br#"{"success": true, "data": [{"id": "a"}], "total_count": "1"}"#,
            br#"{"success": true, "data": [], "meta": {"has_more": true}}"#,
            br#"{"success": true, "data": [], "links": {"next": "/v1/api-keys?page=2"}}"#,
            br#"{"success": true, "data": [], "next": null}"#,
            br#"{"success": true, "data": [], "whatever": 0}"#,
        ] {
            let why = parse_listing(body).unwrap().incomplete;
            assert!(why.is_some(), "{}", String::from_utf8_lossy(body));
        }
        let why = parse_listing(br#"{"success": true, "data": [], "meta": {}, "a\u001b[31m": 1}"#)
            .unwrap()
            .incomplete
            .unwrap();
        assert!(
            why.contains("2 top-level fields") && why.contains("\"meta\""),
            "{why}"
        );
    }

    #[test]
    fn a_link_header_is_a_sign_of_pagination() {
        let answer = Answer::Http {
            status: 200,
            json: true,
            body: br#"{"success": true, "data": [{"id": "a", "prefix": "sk_live_"}]}"#.to_vec(),
            retry_after: None,
            link: true,
        };
        let Judged::Final(verdict) = judge(answer) else {
            panic!("a listing is final");
        };
        assert_eq!(verdict.verification.status, VerificationStatus::Active);
        assert!(verdict
            .listing
            .unwrap()
            .incomplete
            .unwrap()
            .contains("Link"));
    }

    #[test]
    fn backoff_doubles_with_jitter() {
        let base = Duration::from_millis(100);
        for attempt in 1..5 {
            let full = base * (1 << (attempt - 1));
            let b = backoff(base, attempt);
            assert!(b >= full / 2 && b <= full, "{attempt}: {b:?}");
        }
    }
}
