//! A fake key-management API: a real HTTP server on 127.0.0.1 at an ephemeral port that
//! implements the provider's documented contract (`GET /v1/api-keys`, `DELETE /v1/api-keys/{id}`,
//! 401 for a missing, invalid or revoked key, 403 for a key without permission), with accounts,
//! several keys per account, restricted and revoked keys, and faults injected per key. It records
//! every request it receives, so tests assert exactly what reached it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::json;
use tiny_http::{Header, Response, Server};

/// A request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Key {
    pub key: String,
    pub id: String,
    pub account: String,
    pub prefix: String,
    /// The listed name (default `Key {id}`).
    pub name: String,
    pub restricted: bool,
    pub revoked: bool,
}

/// What a key's requests run into.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 with `Retry-After: secs` for the first `times` requests.
    RateLimited { times: u32, retry_after: u32 },
    /// 500 for the first `times` requests.
    ServerError { times: u32 },
    /// Every answer takes this long.
    Slow(Duration),
    /// The listing is 200 with a body that is not JSON.
    MalformedJson,
    /// 200 with JSON that is not the documented body.
    UndocumentedBody,
    /// 403 with an HTML page.
    Html403,
    /// A redirect to another server (same path).
    Redirect(String),
    /// The listing says there is more of it.
    Paginated,
    /// DELETE answers 404 while the key keeps working.
    Delete404StillWorks,
    /// DELETE answers 404 and the key is revoked (someone else was faster).
    Delete404Revokes,
    /// DELETE answers 200 but the key keeps working.
    DeleteIgnored,
    /// The documented listing, one byte every 100 ms.
    Trickle,
    /// A 200 whose body never ends.
    Endless,
    /// A valid listing of 10 MB.
    Huge,
    /// The documented listing, served as text/html.
    WrongContentType,
    /// The listing leaves out the key that asks (the account's other keys are listed).
    OmitSelf,
    /// The listing has these top-level fields besides `success` and `data`.
    ListingExtra(serde_json::Value),
    /// The listing comes with this `Link` header.
    LinkHeader(String),
    /// DELETE answers this status with `{"success": false, "error": message}`.
    DeleteError(u16, String),
}

/// Bytes, one at a time, slowly.
struct Slowly(Vec<u8>, usize);
impl std::io::Read for Slowly {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.1 >= self.0.len() || buf.is_empty() {
            return Ok(0);
        }
        thread::sleep(Duration::from_millis(100));
        buf[0] = self.0[self.1];
        self.1 += 1;
        Ok(1)
    }
}

/// `[[[[…`, forever.
struct Forever;
impl std::io::Read for Forever {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        buf.fill(b'[');
        Ok(buf.len())
    }
}

#[derive(Default)]
struct State {
    keys: Vec<Key>,
    faults: HashMap<String, Fault>,
    hits: HashMap<String, u32>,
    seen: Vec<Seen>,
}

pub struct FakeApi {
    pub base: String,
    server: Arc<Server>,
    state: Arc<Mutex<State>>,
}

