//! The HTTP side: where keys may be sent, how fast, for how long, and how answers are read.
//!
//! Keys go to the API base and nowhere else: https only (plain http only for loopback hosts, for
//! tests), redirects are never followed (a 3xx is an answer, so the `Authorization` header never
//! reaches another origin), answers are read up to a size cap, every request has a timeout and the
//! whole stage a deadline, and requests are spaced to a bounded rate: the provider's API is not ours
//! to flood. Errors are described without the request, so they can never carry a key.

use std::io::Read;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, Url};

use crate::findings::Secret;

/// The provider's API, unless `--api-base` or `SKGUARD_API_BASE` says otherwise.
pub const DEFAULT_BASE: &str = "https://api.example.com";

/// A validated API base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiBase(Url);

impl ApiBase {
    pub fn parse(text: &str) -> Result<ApiBase, String> {
        let url = Url::parse(text).map_err(|e| format!("API base {text:?}: {e}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "API base {text:?}: credentials do not belong in the URL"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("API base {text:?}: no query or fragment"));
        }
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(format!(
                    "API base {text:?}: keys are only sent over https (http:// is accepted for loopback hosts only)"
                ))
            }
            other => {
                return Err(format!(
                    "API base {text:?}: keys are only sent over https, not {other}:// (http:// is accepted for loopback hosts only)"
                ))
            }
        }
        Ok(ApiBase(url))
    }

    /// `{base}/v1/api-keys[/{id}]`, the id as one escaped path segment (an id from a listing cannot
    /// point the DELETE anywhere else).
    pub fn keys_url(&self, id: Option<&str>) -> Url {
        let mut url = self.0.clone();
        {
            let mut segments = url.path_segments_mut().expect("an http(s) URL has a path");
            segments.pop_if_empty().extend(["v1", "api-keys"]);
            if let Some(id) = id {
                segments.push(id);
            }
        }
        url
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Tuning of the API stage.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    pub base: ApiBase,
    /// Per request, from connecting to the end of the body.
    pub timeout: Duration,
    /// For the whole stage: past it, what is left is `unknown`.
    pub deadline: Duration,
    /// Keys verified at once.
    pub concurrency: usize,
    /// Requests a second, at most.
    pub rate: f64,
    /// Attempts of a verifying GET (retries on 5xx, 429, timeouts, connection errors, bad bodies).
    pub attempts: u32,
    /// The first backoff; each retry doubles it, with jitter.
    pub backoff: Duration,
    /// The longest `Retry-After` honoured.
    pub retry_after_cap: Duration,
    /// Answers larger than this are not read.
    pub body_cap: usize,
    /// Time between confirming GETs after a DELETE (three of them).
    pub confirm_interval: Duration,
}

impl ApiOptions {
    pub fn new(base: ApiBase) -> ApiOptions {
        ApiOptions {
            base,
            timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(120),
            concurrency: 8,
            rate: 10.0,
            attempts: 3,
            backoff: Duration::from_millis(250),
            retry_after_cap: Duration::from_secs(30),
            body_cap: 1 << 20,
            confirm_interval: Duration::from_secs(3),
        }
    }
}

/// What one request came to.
#[derive(Debug, Clone)]
pub enum Answer {
    Http {
        status: u16,
        json: bool,
        body: Vec<u8>,
        retry_after: Option<Duration>,
        /// The answer has a `Link` header (pagination, by RFC 8288).
        link: bool,
    },
    /// No answer to judge: timeout, connection error, an answer too large, the deadline.
    Failed(String),
}

