//! The JSON output, exactly as documented (README "Output"): field names, their order and their
//! values for a fixed scan. A refactoring of findings must not change a byte of it.

use crate::common::*;

/// A repository with one raw live key and one base64-encoded test key, committed at a fixed time.
fn golden_repo() -> Repo {
    let repo = Repo::new();
    repo.write(
        "app.env",
        format!("a\nkey = \"{}\"\n", live("6Ey7m7RDqmPmm3qaNmFJZtg")),
    );
    let encoded = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}\n", test_key("T7MAn97ctjThe4R2DhKfPyz")))
    };
    repo.write("b64.txt", format!("{encoded}\n"));
    repo.commit_all("one");
    repo
}

fn finding_json(
    rule: &str,
    (path, line, column): (&str, u64, u64),
    commit: Option<&str>,
    key: &str,
    encoding: &str,
    redacted: &str,
) -> String {
    let (commit, author, date) = match commit {
        Some(id) => (
            format!("\"{id}\""),
            "\"Alice Example <alice@example.test>\"".to_string(),
            "\"2025-01-02T03:04:05+01:00\"".to_string(),
        ),
        None => ("null".into(), "null".into(), "null".into()),
    };
    let kind = if rule == "sk_live" { "live" } else { "test" };
    format!(
        r#"    {{
      "rule": "{rule}",
      "kind": "{kind}",
      "path": "{path}",
      "line": {line},
      "column": {column},
      "commit": {commit},
      "author": {author},
      "date": {date},
      "fingerprint": "{}",
      "encoding": "{encoding}",
      "redacted": "{redacted}",
      "verification": null,
      "revocation": null
    }}"#,
        fingerprint(key)
    )
}

fn findings_json(commit: Option<&str>) -> String {
    format!(
        "{},\n{}",
        finding_json(
            "sk_live",
            ("app.env", 2, 8),
            commit,
            &live("6Ey7m7RDqmPmm3qaNmFJZtg"),
            "raw",
            "sk_live_6Ey…tg"
        ),
        finding_json(
            "sk_test",
            ("b64.txt", 1, 1),
            commit,
            &test_key("T7MAn97ctjThe4R2DhKfPyz"),
            "base64",
            "sk_test_T7M…yz"
        )
    )
}

/// `elapsed_ms` is the one value that changes from run to run.
fn without_elapsed(text: &str) -> String {
    let at = text
        .find("\"elapsed_ms\": ")
        .expect("elapsed_ms is reported")
        + 14;
    let end = at + text[at..].find(|c: char| !c.is_ascii_digit()).unwrap();
    format!("{}N{}", &text[..at], &text[end..])
}

#[test]
fn golden_json_of_a_file_scan_is_exactly_as_documented() {
    let repo = golden_repo();
    let out = scan_output(repo.path(), &[".", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let expected = format!(
        r#"{{
  "version": 1,
  "findings": [
{}
  ],
  "stats": {{
    "files": 2,
    "bytes": 87,
    "commits": 0,
    "blobs": 0,
    "skipped_too_large": 0,
    "skipped_not_regular": 0,
    "skipped_symlinks": 0,
    "skipped_loops": 0,
    "skipped_vanished": 0,
    "submodules": 0,
    "archives": 0,
    "archive_members": 0,
    "archive_bounds": 0,
    "archives_not_opened": 0,
    "findings": 2,
    "distinct_keys": 2,
    "suppressed": 0,
    "unreadable": 0,
    "elapsed_ms": N
  }}
}}
"#,
        findings_json(None)
    );
    assert_eq!(
        without_elapsed(&String::from_utf8_lossy(&out.stdout)),
        expected
    );
}

#[test]
fn golden_json_of_a_history_scan_carries_the_commit() {
    let repo = golden_repo();
    let head = repo.head();
    let out = scan_output(repo.path(), &["--git", ".", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    let expected = format!("  \"findings\": [\n{}\n  ],\n", findings_json(Some(&head)));
    assert!(shown.contains(&expected), "{shown}\n---\n{expected}");
}

#[test]
fn golden_jsonl_is_one_finding_a_line() {
    let repo = golden_repo();
    let out = scan_output(repo.path(), &[".", "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let compact: Vec<String> = findings_json(None)
        .split("\n    },\n")
        .map(|f| {
            f.lines()
                .map(str::trim)
                .collect::<String>()
                .replace("\": ", "\":")
        })
        .map(|f| {
            if f.ends_with('}') {
                f
            } else {
                format!("{f}}}")
            }
        })
        .collect();
    let expected = format!("{}\n", compact.join("\n"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}
