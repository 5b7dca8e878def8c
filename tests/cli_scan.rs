//! `skguard scan` over folders, files and standard input: the real binary, real files.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::*;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/scan")
}

fn s(x: &str) -> String {
    x.to_string()
}

#[test]
fn cli_fixture_tree_gives_exactly_the_expected_findings() {
    // A copy outside any repository: in skguard's own checkout git tracks ignored/leak.env, and a
    // tracked file is scanned whatever .gitignore says (tests/fail_closed.rs).
    let copy = tempfile::tempdir().unwrap();
    let mut cp = std::process::Command::new("cp");
    assert!(cp
        .arg("-a")
        .arg(fixtures())
        .arg(copy.path())
        .status()
        .unwrap()
        .success());
    let (code, findings, stats, _) = scan_json(&copy.path().join("scan"), &[]);
    assert_eq!(code, 1);
    let expected = vec![
        (s(".env"), 2, 9, s("live"), s("raw")),
        (s("bin/blob.bin"), 2, 184, s("live"), s("raw")),
        (s("config/settings.json"), 3, 24, s("live"), s("escape")),
        (s("k8s/secret.yaml"), 6, 12, s("live"), s("base64")),
        (s("nonewline.txt"), 1, 6, s("live"), s("raw")),
        (s("unicode.txt"), 1, 14, s("test"), s("raw")),
        (s("url.txt"), 1, 47, s("test"), s("percent")),
        (s("utf16/keys.reg"), 2, 8, s("test"), s("utf16")),
        (s("web/app.min.js"), 1, 272, s("test"), s("raw")),
        (s("windows/creds.txt"), 3, 5, s("live"), s("raw")),
    ];
    assert_eq!(places(&findings), expected);
    // Fingerprints are of the decoded key, whatever the encoding.
    assert_eq!(
        findings[3]["fingerprint"],
        fingerprint(&live("FixtureB64Kube5Sec6Ret7Zx"))
    );
    assert_eq!(findings[3]["redacted"], "sk_live_Fix…7Zx");
    assert_eq!(
        findings[7]["fingerprint"],
        fingerprint(&test_key("FixtureUtf16Le5Gh7Jk9Lz"))
    );
    for f in &findings {
        assert_eq!(f["rule"], format!("sk_{}", f["kind"].as_str().unwrap()));
        assert!(f["commit"].is_null() && f["author"].is_null() && f["date"].is_null());
        assert!(f["verification"].is_null() && f["revocation"].is_null());
        assert!(f.get("secret").is_none());
    }
    assert_eq!(stats["suppressed"], 1, "allowed.py's inline marker");
    assert_eq!(stats["unreadable"], 0);
    assert_eq!(stats["files"], 13, "ignored/ is not walked");
}

#[test]
fn cli_no_ignore_also_scans_what_gitignore_excludes() {
    // skguard's own .skguard.toml allowlists the fixtures: this is about ignore files only.
    let (code, findings, _, _) = scan_json(&fixtures(), &["--no-ignore", "--config", "/dev/null"]);
    assert_eq!(code, 1);
    // In skguard's own work tree, json paths are relative to its root.
    assert!(places(&findings).contains(&(
        s("fixtures/scan/ignored/leak.env"),
        1,
        5,
        s("live"),
        s("raw")
    )));
}

#[test]
fn cli_paths_are_relative_to_a_single_scanned_folder_and_as_typed_otherwise() {
    // Inside a work tree (skguard's own), json paths are relative to its root whatever is scanned.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // skguard's own .skguard.toml allowlists the fixtures: this is about how paths are shown.
    let none = ["--config", "/dev/null"];
    let (_, findings, _, _) = scan_json(root, &[&none[..], &["fixtures/scan/k8s"]].concat());
    assert_eq!(findings[0]["path"], "fixtures/scan/k8s/secret.yaml");
    let (_, findings, _, _) = scan_json(
        root,
        &[&none[..], &["fixtures/scan/k8s", "fixtures/scan/url.txt"]].concat(),
    );
    let paths: Vec<&str> = findings
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec!["fixtures/scan/k8s/secret.yaml", "fixtures/scan/url.txt"]
    );
}

