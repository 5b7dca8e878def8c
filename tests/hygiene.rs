//! Secret hygiene: every command and every output format, run over the fixtures, and everything
//! they write (stdout, stderr, output files, the audit log, the step summary) searched for whole
//! keys. None may appear without `--show-secret`, and none in SARIF or `github` output even with it.

use std::fs;
use std::path::Path;

use crate::common::fake_api::FakeApi;
use crate::common::*;
use serde_json::Value;

/// Every whole key in the fixtures, as skguard itself finds them.
fn fixture_keys() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/scan");
    let out = skguard()
        .args([
            "scan",
            "--no-ignore",
            "--show-secret",
            "--format",
            "json",
            "--config",
            "/dev/null",
        ])
        .arg(&root)
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut keys: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["secret"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    keys.dedup();
    assert!(keys.len() >= 10, "{keys:?}");
    keys
}

/// A repository holding the fixture tree in its history, the working tree and the index.
fn fixture_repo() -> Repo {
    let repo = Repo::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/scan");
    let mut cmd = std::process::Command::new("cp");
    assert!(cmd
        .arg("-r")
        .arg(format!("{}/.", src.display()))
        .arg(repo.path())
        .status()
        .unwrap()
        .success());
    fs::remove_file(repo.path().join("allowed.py")).unwrap();
    repo.git(&["add", "-A", "--force"]);
    repo.git(&["commit", "-q", "-m", "fixtures"]);
    repo
}

fn leaked<'k>(keys: &'k [String], text: &str) -> Vec<&'k str> {
    keys.iter()
        .filter(|k| text.contains(k.as_str()))
        .map(String::as_str)
        .collect()
}

