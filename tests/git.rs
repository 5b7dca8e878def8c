//! Git sources on real repositories made in temporary folders: `--staged`, `--git`, `--range`, and
//! the native hook.

use std::fs;

use crate::common::*;
use serde_json::Value;

fn k(n: u32) -> String {
    live(&format!("GitKey{n:04}Qw3Er5Ty7Ui9"))
}

/// (path, line, commit) of each finding.
fn where_(findings: &[Value]) -> Vec<(String, u64, Option<String>)> {
    findings
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["commit"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn s(x: &str) -> String {
    x.to_string()
}

// ---------- --staged ----------

#[test]
fn git_staged_reports_only_keys_new_relative_to_head() {
    let repo = Repo::new();
    repo.write("old.env", format!("A={}\n", k(1)));
    repo.commit_all("first");
    // Moving and editing lines that keep an old key: not new.
    repo.write("old.env", format!("# moved\nX=1\nA={} # edited\n", k(1)));
    repo.git(&["add", "old.env"]);
    let (code, findings, _, stderr) = repo.scan(&["--staged"]);
    assert_eq!((code, findings.len()), (0, 0), "{stderr}");
    // A new key, and the old key copied to another path: both new.
    repo.write("new.env", format!("B={}\nC={}\n", k(2), k(1)));
    repo.git(&["add", "new.env"]);
    let (code, findings, _, _) = repo.scan(&["--staged"]);
    assert_eq!(code, 1);
    assert_eq!(
        where_(&findings),
        vec![(s("new.env"), 1, None), (s("new.env"), 2, None)]
    );
}

/// A bare repository has no index: `--staged` there is an error, not "no keys in 0 staged files"
/// (a success line for a check that looked at nothing). `--git` still scans it.
#[test]
fn git_staged_in_a_bare_repository_is_an_error() {
    let repo = Repo::new();
    repo.write("k.env", format!("K={}\n", live("Br4reZrT4vN2xLp7WbK9mY")));
    repo.commit_all("a key");
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("b.git");
    repo.git(&["clone", "-q", "--bare", ".", bare.to_str().unwrap()]);
    let out = scan_output(&bare, &["--staged"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr.contains("is a bare repository"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains('✓'),
        "{}",
        text(&out)
    );
    let (code, findings, _, stderr) = scan_json(&bare, &["--git"]);
    assert_eq!((code, findings.len()), (1, 1), "{stderr}");
}

/// A range written the wrong way round (`B..A`) holds no commits, as `git rev-list` says: skguard
/// says so on stderr rather than only "No keys found · 0 files".
#[test]
fn git_range_that_holds_no_commits_says_so() {
    let repo = Repo::new();
    repo.write("a.txt", "one\n");
    let a = repo.commit_all("one");
    repo.write("k.env", format!("K={}\n", live("Rv3rsedZrT4vN2xLp7WbK9")));
    let b = repo.commit_all("a key");
    let (code, findings, _, stderr) = repo.scan(&["--range", &format!("{b}..{a}")]);
    assert_eq!((code, findings.len()), (0, 0), "{stderr}");
    assert!(stderr.contains("the range holds no commits"), "{stderr}");
    let (code, findings, _, stderr) = repo.scan(&["--range", &format!("{a}..{b}")]);
    assert_eq!((code, findings.len()), (1, 1), "{stderr}");
    assert!(!stderr.contains("holds no commits"), "{stderr}");
}

#[test]
fn git_staged_scans_the_index_not_the_working_tree() {
    let repo = Repo::new();
    repo.commit_all("empty");
    // Only in the working tree: not scanned.
    repo.write("a.env", "A=1\n");
    repo.git(&["add", "a.env"]);
    repo.write("a.env", format!("A={}\n", k(3)));
    let (code, findings, _, _) = repo.scan(&["--staged"]);
    assert_eq!((code, findings.len()), (0, 0));
    // Staged, then deleted from the working tree: scanned.
    repo.git(&["add", "a.env"]);
    fs::remove_file(repo.path().join("a.env")).unwrap();
    let (code, findings, _, _) = repo.scan(&["--staged"]);
    assert_eq!(code, 1);
    assert_eq!(where_(&findings), vec![(s("a.env"), 1, None)]);
}

#[test]
fn git_staged_on_an_unborn_branch_has_no_parents() {
    let repo = Repo::new();
    repo.write("dir/a.env", format!("\n\nA={}\n", k(4)));
    repo.git(&["add", "-A"]);
    let (code, findings, _, _) = repo.scan(&["--staged"]);
    assert_eq!(code, 1);
    assert_eq!(where_(&findings), vec![(s("dir/a.env"), 3, None)]);
}

#[test]
fn git_staged_deletions_renames_binaries_and_lfs_pointers() {
    let repo = Repo::new();
    repo.write("gone.env", format!("A={}\n", k(5)));
    repo.write("old/name.env", format!("A={}\n", k(6)));
    repo.commit_all("first");
    repo.git(&["rm", "-q", "gone.env"]);
    fs::create_dir_all(repo.path().join("new")).unwrap();
    repo.git(&["mv", "old/name.env", "new/name.env"]);
    let mut binary = vec![0u8, 1, 2, 255];
    binary.extend_from_slice(k(7).as_bytes());
    binary.extend_from_slice(&[0, 0, 9]);
    repo.write("blob.bin", &binary);
    repo.write(
        "model.bin",
        "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n",
    );
    repo.git(&["add", "-A"]);
    let (code, findings, _, _) = repo.scan(&["--staged"]);
    assert_eq!(code, 1);
    // A key at a new path is new, even when the file was renamed (the SPEC's rule is by path).
    assert_eq!(
        where_(&findings),
        vec![(s("blob.bin"), 1, None), (s("new/name.env"), 1, None)]
    );
}

#[test]
fn git_staged_during_a_merge_compares_with_both_parents() {
    let repo = Repo::new();
    repo.write("base.txt", "base\n");
    repo.commit_all("base");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("f.env", format!("F={}\n", k(8)));
    repo.commit_all("feature adds a key");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("m.txt", "main\n");
    repo.commit_all("main moves on");
    repo.git(&["merge", "-q", "--no-commit", "--no-ff", "feature"]);
    // The key is carried over from MERGE_HEAD: not new in the merge.
    let (code, findings, _, stderr) = repo.scan(&["--staged"]);
    assert_eq!((code, findings.len()), (0, 0), "{stderr}");
    // A key the merge resolution itself adds is new.
    repo.write("f.env", format!("F={}\nG={}\n", k(8), k(9)));
    repo.git(&["add", "f.env"]);
    let (code, findings, _, _) = repo.scan(&["--staged"]);
    assert_eq!(code, 1);
    assert_eq!(where_(&findings), vec![(s("f.env"), 2, None)]);
}

#[test]
fn git_staged_submodules_are_not_entered_and_said_so() {
    let sub = Repo::new();
    sub.write("inner.env", format!("A={}\n", k(10)));
    sub.commit_all("inner");
    let repo = Repo::new();
    repo.commit_all("empty");
    repo.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        sub.path().to_str().unwrap(),
        "vendor/sub",
    ]);
    let (code, findings, stats, stderr) = repo.scan(&["--staged"]);
    assert_eq!((code, findings.len()), (0, 0), "{stderr}");
    assert!(stderr.contains("submodule"), "{stderr}");
    assert_eq!(stats["submodules"], 1);
    let out = scan_output(repo.path(), &["--staged"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 submodule entry not entered"),
        "{}",
        text(&out)
    );
}

#[test]
fn git_staged_uses_the_index_copy_of_the_configuration() {
    let repo = Repo::new();
    repo.commit_all("empty");
    repo.write("fixtures/a.env", format!("A={}\n", k(11)));
    // The working tree's configuration allowlists the fixture, but it is not staged.
    repo.write(".skguard.toml", "[allowlist]\npaths = [\"fixtures/**\"]\n");
    repo.git(&["add", "fixtures"]);
    let (code, _, _, _) = repo.scan(&["--staged"]);
    assert_eq!(code, 1);
    repo.git(&["add", ".skguard.toml"]);
    let (code, findings, stats, _) = repo.scan(&["--staged"]);
    assert_eq!((code, findings.len()), (0, 0));
    assert_eq!(stats["suppressed"], 1);
}

// ---------- the native hook, with git's own temporary indexes ----------

#[test]
fn git_hook_blocks_commit_a_and_commit_path_and_chains_the_old_hook() {
    let repo = Repo::new();
    repo.write("a.env", "A=1\n");
    repo.commit_all("first");
    // An existing hook is kept and runs after skguard's check.
    let hooks = repo.path().join(".git/hooks");
    fs::create_dir_all(&hooks).unwrap();
    fs::write(
        hooks.join("pre-commit"),
        "#!/bin/sh\necho old-hook-ran >> \"$(git rev-parse --git-dir)/old-hook.log\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(hooks.join("pre-commit"), fs::Permissions::from_mode(0o755)).unwrap();
    skguard()
        .current_dir(repo.path())
        .args(["hook", "install"])
        .assert()
        .success();

    // `git commit -a` runs the hook with GIT_INDEX_FILE pointing at a temporary index.
    repo.write("a.env", format!("A={}\n", k(12)));
    let (ok, out) = repo.try_git(&["commit", "-q", "-a", "-m", "leak"]);
    assert!(!ok, "the commit must be blocked: {out}");
    assert!(
        out.contains("a.env") && out.contains("sk_live_Git…i9"),
        "{out}"
    );
    assert!(!out.contains(&k(12)), "{out}");
    // `git commit PATH` too, from a subdirectory.
    repo.write("sub/b.env", format!("B={}\n", k(13)));
    repo.git(&["add", "sub/b.env"]);
    let sub = repo.path().join("sub");
    let mut cmd = std::process::Command::new("git");
    git_env(&mut cmd);
    let out = cmd
        .current_dir(&sub)
        .args(["commit", "-q", "-m", "leak", "b.env"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    // A clean commit passes, and the old hook runs after skguard's check.
    repo.write("a.env", "A=2\n");
    repo.git(&["reset", "-q", "sub/b.env"]);
    repo.git(&["commit", "-q", "-a", "-m", "clean"]);
    let log = fs::read_to_string(repo.path().join(".git/old-hook.log")).unwrap();
    assert_eq!(
        log.lines().count(),
        1,
        "the old hook ran once, for the clean commit"
    );

    skguard()
        .current_dir(repo.path())
        .args(["hook", "uninstall"])
        .assert()
        .success();
    let restored = fs::read_to_string(hooks.join("pre-commit")).unwrap();
    assert!(restored.contains("old-hook-ran"), "{restored}");
    assert!(!hooks.join("pre-commit.before-skguard").exists());

    // Uninstalling twice: the second finds skguard's hook gone (the old one is back, and not
    // skguard's, so it is left as it is: exit 2); with no hook at all there is nothing to do.
    skguard()
        .current_dir(repo.path())
        .args(["hook", "uninstall"])
        .assert()
        .code(2);
    fs::remove_file(hooks.join("pre-commit")).unwrap();
    let out = skguard()
        .current_dir(repo.path())
        .args(["hook", "uninstall"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to uninstall"));
}

#[test]
fn git_hook_honours_core_hooks_path_force_and_worktrees() {
    let repo = Repo::new();
    repo.commit_all("first");
    repo.git(&["config", "core.hooksPath", ".githooks"]);
    fs::create_dir_all(repo.path().join(".githooks")).unwrap();
    fs::write(
        repo.path().join(".githooks/pre-commit"),
        "#!/bin/sh\nexit 0\n",
    )
    .unwrap();
    skguard()
        .current_dir(repo.path())
        .args(["hook", "install", "--force"])
        .assert()
        .success();
    let hook = fs::read_to_string(repo.path().join(".githooks/pre-commit")).unwrap();
    assert!(hook.contains("scan --staged"), "{hook}");
    assert!(
        !repo
            .path()
            .join(".githooks/pre-commit.before-skguard")
            .exists(),
        "--force replaces"
    );
    // Uninstalling a hook skguard did not write is refused.
    fs::write(
        repo.path().join(".githooks/pre-commit"),
        "#!/bin/sh\nexit 0\n",
    )
    .unwrap();
    skguard()
        .current_dir(repo.path())
        .args(["hook", "uninstall"])
        .assert()
        .code(2);

    // A worktree shares the common hooks folder.
    let plain = Repo::new();
    plain.commit_all("first");
    let wt = tempfile::tempdir().unwrap();
    let wt_path = wt.path().join("wt");
    plain.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "wt",
        wt_path.to_str().unwrap(),
    ]);
    skguard()
        .current_dir(&wt_path)
        .args(["hook", "install"])
        .assert()
        .success();
    assert!(plain.path().join(".git/hooks/pre-commit").exists());
    fs::write(wt_path.join("w.env"), format!("W={}\n", k(14))).unwrap();
    let mut cmd = std::process::Command::new("git");
    git_env(&mut cmd);
    assert!(cmd
        .current_dir(&wt_path)
        .args(["add", "w.env"])
        .status()
        .unwrap()
        .success());
    let mut cmd = std::process::Command::new("git");
    git_env(&mut cmd);
    let out = cmd
        .current_dir(&wt_path)
        .args(["commit", "-q", "-m", "leak"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "blocked in the worktree: {}",
        text(&out)
    );
}

fn hook_cmd(repo: &Repo, args: &[&str]) -> std::process::Output {
    skguard()
        .current_dir(repo.path())
        .arg("hook")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn git_hook_never_writes_through_a_symlinked_hook_and_uninstall_restores_the_link() {
    use std::os::unix::fs::symlink;
    let repo = Repo::new();
    let tracked = "#!/bin/sh\necho tracked-hook\n";
    repo.write("scripts/pre-commit", tracked);
    repo.commit_all("first");
    let hooks = repo.path().join(".git/hooks");
    fs::create_dir_all(&hooks).unwrap();
    let hook = hooks.join("pre-commit");
    for force in [true, false] {
        let _ = fs::remove_file(&hook);
        symlink("../../scripts/pre-commit", &hook).unwrap();
        let mut args = vec!["install"];
        if force {
            args.push("--force");
        }
        let out = hook_cmd(&repo, &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert_eq!(
            fs::read_to_string(repo.path().join("scripts/pre-commit")).unwrap(),
            tracked,
            "the tracked file the link pointed at is untouched (force: {force})"
        );
        let meta = fs::symlink_metadata(&hook).unwrap();
        assert!(meta.file_type().is_file(), "the link itself was replaced");
        assert!(fs::read_to_string(&hook).unwrap().contains("scan --staged"));
        let out = hook_cmd(&repo, &["uninstall"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert_eq!(
            fs::read_link(&hook).unwrap(),
            std::path::Path::new("../../scripts/pre-commit"),
            "uninstall puts back the link itself (force: {force})"
        );
        assert_eq!(
            fs::read_to_string(repo.path().join("scripts/pre-commit")).unwrap(),
            tracked
        );
        assert_eq!(repo.git(&["status", "--porcelain"]), "");
    }
}

#[test]
fn git_hook_a_dangling_symlink_never_creates_a_file_outside_git() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("created-by-install");
    for force in [false, true] {
        let repo = Repo::new();
        repo.commit_all("first");
        let hooks = repo.path().join(".git/hooks");
        fs::create_dir_all(&hooks).unwrap();
        let hook = hooks.join("pre-commit");
        symlink(&target, &hook).unwrap();
        let mut args = vec!["install"];
        if force {
            args.push("--force");
        }
        let out = hook_cmd(&repo, &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(
            fs::symlink_metadata(&target).is_err(),
            "nothing was created outside .git (force: {force})"
        );
        assert!(fs::symlink_metadata(&hook).unwrap().file_type().is_file());
        let out = hook_cmd(&repo, &["uninstall"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert_eq!(fs::read_link(&hook).unwrap(), target);
        assert!(fs::symlink_metadata(&target).is_err());
    }
}

#[test]
fn git_hook_uninstall_restores_exactly_what_the_last_install_replaced() {
    let repo = Repo::new();
    repo.commit_all("first");
    let hooks = repo.path().join(".git/hooks");
    fs::create_dir_all(&hooks).unwrap();
    let hook = hooks.join("pre-commit");
    let (old, newer) = ("#!/bin/sh\necho old\n", "#!/bin/sh\necho newer\n");
    fs::write(&hook, old).unwrap();
    let out = hook_cmd(&repo, &["install"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Something else writes its own hook over skguard's; then skguard is installed with --force.
    fs::write(&hook, newer).unwrap();
    let out = hook_cmd(&repo, &["install", "--force"]);
    // The first install's copy is stale: refused, the newer hook untouched, rather than losing it
    // and later restoring the stale one.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("pre-commit.before-skguard"),
        "{}",
        text(&out)
    );
    assert_eq!(fs::read_to_string(&hook).unwrap(), newer);
    fs::remove_file(hooks.join("pre-commit.before-skguard")).unwrap();
    let out = hook_cmd(&repo, &["install", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let installed = fs::read_to_string(&hook).unwrap();
    assert!(installed.contains("scan --staged"), "{installed}");
    // Replaced, so not run: the script chains only the .before-skguard copy, which is not there.
    assert!(!hooks.join("pre-commit.before-skguard").exists());
    // Installing again over skguard's own hook replaces nothing, and keeps the saved copy.
    let out = hook_cmd(&repo, &["install", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = hook_cmd(&repo, &["uninstall"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(fs::read_to_string(&hook).unwrap(), newer);
    assert!(fs::read_dir(&hooks).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("skguard")));
}

// ---------- --git ----------

#[test]
fn git_history_finds_removed_keys_at_their_introduction_with_author_and_date() {
    let repo = Repo::new();
    repo.write("README", "hello\n");
    repo.commit_all("first");
    repo.write("config/app.env", format!("X=1\nA={}\n", k(20)));
    let added = repo.commit_all("add key");
    repo.write("config/app.env", "X=1\n");
    repo.commit_all("remove key");
    let (code, findings, stats, _) = repo.scan(&["--git"]);
    assert_eq!(code, 1);
    assert_eq!(
        where_(&findings),
        vec![(s("config/app.env"), 2, Some(added))]
    );
    assert_eq!(findings[0]["author"], "Alice Example <alice@example.test>");
    assert_eq!(findings[0]["date"], "2025-01-02T03:04:05+01:00");
    assert_eq!(stats["commits"], 3);
}

#[test]
fn git_history_covers_every_ref_the_stash_and_commit_messages() {
    let repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit_all("first");
    repo.git(&["checkout", "-q", "-b", "unmerged"]);
    repo.write("b.env", format!("B={}\n", k(21)));
    let on_branch = repo.commit_all("on a branch never checked out again");
    repo.git(&["checkout", "-q", "--detach", "main"]);
    repo.write("c.env", format!("C={}\n", k(22)));
    let tagged = repo.commit_all("only tagged");
    repo.git(&["tag", "v1"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.write("a.txt", format!("a\n{}\n", k(23)));
    repo.git(&["stash", "-q"]);
    let message = format!("fix: rotate\n\nold key was {}", k(24));
    let in_message = repo.commit_all(&message);
    let (code, findings, _, _) = repo.scan(&["--git"]);
    assert_eq!(code, 1);
    let mut got = where_(&findings);
    let stash_commit = got
        .iter()
        .find(|(p, _, _)| p == "a.txt")
        .and_then(|(_, _, c)| c.clone())
        .expect("the stash's key");
    got.retain(|(p, _, _)| p != "a.txt");
    assert_eq!(
        got,
        vec![
            (s("(commit message)"), 3, Some(in_message)),
            (s("b.env"), 1, Some(on_branch)),
            (s("c.env"), 1, Some(tagged))
        ]
    );
    assert_eq!(stash_commit.len(), 40);
}

#[test]
fn git_history_one_finding_per_key_and_path_and_merges() {
    let repo = Repo::new();
    repo.write("base.txt", "base\n");
    repo.commit_all("base");
    repo.write("one.env", format!("A={}\n", k(25)));
    repo.write("two.env", format!("A={}\n", k(25)));
    let both = repo.commit_all("same key in two paths");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("feature.env", format!("F={}\n", k(26)));
    let feature = repo.commit_all("feature key");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("main.txt", "main\n");
    repo.commit_all("main moves on");
    // An evil merge: the merge commit itself adds a key no parent had.
    repo.git(&["merge", "-q", "--no-commit", "--no-ff", "feature"]);
    repo.write("evil.env", format!("E={}\n", k(27)));
    repo.git(&["add", "evil.env"]);
    repo.git(&["commit", "-q", "-m", "merge feature"]);
    let merge = repo.head();
    // Editing a file that keeps its key: still one finding.
    repo.write("one.env", format!("# edited\nA={}\n", k(25)));
    repo.commit_all("edit");
    let (_, findings, _, _) = repo.scan(&["--git"]);
    assert_eq!(
        where_(&findings),
        vec![
            (s("evil.env"), 1, Some(merge)),
            (s("feature.env"), 1, Some(feature)),
            (s("one.env"), 1, Some(both.clone())),
            (s("two.env"), 1, Some(both)),
        ]
    );
}

#[test]
fn git_history_of_an_octopus_merge_and_a_shallow_clone() {
    let repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit_all("base");
    for (i, name) in ["x", "y"].iter().enumerate() {
        repo.git(&["checkout", "-q", "-b", name, "main"]);
        repo.write(&format!("{name}.env"), format!("K={}\n", k(30 + i as u32)));
        repo.commit_all(name);
    }
    repo.git(&["checkout", "-q", "main"]);
    repo.write("m.txt", "m\n");
    repo.commit_all("m");
    repo.git(&["merge", "-q", "x", "y", "-m", "octopus"]);
    let (_, findings, _, _) = repo.scan(&["--git"]);
    assert_eq!(
        findings.len(),
        2,
        "carried keys are not new in the octopus merge"
    );

    let clone = tempfile::tempdir().unwrap();
    repo.clone_to(&clone.path().join("c"), Some(1));
    let (code, findings, stats, stderr) = scan_json(&clone.path().join("c"), &["--git"]);
    assert_eq!(code, 2, "a shallow history is incomplete: {stderr}");
    assert_eq!(stats["commits"], 1);
    assert_eq!(
        findings.len(),
        2,
        "the boundary commit's keys are all there: {findings:?}"
    );
    assert!(
        stderr.contains("shallow") && stderr.contains("fetch-depth: 0"),
        "{stderr}"
    );
}

#[test]
fn git_history_with_a_corrupted_object_exits_2_with_a_clear_error() {
    let repo = Repo::new();
    repo.write("a.env", format!("A={}\n", k(40)));
    repo.write("b.txt", "some text that will go missing\n");
    repo.commit_all("first");
    let blob = repo.git(&["rev-parse", "HEAD:b.txt"]);
    let object = repo
        .path()
        .join(".git/objects")
        .join(&blob[..2])
        .join(&blob[2..]);
    let mut permissions = fs::metadata(&object).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    fs::set_permissions(&object, permissions).unwrap();
    // Damaged: git lists the object and cannot read it. Said as damaged, git's lines on one line.
    fs::write(&object, "garbage").unwrap();
    let (code, findings, _, stderr) = repo.scan(&["--git"]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(findings.len(), 1, "what could be read is still reported");
    assert!(
        stderr.contains("b.txt")
            && stderr.contains(&format!(
                "object {blob}: in the repository but cannot be read"
            ))
            && stderr.contains("git fsck")
            && !stderr.contains("\\n"),
        "{stderr}"
    );
    // Gone: said as missing.
    fs::remove_file(&object).unwrap();
    let (code, findings, _, stderr) = repo.scan(&["--git"]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(findings.len(), 1, "what could be read is still reported");
    assert!(
        stderr.contains("b.txt")
            && stderr.contains(&format!("{blob}: missing from the repository")),
        "{stderr}"
    );

    let out = skguard()
        .current_dir(tempfile::tempdir().unwrap().path())
        .args(["scan", "--git"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a git repository"));
}

// ---------- --range ----------

#[test]
fn git_range_reports_keys_the_pushed_commits_add() {
    let repo = Repo::new();
    repo.write("old.env", format!("A={}\n", k(50)));
    let before = repo.commit_all("old leak, already pushed");
    repo.write("new.env", format!("B={}\n", k(51)));
    let after1 = repo.commit_all("new leak");
    repo.write("old.env", format!("# touched\nA={}\n", k(50)));
    let after2 = repo.commit_all("touch the old file");
    let (code, findings, stats, _) = repo.scan(&["--range", &format!("{before}..{after2}")]);
    assert_eq!(code, 1);
    assert_eq!(
        where_(&findings),
        vec![(s("new.env"), 1, Some(after1.clone()))]
    );
    assert_eq!(stats["commits"], 2);
    let (code, findings, _, _) = repo.scan(&["--range", &format!("{after1}..{after2}")]);
    assert_eq!((code, findings.len()), (0, 0));
}

#[test]
fn git_range_with_a_null_base_is_the_new_branchs_own_commits() {
    let repo = Repo::new();
    repo.write("main.env", format!("A={}\n", k(52)));
    repo.commit_all("main");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("f.env", format!("F={}\n", k(53)));
    let tip = repo.commit_all("feature");
    // In CI the branch and its remote-tracking twin both point at the tip: not "other" refs.
    repo.git(&["update-ref", "refs/remotes/origin/feature", &tip]);
    let null = "0".repeat(40);
    let (code, findings, stats, _) = repo.scan(&["--range", &format!("{null}..{tip}")]);
    assert_eq!(code, 1);
    assert_eq!(where_(&findings), vec![(s("f.env"), 1, Some(tip))]);
    assert_eq!(stats["commits"], 1);
}

#[test]
fn git_range_config_comes_from_the_base_so_a_pull_request_cannot_allowlist_its_leak() {
    let repo = Repo::new();
    repo.write(".skguard.toml", "[allowlist]\npaths = [\"fixtures/**\"]\n");
    let base = repo.commit_all("base with config");
    repo.write("fixtures/ok.env", format!("A={}\n", k(54)));
    repo.write("leak.env", format!("B={}\n", k(55)));
    repo.write(
        ".skguard.toml",
        "[allowlist]\npaths = [\"fixtures/**\", \"leak.env\"]\n",
    );
    let tip = repo.commit_all("PR: leak and allowlist it");
    let (code, findings, stats, _) = repo.scan(&["--range", &format!("{base}..{tip}")]);
    assert_eq!(code, 1);
    assert_eq!(where_(&findings), vec![(s("leak.env"), 1, Some(tip))]);
    assert_eq!(stats["suppressed"], 1, "the base's allowlist still applies");
}

#[test]
fn git_range_with_a_missing_base_scans_what_is_there_and_exits_2() {
    let repo = Repo::new();
    repo.write("a.txt", "a\n");
    let base = repo.commit_all("one");
    repo.write("b.txt", "b\n");
    repo.commit_all("two");
    repo.write("c.env", format!("C={}\n", k(56)));
    let tip = repo.commit_all("three");
    let clone = tempfile::tempdir().unwrap();
    repo.clone_to(&clone.path().join("c"), Some(1));
    let (code, findings, _, stderr) = scan_json(
        &clone.path().join("c"),
        &["--range", &format!("{base}..{tip}")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(where_(&findings), vec![(s("c.env"), 1, Some(tip))]);
    assert!(
        stderr.contains(&base) && stderr.contains("fetch-depth: 0"),
        "{stderr}"
    );

    let (code, _, _, stderr) = repo.scan(&["--range", "no-such-branch..HEAD"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no-such-branch"), "{stderr}");
}

#[test]
fn git_progress_only_when_asked_on_a_pipe() {
    let repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit_all("one");
    let (_, _, _, quiet) = repo.scan(&["--git"]);
    assert!(!quiet.contains("scanned"), "{quiet}");
    let (_, _, _, loud) = repo.scan(&["--git", "--progress"]);
    assert!(loud.contains("skguard: scanned: 1/1 commits"), "{loud}");
    let (_, _, _, files) = scan_json(repo.path(), &["--progress"]);
    assert!(
        files.contains("skguard: scanned: ") && files.contains("files"),
        "{files}"
    );
}

#[test]
fn git_history_includes_a_commit_only_a_detached_head_reaches() {
    let repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit_all("one");
    repo.git(&["checkout", "-q", "--detach"]);
    repo.write("d.env", format!("D={}\n", k(60)));
    let detached = repo.commit_all("detached only");
    let (code, findings, _, _) = repo.scan(&["--git"]);
    assert_eq!(code, 1);
    assert_eq!(where_(&findings), vec![(s("d.env"), 1, Some(detached))]);
}

#[test]
fn git_staged_honours_git_dir_from_the_environment() {
    let repo = Repo::new();
    repo.commit_all("one");
    repo.write("a.env", format!("A={}\n", k(61)));
    repo.git(&["add", "a.env"]);
    // Run from elsewhere, with GIT_DIR and GIT_WORK_TREE naming the repository, as git does for hooks
    // in some setups.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = skguard()
        .current_dir(elsewhere.path())
        .env("GIT_DIR", repo.path().join(".git"))
        .env("GIT_WORK_TREE", repo.path())
        .args(["scan", "--staged", "--format", "jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let finding: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(finding["path"], "a.env");
}

// ---------- null bases, shallow clones, tags (issue 9) ----------

/// A clone made like `actions/checkout` with `fetch-depth: 0`: every branch as `refs/remotes/origin/*`,
/// no `origin/HEAD`, the pushed commit checked out.
fn checkout_like_actions(upstream: &Repo, at: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkout");
    upstream.clone_to(&path, None);
    upstream.git_in(&path, &["remote", "set-head", "origin", "-d"]);
    upstream.git_in(&path, &["checkout", "-q", "--detach", at]);
    (dir, path)
}

#[test]
fn git_range_null_base_first_push_of_the_default_branch_is_its_whole_history() {
    let repo = Repo::new();
    repo.write("a.env", format!("A={}\n", k(70)));
    let first = repo.commit_all("leak");
    repo.write("a.env", "A=gone\n");
    let tip = repo.commit_all("remove it");
    let (_dir, checkout) = checkout_like_actions(&repo, &tip);
    let range = format!("{}..{tip}", "0".repeat(40));
    for extra in [&[][..], &["--default-branch", "origin/main"][..]] {
        let mut args = vec!["--range", range.as_str()];
        args.extend_from_slice(extra);
        let (code, findings, stats, stderr) = scan_json(&checkout, &args);
        assert_eq!(code, 1, "{extra:?} {stderr}");
        assert_eq!(
            where_(&findings),
            vec![(s("a.env"), 1, Some(first.clone()))]
        );
        assert_eq!(stats["commits"], 2);
        assert!(stderr.contains("whole history"), "{stderr}");
    }
}

#[test]
fn git_range_null_base_new_feature_branch_in_an_actions_checkout() {
    let repo = Repo::new();
    repo.write("old.env", format!("A={}\n", k(71)));
    repo.commit_all("old leak on main, already known");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("f.env", format!("F={}\n", k(72)));
    let tip = repo.commit_all("feature leak");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("m.txt", "main moves on\n");
    repo.commit_all("main moves on");
    let (_dir, checkout) = checkout_like_actions(&repo, &tip);
    let range = format!("{}..{tip}", "0".repeat(40));
    for extra in [&[][..], &["--default-branch", "origin/main"][..]] {
        let mut args = vec!["--range", range.as_str()];
        args.extend_from_slice(extra);
        let (code, findings, stats, stderr) = scan_json(&checkout, &args);
        assert_eq!(code, 1, "{stderr}");
        assert_eq!(where_(&findings), vec![(s("f.env"), 1, Some(tip.clone()))]);
        assert_eq!(stats["commits"], 1);
        assert!(stderr.contains("origin/main"), "{stderr}");
    }
    // A default branch that is not in the clone is an error, never a guess.
    let (code, _, _, stderr) = scan_json(
        &checkout,
        &["--range", &range, "--default-branch", "origin/trunk"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("origin/trunk"), "{stderr}");
    // One sentence, not two run together ("…in actions/checkout) is not a commit…").
    assert!(
        stderr.contains("--default-branch \"origin/trunk\" is not a commit, branch or tag"),
        "{stderr}"
    );
    assert!(!stderr.contains(") is not a commit"), "{stderr}");
}

#[test]
fn git_range_null_base_refs_pushed_together_do_not_hide_each_other() {
    let repo = Repo::new();
    repo.write("README", "base\n");
    repo.commit_all("base");
    repo.git(&["checkout", "-q", "-b", "x"]);
    repo.write("x.env", format!("X={}\n", k(73)));
    let c1 = repo.commit_all("c1 adds a key");
    repo.write("x.env", "X=removed\n");
    let c2 = repo.commit_all("c2 removes it");
    repo.git(&["branch", "y", &c1]);
    // Both branches arrive in one push: the checkout has both as remote-tracking refs.
    let (_dir, checkout) = checkout_like_actions(&repo, &c2);
    let null = "0".repeat(40);
    for tip in [&c2, &c1] {
        let (code, findings, _, stderr) =
            scan_json(&checkout, &["--range", &format!("{null}..{tip}")]);
        assert_eq!(code, 1, "..{tip}: {stderr}");
        assert_eq!(where_(&findings), vec![(s("x.env"), 1, Some(c1.clone()))]);
    }
}

#[test]
fn git_range_null_base_trusts_the_default_branchs_configuration_or_none() {
    let repo = Repo::new();
    repo.write(".skguard.toml", "[allowlist]\npaths = [\"fixtures/**\"]\n");
    repo.commit_all("config on main");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("leak.env", format!("B={}\n", k(74)));
    repo.write(".skguard.toml", "[allowlist]\npaths = [\"leak.env\"]\n");
    let tip = repo.commit_all("leak and allowlist it");
    let range = format!("{}..{tip}", "0".repeat(40));
    let (code, findings, _, stderr) = repo.scan(&["--range", &range]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        where_(&findings),
        vec![(s("leak.env"), 1, Some(tip.clone()))]
    );
    // No default branch known: the whole history, and no repository configuration, said so.
    repo.git(&["branch", "-D", "main"]);
    let (code, findings, stats, stderr) = repo.scan(&["--range", &range]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(where_(&findings), vec![(s("leak.env"), 1, Some(tip))]);
    assert_eq!(stats["commits"], 2);
    assert!(stderr.contains("no repository configuration"), "{stderr}");
}

#[test]
fn git_range_past_a_shallow_boundary_reports_what_it_found_and_exits_2() {
    let repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit_all("c0");
    repo.write("b.txt", "b\n");
    let c1 = repo.commit_all("c1");
    repo.git(&["branch", "old", &c1]);
    repo.write("c.env", format!("C={}\n", k(75)));
    repo.commit_all("c2 adds a key");
    repo.write("d.txt", "d\n");
    let c3 = repo.commit_all("c3");
    // Every branch at depth 1: the base (old = c1) is here, but c3's parent is cut off.
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("c");
    let url = format!("file://{}", repo.path().display());
    repo.git_in(
        dir.path(),
        &["clone", "-q", "--depth=1", "--no-single-branch", &url, "c"],
    );
    let (code, findings, _, stderr) = scan_json(&clone, &["--range", &format!("{c1}..{c3}")]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(where_(&findings), vec![(s("c.env"), 1, Some(c3.clone()))]);
    assert!(
        stderr.contains(&c3)
            && stderr.contains("fetch-depth: 0")
            && stderr.contains("git fetch --unshallow"),
        "{stderr}"
    );
    let out = scan_output(&clone, &["--range", &format!("{c1}..{c3}")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !text(&out).contains("No secret keys found"),
        "{}",
        text(&out)
    );
    // The whole history of a shallow clone: incomplete too, even with nothing found.
    let (code, _, _, stderr) = scan_json(&clone, &["--git"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("git fetch --unshallow"), "{stderr}");
    // A range that stays inside what the clone has is complete.
    repo.write("e.txt", "e\n");
    let c4 = repo.commit_all("c4");
    repo.git_in(&clone, &["fetch", "-q", "origin", "main"]);
    let (code, _, _, stderr) = scan_json(&clone, &["--range", &format!("{c3}..{c4}")]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn git_history_scans_tag_messages_and_blobs_and_trees_tags_point_at() {
    let repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit_all("first");
    repo.git(&[
        "tag",
        "-a",
        "v1",
        "-m",
        &format!("release\n\nkey {}", k(76)),
    ]);
    let blob_file = repo.path().join("loose.env");
    fs::write(&blob_file, format!("L={}\n", k(77))).unwrap();
    let blob = repo.git(&["hash-object", "-w", "loose.env"]);
    fs::remove_file(&blob_file).unwrap();
    repo.git(&["tag", "blobtag", &blob]);
    repo.write("dir/t.env", format!("T={}\n", k(78)));
    repo.git(&["add", "dir/t.env"]);
    let tree = repo.git(&["write-tree"]);
    repo.git(&["rm", "-q", "--cached", "dir/t.env"]);
    fs::remove_file(repo.path().join("dir/t.env")).unwrap();
    repo.git(&["tag", "-a", "treetag", "-m", "a tree", &tree]);
    let (code, findings, _, stderr) = repo.scan(&["--git"]);
    assert_eq!(code, 1, "{stderr}");
    let mut got = where_(&findings);
    got.sort();
    assert_eq!(
        got,
        vec![
            (s("(tag blobtag)"), 1, None),
            (s("(tag message)"), 3, None),
            (s("(tag treetag)/dir/t.env"), 1, None),
        ]
    );
}

#[test]
fn git_range_never_skips_a_blob_because_its_base_has_it() {
    let repo = Repo::new();
    let fixture = format!("F={}\n", k(80));
    repo.write("fixtures/a.env", &fixture);
    repo.write("app.env", format!("A={}\n", k(81)));
    repo.commit_all("fixture and a leak, already pushed");
    repo.write("app.env", "A=rotated\n");
    let base = repo.commit_all("remove the leak");
    // The same blob at a new path, and a revert that brings the removed key back.
    repo.write("src/copied.env", &fixture);
    let copied = repo.commit_all("copy the fixture");
    repo.git(&["revert", "--no-edit", &base]);
    let reverted = repo.head();
    let (code, findings, _, stderr) = repo.scan(&["--range", &format!("{base}..{reverted}")]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        where_(&findings),
        vec![
            (s("app.env"), 1, Some(reverted)),
            (s("src/copied.env"), 1, Some(copied)),
        ]
    );
}

#[test]
fn git_history_a_big_loose_blob_and_many_keys_in_one_tree() {
    // A blob larger than the scanner's chunk, stored loose, with keys at both ends; and a tree whose
    // key-bearing files change in different commits (the per-tree lists are shared).
    let repo = Repo::new();
    let mut big = format!("A={}\n", k(82)).into_bytes();
    big.extend(std::iter::repeat_n(b'x', 3 << 20));
    big.extend(format!("\nB={}\n", k(83)).as_bytes());
    repo.write("big/data.txt", &big);
    repo.write("d/one.env", format!("K={}\n", k(84)));
    let first = repo.commit_all("big");
    repo.write("d/two.env", format!("K={}\nL={}\n", k(84), k(85)));
    let second = repo.commit_all("two");
    let (code, findings, stats, stderr) = repo.scan(&["--git"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        where_(&findings),
        vec![
            (s("big/data.txt"), 1, Some(first.clone())),
            (s("big/data.txt"), 3, Some(first.clone())),
            (s("d/one.env"), 1, Some(first)),
            (s("d/two.env"), 1, Some(second.clone())),
            (s("d/two.env"), 2, Some(second)),
        ]
    );
    assert_eq!(stats["commits"], 2);
}

/// A hook whose binary is gone (a `cargo clean`, a moved checkout) blocks the commit and says how
/// to reinstall, rather than the shell's bare "not found".
#[test]
fn git_hook_whose_binary_is_gone_says_how_to_reinstall() {
    let repo = Repo::new();
    repo.write("a.txt", "A=1\n");
    repo.commit_all("first");
    let bin = tempfile::tempdir().unwrap();
    let copy = bin.path().join("skguard");
    fs::copy(assert_cmd::cargo::cargo_bin("skguard"), &copy).unwrap();
    let out = std::process::Command::new(&copy)
        .current_dir(repo.path())
        .args(["hook", "install"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    repo.write("a.txt", "A=2\n");
    repo.git(&["add", "a.txt"]);
    let (ok, _) = repo.try_git(&["commit", "-q", "-m", "works"]);
    assert!(ok);

    fs::remove_file(&copy).unwrap();
    repo.write("a.txt", "A=3\n");
    repo.git(&["add", "a.txt"]);
    let (ok, shown) = repo.try_git(&["commit", "-q", "-m", "blocked"]);
    assert!(!ok, "{shown}");
    assert!(shown.contains("which is gone"), "{shown}");
    assert!(shown.contains("`skguard hook install`"), "{shown}");
}
