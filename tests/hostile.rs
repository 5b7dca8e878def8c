//! Hostile files and repositories: nothing hangs, nothing panics, nothing a repository configures
//! is ever run, and nothing unread passes as clean.

use std::fs;
use std::os::unix::ffi::OsStrExt;

use crate::common::*;
use serde_json::Value;

fn k(n: u32) -> String {
    live(&format!("Hostile{n:03}Pq7Wo5Ei3Ru1"))
}

fn no_panic(stderr: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}

#[test]
fn hostile_paths_with_newlines_and_invalid_utf8_keep_json_valid_and_are_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"bad\nname\xff.env");
    fs::write(dir.path().join(name), format!("K={}\n", k(1))).unwrap();
    let (code, findings, _, stderr) = scan_json(dir.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(findings[0]["path"], "bad\nname\u{fffd}.env");
    let out = scan_output(dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("\"bad\\nname\u{fffd}.env\":1:3  "),
        "quoted in the human report: {stdout}"
    );
}

#[test]
fn hostile_device_files_given_by_name_are_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let (code, findings, stats, stderr) = scan_json(dir.path(), &["/dev/zero", "/dev/null"]);
    assert_eq!((code, findings.len()), (0, 0), "{stderr}");
    assert_eq!(stats["skipped_not_regular"], 2);
}

#[test]
fn hostile_a_single_long_line_and_a_sparse_file() {
    let dir = tempfile::tempdir().unwrap();
    // 20 MB on one line, the key at its end.
    let key = k(2);
    let mut line = vec![b'a'; 20 << 20];
    line.push(b' ');
    line.extend_from_slice(key.as_bytes());
    fs::write(dir.path().join("one-line.min.js"), &line).unwrap();
    // A 10 GB sparse file: a deliberate skip with --max-file-size, said in the summary.
    let sparse = fs::File::create(dir.path().join("sparse.img")).unwrap();
    sparse.set_len(10 << 30).unwrap();
    let (code, findings, stats, stderr) = scan_json(dir.path(), &["--max-file-size", "1G"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(findings.len(), 1);
    assert_eq!(
        (findings[0]["line"].as_u64(), findings[0]["column"].as_u64()),
        (Some(1), Some((20 << 20) + 2))
    );
    assert_eq!(stats["skipped_too_large"], 1);
}

#[test]
fn hostile_a_file_truncated_while_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shrinking.log");
    let mut text = vec![b'x'; 64 << 20];
    text.extend_from_slice(format!("\n{}\n", k(3)).as_bytes());
    fs::write(&path, &text).unwrap();
    let child = skguard().get_program().to_owned();
    let scan = std::process::Command::new(child)
        .current_dir(dir.path())
        .args(["scan", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1000)
        .unwrap();
    let out = scan.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    no_panic(&stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "a shorter file is read to its new end: {stderr}"
    );
    let _: Value = serde_json::from_slice(&out.stdout).unwrap();
}

#[test]
fn hostile_repositories_never_run_what_they_configure() {
    let repo = Repo::new();
    let marker = repo.path().join("ran");
    let touch = format!("touch {}", marker.display());
    for (key, value) in [
        ("core.fsmonitor", touch.as_str()),
        ("filter.evil.clean", touch.as_str()),
        ("filter.evil.smudge", touch.as_str()),
        ("filter.evil.required", "true"),
        ("diff.evil.textconv", touch.as_str()),
        ("core.pager", touch.as_str()),
        ("core.sshCommand", touch.as_str()),
    ] {
        repo.git(&["config", key, value]);
    }
    repo.write(".gitattributes", "*.env filter=evil diff=evil\n");
    // Setting up runs git itself, with the evil filter and fsmonitor turned off for it.
    let git_safe = |args: &[&str]| {
        let mut all = vec!["-c", "filter.evil.clean=cat", "-c", "core.fsmonitor=false"];
        all.extend_from_slice(args);
        repo.git(&all);
    };
    repo.write("a.env", format!("A={}\n", k(4)));
    // git add runs the clean filter: that one is git's doing, not skguard's.
    git_safe(&["add", "-A"]);
    git_safe(&["commit", "-q", "-m", "one"]);
    repo.write("b.env", format!("B={}\n", k(5)));
    git_safe(&["add", "b.env"]);
    let _ = fs::remove_file(&marker);
    let hooks = repo.path().join(".git/hooks");
    fs::create_dir_all(&hooks).unwrap();
    for hook in [
        "post-checkout",
        "pre-commit",
        "post-index-change",
        "reference-transaction",
    ] {
        fs::write(hooks.join(hook), format!("#!/bin/sh\n{touch}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(hooks.join(hook), fs::Permissions::from_mode(0o755)).unwrap();
    }
    for args in [
        vec!["--staged"],
        vec!["--git"],
        vec!["--range", "HEAD~0..HEAD"],
    ] {
        let (_, _, _, stderr) = repo.scan(&args);
        no_panic(&stderr);
        assert!(
            !marker.exists(),
            "{args:?} ran something the repository configures"
        );
    }
    let (code, findings, _, _) = repo.scan(&["--staged"]);
    assert_eq!((code, findings.len()), (1, 1));
}

#[test]
fn hostile_a_corrupted_packfile_is_an_error_not_a_pass() {
    let repo = Repo::new();
    let mut filler = String::new();
    for i in 0..2000 {
        filler.push_str(&format!(
            "line {i} of a file that makes the pack worth corrupting\n"
        ));
    }
    repo.write("big.txt", &filler);
    repo.write("a.env", format!("A={}\n", k(6)));
    repo.commit_all("one");
    repo.git(&["gc", "-q", "--aggressive"]);
    let pack = fs::read_dir(repo.path().join(".git/objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .unwrap();
    let mut bytes = fs::read(&pack).unwrap();
    let len = bytes.len();
    for b in &mut bytes[len / 3..len - 40] {
        *b ^= 0x5a;
    }
    fs::write(&pack, bytes).unwrap();
    let (code, _, _, stderr) = repo.scan(&["--git"]);
    no_panic(&stderr);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("skguard"), "{stderr}");
}

#[test]
fn hostile_tens_of_thousands_of_refs_huge_blobs_and_replace_refs() {
    let repo = Repo::new();
    let mut blob = vec![0u8; 30 << 20];
    for (i, b) in blob.iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    blob.extend_from_slice(format!("\0{}\0", k(7)).as_bytes());
    repo.write("huge.bin", &blob);
    let one = repo.commit_all("huge");
    repo.write("x.txt", "x\n");
    let two = repo.commit_all("two");
    let refs: String = (0..20_000)
        .map(|i| format!("create refs/tags/t{i} {one}\n"))
        .collect();
    let mut cmd = std::process::Command::new("git");
    git_env(&mut cmd);
    let mut child = cmd
        .current_dir(repo.path())
        .args(["update-ref", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(refs.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    // A replace ref (what `git replace --graft` writes): just another ref to a commit.
    repo.git(&["replace", "--graft", &two]);
    let (code, findings, stats, stderr) = repo.scan(&["--git"]);
    no_panic(&stderr);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["path"], "huge.bin");
    assert!(stats["commits"].as_u64().unwrap() >= 2);
}
