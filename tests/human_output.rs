//! What a person sees (issue 13, items 3 to 6): no success line for an incomplete answer, paths
//! they can type from where they stand, source text around a raw key (redacted, only when asked
//! or on a terminal), fingerprints, aligned columns, advice wrapped and given once, the staged
//! scan's own words, and what the key-management API says a key is.

use std::fs;
use std::path::Path;

use crate::common::fake_api::{FakeApi, Fault};
use crate::common::*;
use serde_json::Value;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn run_in(dir: &Path, args: &[&str]) -> std::process::Output {
    skguard().current_dir(dir).args(args).output().unwrap()
}

// Item 3.

#[test]
fn a_path_that_cannot_be_read_never_looks_like_success() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &["scan", "no/such/folder"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let shown = stdout(&out);
    assert!(!shown.contains("No keys found"), "{shown}");
    assert!(!shown.contains('✓'), "{shown}");
    let first = shown.lines().next().unwrap_or_default();
    assert!(
        first.contains("Incomplete") && first.contains("1 path could not be read"),
        "what went wrong comes first: {shown}"
    );
    assert!(shown.contains("no/such/folder"), "{shown}");
    assert!(shown.contains("run the scan again"), "{shown}");
}

// Item 4.

#[test]
fn human_paths_are_typed_from_here_json_from_the_work_tree_root() {
    let repo = Repo::new();
    let key = live("Pa7Th5Sh4Ow3Nn2Hh1Rr9");
    repo.write("docs/setup.md", format!("# Setup\n\n  key: {key}\n"));
    repo.commit_all("docs");
    let root = repo.path();
    let docs = root.join("docs");

    // From the root, `scan docs` prints `docs/setup.md`; json is relative to the work tree's root.
    let out = run_in(root, &["scan", "docs"]);
    assert!(
        stdout(&out).starts_with("docs/setup.md:3:8 "),
        "{}",
        stdout(&out)
    );
    let (_, findings, _, _) = scan_json(root, &["docs"]);
    assert_eq!(findings[0]["path"], "docs/setup.md");

    // From inside docs: `setup.md`, in every mode; json and annotations stay root-relative.
    for args in [&["scan", "."][..], &["scan", "--git", ".."][..]] {
        let out = run_in(&docs, args);
        assert!(
            stdout(&out).starts_with("setup.md:3:8 "),
            "{args:?}: {}",
            stdout(&out)
        );
    }
    let (_, findings, _, _) = scan_json(&docs, &[]);
    assert_eq!(findings[0]["path"], "docs/setup.md");
    let out = run_in(&docs, &["scan", "--format", "github"]);
    assert!(
        stdout(&out).contains("file=docs/setup.md,line=3,col=8"),
        "{}",
        stdout(&out)
    );

    // Outside a repository: human from here, json relative to the scanned folder.
    let plain = tempfile::tempdir().unwrap();
    fs::create_dir(plain.path().join("sub")).unwrap();
    fs::write(plain.path().join("sub/x.env"), format!("K={key}\n")).unwrap();
    let out = run_in(plain.path(), &["scan", "sub"]);
    assert!(
        stdout(&out).starts_with("sub/x.env:1:3 "),
        "{}",
        stdout(&out)
    );
    let (_, findings, _, _) = scan_json(plain.path(), &["sub"]);
    assert_eq!(findings[0]["path"], "x.env");
}

#[test]
fn how_a_path_is_printed_never_changes_what_the_allowlist_matches() {
    let repo = Repo::new();
    let key = live("Al7Lo5Ww4Ll3Ii2Ss1Tt9");
    repo.write("docs/setup.md", format!("key: {key}\n"));
    repo.write("src/app.env", format!("K={key}\n"));
    repo.write(".skguard.toml", "[allowlist]\npaths = [\"setup.md\"]\n");
    repo.commit_all("two");
    // Scanned from the root, one finding is left; the same from inside docs (by its path).
    let (_, findings, _, _) = scan_json(repo.path(), &[]);
    let paths: Vec<&str> = findings
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["src/app.env"]);
    let out = run_in(repo.path(), &["scan"]);
    assert!(
        stdout(&out).starts_with("src/app.env:1:3 "),
        "{}",
        stdout(&out)
    );
}

// Item 5.

fn two_keys_tree() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let key = live("Cx7Tt5Ee4Xx3Tt2Kk1Yy9");
    let other = test_key("Ot7He5Rr4Kk3Ee2Yy1Zz8");
    fs::write(
        dir.path().join("app.env"),
        format!("A=1\n\tAPI_KEY=\"{key}\" OTHER={other} # prod\x1b[2J\n"),
    )
    .unwrap();
    fs::create_dir(dir.path().join("deeper")).unwrap();
    fs::write(
        dir.path().join("deeper/encoded.txt"),
        format!("token: {}\n", base64_of(&format!("{{\"k\":\"{key}\"}}"))),
    )
    .unwrap();
    (dir, key, other)
}

