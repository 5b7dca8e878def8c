//! Which configuration a scan trusts, wherever it is run from, and the baseline it names (issue 13
//! items 1 and 2), and the flags a mode refuses (issue 14).

use crate::common::*;

/// A repository whose configuration allowlists `fixtures/**` and any file named `*.example`, with a
/// key in each of fixtures/, web/ and src/.
fn configured_repo() -> Repo {
    let repo = Repo::new();
    repo.write(
        ".skguard.toml",
        "[allowlist]\npaths = [\"fixtures/**\", \"*.example\"]\n",
    );
    repo.write(
        "fixtures/keys.txt",
        format!("key = {}\n", live("Pkq8eBuEeXpa5rdSw3cN5Bay")),
    );
    repo.write(
        "web/app.js",
        format!("const k = \"{}\";\n", live("V9bqg7r6YMYR9ntYX7kdHACV")),
    );
    repo.write(
        "web/env.example",
        format!("KEY={}\n", live("u8NZhaRamn4WhsCRudg4XFS6")),
    );
    repo.write(
        "src/main.txt",
        format!("key = {}\n", live("NAQSjSMRPrwXUz3ZCnr253Lj")),
    );
    repo.commit_all("keys");
    repo
}

fn paths_of(findings: &[serde_json::Value]) -> Vec<String> {
    let mut paths: Vec<String> = findings
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    paths
}

