//! CI integration: SARIF validated against the official 2.1.0 schema, GitHub annotations and the
//! step summary, and the GitHub Action itself, executed step by step on real repositories with the
//! `GITHUB_*` variables and event payloads of real events.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use common::fake_api::FakeApi;
use common::*;
use serde_json::{json, Value};
use yaml_rust2::YamlLoader;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn k(n: u32) -> String {
    live(&format!("Ci{n:03}Lk9Mj8Nh7Bg6Vf5"))
}

fn sarif_of(dir: &Path, args: &[&str]) -> (i32, Value) {
    let out = skguard()
        .current_dir(dir)
        .arg("scan")
        .args(args)
        .args(["--format", "sarif"])
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out))),
    )
}

fn assert_valid_sarif(doc: &Value) {
    let text = fs::read_to_string(root().join("fixtures/sarif-schema-2.1.0.json")).unwrap();
    // The published schema's `run.language` pattern has a stray `]` that strict regex engines
    // reject; its intent is a language tag like `en` or `en-US`. Repaired here, in memory only.
    let broken = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
    assert!(text.contains(broken), "the fixture is the published schema");
    let schema: Value =
        serde_json::from_str(&text.replace(broken, r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#)).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "SARIF does not validate: {errors:#?}");
}

#[test]
fn ci_sarif_is_valid_complete_and_never_holds_a_key() {
    let api = FakeApi::start();
    let repo = Repo::new();
    let (a, t) = (k(1), test_key("Ci002Tk9Mj8Nh7Bg6Vf5"));
    api.add("acct", "key_a", &a, 12);
    repo.write("config/app settings.env", format!("A={a}\n"));
    repo.write("b.txt", format!("t={t}\n"));
    let commit = repo.commit_all("leak");
    let (code, doc) = sarif_of(
        repo.path(),
        &[
            "--git",
            "--revoke",
            "--show-secret",
            "--api-base",
            &api.base,
            "--api-confirm-interval",
            "0.1",
        ],
    );
    assert_eq!(code, 1);
    assert_valid_sarif(&doc);
    let text = doc.to_string();
    assert!(
        !text.contains(&a) && !text.contains(&t),
        "no whole key, even with --show-secret"
    );
    let run = &doc["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "skguard");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    let rules = driver["rules"].as_array().unwrap();
    assert_eq!(
        rules
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["sk_live", "sk_test"]
    );
    assert!(rules[0]["help"]["markdown"]
        .as_str()
        .unwrap()
        .contains("Settings > API Keys"));
    assert_eq!(rules[0]["defaultConfiguration"]["level"], "error");
    assert_eq!(rules[1]["defaultConfiguration"]["level"], "warning");
    assert!(
        rules[0]["properties"]["security-severity"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            >= 9.0
    );

    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let live_result = results.iter().find(|r| r["ruleId"] == "sk_live").unwrap();
    assert_eq!(live_result["level"], "error");
    let location = &live_result["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"],
        "config/app%20settings.env"
    );
    assert_eq!(location["artifactLocation"]["uriBaseId"], "%SRCROOT%");
    assert_eq!(
        location["region"],
        json!({"startLine": 1, "startColumn": 3, "endColumn": 3 + a.len()})
    );
    assert_eq!(live_result["properties"]["commit"], commit.as_str());
    assert_eq!(
        live_result["properties"]["author"],
        "Alice Example <alice@example.test>"
    );
    let message = live_result["message"]["text"].as_str().unwrap();
    assert!(
        message.contains("sk_live_Ci0…f5")
            && message.contains("active")
            && message.contains("revoked"),
        "{message}"
    );
    let warning = results.iter().find(|r| r["ruleId"] == "sk_test").unwrap();
    assert_eq!(warning["level"], "warning");
}

#[test]
fn ci_partial_fingerprints_survive_moved_lines_and_new_commits() {
    let repo = Repo::new();
    repo.write("a.env", format!("A={}\n", k(3)));
    repo.commit_all("one");
    let fp = |doc: &Value| doc["runs"][0]["results"][0]["partialFingerprints"].clone();
    let (_, first) = sarif_of(repo.path(), &[]);
    repo.write("a.env", format!("# moved down\n\nA={}\n", k(3)));
    repo.commit_all("two");
    let (_, moved) = sarif_of(repo.path(), &[]);
    assert_eq!(
        moved["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        3
    );
    assert_eq!(fp(&first), fp(&moved));
    let (_, history) = sarif_of(repo.path(), &["--git"]);
    assert_eq!(fp(&first), fp(&history));
    repo.write("other.env", format!("A={}\n", k(3)));
    let (_, two) = sarif_of(repo.path(), &[]);
    let fps: Vec<Value> = two["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["partialFingerprints"].clone())
        .collect();
    assert_ne!(fps[0], fps[1], "another file is another alert");
}

#[test]
fn ci_github_annotations_and_step_summary_in_one_run() {
    let api = FakeApi::start();
    let repo = Repo::new();
    let a = k(4);
    api.add("acct", "key_a", &a, 12);
    repo.write("we,ird:name.env", format!("A={a}\n"));
    repo.write("README", "x\n");
    repo.commit_all(&format!("note {}", k(5)));
    let summary = repo.path().join("summary.md");
    fs::write(&summary, "previous step\n").unwrap();
    let out = skguard()
        .current_dir(repo.path())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["scan", "--git", "--verify", "--api-base", &api.base])
        .args([
            "--format",
            "sarif=out.sarif",
            "--format",
            "json=out.json",
            "--format",
            "github",
            "--show-secret",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("::error title=skguard%3A Live secret API key (sk_live)::"),
        "commit message: no file: {}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("::error file=we%2Cird%3Aname.env,line=1,col=3,title="),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("Verification: active"), "{}", lines[1]);
    assert!(!stdout.contains(&a) && !stdout.contains(&k(5)));
    // One run, one verification for the three formats.
    assert_eq!(api.log(), vec!["GET /v1/api-keys"; 2]);
    assert_valid_sarif(
        &serde_json::from_str(&fs::read_to_string(repo.path().join("out.sarif")).unwrap()).unwrap(),
    );
    let json: Value =
        serde_json::from_str(&fs::read_to_string(repo.path().join("out.json")).unwrap()).unwrap();
    assert_eq!(json["findings"].as_array().unwrap().len(), 2);
    let md = fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("previous step\n## skguard\n"),
        "appended: {md}"
    );
    assert!(
        md.contains("2 keys found")
            && md.contains("`we,ird:name.env:1`")
            && md.contains("Rotate first"),
        "{md}"
    );
    assert!(!md.contains(&a));
}

// ---------- the GitHub Action, run step by step ----------

struct ActionRun {
    code: i32,
    outputs: HashMap<String, String>,
    log: String,
    summary: String,
}

/// Runs action.yml's steps as a GitHub runner would: `uses:` steps are skipped (the cache), each
/// `run:` goes to `bash --noprofile --norc -eo pipefail` with its `env:` evaluated, GITHUB_PATH and
/// GITHUB_OUTPUT are honoured between steps, and the action's outputs are read from the scan step.
fn run_action(workspace: &Path, event: &str, payload: Value, inputs: &[(&str, &str)]) -> ActionRun {
    let action = YamlLoader::load_from_str(&fs::read_to_string(root().join("action.yml")).unwrap())
        .unwrap()
        .remove(0);
    let mut values: HashMap<String, String> = HashMap::new();
    for (name, spec) in action["inputs"].as_hash().unwrap() {
        values.insert(
            name.as_str().unwrap().into(),
            spec["default"].as_str().unwrap_or_default().into(),
        );
    }
    for (name, value) in inputs {
        assert!(values.contains_key(*name), "no input {name}");
        values.insert(name.to_string(), value.to_string());
    }
    let runner = tempfile::tempdir().unwrap();
    let home = runner.path().join("home");
    // The install step finds skguard already built (as a cache hit would).
    fs::create_dir_all(home.join(".skguard/bin")).unwrap();
    std::os::unix::fs::symlink(
        assert_cmd::cargo::cargo_bin("skguard"),
        home.join(".skguard/bin/skguard"),
    )
    .unwrap();
    let event_path = runner.path().join("event.json");
    fs::write(&event_path, payload.to_string()).unwrap();
    let summary = runner.path().join("summary.md");
    let github_path = runner.path().join("path");
    fs::write(&github_path, "").unwrap();
    let base_path = std::env::var("PATH").unwrap();
    let evaluate = |text: &str| -> String {
        let mut out = text.to_string();
        for (name, value) in &values {
            out = out.replace(&format!("${{{{ inputs.{name} }}}}"), value);
        }
        out.replace("${{ github.action_path }}", root().to_str().unwrap())
    };
    let mut step_outputs: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut log = String::new();
    let mut code = 0;
    for step in action["runs"]["steps"].as_vec().unwrap() {
        if step["uses"].as_str().is_some() {
            continue;
        }
        assert_eq!(step["shell"].as_str(), Some("bash"));
        let run = step["run"].as_str().unwrap();
        assert!(
            !run.contains("${{"),
            "no expression may be interpolated into a script: {run}"
        );
        let output_file = runner.path().join("output");
        fs::write(&output_file, "").unwrap();
        let extra: Vec<String> = fs::read_to_string(&github_path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let path = extra
            .iter()
            .rev()
            .cloned()
            .chain([base_path.clone()])
            .collect::<Vec<_>>()
            .join(":");
        let mut cmd = Process::new("bash");
        git_env(&mut cmd);
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", run])
            .current_dir(workspace)
            .env("PATH", path)
            .env("HOME", &home)
            .env("GITHUB_ACTION_PATH", root())
            .env("GITHUB_EVENT_NAME", event)
            .env("GITHUB_EVENT_PATH", &event_path)
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_PATH", &github_path)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env_remove("SKGUARD_API_BASE");
        if let Some(env) = step["env"].as_hash() {
            for (name, value) in env {
                cmd.env(name.as_str().unwrap(), evaluate(value.as_str().unwrap()));
            }
        }
        let out = cmd.output().unwrap();
        log.push_str(&text(&out));
        let outputs = fs::read_to_string(&output_file)
            .unwrap()
            .lines()
            .filter_map(|l| {
                l.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        if let Some(id) = step["id"].as_str() {
            step_outputs.insert(id.to_string(), outputs);
        }
        code = out.status.code().unwrap_or(-1);
        if code != 0 {
            break;
        }
    }
    let mut outputs = HashMap::new();
    for (name, spec) in action["outputs"].as_hash().unwrap() {
        let value = spec["value"].as_str().unwrap();
        let reference = value
            .trim_start_matches("${{ steps.")
            .trim_end_matches(" }}");
        let (step, output) = reference.split_once(".outputs.").unwrap();
        let got = step_outputs
            .get(step)
            .and_then(|o| o.get(output))
            .cloned()
            .unwrap_or_default();
        outputs.insert(name.as_str().unwrap().to_string(), got);
    }
    let summary = fs::read_to_string(&summary).unwrap_or_default();
    ActionRun {
        code,
        outputs,
        log,
        summary,
    }
}

/// A "remote" with history, and a clone of it as actions/checkout would make (origin set).
fn remote_and_checkout(depth: Option<u32>) -> (Repo, tempfile::TempDir, String, String) {
    let remote = Repo::new();
    remote.write("old.env", format!("A={}\n", k(10)));
    let before = remote.commit_all("already pushed, already known");
    remote.write("new.env", format!("B={}\n", k(11)));
    let after = remote.commit_all("the push");
    let checkout = tempfile::tempdir().unwrap();
    remote.clone_to(&checkout.path().join("w"), depth);
    (remote, checkout, before, after)
}

fn outputs(run: &ActionRun) -> (String, String, String) {
    (
        run.outputs["findings"].clone(),
        run.outputs["live-findings"].clone(),
        run.outputs["revoked"].clone(),
    )
}

#[test]
fn action_push_scans_exactly_the_pushed_commits() {
    let (_remote, checkout, before, after) = remote_and_checkout(None);
    let w = checkout.path().join("w");
    let run = run_action(
        &w,
        "push",
        json!({"before": before, "after": after, "deleted": false}),
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.log);
    assert_eq!(outputs(&run), ("1".into(), "1".into(), "0".into()));
    assert_eq!(run.outputs["sarif-file"], "skguard.sarif");
    assert!(
        run.log.contains(&format!("--range {before}..{after}")),
        "{}",
        run.log
    );
    assert!(
        run.log.contains("::error file=new.env,line=1,col=3"),
        "{}",
        run.log
    );
    assert!(run.summary.contains("1 key found"), "{}", run.summary);
    let sarif: Value =
        serde_json::from_str(&fs::read_to_string(w.join("skguard.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 1);
}

#[test]
fn action_new_branch_deleted_branch_and_force_push() {
    let (remote, checkout, _before, after) = remote_and_checkout(None);
    let w = checkout.path().join("w");
    let null = "0".repeat(40);
    // A new branch: only its own commits (main, which the branch starts from, is another ref).
    remote.git(&["checkout", "-q", "-b", "feature"]);
    remote.write("f.env", format!("F={}\n", k(12)));
    let tip = remote.commit_all("feature");
    let mut cmd = Process::new("git");
    git_env(&mut cmd);
    assert!(cmd
        .current_dir(&w)
        .args(["fetch", "-q", "origin", "feature"])
        .status()
        .unwrap()
        .success());
    let run = run_action(
        &w,
        "push",
        json!({"before": null, "after": tip, "created": true}),
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.log);
    assert!(
        run.log.contains(&format!("--range {null}..{tip}")),
        "{}",
        run.log
    );
    assert_eq!(outputs(&run).0, "1", "{}", run.log);
    // A deleted branch: nothing to scan, a notice, success.
    let run = run_action(
        &w,
        "push",
        json!({"before": after, "after": null, "deleted": true}),
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.log);
    assert!(
        run.log.contains("::notice") && run.log.contains("deleted a branch"),
        "{}",
        run.log
    );
    assert_eq!(outputs(&run), ("0".into(), "0".into(), "0".into()));
    // A force push whose old tip exists nowhere any more: scanned as a new branch, and said so.
    let gone = "1234567890abcdef1234567890abcdef12345678";
    let run = run_action(
        &w,
        "push",
        json!({"before": gone, "after": tip, "forced": true}),
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.log);
    assert!(
        run.log.contains("::warning") && run.log.contains("force push"),
        "{}",
        run.log
    );
    assert_eq!(outputs(&run).0, "1");
}

#[test]
fn action_pull_request_and_history() {
    let (_remote, checkout, before, after) = remote_and_checkout(None);
    let w = checkout.path().join("w");
    let pr = json!({"pull_request": {"base": {"sha": before}, "head": {"sha": after}}});
    let run = run_action(&w, "pull_request", pr, &[("fail-on", "none")]);
    assert_eq!(run.code, 0, "fail-on none: {}", run.log);
    assert_eq!(outputs(&run).0, "1");
    assert!(
        run.log.contains(&format!("--range {before}..{after}")),
        "{}",
        run.log
    );
    let run = run_action(&w, "workflow_dispatch", json!({}), &[]);
    assert_eq!(run.code, 1);
    assert_eq!(outputs(&run).0, "2", "the whole history: {}", run.log);
    let run = run_action(
        &w,
        "push",
        json!({"before": before, "after": after}),
        &[("mode", "history")],
    );
    assert_eq!(outputs(&run).0, "2");
}

#[test]
fn action_verify_and_revoke_outputs() {
    let api = FakeApi::start();
    let (_remote, checkout, before, after) = remote_and_checkout(None);
    api.add("acct", "key_new", &k(11), 12);
    let w = checkout.path().join("w");
    let run = run_action(
        &w,
        "push",
        json!({"before": before, "after": after}),
        &[
            ("revoke", "true"),
            ("api-base", &api.base),
            ("args", "--api-confirm-interval 0.1"),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.log);
    assert_eq!(outputs(&run), ("1".into(), "1".into(), "1".into()));
    assert_eq!(api.deletes(), vec!["/v1/api-keys/key_new"]);
    assert!(run.summary.contains("revoked (key_new)"), "{}", run.summary);
}

#[test]
fn action_shallow_checkout_without_history_fails_loudly() {
    let (_remote, checkout, before, after) = remote_and_checkout(Some(1));
    let w = checkout.path().join("w");
    // The history cannot be fetched: no silent pass.
    let mut cmd = Process::new("git");
    git_env(&mut cmd);
    assert!(cmd
        .current_dir(&w)
        .args(["remote", "remove", "origin"])
        .status()
        .unwrap()
        .success());
    let pr = json!({"pull_request": {"base": {"sha": before}, "head": {"sha": after}}});
    let run = run_action(&w, "pull_request", pr, &[]);
    assert_eq!(run.code, 2, "{}", run.log);
    assert!(run.log.contains("fetch-depth: 0"), "{}", run.log);

    // With origin there, the action fetches what it needs and the answer is exact.
    let (_remote, checkout, before, after) = remote_and_checkout(Some(1));
    let w = checkout.path().join("w");
    let run = run_action(&w, "push", json!({"before": before, "after": after}), &[]);
    assert_eq!(run.code, 1, "{}", run.log);
    assert_eq!(outputs(&run).0, "1", "{}", run.log);
}

#[test]
fn action_inputs_cannot_inject_commands() {
    let (_remote, checkout, before, after) = remote_and_checkout(None);
    let w = checkout.path().join("w");
    let marker = checkout.path().join("pwned");
    let evil = format!("$(touch {m}) `touch {m}` ; touch {m}", m = marker.display());
    let run = run_action(
        &w,
        "push",
        json!({"before": before, "after": after}),
        &[("args", &evil), ("sarif-file", &evil)],
    );
    assert!(!marker.exists(), "an input was executed: {}", run.log);
    assert_eq!(
        run.code, 2,
        "skguard refuses the odd arguments: {}",
        run.log
    );
}
