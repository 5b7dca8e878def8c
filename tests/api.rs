//! Verification and revocation against a fake key-management API (a real HTTP server on
//! 127.0.0.1): every status, the ambiguity rule, dedup, dry run, the audit log, and exactly which
//! requests reached the server.

use std::fs;
use std::path::Path;

use crate::common::fake_api::{FakeApi, Fault};
use crate::common::*;
use serde_json::Value;

fn key(n: u32) -> String {
    live(&format!("Api{n:03}Zx8Cv6Bn4Mq2Wd7Rf5"))
}

fn tkey(n: u32) -> String {
    test_key(&format!("Api{n:03}Tt8Yy6Uu4Ii2Oo7Pp5"))
}

/// A folder with one file per key (`k{i}.env`).
fn tree(keys: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (i, k) in keys.iter().enumerate() {
        fs::write(dir.path().join(format!("k{i}.env")), format!("KEY={k}\n")).unwrap();
    }
    dir
}

/// `skguard scan ARGS --format json --api-base BASE` in `dir`.
fn scan_api(dir: &Path, api: &FakeApi, args: &[&str]) -> (i32, Vec<Value>, String) {
    let mut all = vec![
        "--api-base",
        api.base.as_str(),
        "--api-confirm-interval",
        "0.1",
    ];
    all.extend_from_slice(args);
    let (code, findings, _, stderr) = scan_json(dir, &all);
    (code, findings, stderr)
}

/// The verification detail of the finding in `path`.
fn detail_of(findings: &[Value], path: &str) -> String {
    let f = findings
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no finding in {path}"));
    f["verification"]["detail"].as_str().unwrap().to_string()
}

fn status_of(findings: &[Value], path: &str) -> (String, Option<String>) {
    let f = findings
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no finding in {path}: {findings:?}"));
    (
        f["verification"]["status"]
            .as_str()
            .unwrap_or("none")
            .to_string(),
        f["revocation"]["status"].as_str().map(str::to_string),
    )
}