fn base64_of(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    while out.len() % 4 != 0 {
        out.push('=');
    }
    out
}

#[test]
fn source_context_is_redacted_only_when_asked_and_never_through_a_decoder() {
    let (dir, key, other) = two_keys_tree();
    let out = run_in(dir.path(), &["scan", "--context", "always"]);
    let shown = stdout(&out);
    assert!(!shown.contains(&key) && !shown.contains(&other), "{shown}");
    let context: Vec<&str> = shown.lines().filter(|l| l.contains('│')).collect();
    // One line of source text, for the raw key (the test key is on the same line: it has its own).
    assert_eq!(context.len(), 2, "{shown}");
    for line in &context {
        let text = line.split_once('│').unwrap().1.trim();
        assert!(text.chars().count() <= 80, "{line}");
        assert!(text.contains("API_KEY=\"sk_live_Cx7…y9\""), "{line}");
        assert!(text.contains("OTHER=sk_test_Ot7…z8"), "{line}");
        assert!(
            text.contains("\\x1b[2J") && !text.contains('\x1b'),
            "{line}"
        );
    }
    // The base64 finding is listed, with no source text under it.
    let encoded = shown
        .lines()
        .position(|l| l.starts_with("deeper/encoded.txt:"))
        .expect("the encoded key is listed");
    assert!(
        !shown.lines().nth(encoded + 1).unwrap().contains('│'),
        "{shown}"
    );
    // Every finding shows its fingerprint.
    assert!(shown.contains(&fingerprint(&key)), "{shown}");
    assert!(shown.contains(&fingerprint(&other)), "{shown}");

    // auto: standard output is a pipe here, so no source text; never: none either.
    for args in [&["scan"][..], &["scan", "--context", "never"][..]] {
        let shown = stdout(&run_in(dir.path(), args));
        assert!(
            !shown.contains('│') && !shown.contains("API_KEY="),
            "{shown}"
        );
        assert!(shown.contains(&fingerprint(&key)), "{shown}");
    }
    // A human report written to a file carries no source text unless --context always.
    let out = run_in(dir.path(), &["scan", "--format", "human=report.txt"]);
    assert_eq!(out.status.code(), Some(1));
    let file = fs::read_to_string(dir.path().join("report.txt")).unwrap();
    assert!(
        !file.contains("API_KEY=") && file.contains("app.env:2:"),
        "{file}"
    );
}

#[test]
fn columns_line_up_and_advice_is_wrapped_and_given_once() {
    let (dir, _, _) = two_keys_tree();
    let shown = stdout(&run_in(dir.path(), &["scan"]));
    let rows: Vec<&str> = shown
        .lines()
        .filter(|l| l.contains(":") && (l.contains(" live ") || l.contains(" test ")))
        .collect();
    assert_eq!(rows.len(), 3, "{shown}");
    let kind_at: Vec<usize> = rows
        .iter()
        .map(|r| {
            let col = r.find(" live ").or_else(|| r.find(" test ")).unwrap();
            r[..col].chars().count()
        })
        .collect();
    assert!(kind_at.windows(2).all(|w| w[0] == w[1]), "{shown}");
    let rule_at: Vec<usize> = rows
        .iter()
        .map(|r| r[..r.rfind(" sk_").unwrap()].chars().count())
        .collect();
    assert!(rule_at.windows(2).all(|w| w[0] == w[1]), "{shown}");
    let advice = &shown[shown.find("What to do now").expect("advice")..];
    // Not a terminal: 80 columns, the summary and the advice included.
    for line in shown.lines() {
        assert!(line.chars().count() <= 80, "wider than 80: {line:?}");
    }
    assert_eq!(advice.matches("What to do now").count(), 1);
    // Live and test keys: the shared steps once (environment variables, dashboard rotation).
    assert_eq!(
        advice.matches("environment variable").count(),
        1,
        "{advice}"
    );
}