#[test]
fn cli_clean_tree_exits_zero_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("a.txt"),
        "nothing to see: sk_live_abc123xyz789, risk_test_DataProcessorFactory\n",
    )
    .unwrap();
    let out = scan_output(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("No keys found"), "{stdout}");
    assert!(
        !stdout.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
}

#[test]
fn cli_human_report_groups_by_file_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let key = live("Hm4Nj7Kk2Ll9Pp3Oo8Ii5Uu1");
    fs::write(dir.path().join(".env"), format!("A=1\nAPI_KEY={key}\n")).unwrap();
    let out = scan_output(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with(".env:2:9  live  sk_live_Hm4…Uu1  sk_live\n"),
        "{stdout}"
    );
    assert!(stdout.contains("sk_live_Hm4…Uu1"), "{stdout}");
    assert!(stdout.contains("Settings > API Keys"), "{stdout}");
    assert!(stdout.contains("environment variable"), "{stdout}");
    assert!(stdout.contains("skguard:allow"), "{stdout}");
    assert!(!stdout.contains(&key), "{stdout}");
}

#[test]
fn cli_standard_input_is_scanned_as_dash() {
    let key = test_key("Qz8Wx7Ec6Rv5Tb4Yn3Um2");
    let out = skguard()
        .args(["scan", "-", "--format", "jsonl"])
        .write_stdin(format!("hello\n  token: {key}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            line["path"].as_str(),
            line["line"].as_u64(),
            line["column"].as_u64()
        ),
        (Some("-"), Some(2), Some(10))
    );
    let out = skguard()
        .args(["scan", "-", "."])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn cli_max_file_size_is_a_deliberate_skip_said_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let key = live("Big9File8Key7Ab6Cd5Ef4");
    fs::write(
        dir.path().join("big.log"),
        format!("{}\n{key}\n", "x".repeat(100_000)),
    )
    .unwrap();
    fs::write(dir.path().join("small.txt"), "fine\n").unwrap();
    let (code, findings, stats, _) = scan_json(dir.path(), &["--max-file-size", "64K"]);
    assert_eq!((code, findings.len()), (0, 0));
    assert_eq!(stats["skipped_too_large"], 1);
    let out = scan_output(dir.path(), &["--max-file-size", "64K"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("larger than --max-file-size skipped"));
    let (code, findings, _, _) = scan_json(dir.path(), &[]);
    assert_eq!((code, findings.len()), (1, 1));
    assert_eq!(findings[0]["line"], 2);
}

#[test]
fn cli_unreadable_paths_make_the_answer_incomplete_but_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = live("Still8Reported7Zx6Cv5Bn4");
    fs::write(dir.path().join("a.env"), format!("K={key}\n")).unwrap();
    // A path that does not exist, and a file whose read fails (even for root).
    let (code, findings, stats, stderr) =
        scan_json(dir.path(), &[".", "does-not-exist", "/proc/self/mem"]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(findings.len(), 1, "findings are still reported");
    assert_eq!(stats["unreadable"], 2);
    assert!(stderr.contains("does-not-exist"), "{stderr}");
    assert!(stderr.contains("/proc/self/mem"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn cli_special_files_are_never_opened_and_links_are_followed_only_when_asked() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    let outside = dir.path().join("outside");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    let key = live("Linked7Target6Qw5Er4Ty3");
    fs::write(outside.join("k.env"), format!("K={key}\n")).unwrap();
    symlink(&outside, root.join("link")).unwrap();
    symlink(&root, root.join("sub/loop")).unwrap();
    symlink(root.join("missing"), root.join("dangling")).unwrap();
    let fifo = root.join("pipe");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());

    let (code, findings, stats, stderr) = scan_json(&root, &[]);
    assert_eq!((code, findings.len()), (0, 0), "{stderr}");
    assert_eq!(stats["skipped_not_regular"], 1, "the FIFO");
    assert_eq!(stats["skipped_symlinks"], 3);

    let (code, findings, stats, stderr) = scan_json(&root, &["--follow"]);
    assert_eq!(
        places(&findings),
        vec![(s("link/k.env"), 1, 3, s("live"), s("raw"))],
        "{stderr}"
    );
    assert!(stats["skipped_loops"].as_u64().unwrap() >= 1, "{stats}");
    // The dangling link cannot be read when following links: the answer is incomplete.
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("dangling"), "{stderr}");
}

#[test]
fn cli_git_folders_are_never_entered_but_hidden_files_are_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let key = live("Hidden5Dot4Files3Aa2Ss1");
    fs::create_dir_all(dir.path().join(".git/objects")).unwrap();
    fs::write(dir.path().join(".git/config"), format!("k={key}\n")).unwrap();
    fs::create_dir_all(dir.path().join(".config")).unwrap();
    fs::write(dir.path().join(".config/app.ini"), format!("k={key}\n")).unwrap();
    let (_, findings, _, _) = scan_json(dir.path(), &[]);
    assert_eq!(
        places(&findings),
        vec![(s(".config/app.ini"), 1, 3, s("live"), s("raw"))]
    );
}

