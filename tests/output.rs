//! What skguard prints: keys in file names and author names are redacted in every format, keys in
//! paths are findings, configuration errors never quote a key, redaction and fingerprints follow
//! the built-in grammar whatever a rule matches, output is bounded, nothing printed can inject
//! terminal escapes, Markdown or workflow commands, and SARIF URIs are relative to the repository.

use std::fs;
use std::path::Path;
use std::process::Output;

use crate::common::fake_api::FakeApi;
use crate::common::*;
use serde_json::Value;

const FORMATS: [&str; 5] = ["human", "json", "jsonl", "sarif", "github"];

/// Runs `skguard scan ARGS` in `dir` once per format, with a step summary; returns what each run
/// printed (stdout and stderr) and the step summary, labelled.
fn every_format(dir: &Path, args: &[&str]) -> Vec<(String, String)> {
    let summary = tempfile::NamedTempFile::new().unwrap();
    let mut printed = Vec::new();
    for format in FORMATS {
        let out = skguard()
            .current_dir(dir)
            .env("GITHUB_STEP_SUMMARY", summary.path())
            .arg("scan")
            .args(args)
            .args(["--format", format])
            .output()
            .unwrap();
        assert!(
            out.status.code().is_some_and(|c| c == 1),
            "{format}: {}",
            text(&out)
        );
        printed.push((format.to_string(), text(&out)));
    }
    printed.push((
        "step summary".into(),
        fs::read_to_string(summary.path()).unwrap(),
    ));
    printed
}

fn assert_no_key(printed: &[(String, String)], keys: &[String]) {
    for (what, text) in printed {
        for key in keys {
            assert!(
                !text.contains(key.as_str()),
                "{what} printed a key:\n{text}"
            );
        }
    }
}

fn json_findings(out: &Output) -> Vec<Value> {
    let doc: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)));
    doc["findings"].as_array().unwrap().clone()
}

#[test]
fn output_a_key_in_a_file_name_is_redacted_everywhere_and_is_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let in_name = live("FileName1Key2Zq8Wm4Rb");
    let in_folder = test_key("FolderKey1Zq8Wm4Rb77");
    let in_content = live("Content1Key2Zq8Wm4Rb9");
    fs::write(dir.path().join(format!("{in_name}.env")), "nothing here\n").unwrap();
    fs::create_dir(dir.path().join(&in_folder)).unwrap();
    fs::write(
        dir.path().join(&in_folder).join("app.env"),
        format!("K={in_content}\n"),
    )
    .unwrap();
    let keys = vec![in_name.clone(), in_folder.clone(), in_content.clone()];
    assert_no_key(&every_format(dir.path(), &["."]), &keys);

    let out = scan_output(dir.path(), &[".", "--format", "json"]);
    let findings = json_findings(&out);
    let fingerprints: Vec<(&str, u64, u64)> = findings
        .iter()
        .map(|f| {
            (
                f["fingerprint"].as_str().unwrap(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
            )
        })
        .collect();
    // The key in the file name, at line 0 and its column in the path; the folder's key too.
    assert!(
        fingerprints.contains(&(fingerprint(&in_name).as_str(), 0, 1)),
        "{findings:?}"
    );
    assert!(
        fingerprints.contains(&(fingerprint(&in_folder).as_str(), 0, 1)),
        "{findings:?}"
    );
    assert!(fingerprints.contains(&(fingerprint(&in_content).as_str(), 1, 3)));
    // Paths stay machine-readable, the key in them redacted.
    let path = findings
        .iter()
        .find(|f| f["line"] == 0 && f["kind"] == "live")
        .unwrap()["path"]
        .as_str()
        .unwrap();
    assert_eq!(path, "sk_live_Fil…Rb.env");
    // Even --show-secret prints paths redacted (the key itself is in "secret").
    let out = scan_output(dir.path(), &[".", "--format", "json", "--show-secret"]);
    for f in json_findings(&out) {
        for key in &keys {
            assert!(!f["path"].as_str().unwrap().contains(key.as_str()));
        }
    }
}