#[test]
fn api_verification_statuses_and_one_request_per_distinct_key() {
    let api = FakeApi::start();
    let (active, restricted, revoked, unknown_to_api) = (key(1), key(2), key(3), key(4));
    api.add("acct", "key_1", &active, 12);
    api.add("acct", "key_2", &restricted, 12);
    api.add("acct", "key_3", &revoked, 12);
    api.restrict(&restricted);
    api.revoke(&revoked);
    let dir = tree(&[&active, &restricted, &revoked, &unknown_to_api, &active]);
    let (code, findings, stderr) = scan_api(dir.path(), &api, &["--verify"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(status_of(&findings, "k0.env").0, "active");
    assert_eq!(status_of(&findings, "k4.env").0, "active");
    assert_eq!(status_of(&findings, "k1.env").0, "restricted");
    assert_eq!(status_of(&findings, "k2.env").0, "invalid");
    assert_eq!(status_of(&findings, "k3.env").0, "invalid");
    // Four distinct keys, four GETs, no DELETE; each with its own key and skguard's User-Agent.
    let seen = api.seen();
    assert_eq!(api.log(), vec!["GET /v1/api-keys"; 4]);
    let mut bearers: Vec<String> = seen
        .iter()
        .map(|s| s.authorization.clone().unwrap())
        .collect();
    bearers.sort();
    let mut expected: Vec<String> = [&active, &restricted, &revoked, &unknown_to_api]
        .iter()
        .map(|k| format!("Bearer {k}"))
        .collect();
    expected.sort();
    assert_eq!(bearers, expected);
    assert!(seen
        .iter()
        .all(|s| s.user_agent.as_deref() == Some(concat!("skguard/", env!("CARGO_PKG_VERSION")))));
}

#[test]
fn api_faults_are_retried_then_unknown() {
    let api = FakeApi::start();
    let keys: Vec<String> = (10..18).map(key).collect();
    for (i, k) in keys.iter().enumerate() {
        api.add(&format!("acct{i}"), &format!("key_{i}"), k, 12);
    }
    api.fault(
        &keys[0],
        Fault::RateLimited {
            times: 2,
            retry_after: 1,
        },
    );
    api.fault(
        &keys[1],
        Fault::RateLimited {
            times: 99,
            retry_after: 1,
        },
    );
    api.fault(&keys[2], Fault::ServerError { times: 1 });
    api.fault(&keys[3], Fault::ServerError { times: 99 });
    api.fault(&keys[4], Fault::Slow(std::time::Duration::from_secs(3)));
    api.fault(&keys[5], Fault::MalformedJson);
    api.fault(&keys[6], Fault::Html403);
    api.fault(&keys[7], Fault::UndocumentedBody);
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let dir = tree(&refs);
    let (code, findings, stderr) =
        scan_api(dir.path(), &api, &["--verify", "--api-timeout", "0.5"]);
    assert_eq!(code, 1, "{stderr}");
    let statuses: Vec<String> = (0..8)
        .map(|i| status_of(&findings, &format!("k{i}.env")).0)
        .collect();
    assert_eq!(
        statuses,
        ["active", "unknown", "active", "unknown", "unknown", "unknown", "unknown", "unknown"]
    );
    let detail = |i: usize| detail_of(&findings, &format!("k{i}.env"));
    assert!(
        detail(1).contains("429") && detail(1).contains("3 attempts"),
        "{}",
        detail(1)
    );
    assert!(detail(4).contains("timed out"), "{}", detail(4));
    assert!(
        detail(6).contains("403 without a JSON body"),
        "{}",
        detail(6)
    );
    let gets = |k: &str| {
        api.seen()
            .iter()
            .filter(|s| s.authorization.as_deref() == Some(&format!("Bearer {k}")))
            .count()
    };
    assert_eq!(gets(&keys[0]), 3, "two 429s, then the answer");
    assert_eq!(gets(&keys[1]), 3, "attempts are bounded");
    assert_eq!(gets(&keys[3]), 3);
    assert_eq!(gets(&keys[6]), 1, "a non-JSON 403 is not retried");
    assert!(api.deletes().is_empty());
}

#[test]
fn api_redirects_are_never_followed_with_a_key() {
    let api = FakeApi::start();
    let elsewhere = FakeApi::start();
    let k = key(20);
    api.add("acct", "key_1", &k, 12);
    elsewhere.add("acct", "key_1", &k, 12);
    api.fault(&k, Fault::Redirect(elsewhere.base.clone()));
    let dir = tree(&[&k]);
    let (_, findings, _) = scan_api(dir.path(), &api, &["--verify", "--revoke"]);
    assert_eq!(
        status_of(&findings, "k0.env"),
        ("unknown".into(), Some("skipped".into()))
    );
    assert!(findings[0]["verification"]["detail"]
        .as_str()
        .unwrap()
        .contains("redirect"));
    assert!(
        elsewhere.seen().is_empty(),
        "the other server heard nothing: {:?}",
        elsewhere.seen()
    );
    assert!(api.deletes().is_empty());
}

#[test]
fn api_revokes_an_identified_live_key_once_with_exactly_the_documented_requests() {
    let api = FakeApi::start();
    let (target, other) = (key(30), key(31));
    api.add("acct", "key_target", &target, 12);
    api.add_with_prefix("acct", "key_other", &other, "sk_live_Zz9");
    // The same key in three places: verified once, revoked once.
    let dir = tree(&[&target, &target, &target]);
    let audit = dir.path().join("audit.jsonl");
    let (code, findings, stderr) = scan_api(
        dir.path(),
        &api,
        &["--revoke", "--audit-log", audit.to_str().unwrap()],
    );
    assert_eq!(code, 1, "findings exit 1, revoked or not: {stderr}");
    for i in 0..3 {
        assert_eq!(
            status_of(&findings, &format!("k{i}.env")),
            ("active".into(), Some("revoked".into()))
        );
    }
    assert_eq!(findings[0]["revocation"]["key_id"], "key_target");
    // The detail says what happened without repeating the status ("revoked — revoked: …").
    assert_eq!(
        findings[0]["revocation"]["detail"],
        "DELETE accepted; the key now answers 401"
    );
    assert_eq!(
        api.log(),
        vec![
            "GET /v1/api-keys",
            "DELETE /v1/api-keys/key_target",
            "GET /v1/api-keys"
        ]
    );
    assert!(api
        .seen()
        .iter()
        .all(|s| s.authorization.as_deref() == Some(&format!("Bearer {target}"))));
    assert!(api.is_revoked(&target) && !api.is_revoked(&other));

    // The audit log: one line per verification and per revocation, 0600, never the key.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&audit).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = fs::read_to_string(&audit).unwrap();
    assert!(!text.contains(&target), "{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (
            lines[0]["action"].as_str(),
            lines[0]["status"].as_str(),
            lines[0]["http_status"].as_u64()
        ),
        (Some("verify"), Some("active"), Some(200))
    );
    assert_eq!(
        (
            lines[1]["action"].as_str(),
            lines[1]["status"].as_str(),
            lines[1]["key_id"].as_str()
        ),
        (Some("revoke"), Some("revoked"), Some("key_target"))
    );
    assert_eq!(lines[1]["http_status"], 200);
    assert_eq!(lines[0]["fingerprint"], fingerprint(&target));
    assert_eq!(lines[0]["locations"].as_array().unwrap().len(), 3);
    assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));

    // A second run appends; the key is now invalid and nothing more is revoked.
    let (_, findings, _) = scan_api(
        dir.path(),
        &api,
        &["--revoke", "--audit-log", audit.to_str().unwrap()],
    );
    assert_eq!(
        status_of(&findings, "k0.env"),
        ("invalid".into(), Some("skipped".into()))
    );
    assert_eq!(fs::read_to_string(&audit).unwrap().lines().count(), 3);
    assert_eq!(api.deletes().len(), 1);
}