#[test]
fn cli_keys_deep_in_a_large_file_are_found_in_bounded_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let key = live("Deep4In3Large2File1Zz0Xx");
    let mut text = String::new();
    for i in 0..60_000 {
        text.push_str(&format!(
            "line {i:06} of filler text for a file bigger than one chunk\n"
        ));
    }
    text.push_str(&format!("end {key}"));
    fs::write(dir.path().join("big.txt"), &text).unwrap();
    let (_, findings, stats, _) = scan_json(dir.path(), &[]);
    assert_eq!(
        places(&findings),
        vec![(s("big.txt"), 60_001, 5, s("live"), s("raw"))]
    );
    assert_eq!(stats["bytes"], text.len() as u64);
}

#[test]
fn cli_config_allowlist_paths_regexes_and_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c, d) = (
        live("Allow1Path2Aa3Bb4Cc5Dd"),
        live("FIXTURE9Regex8Ee7Ff6Gg"),
        live("Allow4Finger3Hh2Ii1Jj0"),
        live("Kept9Reported8Kk7Ll6Mm"),
    );
    fs::create_dir_all(dir.path().join("tests/data")).unwrap();
    fs::write(dir.path().join("tests/data/a.env"), format!("K={a}\n")).unwrap();
    fs::write(dir.path().join("b.env"), format!("K={b}\nL={c}\nM={d}\n")).unwrap();
    fs::write(dir.path().join("notes.snap"), format!("K={d}\n")).unwrap();
    fs::write(
        dir.path().join(".skguard.toml"),
        format!(
            "[allowlist]\npaths = [\"tests/**\", \"*.snap\"]\nregexes = ['^sk_live_FIXTURE']\nfingerprints = [\"{}\"]\n",
            fingerprint(&c)
        ),
    )
    .unwrap();
    let (code, findings, stats, _) = scan_json(dir.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        places(&findings),
        vec![(s("b.env"), 3, 3, s("live"), s("raw"))]
    );
    assert_eq!(stats["suppressed"], 4);
}