#[test]
fn output_a_staged_file_named_with_a_key_blocks_the_commit() {
    let repo = Repo::new();
    repo.write("README.md", "hello\n");
    repo.commit_all("first");
    let key = live("Staged1Name2Zq8Wm4Rb");
    repo.write(&format!("config/{key}.json"), "{}\n");
    repo.git(&["add", "-A"]);
    let (code, findings, _, stderr) = repo.scan(&["--staged"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["line"], 0);
    assert_eq!(findings[0]["column"], 8);
    assert_eq!(findings[0]["fingerprint"], fingerprint(&key).as_str());
    let out = scan_output(repo.path(), &["--staged"]);
    assert!(!text(&out).contains(&key), "{}", text(&out));
    // Once committed, the name is not new: the next commit is not blocked by it.
    repo.commit_all("named");
    repo.write("README.md", "hello again\n");
    repo.git(&["add", "-A"]);
    let (code, findings, _, stderr) = repo.scan(&["--staged"]);
    assert_eq!((code, findings.len()), (0, 0), "{stderr}");
}

/// Commits `files` with an author name and email of our choosing.
fn commit_as(repo: &Repo, name: &str, email: &str, message: &str) {
    repo.git(&["add", "-A"]);
    let mut cmd = std::process::Command::new("git");
    git_env(&mut cmd);
    let out = cmd
        .current_dir(repo.path())
        .env("GIT_AUTHOR_NAME", name)
        .env("GIT_AUTHOR_EMAIL", email)
        .args(["commit", "-q", "-m", message])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn output_author_names_and_emails_are_redacted_and_escaped_in_every_format() {
    let repo = Repo::new();
    let in_name = live("AuthorName1Zq8Wm4Rb7");
    let in_email = test_key("AuthorMail1Zq8Wm4Rb7");
    let content = live("Content2Key3Zq8Wm4Rb9");
    repo.write("app.env", format!("K={content}\n"));
    commit_as(
        &repo,
        &format!("Mallory \x1b]0;pwned\x07\x1b[2J{in_name}"),
        &format!("{in_email}@example.test"),
        "add",
    );
    let keys = vec![in_name.clone(), in_email.clone(), content.clone()];
    let printed = every_format(repo.path(), &["--git"]);
    assert_no_key(&printed, &keys);
    for (what, text) in &printed {
        assert!(!text.contains('\x1b'), "{what} printed a raw ESC:\n{text}");
        assert!(!text.contains('\x07'), "{what} printed a raw BEL:\n{text}");
    }
    let human = &printed[0].1;
    assert!(
        human.contains(
            "by Mallory \\x1b]0;pwned\\x07\\x1b[2Jsk_live_Aut…b7 <sk_test_Aut…b7@example.test>"
        ),
        "{human}"
    );
    let (_, findings, _, _) = repo.scan(&["--git"]);
    let author = findings[0]["author"].as_str().unwrap();
    assert!(
        author.starts_with("Mallory \x1b]0;pwned\x07\x1b[2Jsk_live_Aut…b7 <"),
        "{author}"
    );
}

#[test]
fn output_configuration_errors_never_quote_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = live("ConfigErr1Zq8Wm4Rb7Xy");
    fs::write(dir.path().join("a.txt"), "clean\n").unwrap();
    let cases = [
        // A TOML syntax error on the key's line: the parser quotes that line.
        format!("[allowlist]\nregexes = ['{key}' 'x']\n"),
        // A regex error in the allowlist: the regex parser quotes the pattern.
        format!("[allowlist]\nregexes = ['{key}(']\n"),
        // A regex error in a rule's pattern.
        format!(
            "[[rules]]\nid = \"acme\"\nname = \"n\"\ndescription = \"d\"\nseverity = \"high\"\nprefixes = [\"sk_\"]\n\
             pattern = '{key}('\nremediation = \"r\"\n"
        ),
        // A fingerprint that is not one.
        format!("[allowlist]\nfingerprints = ['{key}']\n"),
    ];
    for config in cases {
        fs::write(dir.path().join(".skguard.toml"), &config).unwrap();
        let out = scan_output(dir.path(), &["."]);
        let printed = text(&out);
        assert_eq!(out.status.code(), Some(2), "{printed}");
        assert!(printed.contains(".skguard.toml"), "{printed}");
        assert!(!printed.contains(&key), "{config}\nprinted:\n{printed}");
        assert!(printed.contains("sk_live_Con…Xy"), "{printed}");
    }
}

fn user_rule_config() -> String {
    "[[rules]]\nid = \"stripe_env\"\nname = \"Key in STRIPE_KEY\"\ndescription = \"d\"\nseverity = \"high\"\n\
     prefixes = [\"STRIPE_KEY=sk_live_\"]\npattern = 'STRIPE_KEY=sk_live_[A-Za-z0-9]{10,40}'\nremediation = \"r\"\n"
        .to_string()
}

#[test]
fn output_redaction_and_fingerprint_follow_the_key_whatever_a_rule_matches() {
    let dir = tempfile::tempdir().unwrap();
    let key = live("Short1Body");
    fs::write(dir.path().join(".skguard.toml"), user_rule_config()).unwrap();
    fs::write(dir.path().join("app.env"), format!("STRIPE_KEY={key}\n")).unwrap();
    let (code, findings, _, stderr) = scan_json(dir.path(), &["."]);
    assert_eq!(code, 1, "{stderr}");
    let mut rules: Vec<&str> = findings
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    rules.sort();
    // The user's rule does not swallow the built-in finding.
    assert_eq!(rules, vec!["sk_live", "stripe_env"], "{findings:?}");
    for f in &findings {
        assert_eq!(f["redacted"], "sk_live_S…y", "{f}");
        assert_eq!(f["fingerprint"], fingerprint(&key).as_str(), "{f}");
    }
    let builtin = findings.iter().find(|f| f["rule"] == "sk_live").unwrap();
    assert_eq!(
        (builtin["line"].as_u64(), builtin["column"].as_u64()),
        (Some(1), Some(12))
    );
}

#[test]
fn output_keyed_fingerprints_for_baselines_and_allowlists() {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;
    let dir = tempfile::tempdir().unwrap();
    let key = live("Keyed1Print2Zq8Wm4Rb");
    fs::write(dir.path().join("app.env"), format!("K={key}\n")).unwrap();
    let secret = "a long random value kept in CI secrets";
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(key.as_bytes());
    let expected = format!("hmac-sha256:{:x}", mac.finalize().into_bytes());

    let keyed = |args: &[&str]| {
        skguard()
            .current_dir(dir.path())
            .env("SKGUARD_FINGERPRINT_KEY", secret)
            .args(args)
            .output()
            .unwrap()
    };
    let out = keyed(&["scan", ".", "--format", "json"]);
    let findings = json_findings(&out);
    assert_eq!(findings[0]["fingerprint"], expected.as_str());
    // A keyed baseline suppresses under the same key only.
    let out = keyed(&["baseline", ".", "-o", "baseline.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(fs::read_to_string(dir.path().join("baseline.json"))
        .unwrap()
        .contains(&expected));
    let out = keyed(&["scan", ".", "--baseline", "baseline.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (code, _, _, _) = scan_json(dir.path(), &[".", "--baseline", "baseline.json"]);
    assert_eq!(code, 1, "without the key the baseline matches nothing");
    // An allowlist of keyed fingerprints.
    fs::remove_file(dir.path().join("baseline.json")).unwrap();
    fs::write(
        dir.path().join(".skguard.toml"),
        format!("[allowlist]\nfingerprints = [\"{expected}\"]\n"),
    )
    .unwrap();
    let out = keyed(&["scan", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// `n` distinct synthetic bodies.
fn bodies(n: usize, tag: &str) -> Vec<String> {
    (0..n).map(|i| format!("{tag}{i:07}Zq8Wm4Rb")).collect()
}

#[test]
fn output_human_and_github_list_at_most_100_a_file_live_and_first_occurrences_first() {
    let dir = tempfile::tempdir().unwrap();
    // 150 occurrences of one test key, then a live key: the live key and the test key's first
    // occurrence are listed, 99 occurrences in all are left out.
    let repeated = test_key("Repeated1Zq8Wm4Rb7");
    let last = live("LastLive1Zq8Wm4Rb7");
    let mut text_ = String::new();
    for _ in 0..150 {
        text_.push_str(&format!("K={repeated}\n"));
    }
    text_.push_str(&format!("K={last}\n"));
    fs::write(dir.path().join("many.env"), text_).unwrap();
    let out = scan_output(dir.path(), &["."]);
    let human = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    let rows = human.lines().filter(|l| l.starts_with("many.env:")).count();
    assert_eq!(rows, 100, "{human}");
    assert!(
        human.contains("many.env:151:3"),
        "the live key is listed: {human}"
    );
    assert!(
        human.contains("many.env:1:3"),
        "the first occurrence is listed"
    );
    assert!(human.contains("51 more in this file"), "{human}");
    assert!(
        human.contains("151 keys found"),
        "counts are whole: {human}"
    );

    let out = scan_output(dir.path(), &[".", "--format", "github"]);
    let github = String::from_utf8_lossy(&out.stdout);
    let annotations = github
        .lines()
        .filter(|l| l.starts_with("::error") || l.starts_with("::warning"))
        .count();
    assert_eq!(annotations, 100, "{github}");
    assert!(github.contains("line=151"), "{github}");
    assert!(
        github.contains("::notice title=skguard::51 more findings"),
        "{github}"
    );

    let (code, findings, stats, _) = scan_json(dir.path(), &["."]);
    assert_eq!((code, findings.len()), (1, 151));
    assert_eq!(stats["findings"], 151);
}

#[test]
fn output_sarif_holds_at_most_25000_results_and_says_what_it_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut content = String::new();
    for body in bodies(25_010, "T") {
        content.push_str(&test_key(&body));
        content.push('\n');
    }
    let last = live("LastLive2Zq8Wm4Rb7");
    content.push_str(&last);
    content.push('\n');
    fs::write(dir.path().join("keys.txt"), content).unwrap();
    let out = scan_output(dir.path(), &[".", "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &doc["runs"][0];
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 25_000);
    assert_eq!(run["properties"]["resultsOmitted"], 11);
    assert_eq!(run["properties"]["findings"], 25_011);
    let notes = run["invocations"][0]["toolExecutionNotifications"].to_string();
    assert!(
        notes.contains("11 of 25011 findings are not listed"),
        "{notes}"
    );
    assert!(
        results
            .iter()
            .any(|r| r["locations"][0]["physicalLocation"]["region"]["startLine"] == 25_011),
        "the live key is listed"
    );
}

#[test]
fn output_human_with_verify_counts_every_place_of_a_key() {
    let api = FakeApi::start();
    let dir = tempfile::tempdir().unwrap();
    let key = live("Verify1Many2Zq8Wm4Rb");
    api.add("acct", "key_a", &key, 12);
    fs::write(dir.path().join("a.env"), format!("{key}\n").repeat(40)).unwrap();
    let out = scan_output(
        dir.path(),
        &[".", "--verify", "--api-base", api.base.as_str()],
    );
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(human.contains("ACTIVE"), "{human}");
    assert!(
        human.contains("found at a.env:1, a.env:2, a.env:3, a.env:4, a.env:5 and 35 more"),
        "{human}"
    );
}

#[test]
fn output_nothing_printed_can_break_out_of_its_markup() {
    let dir = tempfile::tempdir().unwrap();
    let key = live("Inject1Zq8Wm4Rb7Xy9");
    let names = [
        "a`**bold**[link](https:evil.test)`.env".to_string(),
        "b\x1b[31mred\x1b]8;;evil\x07.env".to_string(),
        "c\n::error::forged.env".to_string(),
        "d\r::warning::forged,x:y%0A.env".to_string(),
    ];
    for name in &names {
        fs::write(dir.path().join(name), format!("K={key}\n")).unwrap();
    }
    let printed = every_format(dir.path(), &["."]);
    for (what, text) in &printed {
        assert!(!text.contains('\x1b'), "{what}: raw ESC\n{text}");
        assert!(!text.contains('\x07'), "{what}: raw BEL\n{text}");
    }
    let (_, github) = &printed[4];
    for line in github.lines() {
        assert!(
            line.starts_with("::error ")
                || line.starts_with("::warning ")
                || line.starts_with("::notice "),
            "a line that is no command of skguard's: {line:?}\n{github}"
        );
        assert!(!line.contains('\r'));
    }
    assert!(github.contains("file=b\\x1b[31mred"), "{github}");
    let (_, summary) = &printed[5];
    // The backtick file name is one code span: fenced by two backticks, nothing outside it.
    assert!(
        summary.contains("| ``a`**bold**[link](https:evil.test)`.env:1`` |"),
        "{summary}"
    );
    assert!(summary.contains("c\\n::error::forged.env:1"), "{summary}");
    for line in summary.lines() {
        assert!(!line.starts_with("::"), "{summary}");
    }
    // Human output: control characters escaped, never raw.
    let (_, human) = &printed[0];
    assert!(human.contains("\"c\\n::error::forged.env\":1:3"), "{human}");
    assert!(!human.lines().any(|l| l.starts_with("::")), "{human}");
    // JSON keeps the name exact (escaped by JSON itself).
    let out = scan_output(dir.path(), &[".", "--format", "json"]);
    let paths: Vec<String> = json_findings(&out)
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    for name in &names {
        assert!(paths.contains(name), "{paths:?}");
    }
}

fn sarif_uris(dir: &Path, args: &[&str]) -> Vec<String> {
    let out = scan_output(dir, &[args, &["--format", "sarif"]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut uris: Vec<String> = doc["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let location = &r["locations"][0]["physicalLocation"]["artifactLocation"];
            assert_eq!(location["uriBaseId"], "%SRCROOT%");
            location["uri"].as_str().unwrap().to_string()
        })
        .collect();
    uris.sort();
    uris
}

#[test]
fn output_sarif_uris_are_relative_to_the_repository_root() {
    let repo = Repo::new();
    repo.write(
        "sub/deep/app.env",
        format!("K={}\n", live("Uri1Sub2Zq8Wm4Rb7X")),
    );
    repo.write("other/b.env", format!("K={}\n", live("Uri2Other3Zq8Wm4Rb")));
    repo.commit_all("keys");
    let root = repo.path();
    assert_eq!(sarif_uris(root, &["sub"]), vec!["sub/deep/app.env"]);
    assert_eq!(
        sarif_uris(&root.join("sub"), &["."]),
        vec!["sub/deep/app.env"]
    );
    assert_eq!(
        sarif_uris(&root.join("sub/deep"), &["app.env"]),
        vec!["sub/deep/app.env"]
    );
    assert_eq!(
        sarif_uris(&root.join("sub"), &["../other", "deep"]),
        vec!["other/b.env", "sub/deep/app.env"]
    );
    assert_eq!(
        sarif_uris(&root.join("sub"), &["--git", ".."]),
        vec!["other/b.env", "sub/deep/app.env"]
    );
    let abs = root.join("other/b.env");
    assert_eq!(
        sarif_uris(&root.join("sub"), &[abs.to_str().unwrap()]),
        vec!["other/b.env"]
    );

    // Outside a repository: relative to the scanned root.
    let plain = tempfile::tempdir().unwrap();
    fs::create_dir_all(plain.path().join("x/y")).unwrap();
    fs::write(plain.path().join("x/y/k.env"), live("Uri3Plain4Zq8Wm4Rb")).unwrap();
    assert_eq!(sarif_uris(plain.path(), &["x"]), vec!["y/k.env"]);
    assert_eq!(
        sarif_uris(&plain.path().join("x/y"), &["../y"]),
        vec!["k.env"]
    );
}