impl Answer {
    pub fn status(&self) -> Option<u16> {
        match self {
            Answer::Http { status, .. } => Some(*status),
            Answer::Failed(_) => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client: {0}")]
pub struct ClientError(String);

/// A client for the key-management API. Shared by the stage's threads.
#[derive(Debug)]
pub struct ApiClient {
    http: Client,
    pub options: ApiOptions,
    next_slot: Mutex<Instant>,
    started: Instant,
}

impl ApiClient {
    pub fn new(options: ApiOptions) -> Result<ApiClient, ClientError> {
        // rustls with ring; installing the process's provider twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = Client::builder();
        if options.base.0.scheme() == "http" {
            // Plain http is accepted for loopback bases only; a proxy (HTTP_PROXY, ALL_PROXY and
            // their lower-case forms) would see the key in clear text, so such a base is never
            // proxied. An https base honours HTTPS_PROXY and NO_PROXY: the proxy sees a tunnel.
            builder = builder.no_proxy();
        }
        let http = builder
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("skguard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError(e.without_url().to_string()))?;
        Ok(ApiClient {
            http,
            options,
            next_slot: Mutex::new(Instant::now()),
            started: Instant::now(),
        })
    }

    pub fn base(&self) -> &ApiBase {
        &self.options.base
    }

    /// Whether the stage's deadline has passed.
    pub fn past_deadline(&self) -> bool {
        self.started.elapsed() >= self.options.deadline
    }

    /// Time left before the deadline.
    pub fn time_left(&self) -> Duration {
        self.options.deadline.saturating_sub(self.started.elapsed())
    }

    /// Waits for this request's slot under the rate limit.
    fn wait_turn(&self) {
        let interval = Duration::from_secs_f64(1.0 / self.options.rate.max(0.001));
        let slot = {
            let mut next = crate::lock(&self.next_slot);
            let slot = (*next).max(Instant::now());
            *next = slot + interval;
            slot
        };
        let now = Instant::now();
        if slot > now {
            std::thread::sleep(slot - now);
        }
    }

    /// One request with `key` as the bearer token.
    pub fn send(&self, method: Method, url: Url, key: &Secret) -> Answer {
        if self.past_deadline() {
            return Answer::Failed("the API stage's deadline passed".into());
        }
        self.wait_turn();
        let response = self
            .http
            .request(method, url)
            .header(AUTHORIZATION, format!("Bearer {}", key.expose()))
            .send();
        let response = match response {
            Ok(r) => r,
            Err(e) => return Answer::Failed(describe(&e)),
        };
        let status = response.status().as_u16();
        let json = is_json(response.headers());
        let retry_after = retry_after(response.headers());
        let link = response.headers().contains_key(reqwest::header::LINK);
        let mut body = Vec::new();
        let cap = self.options.body_cap;
        match response.take(cap as u64 + 1).read_to_end(&mut body) {
            Ok(_) if body.len() > cap => Answer::Failed(format!(
                "HTTP {status} with an answer larger than {cap} bytes"
            )),
            Ok(_) => Answer::Http {
                status,
                json,
                body,
                retry_after,
                link,
            },
            Err(e) => Answer::Failed(format!(
                "HTTP {status}, then reading the answer failed: {}",
                io_cause(&e)
            )),
        }
    }

    /// `GET {base}/v1/api-keys` with `key`.
    pub fn list_keys(&self, key: &Secret) -> Answer {
        self.send(Method::GET, self.base().keys_url(None), key)
    }

    /// `DELETE {base}/v1/api-keys/{id}` with `key`; an id that is not a plain token (see
    /// [`is_plain_id`]) is refused here too, without a request.
    pub fn delete_key(&self, key: &Secret, id: &str) -> Answer {
        if !is_plain_id(id) {
            return Answer::Failed(format!("refused: {}", not_plain(id)));
        }
        self.send(Method::DELETE, self.base().keys_url(Some(id)), key)
    }
}

/// Whether `id` may stand in a URL path: a plain token, `[A-Za-z0-9_-]{1,128}`. Anything else
/// (empty, `.`, `..`, slashes, percent signs, spaces, controls) could point a DELETE at another
/// resource (`DELETE /v1/api-keys/..` is the whole collection) and is never sent.
pub fn is_plain_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Why `id` is not used in a URL, printable.
pub fn not_plain(id: &str) -> String {
    format!(
        "the key id \"{}\" is not a plain token ([A-Za-z0-9_-], 1 to 128 characters), so it is never used in a URL",
        super::revoke::clip(id, 200)
    )
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim().eq_ignore_ascii_case("application/json") || t.trim().ends_with("+json")
            })
        })
}

/// `Retry-After` in seconds (the HTTP-date form is read as "soon").
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    Some(
        value
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(1)),
    )
}

/// A reqwest error, said without the URL or anything else from the request.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the request timed out".into()
    } else if e.is_connect() {
        let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
        let mut last = String::from("connection failed");
        while let Some(c) = cause {
            last = format!("connection failed: {c}");
            cause = c.source();
        }
        last
    } else {
        format!("request failed: {}", first_line(&e.to_string()))
    }
}

fn io_cause(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::TimedOut || e.to_string().contains("timed out") {
        "the request timed out".into()
    } else {
        first_line(&e.to_string())
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_are_https_or_loopback() {
        assert!(ApiBase::parse("https://api.example.com").is_ok());
        assert!(ApiBase::parse("http://127.0.0.1:8080").is_ok());
        assert!(ApiBase::parse("http://[::1]:8080/").is_ok());
        assert!(ApiBase::parse("http://localhost:1").is_ok());
        for bad in [
            "http://api.example.com",
            "http://10.0.0.1",
            "ftp://x",
            "https://u:p@x.test",
            "https://x.test/?a=1",
            "nonsense",
        ] {
            assert!(ApiBase::parse(bad).is_err(), "{bad}");
        }
    }

    /// The refusal of another scheme does not say it is accepted for loopback hosts.
    #[test]
    fn other_schemes_are_refused_even_on_loopback_and_the_message_says_so() {
        let ftp = ApiBase::parse("ftp://127.0.0.1").err().unwrap();
        assert!(ftp.contains("not ftp://"), "{ftp}");
        assert!(!ftp.contains("ftp:// is accepted"), "{ftp}");
        let http = ApiBase::parse("http://api.example.com").err().unwrap();
        assert!(
            http.contains("http:// is accepted for loopback hosts only"),
            "{http}"
        );
    }

    #[test]
    fn ids_are_one_escaped_path_segment() {
        let base = ApiBase::parse("https://api.example.com/").unwrap();
        assert_eq!(
            base.keys_url(None).as_str(),
            "https://api.example.com/v1/api-keys"
        );
        assert_eq!(
            base.keys_url(Some("key_123")).as_str(),
            "https://api.example.com/v1/api-keys/key_123"
        );
        assert_eq!(
            base.keys_url(Some("../../users")).as_str(),
            "https://api.example.com/v1/api-keys/..%2F..%2Fusers"
        );
        for id in ["key_123", "K-9", &"a".repeat(128)] {
            assert!(is_plain_id(id), "{id}");
        }
        for id in [
            "",
            ".",
            "..",
            "a/b",
            "%2e%2e",
            "a%2Fb",
            "a b",
            "a\n",
            "ключ",
            &"a".repeat(129),
        ] {
            assert!(!is_plain_id(id), "{id:?}");
        }
        let prefixed = ApiBase::parse("http://127.0.0.1:9/proxy").unwrap();
        assert_eq!(
            prefixed.keys_url(None).as_str(),
            "http://127.0.0.1:9/proxy/v1/api-keys"
        );
    }
}