#[test]
fn cli_broken_config_and_baseline_exit_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join(".skguard.toml"),
        "[allowlist]\npaths = [\"a\",\n  oops\n",
    )
    .unwrap();
    let out = scan_output(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(".skguard.toml") && err.contains("line 3"),
        "{err}"
    );

    fs::write(
        dir.path().join(".skguard.toml"),
        "api_base = \"https://attacker.test\"\n",
    )
    .unwrap();
    let out = scan_output(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--api-base"));

    fs::remove_file(dir.path().join(".skguard.toml")).unwrap();
    fs::write(
        dir.path().join("base.json"),
        "{\"version\": 1,\n \"fingerprints\": [\"x\"]\n}",
    )
    .unwrap();
    let out = scan_output(dir.path(), &["--baseline", "base.json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("base.json") && err.contains("line 2"), "{err}");
}

#[test]
fn cli_baseline_accepts_todays_findings_and_survives_moved_lines() {
    let dir = tempfile::tempdir().unwrap();
    let old = live("Known1Old2Key3Nn4Oo5Pp");
    let new = live("Fresh6New7Key8Qq9Rr0Ss");
    fs::write(dir.path().join("a.env"), format!("K={old}\n")).unwrap();
    let out = skguard()
        .current_dir(dir.path())
        .args(["baseline", "-o", "base.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let baseline = fs::read_to_string(dir.path().join("base.json")).unwrap();
    assert!(baseline.contains(&fingerprint(&old)), "{baseline}");
    assert!(
        !baseline.contains("line") && !baseline.contains(&old),
        "{baseline}"
    );

    // The key moves to another line and a new key appears: only the new one is reported.
    fs::write(
        dir.path().join("a.env"),
        format!("\n\nX=1\nK={old}\nN={new}\n"),
    )
    .unwrap();
    let (code, findings, stats, _) = scan_json(dir.path(), &["--baseline", "base.json"]);
    assert_eq!(code, 1);
    assert_eq!(
        places(&findings),
        vec![(s("a.env"), 5, 3, s("live"), s("raw"))]
    );
    assert_eq!(stats["suppressed"], 1);
    // Writing it again gives the same bytes for the same findings.
    fs::write(dir.path().join("a.env"), format!("K={old}\n")).unwrap();
    skguard()
        .current_dir(dir.path())
        .args(["baseline", "-o", "again.json"])
        .assert()
        .success();
    assert_eq!(
        baseline,
        fs::read_to_string(dir.path().join("again.json")).unwrap()
    );
}

#[test]
fn cli_several_formats_in_one_run_and_output_files() {
    let dir = tempfile::tempdir().unwrap();
    let key = test_key("Multi1Format2Tt3Uu4Vv5");
    fs::write(dir.path().join("k.txt"), format!("{key}\n{key}\n")).unwrap();
    let out = scan_output(
        dir.path(),
        &["--format", "json=out.json", "--format", "jsonl"],
    );
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let doc: Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("out.json")).unwrap()).unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(doc["findings"].as_array().unwrap().len(), 2);
    assert_eq!(doc["stats"]["distinct_keys"], 1);
    assert_eq!(lines[1]["line"], 2);

    skguard()
        .current_dir(dir.path())
        .args(["scan", "--format", "jsonl", "-o", "x.jsonl"])
        .assert()
        .code(1);
    assert_eq!(
        fs::read_to_string(dir.path().join("x.jsonl"))
            .unwrap()
            .lines()
            .count(),
        2
    );

    let out = scan_output(dir.path(), &["--format", "json", "--format", "human"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most one --format"));
}

#[test]
fn cli_fail_on_chooses_which_findings_fail() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("t.txt"),
        format!("{}\n", test_key("Only1Test2Key3Ww4Xx5Yy")),
    )
    .unwrap();
    skguard()
        .current_dir(dir.path())
        .args(["scan", "--fail-on", "any"])
        .assert()
        .code(1);
    skguard()
        .current_dir(dir.path())
        .args(["scan", "--fail-on", "live"])
        .assert()
        .code(0);
    skguard()
        .current_dir(dir.path())
        .args(["scan", "--fail-on", "none"])
        .assert()
        .code(0);
    fs::write(
        dir.path().join("l.txt"),
        format!("{}\n", live("Now1Live2Key3Zz4Aa5Bb")),
    )
    .unwrap();
    skguard()
        .current_dir(dir.path())
        .args(["scan", "--fail-on", "live"])
        .assert()
        .code(1);
}

#[test]
fn cli_keys_are_whole_only_with_show_secret() {
    let dir = tempfile::tempdir().unwrap();
    let key = live("Whole1Kq2Wx3Ry4Zt5Pm6");
    fs::write(dir.path().join("k.env"), format!("K={key}\n")).unwrap();
    for format in ["human", "json", "jsonl"] {
        let out = scan_output(dir.path(), &["--format", format]);
        assert!(!text(&out).contains(&key), "{format}: {}", text(&out));
        let out = scan_output(dir.path(), &["--show-secret", "--format", format]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&key),
            "{format}"
        );
    }
    let (_, findings, _, _) = scan_json(dir.path(), &["--show-secret"]);
    assert_eq!(findings[0]["secret"], key.as_str());
}

#[test]
fn cli_user_rules_extend_the_builtin_ones() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join(".skguard.toml"),
        r#"
[[rules]]
id = "acme"
kind = "acme"
name = "Acme token"
description = "An Acme API token."
severity = "high"
prefixes = ["acme_tok_"]
pattern = 'acme_tok_[a-f0-9]{32}'
remediation = "Rotate it in the Acme console."
"#,
    )
    .unwrap();
    fs::write(
        dir.path().join("a.txt"),
        format!("t=acme_tok_{}\n", "0123abcd".repeat(4)),
    )
    .unwrap();
    let (code, findings, _, _) = scan_json(dir.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        places(&findings),
        vec![(s("a.txt"), 1, 3, s("acme"), s("raw"))]
    );
    assert_eq!(findings[0]["redacted"], "acme_tok_0123…abcd");
    let out = skguard()
        .current_dir(dir.path())
        .args(["rules", "list"])
        .output()
        .unwrap();
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(
        listing.contains("sk_live") && listing.contains("sk_test") && listing.contains("acme"),
        "{listing}"
    );
}