#[test]
fn hygiene_no_command_or_format_prints_a_whole_key_unless_asked() {
    let keys = fixture_keys();
    let repo = fixture_repo();
    // Hostile metadata: keys in a file name, an author's name and email, a tag's name and message.
    let in_name = live("Hygiene1FileName2Zz4");
    let in_author = live("Hygiene1Author2Zz4Qq");
    let in_email = test_key("Hygiene1Email2Zz4Qq");
    let in_tag = live("Hygiene1TagMsg2Zz4Qq");
    let in_tag_name = live("Hygiene1TagName2Zz4Q");
    repo.write(&format!("named/{in_name}.txt"), "no key inside\n");
    repo.git(&["add", "-A"]);
    let mut commit = std::process::Command::new("git");
    git_env(&mut commit);
    assert!(commit
        .current_dir(repo.path())
        .env("GIT_AUTHOR_NAME", format!("Eve \x1b[2J{in_author}"))
        .env("GIT_AUTHOR_EMAIL", format!("{in_email}@example.test"))
        .args(["commit", "-q", "-m", "named"])
        .status()
        .unwrap()
        .success());
    repo.git(&[
        "tag",
        "-a",
        &in_tag_name,
        "-m",
        &format!("release {in_tag}"),
    ]);
    let head = repo.head();
    let api = FakeApi::start();
    // The API knows some keys: live ones get verified, identified and revoked.
    for (i, key) in keys.iter().enumerate() {
        api.add(&format!("acct{i}"), &format!("key_{i}"), key, 14);
    }
    // Stage something new too, so --staged has findings.
    fs::write(
        repo.path().join("staged.env"),
        format!("K={}\n", live("Hygiene1Staged2Key3Zz4")),
    )
    .unwrap();
    repo.git(&["add", "staged.env"]);
    let mut keys = keys;
    keys.push(live("Hygiene1Staged2Key3Zz4"));
    keys.extend([in_name, in_author, in_email, in_tag, in_tag_name]);

    let out_dir = tempfile::tempdir().unwrap();
    let o = |name: &str| out_dir.path().join(name).to_str().unwrap().to_string();
    let audit = o("audit.jsonl");
    let summary = o("summary.md");
    let null = "0".repeat(40);
    let range = format!("{null}..{head}");
    let api_args = [
        "--api-base",
        api.base.as_str(),
        "--api-confirm-interval",
        "0.05",
    ];

    let mut runs: Vec<Vec<String>> = Vec::new();
    let formats = ["human", "json", "jsonl", "sarif", "github"];
    for mode in [
        vec![],
        vec!["--git".to_string()],
        vec!["--range".into(), range.clone()],
        vec!["--staged".into()],
    ] {
        for format in formats {
            let mut args: Vec<String> = vec!["scan".into()];
            args.extend(mode.clone());
            args.extend([
                "--format".into(),
                format!("{format}={}", o(&format!("out-{}.{format}", runs.len()))),
            ]);
            args.extend(["--format".into(), format.into()]);
            runs.push(args);
        }
    }
    let everything = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = ["scan", "--git"].iter().map(|s| s.to_string()).collect();
        for f in formats {
            args.extend([
                "--format".into(),
                format!("{f}={}", o(&format!("all-{}-{f}", extra.join("")))),
            ]);
        }
        args.extend(["--audit-log".into(), audit.clone()]);
        args.extend(api_args.iter().map(|s| s.to_string()));
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    runs.push(everything(&["--verify"]));
    // A directory scan finds the key in a file name: verified, written to the audit log.
    let mut files_verify: Vec<String> = ["scan", ".", "--verify", "--audit-log", &audit]
        .iter()
        .map(|s| s.to_string())
        .collect();
    files_verify.extend(api_args.iter().map(|s| s.to_string()));
    runs.push(files_verify);
    runs.push(everything(&["--revoke", "--dry-run"]));
    runs.push(everything(&["--revoke"]));
    runs.push(vec!["baseline".into(), "-o".into(), o("baseline.json")]);
    runs.push(vec!["rules".into(), "list".into()]);
    runs.push(vec!["hook".into(), "install".into()]);

    let mut seen = String::new();
    for args in &runs {
        let out = skguard()
            .current_dir(repo.path())
            .env("GITHUB_STEP_SUMMARY", &summary)
            .args(args)
            .output()
            .unwrap();
        let printed = text(&out);
        assert!(
            out.status.code().is_some_and(|c| c <= 2),
            "{args:?}: {printed}"
        );
        assert!(
            leaked(&keys, &printed).is_empty(),
            "{args:?} printed {:?}",
            leaked(&keys, &printed)
        );
        seen.push_str(&printed);
    }
    // A configuration error quotes the offending line: never its key.
    let bad = tempfile::tempdir().unwrap();
    let bad_config = bad.path().join("bad.toml");
    for config in [
        format!("[allowlist]\nregexes = ['{}' 'x']\n", keys[0]),
        format!("[allowlist]\nregexes = ['{}(']\n", keys[0]),
    ] {
        fs::write(&bad_config, config).unwrap();
        for mode in [&[][..], &["--git"][..], &["--staged"][..]] {
            let out = skguard()
                .current_dir(repo.path())
                .arg("scan")
                .args(mode)
                .arg("--config")
                .arg(&bad_config)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{}", text(&out));
            assert!(
                leaked(&keys, &text(&out)).is_empty(),
                "a configuration error printed {:?}",
                leaked(&keys, &text(&out))
            );
        }
    }
    // `verify` reads keys on stdin; `revoke` takes its key from the environment.
    let out = skguard()
        .args(["verify", "--audit-log", &audit])
        .args(api_args)
        .write_stdin(keys.join("\n"))
        .output()
        .unwrap();
    assert!(
        leaked(&keys, &text(&out)).is_empty(),
        "verify: {}",
        text(&out)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        keys.len()
    );
    let out = skguard()
        .args(["revoke", "--key-id", "key_1", "--audit-log", &audit])
        .args(api_args)
        .env("SKGUARD_API_KEY", &keys[0])
        .output()
        .unwrap();
    assert!(
        leaked(&keys, &text(&out)).is_empty(),
        "revoke: {}",
        text(&out)
    );
    assert!(
        api.deletes().len() > 1,
        "revocations happened: {:?}",
        api.log()
    );

    // Every file written.
    for entry in fs::read_dir(out_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let content = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
        assert!(
            leaked(&keys, &content).is_empty(),
            "{} holds {:?}",
            path.display(),
            leaked(&keys, &content)
        );
    }
    assert!(
        fs::read_to_string(&audit).unwrap().lines().count() > keys.len(),
        "the audit log was written"
    );
    assert!(fs::read_to_string(&summary).unwrap().contains("## skguard"));
    let hook = fs::read_to_string(repo.path().join(".git/hooks/pre-commit")).unwrap();
    assert!(leaked(&keys, &hook).is_empty());

    // With --show-secret: the formats made for people show keys; SARIF and annotations never do.
    for format in ["sarif", "github"] {
        let out = scan_output(repo.path(), &["--git", "--show-secret", "--format", format]);
        assert!(
            leaked(&keys, &text(&out)).is_empty(),
            "{format} with --show-secret"
        );
    }
    let out = scan_output(
        repo.path(),
        &["--git", "--show-secret", "--format", "jsonl"],
    );
    assert!(
        !leaked(&keys, &text(&out)).is_empty(),
        "--show-secret shows keys in jsonl"
    );
}