/// `skguard scan fixtures`, `skguard scan web`, a list of files (as `git ls-files | xargs` and the
/// skguard-files pre-commit hook pass them) and a run from a subfolder all see the repository's
/// .skguard.toml, whose globs match paths relative to the work tree's root.
#[test]
fn config_the_repository_configuration_is_found_from_anywhere() {
    let repo = configured_repo();
    let (code, findings, _, stderr) = repo.scan(&["fixtures"]);
    assert_eq!(code, 0, "{findings:?} {stderr}");
    assert!(findings.is_empty(), "{findings:?}");

    // json paths inside a work tree are relative to its root (issue 13 item 4).
    let (code, findings, _, stderr) = repo.scan(&["web"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(paths_of(&findings), ["web/app.js"]);

    // The file-list form: every tracked file, as typed.
    let files = repo.git(&["ls-files"]);
    let files: Vec<&str> = files.lines().collect();
    let (code, findings, _, stderr) = repo.scan(&files);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(paths_of(&findings), ["src/main.txt", "web/app.js"]);

    // From a subfolder, with no PATH, and with a path that leaves it.
    let (code, findings, _, stderr) = scan_json(&repo.path().join("web"), &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(paths_of(&findings), ["web/app.js"]);
    let (code, findings, _, stderr) = scan_json(
        &repo.path().join("web"),
        &["../fixtures/keys.txt", "env.example"],
    );
    assert_eq!(code, 0, "{findings:?} {stderr}");

    // Typed as absolute paths from outside the repository.
    let outside = tempfile::tempdir().unwrap();
    let keys = repo.path().join("fixtures/keys.txt");
    let main = repo.path().join("src/main.txt");
    let (code, findings, _, stderr) = scan_json(
        outside.path(),
        &[keys.to_str().unwrap(), main.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("src/main.txt"));

    // The whole tree, as before.
    let (code, findings, _, _) = repo.scan(&["."]);
    assert_eq!(code, 1);
    assert_eq!(paths_of(&findings), ["src/main.txt", "web/app.js"]);
}

/// The skguard-files pre-commit hook runs `skguard scan FILE…` from the work tree's root with the
/// staged file names; a name glob matches the last component whatever the folder.
#[test]
fn config_the_files_hook_sees_the_repository_configuration() {
    let repo = configured_repo();
    let out = scan_output(
        repo.path(),
        &["fixtures/keys.txt", "web/env.example", "src/main.txt"],
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("src/main.txt"), "{shown}");
    assert!(!shown.contains("keys.txt"), "{shown}");
    assert!(!shown.contains("env.example"), "{shown}");
}

/// Outside a repository the scanned folder's configuration is used, as before.
#[test]
fn config_outside_a_repository_the_scanned_folder_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".skguard.toml"),
        "[allowlist]\npaths = [\"a/**\"]\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::write(dir.path().join("a/k.txt"), live("ZgP3wYXhm8VDMstfJ97TgVmD")).unwrap();
    let (code, findings, _, stderr) = scan_json(dir.path(), &["."]);
    assert_eq!(code, 0, "{findings:?} {stderr}");
}

/// `skguard baseline` writes .skguard-baseline.json at the work tree's root by default; once the
/// configuration names it, scans from anywhere and the pre-commit hook report only new keys.
#[test]
fn config_a_baseline_named_by_the_configuration_reaches_every_scan_and_the_hook() {
    let repo = Repo::new();
    repo.write(
        "old.txt",
        format!("k = {}\n", live("TLVN65NHj92QaUreHa4He4r3")),
    );
    repo.commit_all("old key");

    let out = skguard()
        .current_dir(repo.path())
        .args(["baseline"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(repo.path().join(".skguard-baseline.json").is_file());
    assert!(
        text(&out).contains("baseline = \".skguard-baseline.json\""),
        "{}",
        text(&out)
    );
    repo.write(".skguard.toml", "baseline = \".skguard-baseline.json\"\n");
    repo.commit_all("baseline");

    for (dir, path) in [(".", "."), ("sub", ".."), ("sub", "../old.txt")] {
        std::fs::create_dir_all(repo.path().join(dir)).unwrap();
        let (code, findings, _, stderr) = scan_json(&repo.path().join(dir), &[path]);
        assert_eq!(code, 0, "{dir}: {findings:?} {stderr}");
    }
    let (code, findings, _, stderr) = repo.scan(&["--git", "."]);
    assert_eq!(code, 0, "{findings:?} {stderr}");

    // The hook: the known key is not reported, a new one is.
    repo.write(
        "old.txt",
        format!("k = {}\nmore\n", live("TLVN65NHj92QaUreHa4He4r3")),
    );
    repo.git(&["add", "old.txt"]);
    let (code, findings, _, stderr) = repo.scan(&["--staged", "."]);
    assert_eq!(code, 0, "{findings:?} {stderr}");
    repo.write("new.txt", live("gWEZDwuum7GEd8HD8uLEA5wV"));
    repo.git(&["add", "new.txt"]);
    let (code, findings, _, _) = repo.scan(&["--staged", "."]);
    assert_eq!(code, 1);
    assert_eq!(paths_of(&findings), ["new.txt"]);

    // A baseline that is named but missing is an error that says how to write it.
    repo.write(".skguard.toml", "baseline = \"missing.json\"\n");
    let (code, _, _, stderr) = repo.scan(&["."]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("skguard baseline -o missing.json"),
        "{stderr}"
    );
    // Never outside the repository.
    repo.write(".skguard.toml", "baseline = \"../elsewhere.json\"\n");
    let (code, _, _, stderr) = repo.scan(&["."]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no `..`"), "{stderr}");
}

/// A range trusts the baseline of its base commit: a pull request that adds a baseline (and the
/// configuration naming it) for its own key is still reported.
#[test]
fn config_a_range_never_takes_the_baseline_from_its_head() {
    let repo = Repo::new();
    repo.write("README", "hello\n");
    let base = repo.commit_all("base");
    repo.write("leak.txt", live("5RzAYH9HbaeUYzXBSJUp64yV"));
    repo.commit_all("leak");
    let out = skguard()
        .current_dir(repo.path())
        .args(["baseline"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    repo.write(".skguard.toml", "baseline = \".skguard-baseline.json\"\n");
    let head = repo.commit_all("accept my own leak");

    // The head's configuration would hide it: the work tree's scan shows it does.
    let (code, _, _, _) = repo.scan(&["."]);
    assert_eq!(code, 0);
    let (code, findings, _, stderr) = repo.scan(&["--range", &format!("{base}..{head}"), "."]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(paths_of(&findings), ["leak.txt"]);
}

/// The hook's block message says exactly what to run to accept findings as known.
#[test]
fn config_the_block_message_says_how_to_baseline() {
    let repo = Repo::new();
    repo.write("k.txt", live("gRa7kH3Q7RNS9ER5FfvnDBNw"));
    repo.git(&["add", "k.txt"]);
    let out = scan_output(repo.path(), &["--staged", "."]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("`skguard baseline`"), "{shown}");
    assert!(
        shown.contains("`baseline = \".skguard-baseline.json\"`"),
        "{shown}"
    );
}

/// A staged configuration naming a baseline that was written but not `git add`ed: the hook says to
/// stage it, not to write it again.
#[test]
fn config_an_unstaged_baseline_is_named_with_git_add() {
    let repo = Repo::new();
    repo.write("k.txt", live("Hq3ZrT4vN2xLp7WbK9mYd"));
    repo.git(&["add", "k.txt"]);
    let out = skguard()
        .current_dir(repo.path())
        .args(["baseline"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    repo.write(".skguard.toml", "baseline = \".skguard-baseline.json\"\n");
    repo.git(&["add", ".skguard.toml"]);
    let out = scan_output(repo.path(), &["--staged", "."]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    assert!(shown.contains("is not staged"), "{shown}");
    assert!(
        shown.contains("`git add .skguard-baseline.json`"),
        "{shown}"
    );

    repo.git(&["add", ".skguard-baseline.json"]);
    let (code, findings, _, stderr) = repo.scan(&["--staged", "."]);
    assert_eq!((code, findings.len()), (0, 0), "{stderr}");
}

/// `skguard baseline ARGS` run in `dir`: it succeeds, and what it said on stderr.
fn baseline_in(dir: &std::path::Path, args: &[&str]) -> String {
    let out = skguard()
        .current_dir(dir)
        .arg("baseline")
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `skguard baseline` from a subfolder replaces the repository's baseline: it warns about the
/// fingerprints it forgets, and gives the hint to name the baseline only while none is named.
#[test]
fn config_baseline_warns_when_it_forgets_fingerprints_and_hints_only_once() {
    let repo = Repo::new();
    repo.write("a/k.txt", live("Ka3ZrT4vN2xLp7WbK9mYd"));
    repo.write("b/k.txt", live("Kb3ZrT4vN2xLp7WbK9mYd"));
    let baseline = |dir: &str, args: &[&str]| baseline_in(&repo.path().join(dir), args);
    let first = baseline(".", &[]);
    assert!(first.contains("wrote 2 fingerprints"), "{first}");
    assert!(first.contains("put `baseline ="), "{first}");
    assert!(!first.contains("warning"), "{first}");

    repo.write(".skguard.toml", "baseline = \".skguard-baseline.json\"\n");
    let from_a = baseline("a", &[]);
    assert!(from_a.contains("wrote 1 fingerprint "), "{from_a}");
    assert!(
        from_a.contains("warning: 1 fingerprint of the baseline it replaces was not found"),
        "{from_a}"
    );
    assert!(!from_a.contains("put `baseline ="), "{from_a}");

    // The warning is not quiet.
    let again = baseline("a", &["-q", "."]);
    assert!(!again.contains("warning"), "{again}");
    let root = baseline(".", &["-q"]);
    assert_eq!(root, "", "{root}");
    let quiet = baseline("a", &["-q"]);
    assert!(quiet.contains("warning: 1 fingerprint"), "{quiet}");
}

/// A flag the chosen mode cannot honour is refused, naming the mode.
#[test]
fn config_flags_a_git_mode_cannot_honour_are_refused() {
    let repo = Repo::new();
    repo.write("a.txt", "nothing\n");
    let head = repo.commit_all("a");
    let range = format!("{head}..{head}");
    for (args, message) in [
        (
            vec!["--git", "--follow", "."],
            "--follow is refused with --git",
        ),
        (
            vec!["--git", "--no-ignore", "."],
            "--no-ignore is refused with --git",
        ),
        (
            vec!["--range", range.as_str(), "--follow", "."],
            "--follow is refused with --range",
        ),
        (
            vec!["--range", range.as_str(), "--no-ignore", "."],
            "--no-ignore is refused with --range",
        ),
        // Two modes at once: --range used to win silently over --git.
        (
            vec!["--git", "--range", range.as_str(), "."],
            "'--git' cannot be used with '--range",
        ),
    ] {
        let out = scan_output(repo.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(message), "{args:?}: {}", text(&out));
    }
}

/// `--max-file-size` applies to blobs in every git mode: a larger blob is not read, and counted.
#[test]
fn config_max_file_size_applies_to_blobs_in_every_git_mode() {
    let repo = Repo::new();
    repo.write("small.txt", "nothing here\n");
    let base = repo.commit_all("base");
    let big = format!(
        "{}\n{}\n",
        "x".repeat(4000),
        live("Bq7Wm2Zr9Xk4Tn8Vp3Lc6Hd5")
    );
    repo.write("big.txt", &big);
    let head = repo.commit_all("big");
    let range = format!("{base}..{head}");
    for args in [vec!["--git", "."], vec!["--range", range.as_str(), "."]] {
        let (code, findings, _, stderr) = repo.scan(&args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert_eq!(paths_of(&findings), ["big.txt"]);
        let limited = [&args[..], &["--max-file-size", "1K"]].concat();
        let (code, findings, stats, stderr) = repo.scan(&limited);
        assert_eq!(code, 0, "{args:?}: {findings:?} {stderr}");
        assert_eq!(stats["skipped_too_large"], 1, "{args:?}");
    }
    repo.write("staged.txt", &big);
    repo.git(&["add", "staged.txt"]);
    let (code, _, _, _) = repo.scan(&["--staged", "."]);
    assert_eq!(code, 1);
    let (code, findings, stats, stderr) = repo.scan(&["--staged", "--max-file-size", "1K", "."]);
    assert_eq!(code, 0, "{findings:?} {stderr}");
    assert_eq!(stats["skipped_too_large"], 1);
}

/// A baseline written with `--git` and then rewritten from the files at the root forgets the keys
/// only history holds: the warning names `--git` as a reason, not only a subfolder (it used to tell
/// a user at the root to run `skguard baseline` at the root).
#[test]
fn config_baseline_warning_names_git_history_as_a_reason() {
    let repo = Repo::new();
    repo.write("app.env", format!("K={}\n", live("Hb4ZrT4vN2xLp7WbK9mYd")));
    repo.commit_all("add a key");
    repo.write("app.env", "K=from the environment\n");
    repo.commit_all("remove it");
    let baseline = |args: &[&str]| baseline_in(repo.path(), args);
    let history = baseline(&["--git"]);
    assert!(history.contains("wrote 1 fingerprint "), "{history}");
    let files = baseline(&[]);
    assert!(files.contains("wrote 0 fingerprints"), "{files}");
    assert!(
        files.contains("warning: 1 fingerprint of the baseline it replaces was not found"),
        "{files}"
    );
    assert!(
        files.contains("with `--git` if the old baseline had it"),
        "{files}"
    );
    assert!(files.contains("keys since removed"), "{files}");
}