/// `skguard rules list` from a subfolder of a repository lists the rules of the work tree's
/// `.skguard.toml`, the ones a scan from there uses (it used to read only ./.skguard.toml).
#[test]
fn cli_rules_list_from_a_subfolder_shows_the_repositorys_rules() {
    let repo = Repo::new();
    repo.write(
        ".skguard.toml",
        "[[rules]]\nid = \"acme\"\nname = \"Acme token\"\ndescription = \"An Acme API token.\"\n\
         severity = \"high\"\nprefixes = [\"acme_tok_\"]\npattern = 'acme_tok_[a-f0-9]{32}'\n\
         remediation = \"Rotate it.\"\n",
    );
    repo.write(
        "sub/a.txt",
        format!("t=acme_tok_{}\n", "0123abcd".repeat(4)),
    );
    let sub = repo.path().join("sub");
    let (code, findings, _, stderr) = scan_json(&sub, &[]);
    assert_eq!((code, findings.len()), (1, 1), "the scan uses it: {stderr}");
    let out = skguard()
        .current_dir(&sub)
        .args(["rules", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(listing.contains("acme"), "{listing}");
}

/// The repository scans itself clean with its own `.skguard.toml`.
#[test]
fn cli_the_repository_scans_itself_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = scan_output(root, &["--format", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["findings"], Value::Array(vec![]), "{}", text(&out));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        doc["stats"]["suppressed"].as_u64().unwrap() > 0,
        "the fixtures are allowlisted, not unseen"
    );
}

/// Colour on a terminal (a pseudo-terminal from `script`), never with NO_COLOR, never on a pipe.
#[test]
fn cli_colour_only_on_a_terminal_and_never_with_no_color() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("k.env"),
        format!("K={}\n", live("Colour1Key2On3Tty4Ab5")),
    )
    .unwrap();
    let bin = assert_cmd::cargo::cargo_bin("skguard");
    let on_tty = |no_color: Option<&str>| {
        let mut cmd = std::process::Command::new("script");
        cmd.current_dir(dir.path())
            .args(["-qec", &format!("{} scan", bin.display()), "/dev/null"])
            .env("TERM", "xterm");
        match no_color {
            Some(v) => cmd.env("NO_COLOR", v),
            None => cmd.env_remove("NO_COLOR"),
        };
        let out = cmd.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // SGR sequences (colours, bold): ESC [ digits m.
    let sgr = regex::Regex::new("\x1b\\[[0-9;]*m").unwrap();
    let coloured = on_tty(None);
    assert!(
        coloured.contains("sk_live_Col") && sgr.is_match(&coloured),
        "{coloured:?}"
    );
    let plain = on_tty(Some("1"));
    assert!(
        plain.contains("sk_live_Col") && !sgr.is_match(&plain),
        "{plain:?}"
    );
    let piped = scan_output(dir.path(), &[]);
    assert!(!String::from_utf8_lossy(&piped.stdout).contains('\x1b'));
}