#[test]
fn api_ambiguity_and_pagination_revoke_nothing() {
    let api = FakeApi::start();
    // The documented listing shows the bare "sk_live_" prefix: with two keys, both match.
    let (a, b) = (key(40), key(41));
    api.add_with_prefix("acct", "key_a", &a, "sk_live_");
    api.add_with_prefix("acct", "key_b", &b, "sk_live_");
    let c = key(42);
    api.add("solo", "key_c", &c, 12);
    api.fault(&c, Fault::Paginated);
    let d = key(43);
    api.add_with_prefix("nomatch", "key_d", &d, "sk_live_Nope");
    let dir = tree(&[&a, &c, &d]);
    let (code, findings, _) = scan_api(dir.path(), &api, &["--revoke"]);
    assert_eq!(code, 1);
    for i in 0..3 {
        assert_eq!(
            status_of(&findings, &format!("k{i}.env")),
            ("active".into(), Some("ambiguous".into()))
        );
    }
    let candidates: Vec<&str> = findings[0]["revocation"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(candidates, ["key_a", "key_b"]);
    let detail = findings[1]["revocation"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("may not show the whole account") && detail.contains("\"has_more\""),
        "{detail}"
    );
    assert!(api.deletes().is_empty(), "never guess: {:?}", api.log());
}

#[test]
fn api_dry_run_and_test_keys_send_no_delete() {
    let api = FakeApi::start();
    let (l, t) = (key(50), tkey(51));
    api.add("acct", "key_l", &l, 12);
    api.add("acct2", "key_t", &t, 12);
    let dir = tree(&[&l, &t]);
    let (code, findings, _) = scan_api(dir.path(), &api, &["--revoke", "--dry-run"]);
    assert_eq!(code, 1);
    assert_eq!(
        status_of(&findings, "k0.env"),
        ("active".into(), Some("dry_run".into()))
    );
    assert_eq!(findings[0]["revocation"]["key_id"], "key_l");
    assert_eq!(
        status_of(&findings, "k1.env"),
        ("active".into(), Some("skipped".into()))
    );
    let (_, findings, _) = scan_api(dir.path(), &api, &["--revoke"]);
    assert_eq!(
        status_of(&findings, "k1.env"),
        ("active".into(), Some("skipped".into())),
        "test keys are never revoked"
    );
    assert_eq!(api.deletes(), vec!["/v1/api-keys/key_l"]);
}

#[test]
fn api_revocations_that_do_not_take_are_failed_and_exit_2() {
    let api = FakeApi::start();
    let (still, ignored, gone) = (key(60), key(61), key(62));
    api.add("a", "key_still", &still, 12);
    api.add("b", "key_ignored", &ignored, 12);
    api.add("c", "key_gone", &gone, 12);
    api.fault(&still, Fault::Delete404StillWorks);
    api.fault(&ignored, Fault::DeleteIgnored);
    api.fault(&gone, Fault::Delete404Revokes);
    let dir = tree(&[&still, &ignored, &gone]);
    let (code, findings, stderr) = scan_api(dir.path(), &api, &["--revoke"]);
    assert_eq!(
        code, 2,
        "a failed revocation leaves a live key working: {stderr}"
    );
    assert_eq!(status_of(&findings, "k0.env").1.as_deref(), Some("failed"));
    assert_eq!(status_of(&findings, "k1.env").1.as_deref(), Some("failed"));
    assert_eq!(
        status_of(&findings, "k2.env").1.as_deref(),
        Some("already_revoked")
    );
    let count = |k: &str, method: &str| {
        api.seen()
            .iter()
            .filter(|s| {
                s.method == method && s.authorization.as_deref() == Some(&format!("Bearer {k}"))
            })
            .count()
    };
    // DELETE 404 then one confirming GET; DELETE 200 then three confirming GETs.
    assert_eq!((count(&still, "GET"), count(&still, "DELETE")), (2, 1));
    assert_eq!((count(&ignored, "GET"), count(&ignored, "DELETE")), (4, 1));
    assert_eq!((count(&gone, "GET"), count(&gone, "DELETE")), (2, 1));
}

#[test]
fn api_revoke_is_refused_for_keys_that_never_left_the_machine() {
    let api = FakeApi::start();
    let dir = tree(&[&key(70)]);
    for flag in ["--staged", "--no-ignore"] {
        let out = scan_output(dir.path(), &[flag, "--revoke", "--api-base", &api.base]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("blocked, not revoked"));
    }
    assert!(api.seen().is_empty());
}

#[test]
fn api_user_rules_are_never_sent_and_bases_are_checked() {
    let api = FakeApi::start();
    let dir = tree(&[]);
    fs::write(
        dir.path().join(".skguard.toml"),
        "[[rules]]\nid = \"acme\"\nname = \"n\"\ndescription = \"d\"\nseverity = \"high\"\nprefixes = [\"acme_\"]\npattern = 'acme_[a-z0-9]{20}'\nremediation = \"r\"\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("a.txt"),
        format!("acme_{}\n", "a1b2c3d4e5".repeat(2)),
    )
    .unwrap();
    let (code, findings, _) = scan_api(dir.path(), &api, &["--verify"]);
    assert_eq!((code, findings.len()), (1, 1));
    assert!(findings[0]["verification"].is_null());
    assert!(
        api.seen().is_empty(),
        "a user's rule is never verified against the provider"
    );

    for base in ["http://api.example.test", "ftp://127.0.0.1"] {
        let out = scan_output(dir.path(), &["--verify", "--api-base", base]);
        assert_eq!(out.status.code(), Some(2), "{base}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("https"),
            "{base}"
        );
    }
    // SKGUARD_API_BASE is the default when there is no flag.
    let k = key(71);
    api.add("acct", "key_1", &k, 12);
    fs::write(dir.path().join("k.env"), format!("K={k}\n")).unwrap();
    let out = skguard()
        .current_dir(dir.path())
        .env("SKGUARD_API_BASE", &api.base)
        .args(["scan", "--verify", "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"active\""),
        "{}",
        text(&out)
    );
}

#[test]
fn api_fail_on_active_and_the_human_report_puts_live_active_keys_first() {
    let api = FakeApi::start();
    let (inv, act) = (key(80), key(81));
    api.add("acct", "key_1", &act, 12);
    let dir = tree(&[&inv]);
    let out = scan_output(dir.path(), &["--fail-on", "active"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--fail-on active needs --verify"
    );
    let run = |dir: &Path| {
        scan_output(
            dir,
            &["--verify", "--fail-on", "active", "--api-base", &api.base],
        )
    };
    assert_eq!(
        run(dir.path()).status.code(),
        Some(0),
        "an invalid key does not fail --fail-on active"
    );
    let dir = tree(&[&inv, &act]);
    let out = run(dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (active_at, invalid_at) = (
        stdout.find("ACTIVE").unwrap(),
        stdout.find("invalid").unwrap(),
    );
    assert!(active_at < invalid_at, "{stdout}");
    assert!(stdout.contains("Settings > API Keys"), "{stdout}");
    assert!(!stdout.contains(&act) && !stdout.contains(&inv), "{stdout}");
}

#[test]
fn api_verify_command_reads_keys_from_standard_input() {
    let api = FakeApi::start();
    let (act, inv) = (key(90), key(91));
    api.add("acct", "key_1", &act, 12);
    let run = |input: String| {
        skguard()
            .args(["verify", "--api-base", &api.base])
            .write_stdin(input)
            .output()
            .unwrap()
    };
    let out = run(format!("{act}\n\n{inv}\n{act}\n"));
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(
        stdout.contains("sk_live_Api…Rf5  active") && stdout.contains("  invalid  "),
        "{stdout}"
    );
    assert!(!stdout.contains(&act));
    assert_eq!(run(format!("{inv}\n")).status.code(), Some(0));
    let out = run("not a key\n".into());
    assert_eq!(out.status.code(), Some(2));
    let slow = key(92);
    api.add("acct2", "key_2", &slow, 12);
    api.fault(&slow, Fault::ServerError { times: 99 });
    assert_eq!(
        run(format!("{slow}\n{act}\n")).status.code(),
        Some(2),
        "unknown wins"
    );
}

#[test]
fn api_revoke_command_takes_the_authorising_key_from_the_environment_or_stdin() {
    let api = FakeApi::start();
    let (admin, victim) = (key(95), key(96));
    api.add("acct", "key_admin", &admin, 12);
    api.add("acct", "key_victim", &victim, 12);
    let out = skguard()
        .args(["revoke", "--key-id", "key_victim", "--api-base", &api.base])
        .env("SKGUARD_API_KEY", &admin)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(api.is_revoked(&victim) && !api.is_revoked(&admin));
    let out = skguard()
        .args(["revoke", "--key-id", "key_nope", "--api-base", &api.base])
        .write_stdin(format!("{admin}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("404"));
    assert!(!text(&out).contains(&admin));
    assert_eq!(
        api.deletes(),
        vec!["/v1/api-keys/key_victim", "/v1/api-keys/key_nope"]
    );
}

#[test]
fn api_hostile_servers_are_bounded_unknown_and_revoke_nothing() {
    let api = FakeApi::start();
    let keys: Vec<String> = (100..104).map(key).collect();
    let faults = [
        Fault::Trickle,
        Fault::Endless,
        Fault::Huge,
        Fault::WrongContentType,
    ];
    for (i, (k, fault)) in keys.iter().zip(faults).enumerate() {
        api.add(&format!("acct{i}"), &format!("key_{i}"), k, 12);
        api.fault(k, fault);
    }
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let dir = tree(&refs);
    let started = std::time::Instant::now();
    let (code, findings, stderr) = scan_api(
        dir.path(),
        &api,
        &["--revoke", "--api-timeout", "1", "--api-deadline", "20"],
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "bounded: {:?}",
        started.elapsed()
    );
    assert_eq!(code, 1, "{stderr}");
    for i in 0..4 {
        assert_eq!(
            status_of(&findings, &format!("k{i}.env")),
            ("unknown".into(), Some("skipped".into())),
            "fault {i}"
        );
    }
    let detail = |i: usize| detail_of(&findings, &format!("k{i}.env"));
    assert!(detail(0).contains("timed out"), "{}", detail(0));
    // Bounded by the size cap, or by the timeout when the machine is slow: either way, not read.
    for i in [1, 2] {
        assert!(
            detail(i).contains("larger than") || detail(i).contains("timed out"),
            "{}",
            detail(i)
        );
    }
    assert!(detail(3).contains("not JSON"), "{}", detail(3));
    assert!(api.deletes().is_empty());

    // A server that does not speak TLS where https is expected: the handshake fails, unknown, and
    // nothing but the TLS hello ever reached it (no key on the wire).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(3) {
            use std::io::{Read, Write};
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let tls = format!("https://127.0.0.1:{port}");
    let (_, findings, _, _) = scan_json(
        dir.path(),
        &["--verify", "--api-base", &tls, "--api-timeout", "2"],
    );
    let v = &findings.iter().find(|f| f["path"] == "k0.env").unwrap()["verification"];
    assert_eq!(v["status"], "unknown");
    assert!(
        v["detail"].as_str().unwrap().contains("connection failed"),
        "{v}"
    );
    let wire = received.lock().unwrap().clone();
    assert!(
        !wire.is_empty()
            && !keys
                .iter()
                .any(|k| wire.windows(k.len()).any(|w| w == k.as_bytes()))
    );
}

#[test]
fn api_a_plain_http_loopback_base_is_never_proxied() {
    let api = FakeApi::start();
    // A recording proxy on 127.0.0.1: it must never hear the key in clear text.
    let proxy = FakeApi::start();
    let k = key(110);
    api.add("acct", "key_1", &k, 12);
    let dir = tree(&[&k]);
    let run = |base: &str, timeout: &str| {
        let out = skguard()
            .current_dir(dir.path())
            .env("HTTP_PROXY", &proxy.base)
            .env("http_proxy", &proxy.base)
            .env("ALL_PROXY", &proxy.base)
            .env("all_proxy", &proxy.base)
            .env("HTTPS_PROXY", &proxy.base)
            .env("https_proxy", &proxy.base)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .args(["scan", "--verify", "--format", "json", "--api-base", base])
            .args(["--api-timeout", timeout])
            .output()
            .unwrap();
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["findings"][0]["verification"]["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(run(&api.base, "10"), "active");
    assert_eq!(api.seen().len(), 1);
    assert!(
        proxy.seen().is_empty(),
        "the proxy saw the request: {:?}",
        proxy.seen()
    );
    // An https base honours HTTPS_PROXY: the proxy is asked for a tunnel (CONNECT), and it never
    // sees the Authorization header (the recording proxy refuses the tunnel: unknown).
    let tls = api.base.replace("http://", "https://");
    assert_eq!(run(&tls, "2"), "unknown");
    let seen = proxy.seen();
    assert!(
        !seen.is_empty() && seen.iter().all(|s| s.method == "CONNECT"),
        "{seen:?}"
    );
    assert!(seen.iter().all(|s| s.authorization.is_none()), "{seen:?}");
}

/// `skguard scan --revoke` in `dir` with json on stdout and human, github and sarif to files, and
/// an audit log: (exit code, findings, human, github, sarif, audit log).
fn revoke_every_format(dir: &Path, api: &FakeApi) -> (i32, Vec<Value>, [String; 4]) {
    let out = tempfile::tempdir().unwrap();
    let file = |name: &str| out.path().join(name).to_str().unwrap().to_string();
    let (human, github, sarif, audit) = (
        file("report.txt"),
        file("annotations.txt"),
        file("report.sarif"),
        file("audit.jsonl"),
    );
    let (code, findings, stderr) = scan_api(
        dir,
        api,
        &[
            "--revoke",
            "--audit-log",
            &audit,
            "--format",
            &format!("human={human}"),
            "--format",
            &format!("github={github}"),
            "--format",
            &format!("sarif={sarif}"),
        ],
    );
    let read =
        |p: &str| fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}; stderr: {stderr}"));
    (
        code,
        findings,
        [read(&human), read(&github), read(&sarif), read(&audit)],
    )
}

#[test]
fn api_any_sign_of_an_incomplete_listing_revokes_nothing() {
    let api = FakeApi::start();
    let faults = [
        Fault::LinkHeader("<http://127.0.0.1/v1/api-keys?page=2>; rel=\"next\"".into()),
        Fault::ListingExtra(serde_json::json!({"meta": {"has_more": true}})),
        Fault::ListingExtra(serde_json::json!({"next_page_token": "abc"})),
        Fault::ListingExtra(serde_json::json!({"total_count": "1"})),
        Fault::ListingExtra(serde_json::json!({"has_more": false})),
        Fault::ListingExtra(serde_json::json!({"next": null})),
        Fault::ListingExtra(serde_json::json!({"object": "list"})),
    ];
    let keys: Vec<String> = (200..200 + faults.len() as u32).map(key).collect();
    for (i, (k, fault)) in keys.iter().zip(faults).enumerate() {
        // Each key alone in its account, with the documented bare prefix: on page 1 it is the
        // only match, which proves nothing when there may be a page 2.
        api.add_with_prefix(&format!("acct{i}"), &format!("key_{i}"), k, "sk_live_");
        api.fault(k, fault);
    }
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let dir = tree(&refs);
    let (code, findings, stderr) = scan_api(dir.path(), &api, &["--revoke"]);
    assert_eq!(code, 1, "{stderr}");
    for i in 0..keys.len() {
        let path = format!("k{i}.env");
        assert_eq!(
            status_of(&findings, &path),
            ("active".into(), Some("ambiguous".into())),
            "fault {i}"
        );
        let f = findings
            .iter()
            .find(|f| f["path"] == path.as_str())
            .unwrap();
        assert_eq!(
            f["revocation"]["candidates"],
            serde_json::json!([format!("key_{i}")]),
            "fault {i}: the candidate is reported"
        );
        let detail = f["revocation"]["detail"].as_str().unwrap();
        assert!(
            detail.contains("may not show the whole account"),
            "{detail}"
        );
    }
    assert!(
        findings[0]["revocation"]["detail"]
            .as_str()
            .unwrap()
            .contains("Link header"),
        "{}",
        findings[0]["revocation"]
    );
    assert!(api.deletes().is_empty(), "never guess: {:?}", api.log());
}

#[test]
fn api_a_listing_that_omits_the_leaked_key_says_which_key_was_revoked_and_what_to_check() {
    let api = FakeApi::start();
    let (prod, leaked) = (key(210), key(211));
    // The account has two keys; the listing leaves out the leaked one, so key_prod looks like
    // the only match. The DELETE cannot be avoided (the SPEC's rule), but it must be said.
    api.add_with_prefix("acct", "key_prod", &prod, "sk_live_");
    api.add_with_prefix("acct", "key_leaked", &leaked, "sk_live_");
    api.set_name(&prod, "Production Key");
    api.fault(&leaked, Fault::OmitSelf);
    let dir = tree(&[&leaked]);
    let (code, findings, [human, github, sarif, audit]) = revoke_every_format(dir.path(), &api);
    assert_eq!(code, 2, "a live key still works: the answer is incomplete");
    let said = "key id key_prod was revoked while the leaked key still authenticates, so key_prod \
                may not have been the leaked key";
    let r = &findings[0]["revocation"];
    assert_eq!(r["status"], "failed");
    assert_eq!(r["key_id"], "key_prod");
    let detail = r["detail"].as_str().unwrap();
    assert!(detail.starts_with(said), "{detail}");
    assert!(
        detail.contains("Settings > API Keys")
            && detail.contains("Production Key")
            && detail.contains("sk_live_Api…Rf5"),
        "what to check in the dashboard: {detail}"
    );
    for (name, text) in [("human", &human), ("github", &github), ("sarif", &sarif)] {
        assert!(text.contains(said), "{name}: {text}");
        assert!(!text.contains(&leaked) && !text.contains(&prod), "{name}");
    }
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let revoke = lines.iter().find(|l| l["action"] == "revoke").unwrap();
    assert_eq!(revoke["status"], "failed");
    assert!(
        revoke["detail"].as_str().unwrap().starts_with(said),
        "{revoke}"
    );
    // The rule itself is unchanged: the one match was revoked, then the key was checked three times.
    assert!(api.is_revoked(&prod) && !api.is_revoked(&leaked));
    let mut expected = vec!["GET /v1/api-keys", "DELETE /v1/api-keys/key_prod"];
    expected.extend(["GET /v1/api-keys"; 3]);
    assert_eq!(api.log(), expected);
}

#[test]
fn api_key_ids_that_are_not_plain_tokens_are_never_put_in_a_url() {
    let api = FakeApi::start();
    let long = "k".repeat(129);
    let ids = [
        "",
        ".",
        "..",
        "a/b",
        "%2e%2e",
        "key%2F1",
        "key 1",
        "key\n1",
        long.as_str(),
    ];
    let keys: Vec<String> = (220..220 + ids.len() as u32).map(key).collect();
    for (i, (k, id)) in keys.iter().zip(ids).enumerate() {
        api.add_with_prefix(&format!("acct{i}"), id, k, "sk_live_");
    }
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let dir = tree(&refs);
    for dry_run in [true, false] {
        let mut args = vec!["--revoke"];
        if dry_run {
            args.push("--dry-run");
        }
        let (code, findings, stderr) = scan_api(dir.path(), &api, &args);
        assert_eq!(code, 2, "a live key left working: {stderr}");
        for (i, id) in ids.iter().enumerate() {
            let path = format!("k{i}.env");
            assert_eq!(
                status_of(&findings, &path),
                ("active".into(), Some("failed".into())),
                "id {id:?}"
            );
            let f = findings
                .iter()
                .find(|f| f["path"] == path.as_str())
                .unwrap();
            let detail = f["revocation"]["detail"].as_str().unwrap();
            assert!(
                detail.contains("not a plain token") && detail.contains("Settings > API Keys"),
                "{detail}"
            );
            assert!(!detail.contains('\n'), "{detail:?}");
        }
    }
    assert!(api.deletes().is_empty(), "no DELETE: {:?}", api.log());

    // `skguard revoke --key-id` refuses the same ids before any request, exit 2.
    let admin = key(230);
    api.add("admin", "key_admin", &admin, 12);
    let before = api.seen().len();
    for id in ["", ".", "..", "a/b", "%2e%2e", "key 1", long.as_str()] {
        let out = skguard()
            .args(["revoke", "--key-id", id, "--api-base", &api.base])
            .env("SKGUARD_API_KEY", &admin)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{id:?}: {}", text(&out));
        assert!(text(&out).contains("plain token"), "{}", text(&out));
        assert!(out.stdout.is_empty(), "no success line: {}", text(&out));
    }
    assert_eq!(api.seen().len(), before, "no request: {:?}", api.log());
}

#[test]
fn api_strings_from_the_api_are_printable_in_every_format_and_the_audit_log() {
    let api = FakeApi::start();
    // API text holding a key-shaped string, terminal escapes and a workflow command.
    let secret = live("Hostile7Qz9Xc2Vb5Nm8Lk");
    let inject = "\n::error::pwned";
    let esc = "\x1b[31m\x1b]8;;http://evil.test\x07";
    let (a, a2, b, prod, c, d, e) = (
        key(240),
        key(241),
        key(242),
        key(243),
        key(244),
        key(245),
        key(246),
    );
    // Ambiguous: two candidates whose ids and names are hostile.
    api.add_with_prefix("a", &format!("key{esc}{inject}"), &a, "sk_live_");
    api.add_with_prefix("a", &format!("key {secret}{inject}"), &a2, "sk_live_");
    api.set_name(&a, &format!("Name {secret}{esc}{inject}"));
    // A listing that omits the leaked key: the revoked key's name is quoted.
    api.add_with_prefix("b", "key_prod", &prod, "sk_live_");
    api.add_with_prefix("b", "key_b", &b, "sk_live_");
    api.set_name(&prod, &format!("Prod {secret}{esc}{inject}"));
    api.fault(&b, Fault::OmitSelf);
    // The API's own message on a failed DELETE.
    api.add("c", "key_c", &c, 12);
    api.fault(
        &c,
        Fault::DeleteError(500, format!("boom {secret}{esc}{inject}")),
    );
    // A hostile top-level field name.
    api.add("d", "key_d", &d, 12);
    api.fault(
        &d,
        Fault::ListingExtra(serde_json::json!({format!("x{esc}{inject} {secret}"): 1})),
    );
    // An id that is a plain token holding a key: used in the URL (to the API base only), printed
    // redacted.
    let plain_id = format!("key_{secret}");
    api.add("e", &plain_id, &e, 12);
    let dir = tree(&[&a, &b, &c, &d, &e]);
    let (code, findings, [human, github, sarif, audit]) = revoke_every_format(dir.path(), &api);
    assert_eq!(code, 2);
    let shown = skguard::printable::printable(&secret).into_owned();
    assert_ne!(shown, secret);
    for (name, text) in [
        ("human", &human),
        ("github", &github),
        ("sarif", &sarif),
        ("audit", &audit),
    ] {
        assert!(!text.contains(&secret), "{name} shows a key: {text}");
        assert!(
            !text.contains('\x1b') && !text.contains('\x07'),
            "{name}: {text:?}"
        );
        assert!(
            !text
                .lines()
                .any(|l| l.trim_start().starts_with("::error::")),
            "{name} starts a workflow command: {text}"
        );
        assert!(!text.contains("::error::pwned\n"), "{name}");
    }
    // The strings are printed, made safe, not dropped.
    assert!(
        human.contains(&shown) && human.contains("\\x1b[31m"),
        "{human}"
    );
    assert!(human.contains("boom") && human.contains("Prod "), "{human}");
    assert!(github.contains(&shown), "{github}");
    assert_eq!(api.deletes().len(), 3, "{:?}", api.log());
    assert!(api.is_revoked(&e));
    // JSON: every string from the API is printable (no control character, no key).
    let json = serde_json::to_string(&findings).unwrap();
    assert!(!json.contains(&secret), "{json}");
    let mut strings = Vec::new();
    for f in &findings {
        let r = &f["revocation"];
        strings.push(r["detail"].as_str().unwrap().to_string());
        if let Some(id) = r["key_id"].as_str() {
            strings.push(id.to_string());
        }
        for c in r["candidates"].as_array().into_iter().flatten() {
            strings.push(c.as_str().unwrap().to_string());
        }
    }
    for s in &strings {
        assert!(!s.chars().any(char::is_control), "{s:?}");
    }
    let e_finding = findings.iter().find(|f| f["path"] == "k4.env").unwrap();
    assert_eq!(e_finding["revocation"]["status"], "revoked");
    assert_eq!(
        e_finding["revocation"]["key_id"].as_str().unwrap(),
        format!("key_{shown}")
    );

    // `skguard revoke --key-id`: the API's message, printable too.
    let admin = key(247);
    api.add("admin", "key_admin", &admin, 12);
    api.fault(
        &admin,
        Fault::DeleteError(403, format!("no {secret}{esc}{inject}")),
    );
    let log = tempfile::NamedTempFile::new().unwrap();
    let out = skguard()
        .args(["revoke", "--key-id", "key_x", "--api-base", &api.base])
        .args(["--audit-log", log.path().to_str().unwrap()])
        .env("SKGUARD_API_KEY", &admin)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = format!("{}{}", text(&out), fs::read_to_string(log.path()).unwrap());
    assert!(said.contains("403") && said.contains(&shown), "{said}");
    assert!(
        !said.contains(&secret) && !said.contains('\x1b'),
        "{said:?}"
    );
    assert!(!said.lines().any(|l| l.starts_with("::error::")), "{said}");
}

#[test]
fn api_an_existing_audit_log_is_made_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let api = FakeApi::start();
    let k = key(250);
    api.add("acct", "key_1", &k, 12);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    fs::write(&audit, "{\"earlier\": true}\n").unwrap();
    fs::set_permissions(&audit, fs::Permissions::from_mode(0o644)).unwrap();
    let out = skguard()
        .args(["verify", "--api-base", &api.base])
        .args(["--audit-log", audit.to_str().unwrap()])
        .write_stdin(format!("{k}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        fs::metadata(&audit).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    let text_now = fs::read_to_string(&audit).unwrap();
    assert!(text_now.starts_with("{\"earlier\": true}\n") && text_now.lines().count() == 2);
    // Something that cannot be a private file is refused before any request.
    let before = api.seen().len();
    let out = skguard()
        .args([
            "verify",
            "--api-base",
            &api.base,
            "--audit-log",
            "/dev/null",
        ])
        .write_stdin(format!("{k}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("not a regular file"), "{}", text(&out));
    assert_eq!(api.seen().len(), before);
}