impl FakeApi {
    pub fn start() -> FakeApi {
        let server = Arc::new(Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let (srv, st) = (server.clone(), state.clone());
        thread::spawn(move || {
            for request in srv.incoming_requests() {
                let st = st.clone();
                thread::spawn(move || handle(request, &st));
            }
        });
        FakeApi {
            base: format!("http://127.0.0.1:{port}"),
            server,
            state,
        }
    }

    /// Adds a key to an account; its listed prefix is its first `prefix_len` characters.
    pub fn add(&self, account: &str, id: &str, key: &str, prefix_len: usize) {
        self.add_with_prefix(account, id, key, &key[..prefix_len.min(key.len())]);
    }

    pub fn add_with_prefix(&self, account: &str, id: &str, key: &str, prefix: &str) {
        self.state.lock().unwrap().keys.push(Key {
            key: key.into(),
            id: id.into(),
            account: account.into(),
            prefix: prefix.into(),
            name: format!("Key {id}"),
            restricted: false,
            revoked: false,
        });
    }

    /// The name the listing shows for `key`.
    pub fn set_name(&self, key: &str, name: &str) {
        self.with_key(key, |k| k.name = name.into());
    }

    pub fn restrict(&self, key: &str) {
        self.with_key(key, |k| k.restricted = true);
    }

    pub fn revoke(&self, key: &str) {
        self.with_key(key, |k| k.revoked = true);
    }

    pub fn is_revoked(&self, key: &str) -> bool {
        self.state
            .lock()
            .unwrap()
            .keys
            .iter()
            .any(|k| k.key == key && k.revoked)
    }

    fn with_key(&self, key: &str, f: impl FnOnce(&mut Key)) {
        let mut state = self.state.lock().unwrap();
        f(state
            .keys
            .iter_mut()
            .find(|k| k.key == key)
            .expect("a known key"));
    }

    pub fn fault(&self, key: &str, fault: Fault) {
        self.state.lock().unwrap().faults.insert(key.into(), fault);
    }

    /// Every request received, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// "METHOD path" of every request received.
    pub fn log(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .map(|s| format!("{} {}", s.method, s.path))
            .collect()
    }

    pub fn deletes(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "DELETE")
            .map(|s| s.path)
            .collect()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn json_response(status: u16, body: serde_json::Value) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(body.to_string())
        .with_status_code(status)
        .with_header(Header::from_bytes("Content-Type", "application/json").unwrap())
}

fn handle(mut request: tiny_http::Request, state: &Mutex<State>) {
    let header = |name: &str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.to_string())
    };
    let seen = Seen {
        method: request.method().to_string(),
        path: request.url().to_string(),
        authorization: header("Authorization"),
        user_agent: header("User-Agent"),
    };
    let mut body = String::new();
    let _ = request.as_reader().read_to_string(&mut body);
    let bearer = seen
        .authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();

    let fault = {
        let mut st = state.lock().unwrap();
        st.seen.push(seen.clone());
        let fault = st.faults.get(&bearer).cloned();
        let hits = st.hits.entry(bearer.clone()).or_insert(0);
        *hits += 1;
        (fault, *hits)
    };
    let json_header = || Header::from_bytes("Content-Type", "application/json").unwrap();
    let listing = json!({"success": true, "data": [{"id": "key_x", "name": "x", "prefix": "sk_"}]})
        .to_string();
    match &fault.0 {
        Some(Fault::Trickle) => {
            let body = listing.into_bytes();
            let len = body.len();
            let _ = request.respond(Response::new(
                200.into(),
                vec![json_header()],
                Slowly(body, 0),
                Some(len),
                None,
            ));
            return;
        }
        Some(Fault::Endless) => {
            let _ = request.respond(Response::new(
                200.into(),
                vec![json_header()],
                Forever,
                None,
                None,
            ));
            return;
        }
        Some(Fault::Huge) => {
            let padding = "x".repeat(10 << 20);
            let body = json!({"success": true, "data": [{"id": "key_x", "name": padding, "prefix": "sk_"}]}).to_string();
            let _ = request.respond(Response::from_string(body).with_header(json_header()));
            return;
        }
        Some(Fault::WrongContentType) => {
            let html = Header::from_bytes("Content-Type", "text/html").unwrap();
            let _ = request.respond(Response::from_string(listing).with_header(html));
            return;
        }
        _ => {}
    }
    let response = match fault {
        (Some(Fault::RateLimited { times, retry_after }), n) if n <= times => {
            json_response(429, json!({"success": false, "error": "Too Many Requests"}))
                .with_header(Header::from_bytes("Retry-After", retry_after.to_string()).unwrap())
        }
        (Some(Fault::ServerError { times }), n) if n <= times => json_response(
            500,
            json!({"success": false, "error": "Internal Server Error"}),
        ),
        (Some(Fault::Redirect(to)), _) => Response::from_string("")
            .with_status_code(307)
            .with_header(Header::from_bytes("Location", format!("{to}{}", seen.path)).unwrap()),
        (Some(Fault::Slow(delay)), _) => {
            thread::sleep(delay);
            answer(&seen, &bearer, None, state)
        }
        (fault, _) => answer(&seen, &bearer, fault, state),
    };
    let _ = request.respond(response);
}

