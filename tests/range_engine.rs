//! `--range` read two ways: by per-commit tree diffs (short ranges) and by the object engine (long
//! ranges). The same scenarios through both give the same findings, exit code and commit count.

use std::path::Path;

use crate::common::*;
use serde_json::Value;

fn k(n: u32) -> String {
    live(&format!("RngKey{n:04}Qw3Er5Ty7Ui9"))
}

/// One run of `scan --format json` with the engine's threshold set: (exit code, findings, stats).
fn run(dir: &Path, args: &[&str], min_commits: &str) -> (i32, Vec<Value>, Value, String) {
    scan_json_with(
        dir,
        args,
        &[("SKGUARD_RANGE_ENGINE_MIN_COMMITS", min_commits)],
    )
}

/// The range through per-commit diffs and through the engine: the same exit code, findings (every
/// field: path, line, column, commit, author, date, fingerprint, encoding) and commit count.
/// Returns the engine's (code, findings, stats) and the diffs' stats.
fn both(dir: &Path, args: &[&str]) -> (i32, Vec<Value>, Value, Value) {
    let (code_d, found_d, stats_d, err_d) = run(dir, args, "1000000000");
    let (code_e, found_e, stats_e, err_e) = run(dir, args, "1");
    assert_eq!(code_d, code_e, "diffs: {err_d}\nengine: {err_e}");
    assert_eq!(found_d, found_e, "diffs: {err_d}\nengine: {err_e}");
    assert_eq!(stats_d["commits"], stats_e["commits"]);
    assert_eq!(stats_d["suppressed"], stats_e["suppressed"]);
    (code_e, found_e, stats_e, stats_d)
}

fn where_(findings: &[Value]) -> Vec<(String, Option<String>)> {
    findings
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["commit"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn s(x: &str) -> String {
    x.to_string()
}

#[test]
fn range_engine_copies_reverts_and_keys_the_base_already_had() {
    let repo = Repo::new();
    let fixture = format!("F={}\n", k(1));
    repo.write("fixtures/a.env", &fixture);
    repo.write("app.env", format!("A={}\n", k(2)));
    repo.write("kept.env", format!("K={}\n", k(3)));
    repo.write("unrelated.txt", "nothing here\n");
    repo.commit_all("fixture and leaks, already pushed");
    repo.write("app.env", "A=rotated\n");
    let base = repo.commit_all("remove the leak");
    // The same blob at a new path, an edit that keeps a key the base has, a revert that re-adds one.
    repo.write("src/copied.env", &fixture);
    repo.write("kept.env", format!("# edited\nK={}\n", k(3)));
    let copied = repo.commit_all("copy the fixture, edit a kept key");
    repo.git(&["revert", "--no-edit", &base]);
    let reverted = repo.head();
    repo.git(&[
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        &format!("msg {}", k(4)),
    ]);
    let tip = repo.head();
    let (code, findings, engine, diffs) =
        both(repo.path(), &["--range", &format!("{base}..{tip}")]);
    assert_eq!(code, 1);
    assert_eq!(
        where_(&findings),
        vec![
            (s("(commit message)"), Some(tip)),
            (s("app.env"), Some(reverted)),
            (s("src/copied.env"), Some(copied)),
        ]
    );
    assert_eq!(engine["commits"], 3);
    // The engine read every blob of the repository, the diffs only what the range changed: proof
    // that each path ran.
    assert!(
        engine["blobs"].as_u64() > diffs["blobs"].as_u64(),
        "{engine} {diffs}"
    );
}

#[test]
fn range_engine_merges_octopus_and_a_key_carried_over() {
    let repo = Repo::new();
    repo.write("base.txt", "base\n");
    let base = repo.commit_all("base");
    repo.write("one.env", format!("A={}\n", k(10)));
    repo.write("two.env", format!("A={}\n", k(10)));
    let both_paths = repo.commit_all("same key in two paths");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("feature.env", format!("F={}\n", k(11)));
    let feature = repo.commit_all("feature key");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("main.txt", "main\n");
    repo.commit_all("main moves on");
    // An evil merge: the merge commit adds a key no parent had.
    repo.git(&["merge", "-q", "--no-commit", "--no-ff", "feature"]);
    repo.write("evil.env", format!("E={}\n", k(12)));
    repo.git(&["add", "evil.env"]);
    repo.git(&["commit", "-q", "-m", "merge feature"]);
    let merge = repo.head();
    for (i, name) in ["x", "y"].iter().enumerate() {
        repo.git(&["checkout", "-q", "-b", name, "main"]);
        repo.write(&format!("{name}.env"), format!("K={}\n", k(20 + i as u32)));
        repo.commit_all(name);
    }
    repo.git(&["checkout", "-q", "main"]);
    repo.write("m.txt", "m\n");
    repo.commit_all("m");
    repo.git(&["merge", "-q", "x", "y", "-m", "octopus"]);
    let tip = repo.head();
    let (code, findings, _, _) = both(repo.path(), &["--range", &format!("{base}..{tip}")]);
    assert_eq!(code, 1);
    let paths: Vec<String> = where_(&findings).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [
            "evil.env",
            "feature.env",
            "one.env",
            "two.env",
            "x.env",
            "y.env"
        ]
    );
    assert_eq!(where_(&findings)[0].1, Some(merge));
    assert_eq!(where_(&findings)[1].1, Some(feature.clone()));
    assert_eq!(where_(&findings)[2].1, Some(both_paths));
    // Starting after the feature: only what its merge and the later branches add.
    let (_, findings, _, _) = both(repo.path(), &["--range", &format!("{feature}..{tip}")]);
    let paths: Vec<String> = where_(&findings).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["evil.env", "x.env", "y.env"]);
}

