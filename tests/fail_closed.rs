//! Fail closed (issue 9): tracked files that an ignore file lists are scanned, an inline marker
//! suppresses only the key next to it on its line (in every mode), and an incomplete answer or a
//! refusal is an `::error` annotation, never a success line.

use std::collections::BTreeSet;
use std::fs;

use crate::common::*;

fn k(n: u32) -> String {
    live(&format!("Fc{n:03}Qw9Er8Ty7Ui6Op5"))
}

fn fingerprints(findings: &[serde_json::Value]) -> BTreeSet<String> {
    findings
        .iter()
        .map(|f| f["fingerprint"].as_str().unwrap().to_string())
        .collect()
}

fn paths(findings: &[serde_json::Value]) -> BTreeSet<String> {
    findings
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

/// Item 7: a marker suppresses a key only when no newline separates them and it starts within 256
/// bytes of the key's first or last byte; the same rule in files, stdin, --staged, --git, --range.
#[test]
fn inline_markers_suppress_only_the_key_next_to_them_in_every_mode() {
    let (near, far, below, minified, before) = (k(1), k(2), k(3), k(4), k(5));
    let content = format!(
        "near={near} # skguard:allow\n\
         far={far}{}# skguard:allow\n\
         # skguard:allow\n\
         below={below}\n\
         var m=\"{minified}\";{}// skguard:allow\n\
         /* pragma: allowlist secret */{}x={before}\n",
        " ".repeat(300),
        "x=1;".repeat(40_000),
        " ".repeat(300),
    );
    let expected: BTreeSet<String> = [&far, &below, &minified, &before]
        .iter()
        .map(|key| fingerprint(key))
        .collect();
    let check = |mode: &str,
                 (code, findings, stats, stderr): (
        i32,
        Vec<serde_json::Value>,
        serde_json::Value,
        String,
    )| {
        assert_eq!(code, 1, "{mode}: {stderr}");
        assert_eq!(fingerprints(&findings), expected, "{mode}: {findings:#?}");
        assert_eq!(stats["suppressed"], 1, "{mode}: {stats}");
    };

    let repo = Repo::new();
    repo.write("README", "x\n");
    let base = repo.commit_all("base");
    repo.write("bundle.min.js", &content);
    check("files", repo.scan(&[]));

    let out = skguard()
        .args(["scan", "-", "--format", "json"])
        .write_stdin(content.clone())
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    check(
        "stdin",
        (
            out.status.code().unwrap(),
            doc["findings"].as_array().unwrap().clone(),
            doc["stats"].clone(),
            String::from_utf8_lossy(&out.stderr).into(),
        ),
    );

    repo.git(&["add", "-A"]);
    check("--staged", repo.scan(&["--staged"]));
    let head = repo.commit_all("bundle");
    check("--git", repo.scan(&["--git"]));
    check(
        "--range",
        repo.scan(&["--range", &format!("{base}..{head}")]),
    );
}

/// Item 6: in a git work tree, what git tracks is scanned (and counted) even where .gitignore or
/// .ignore lists it; untracked files are scanned unless ignored; --no-ignore adds untracked
/// ignored files. Outside a repository the ignore files apply as before.
#[test]
fn tracked_files_are_scanned_whatever_the_ignore_files_say() {
    let repo = Repo::new();
    let key = k(10);
    repo.write(".gitignore", ".env.example\nbuild/\n*.log\n");
    repo.write(".ignore", "notes.txt\n");
    for path in [".env.example", "build/out/app.cfg", "notes.txt", "kept.txt"] {
        repo.write(path, format!("K={key}\n"));
    }
    repo.git(&["add", "-f", "."]);
    repo.commit_all("tracked, some of it listed by ignore files");
    repo.write("untracked.txt", format!("K={key}\n"));
    repo.write("untracked.log", format!("K={key}\n"));
    repo.write("build/untracked.cfg", format!("K={key}\n"));
    // A tracked link that .gitignore lists is a link still: skipped, not followed.
    std::os::unix::fs::symlink("kept.txt", repo.path().join("linked.log")).unwrap();
    repo.git(&["add", "-f", "linked.log"]);
    // Tracked, then deleted from the work tree: nothing to read, nothing missing.
    repo.write("gone.log", "x\n");
    repo.git(&["add", "-f", "gone.log"]);
    fs::remove_file(repo.path().join("gone.log")).unwrap();

    let tracked: BTreeSet<String> = [".env.example", "build/out/app.cfg", "notes.txt", "kept.txt"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (code, findings, stats, stderr) = repo.scan(&[]);
    assert_eq!(code, 1, "{stderr}");
    let mut expected = tracked.clone();
    expected.insert("untracked.txt".into());
    assert_eq!(paths(&findings), expected);
    assert_eq!(findings.len(), 5, "each file once: {findings:#?}");
    assert_eq!(stats["skipped_symlinks"], 1, "{stats}");
    // .gitignore, .ignore, kept.txt, untracked.txt and the four tracked ones listed.
    assert_eq!(stats["files"], 7, "{stats}");

    let (_, findings, _, _) = repo.scan(&["--no-ignore"]);
    let mut all = expected.clone();
    all.insert("untracked.log".into());
    all.insert("build/untracked.cfg".into());
    assert_eq!(paths(&findings), all);

    // A folder of the work tree, typed as the path (json paths: from the work tree's root).
    let (_, findings, _, _) = scan_json(repo.path(), &["build"]);
    assert!(
        paths(&findings).contains("build/out/app.cfg"),
        "{findings:#?}"
    );
    let (_, findings, _, _) = scan_json(&repo.path().join("build"), &[]);
    assert!(
        paths(&findings).contains("build/out/app.cfg"),
        "from inside the folder: {findings:#?}"
    );

    // Outside a repository: .gitignore and .ignore apply.
    let plain = tempfile::tempdir().unwrap();
    fs::write(plain.path().join(".gitignore"), "*.log\n").unwrap();
    fs::write(plain.path().join("a.log"), format!("K={key}\n")).unwrap();
    fs::write(plain.path().join("b.txt"), format!("K={key}\n")).unwrap();
    let (_, findings, _, _) = scan_json(plain.path(), &[]);
    assert_eq!(paths(&findings), BTreeSet::from(["b.txt".to_string()]));
}

/// Item 8: with `--format github`, an incomplete answer is an `::error` annotation with the
/// message, and the step summary never says the scan found nothing; a refused command line is an
/// annotation too.
#[test]
fn github_format_annotates_incomplete_answers_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("clean.txt"), "nothing\n").unwrap();
    let summary = dir.path().join("summary.md");
    let out = skguard()
        .current_dir(dir.path())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["scan", "clean.txt", "missing.txt", "--format", "github"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("::error title=skguard::cannot read missing.txt")),
        "{stdout}"
    );
    let md = fs::read_to_string(&summary).unwrap();
    assert!(!md.contains("No secret keys found"), "{md}");
    assert!(
        md.contains("Incomplete") && md.contains("missing.txt"),
        "{md}"
    );

    let out = skguard()
        .current_dir(dir.path())
        .args(["scan", "--format", "github", "--fail-on", "high"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("::error title=skguard::") && stdout.contains("high"),
        "{stdout}"
    );
    let out = skguard()
        .current_dir(dir.path())
        .args(["scan", "--format", "github", "--config", "nowhere.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("::error title=skguard::") && stdout.contains("nowhere.toml"),
        "{stdout}"
    );
}