#[test]
fn a_staged_scan_speaks_of_staged_files_and_the_hook_is_short_on_success() {
    let repo = Repo::new();
    repo.write("README.md", "hello\n");
    repo.commit_all("first");
    let key = live("St7Ag5Ed4Kk3Ee2Yy1Zz9");
    repo.write("config.env", format!("KEY={key}\n"));
    repo.git(&["add", "config.env"]);
    let out = run_in(repo.path(), &["scan", "--staged"]);
    assert_eq!(out.status.code(), Some(1));
    let shown = stdout(&out);
    assert!(shown.contains("1 staged file"), "{shown}");
    assert!(
        !shown.contains("commit,") && !shown.contains("blob"),
        "{shown}"
    );
    assert!(
        !shown.contains("--revoke"),
        "refused with --staged: {shown}"
    );
    assert!(
        !(shown.contains("has not left this machine") || shown.contains("before the key left"))
            || !shown.contains("Rotate it now"),
        "{shown}"
    );
    assert!(!shown.contains("Rotate it now"), "{shown}");

    repo.git(&["rm", "--cached", "-q", "config.env"]);
    repo.write("notes.txt", "nothing here\n");
    repo.git(&["add", "notes.txt"]);
    let out = run_in(repo.path(), &["scan", "--staged"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = stdout(&out);
    assert_eq!(shown.lines().count(), 1, "{shown}");
    assert!(shown.contains("no keys in 1 staged file"), "{shown}");
    let out = run_in(repo.path(), &["-q", "scan", "--staged"]);
    assert_eq!(stdout(&out), "", "quiet: nothing on success");
}

// Item 6.

fn verified(dir: &Path, api: &FakeApi, extra: &[&str]) -> (String, Vec<Value>) {
    let mut args = vec!["scan", "--verify", "--api-base", api.base.as_str()];
    args.extend_from_slice(extra);
    let human = stdout(&run_in(dir, &args));
    args.extend_from_slice(&["--format", "json"]);
    let out = run_in(dir, &args);
    let doc: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    (human, doc["findings"].as_array().unwrap().clone())
}

#[test]
fn verification_shows_the_listed_entry_when_the_listing_identifies_the_key() {
    let api = FakeApi::start();
    let key = live("Tr7Ia5Gg4Ee3Kk2Ee1Yy9");
    api.add("acct", "key_prod", &key, 14);
    api.set_name(&key, "Production Key");
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.env"), format!("K={key}\n")).unwrap();
    let (human, findings) = verified(dir.path(), &api, &[]);
    let status_line = human
        .lines()
        .find(|l| l.contains("ACTIVE"))
        .unwrap_or_else(|| panic!("{human}"));
    assert!(
        status_line.contains("Production Key, last used ") && status_line.contains(" ago"),
        "{human}"
    );
    let entry = &findings[0]["verification"]["key"];
    assert_eq!(entry["name"], "Production Key");
    assert_eq!(entry["id"], "key_prod");
    assert_eq!(entry["created_at"], "2025-01-01T00:00:00Z");
    assert_eq!(entry["last_used"], "2025-01-15T10:30:00Z");
    assert!(findings[0]["verification"].get("matching_keys").is_none());

    // Two listed keys share the prefix: no entry, how many could be it.
    let api = FakeApi::start();
    api.add("acct", "key_a", &key, 8);
    api.add_with_prefix("acct", "key_b", &live("Zz7Other5Key4Bb3Cc2"), "sk_live_");
    let (human, findings) = verified(dir.path(), &api, &[]);
    let status_line = human.lines().position(|l| l.contains("ACTIVE")).unwrap();
    assert!(
        human.lines().nth(status_line + 1).unwrap().trim() == "2 listed keys could be it",
        "{human}"
    );
    assert!(findings[0]["verification"].get("key").is_none());
    assert_eq!(findings[0]["verification"]["matching_keys"], 2);
}

#[test]
fn an_unreachable_api_offers_the_command_that_verifies_again() {
    let api = FakeApi::start();
    let key = live("Un7Re5Aa4Cc3Hh2Ee1Dd9");
    api.add("acct", "key_1", &key, 12);
    api.fault(&key, Fault::Html403);
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.env"), format!("K={key}\n")).unwrap();
    let (human, _) = verified(dir.path(), &api, &[]);
    assert!(human.contains("unknown"), "{human}");
    assert!(!human.contains("keys.txt"), "{human}");
    let again = human
        .lines()
        .skip_while(|l| !l.contains("run this scan again"))
        .nth(1)
        .unwrap_or_else(|| panic!("{human}"));
    // On a line of its own, whole, so that it can be copied.
    assert!(
        again
            .trim()
            .starts_with("skguard scan --verify --api-base http://127.0.0.1:"),
        "{human}"
    );
}

#[test]
fn findings_of_a_users_rule_show_no_source_text() {
    // printable redacts the built-in grammar only: another token of the user's rule on the same
    // line would be shown whole.
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join(".skguard.toml"),
        "[[rules]]\nid = \"acme\"\nkind = \"acme\"\nname = \"Acme token\"\ndescription = \"d\"\n\
         severity = \"high\"\nprefixes = [\"acme_tok_\"]\npattern = 'acme_tok_[a-f0-9]{32}'\n\
         remediation = \"Rotate it.\"\n",
    )
    .unwrap();
    let second = format!("acme_tok_{}", "9876fedc".repeat(4));
    fs::write(
        dir.path().join("a.txt"),
        format!("t=acme_tok_{} u={second}\n", "0123abcd".repeat(4)),
    )
    .unwrap();
    let shown = stdout(&run_in(dir.path(), &["scan", "--context", "always"]));
    assert!(shown.contains("a.txt:1:3"), "{shown}");
    assert!(!shown.contains('│') && !shown.contains(&second), "{shown}");
}