#[test]
fn range_engine_null_base_and_a_branch_pushed_alone() {
    let repo = Repo::new();
    repo.write("main.env", format!("A={}\n", k(30)));
    repo.commit_all("main");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("f.env", format!("F={}\n", k(31)));
    repo.write("main.env", format!("A={}\nB={}\n", k(30), k(32)));
    let tip = repo.commit_all("feature");
    let null = "0".repeat(40);
    let (code, findings, stats, _) = both(repo.path(), &["--range", &format!("{null}..{tip}")]);
    assert_eq!(code, 1);
    assert_eq!(stats["commits"], 1);
    assert_eq!(
        where_(&findings),
        vec![(s("f.env"), Some(tip.clone())), (s("main.env"), Some(tip))]
    );
    assert_eq!(findings[1]["line"], 2);
}

#[test]
fn range_engine_archives_members_gaining_a_key() {
    let repo = Repo::new();
    let text = format!("key={}\n", k(40));
    repo.write("dist/app.jar", zip_of(&[("a.properties", text.as_bytes())]));
    let base = repo.commit_all("the jar, pushed");
    repo.write(
        "dist/app.jar",
        zip_of(&[("a.properties", text.as_bytes()), ("README", b"docs")]),
    );
    repo.commit_all("add a member");
    repo.write("dist/app.jar", zip_of(&[("b.properties", text.as_bytes())]));
    let moved = repo.commit_all("move the key");
    repo.write("copy.jar", zip_of(&[("b.properties", text.as_bytes())]));
    let copied = repo.commit_all("copy the jar");
    let (code, findings, _, _) = both(repo.path(), &["--range", &format!("{base}..{copied}")]);
    assert_eq!(code, 1);
    assert_eq!(
        where_(&findings),
        vec![
            (s("copy.jar!b.properties"), Some(copied)),
            (s("dist/app.jar!b.properties"), Some(moved)),
        ]
    );
}

#[test]
fn range_engine_shallow_boundary_and_missing_base_as_the_diffs_say() {
    let repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit_all("c0");
    repo.write("b.txt", "b\n");
    let c1 = repo.commit_all("c1");
    repo.git(&["branch", "old", &c1]);
    repo.write("c.env", format!("C={}\n", k(50)));
    repo.commit_all("c2 adds a key");
    repo.write("d.txt", "d\n");
    let c3 = repo.commit_all("c3");
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("c");
    let url = format!("file://{}", repo.path().display());
    repo.git_in(
        dir.path(),
        &["clone", "-q", "--depth=1", "--no-single-branch", &url, "c"],
    );
    let (code, findings, _, _) = both(&clone, &["--range", &format!("{c1}..{c3}")]);
    assert_eq!(code, 2);
    assert_eq!(where_(&findings), vec![(s("c.env"), Some(c3.clone()))]);
    // A base the clone does not have at all.
    let shallow = dir.path().join("s");
    repo.clone_to(&shallow, Some(1));
    let c0 = repo.git(&["rev-parse", "HEAD~3"]);
    let (code, findings, _, _) = both(&shallow, &["--range", &format!("{c0}..{c3}")]);
    assert_eq!(code, 2);
    assert_eq!(where_(&findings), vec![(s("c.env"), Some(c3))]);
}

#[test]
fn range_engine_a_missing_blob_in_the_range_is_named_as_the_diffs_name_it() {
    let repo = Repo::new();
    repo.write("a.txt", "a\n");
    let base = repo.commit_all("base");
    repo.write("b.env", format!("B={}\n", k(60)));
    repo.write("c.txt", "c\n");
    let tip = repo.commit_all("two files");
    let blob = repo.git(&["rev-parse", &format!("{tip}:c.txt")]);
    let loose = repo
        .path()
        .join(".git/objects")
        .join(&blob[..2])
        .join(&blob[2..]);
    std::fs::remove_file(loose).unwrap();
    let (code, findings, _, _) = both(repo.path(), &["--range", &format!("{base}..{tip}")]);
    assert_eq!(code, 2);
    assert_eq!(where_(&findings), vec![(s("b.env"), Some(tip))]);
}