fn answer(
    seen: &Seen,
    bearer: &str,
    fault: Option<Fault>,
    state: &Mutex<State>,
) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut st = state.lock().unwrap();
    let caller = st.keys.iter().find(|k| k.key == bearer).cloned();
    let unauthorized = || {
        json_response(
            401,
            json!({"success": false, "error": "Unauthorized: missing or invalid API key"}),
        )
    };
    let Some(caller) = caller.filter(|k| !k.revoked) else {
        return unauthorized();
    };
    let path = seen.path.as_str();
    match (seen.method.as_str(), path) {
        ("GET", "/v1/api-keys") => {
            if caller.restricted {
                return json_response(
                    403,
                    json!({"success": false, "error": "Forbidden: this key may not list keys"}),
                );
            }
            match fault {
                Some(Fault::MalformedJson) => {
                    return Response::from_string("{\"success\": true, \"data\": [").with_header(
                        Header::from_bytes("Content-Type", "application/json").unwrap(),
                    )
                }
                Some(Fault::UndocumentedBody) => return json_response(200, json!({"ok": "yes"})),
                Some(Fault::Html403) => {
                    return Response::from_string("<html><body>Forbidden</body></html>")
                        .with_status_code(403)
                        .with_header(Header::from_bytes("Content-Type", "text/html").unwrap())
                }
                _ => {}
            }
            let omit_self = matches!(fault, Some(Fault::OmitSelf));
            let data: Vec<_> = st
                .keys
                .iter()
                .filter(|k| k.account == caller.account && !k.revoked)
                .filter(|k| !(omit_self && k.key == caller.key))
                .map(|k| {
                    json!({"id": k.id, "name": k.name, "prefix": k.prefix,
                           "created_at": "2025-01-01T00:00:00Z", "last_used": "2025-01-15T10:30:00Z"})
                })
                .collect();
            let mut body = json!({"success": true, "data": data});
            match fault {
                Some(Fault::Paginated) => body["has_more"] = json!(true),
                Some(Fault::ListingExtra(extra)) => {
                    for (field, value) in extra.as_object().unwrap() {
                        body[field] = value.clone();
                    }
                }
                Some(Fault::LinkHeader(link)) => {
                    return json_response(200, body)
                        .with_header(Header::from_bytes("Link", link).unwrap())
                }
                _ => {}
            }
            json_response(200, body)
        }
        ("DELETE", p) if p.starts_with("/v1/api-keys/") => {
            if caller.restricted {
                return json_response(403, json!({"success": false, "error": "Forbidden"}));
            }
            let id = &p["/v1/api-keys/".len()..];
            match fault {
                Some(Fault::Delete404StillWorks) => {
                    return json_response(404, json!({"success": false, "error": "Not Found"}))
                }
                Some(Fault::DeleteError(status, message)) => {
                    return json_response(status, json!({"success": false, "error": message}))
                }
                Some(Fault::Delete404Revokes) => {
                    st.keys
                        .iter_mut()
                        .filter(|k| k.key == bearer)
                        .for_each(|k| k.revoked = true);
                    return json_response(404, json!({"success": false, "error": "Not Found"}));
                }
                _ => {}
            }
            let target = st
                .keys
                .iter_mut()
                .find(|k| k.id == id && k.account == caller.account && !k.revoked);
            match target {
                Some(target) => {
                    if !matches!(fault, Some(Fault::DeleteIgnored)) {
                        target.revoked = true;
                    }
                    json_response(
                        200,
                        json!({"success": true, "message": "API key revoked successfully"}),
                    )
                }
                None => json_response(404, json!({"success": false, "error": "Not Found"})),
            }
        }
        _ => json_response(404, json!({"success": false, "error": "Not Found"})),
    }
}
