//! CI integration: SARIF validated against the official 2.1.0 schema, GitHub annotations and the
//! step summary, and the GitHub Action itself, executed step by step on real repositories with the
//! `GITHUB_*` variables and event payloads of real events.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use crate::common::fake_api::FakeApi;
use crate::common::*;
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
    /// GITHUB_OUTPUT as the scan step wrote it.
    raw_outputs: String,
    log: String,
    summary: String,
    /// Every program the action started (through PATH), as recorded by a wrapper.
    processes: Vec<Started>,
    /// The working directory of each `run:` step.
    step_dirs: Vec<PathBuf>,
}

/// A program the action started: its name, working directory, environment and arguments.
#[derive(Debug)]
struct Started {
    name: String,
    cwd: PathBuf,
    path: String,
    pythonpath: String,
    toolchain: String,
    args: String,
}

/// How the runner is set up.
#[derive(Default)]
struct Runner {
    /// No skguard in the cache: the install step runs `cargo` (a recording fake, given here as a
    /// shell script's body).
    fake_cargo: Option<String>,
}

/// Programs the action's steps might start: each is wrapped, so that the test sees every start.
const WRAPPED: &[&str] = &[
    "git",
    "cargo",
    "rustup",
    "rustc",
    "python3",
    "python",
    "find",
    "sort",
    "xargs",
    "sha256sum",
    "cut",
    "mktemp",
    "cat",
    "dirname",
    "realpath",
    "readlink",
    "env",
    "jq",
    "node",
    "perl",
];

/// A shell script that records its start in `log` and then runs `real`.
fn wrapper(name: &str, real: &Path, log: &Path) -> String {
    format!(
        "#!/bin/sh\nprintf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\036\\n' '{name}' \"$(pwd -P)\" \"$PATH\" \"${{PYTHONPATH-}}\" \"${{RUSTUP_TOOLCHAIN-}}\" \"$*\" >> '{log}'\nexec '{real}' \"$@\"\n",
        log = log.display(),
        real = real.display()
    )
}

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn find_in_path(name: &str, path: &str) -> Option<PathBuf> {
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn run_action(workspace: &Path, event: &str, payload: Value, inputs: &[(&str, &str)]) -> ActionRun {
    run_action_with(workspace, event, payload, inputs, Runner::default())
}

/// Runs action.yml's steps as a GitHub runner would: `uses:` steps are skipped (the cache), each
/// `run:` goes to `bash --noprofile --norc -eo pipefail` in its `working-directory` (the workspace
/// when none is given) with its `env:` evaluated, GITHUB_PATH and GITHUB_OUTPUT are honoured
/// between steps, and the action's outputs are read from the scan step. Every program the steps
/// start is recorded, and none may run in the checkout or find the checkout on its PATH.
fn run_action_with(
    workspace: &Path,
    event: &str,
    payload: Value,
    inputs: &[(&str, &str)],
    runner_setup: Runner,
) -> ActionRun {
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
    let started_log = runner.path().join("started.log");
    fs::write(&started_log, "").unwrap();
    let base_path = std::env::var("PATH").unwrap();
    let bin = runner.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    for name in WRAPPED {
        if let Some(real) = find_in_path(name, &base_path) {
            write_script(&bin.join(name), &wrapper(name, &real, &started_log));
        }
    }
    let skguard_wrapper = wrapper(
        "skguard",
        &assert_cmd::cargo::cargo_bin("skguard"),
        &started_log,
    );
    match &runner_setup.fake_cargo {
        Some(body) => write_script(
            &bin.join("cargo"),
            &format!(
                "#!/bin/sh\nprintf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\036\\n' cargo \"$(pwd -P)\" \"$PATH\" \"${{PYTHONPATH-}}\" \"${{RUSTUP_TOOLCHAIN-}}\" \"$*\" >> '{log}'\nSKGUARD_WRAPPER='{w}'\n{body}\n",
                log = started_log.display(),
                w = skguard_wrapper.replace('\'', "'\\''"),
            ),
        ),
        None => {
            // The install step finds skguard already built (as a cache hit would).
            fs::create_dir_all(home.join(".skguard/bin")).unwrap();
            write_script(&home.join(".skguard/bin/skguard"), &skguard_wrapper);
        }
    }
    let event_path = runner.path().join("event.json");
    fs::write(&event_path, payload.to_string()).unwrap();
    let summary = runner.path().join("summary.md");
    let github_path = runner.path().join("path");
    fs::write(&github_path, "").unwrap();
    let runner_path = format!("{}:{base_path}", bin.display());
    let evaluate = |text: &str| -> String {
        let mut out = text.to_string();
        for (name, value) in &values {
            out = out.replace(&format!("${{{{ inputs.{name} }}}}"), value);
        }
        out.replace("${{ github.action_path }}", root().to_str().unwrap())
    };
    let mut step_outputs: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut raw_outputs = String::new();
    let mut log = String::new();
    let mut code = 0;
    let mut step_dirs = Vec::new();
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
        let dir = step["working-directory"]
            .as_str()
            .map_or_else(|| workspace.to_path_buf(), |d| PathBuf::from(evaluate(d)));
        step_dirs.push(dir.clone());
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
            .chain([runner_path.clone()])
            .collect::<Vec<_>>()
            .join(":");
        let mut cmd = Process::new("bash");
        git_env(&mut cmd);
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", run])
            .current_dir(&dir)
            .env("PATH", path)
            .env("HOME", &home)
            .env("GITHUB_ACTION_PATH", root())
            .env("GITHUB_WORKSPACE", workspace)
            .env("GITHUB_EVENT_NAME", event)
            .env("GITHUB_EVENT_PATH", &event_path)
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_PATH", &github_path)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("SKGUARD_API_BASE");
        if let Some(env) = step["env"].as_hash() {
            for (name, value) in env {
                cmd.env(name.as_str().unwrap(), evaluate(value.as_str().unwrap()));
            }
        }
        let out = cmd.output().unwrap();
        log.push_str(&text(&out));
        let written = fs::read_to_string(&output_file).unwrap();
        let outputs = written
            .lines()
            .filter_map(|l| {
                l.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        if let Some(id) = step["id"].as_str() {
            step_outputs.insert(id.to_string(), outputs);
            if id == "scan" {
                raw_outputs = written;
            }
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
    let processes = fs::read_to_string(&started_log)
        .unwrap()
        .split("\x1e\n")
        .filter(|record| !record.is_empty())
        .map(|record| {
            let f: Vec<&str> = record.splitn(6, '\t').collect();
            Started {
                name: f[0].into(),
                cwd: f[1].into(),
                path: f[2].into(),
                pythonpath: f[3].into(),
                toolchain: f[4].into(),
                args: f.get(5).copied().unwrap_or_default().into(),
            }
        })
        .collect();
    let run = ActionRun {
        code,
        outputs,
        raw_outputs,
        log,
        summary,
        processes,
        step_dirs,
    };
    assert_nothing_runs_in_the_checkout(&run, workspace);
    run
}

/// No step and no program the action started had the checkout as its working directory, and none
/// had it (or the working directory: an empty or relative entry) on PATH or PYTHONPATH.
fn assert_nothing_runs_in_the_checkout(run: &ActionRun, workspace: &Path) {
    let checkout = workspace.canonicalize().unwrap();
    let inside = |p: &Path| {
        p.canonicalize()
            .unwrap_or(p.to_path_buf())
            .starts_with(&checkout)
    };
    for dir in &run.step_dirs {
        assert!(
            !inside(dir),
            "a step ran in the checkout: {}",
            dir.display()
        );
    }
    assert!(
        !run.processes.is_empty(),
        "the wrappers saw the steps: {}",
        run.log
    );
    for p in &run.processes {
        assert!(
            !inside(&p.cwd),
            "{} ran in the checkout: {p:?}\n{}",
            p.name,
            run.log
        );
        for (var, value) in [("PATH", &p.path), ("PYTHONPATH", &p.pythonpath)] {
            if var == "PYTHONPATH" && value.is_empty() {
                continue;
            }
            for entry in value.split(':') {
                assert!(
                    entry.starts_with('/') && !inside(Path::new(entry)),
                    "{} had {entry:?} on {var}: {p:?}",
                    p.name
                );
            }
        }
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
    assert_eq!(
        run.outputs["sarif-file"],
        w.canonicalize()
            .unwrap()
            .join("skguard.sarif")
            .to_str()
            .unwrap()
    );
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

// ---------- fail closed: issue 9 ----------

fn git_in(dir: &Path, args: &[&str]) -> String {
    let mut cmd = Process::new("git");
    git_env(&mut cmd);
    let out = cmd.current_dir(dir).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Item 1: the checkout holds a `json.py`, a `sitecustomize.py`, a `git` and a `python3`, and its
/// `.git/config` names an fsmonitor and a hooks folder: the action runs none of them, in diff mode
/// on a shallow checkout (so it fetches) and in history mode on `schedule`.
#[test]
fn action_runs_nothing_from_the_checkout() {
    let (_remote, checkout, before, after) = remote_and_checkout(Some(1));
    let w = checkout.path().join("w");
    let pwned = checkout.path().join("pwned");
    let touch = format!("#!/bin/sh\necho \"$0\" >> '{}'\nexit 0\n", pwned.display());
    let py = format!(
        "open({:?}, 'a').write('python\\n')\nimport sys\nsys.exit(0)\n",
        pwned.display().to_string()
    );
    fs::write(w.join("json.py"), &py).unwrap();
    fs::write(w.join("sitecustomize.py"), &py).unwrap();
    for name in ["git", "python3", "skguard", "cargo", "sha256sum"] {
        write_script(&w.join(name), &touch);
    }
    fs::create_dir_all(w.join(".evil-hooks")).unwrap();
    for hook in ["reference-transaction", "post-checkout", "post-merge"] {
        write_script(&w.join(".evil-hooks").join(hook), &touch);
    }
    git_in(
        &w,
        &[
            "config",
            "core.fsmonitor",
            &w.join("git").display().to_string(),
        ],
    );
    git_in(&w, &["config", "core.hooksPath", ".evil-hooks"]);
    let run = run_action(&w, "push", json!({"before": before, "after": after}), &[]);
    assert_eq!(run.code, 1, "{}", run.log);
    assert_eq!(outputs(&run), ("1".into(), "1".into(), "0".into()));
    let run = run_action(&w, "schedule", json!({}), &[]);
    assert_eq!(run.code, 1, "{}", run.log);
    assert_eq!(outputs(&run).0, "2", "{}", run.log);
    assert!(
        !pwned.exists(),
        "the checkout ran: {}\n{}",
        fs::read_to_string(&pwned).unwrap_or_default(),
        run.log
    );
    assert!(
        !run.processes.iter().any(|p| p.name.starts_with("python")),
        "no interpreter: {:?}",
        run.processes
    );
    // Every git the script runs starts no program: no fsmonitor, no hooks.
    for p in run.processes.iter().filter(|p| p.name == "git") {
        assert!(
            p.args.contains("core.fsmonitor=false") && p.args.contains("core.hooksPath=/dev/null"),
            "{p:?}"
        );
    }
}

/// Item 2: the install step builds with the action's toolchain, from the action's folder, so the
/// checkout's rust-toolchain.toml and .cargo/config.toml are out of reach; every third-party
/// action is pinned by commit.
#[test]
fn action_install_step_is_the_actions_own_choice() {
    let (_remote, checkout, before, after) = remote_and_checkout(None);
    let w = checkout.path().join("w");
    let evil = checkout.path().join("evil");
    fs::write(
        w.join("rust-toolchain.toml"),
        format!("[toolchain]\npath = \"{}\"\n", evil.display()),
    )
    .unwrap();
    fs::create_dir_all(w.join(".cargo")).unwrap();
    fs::write(
        w.join(".cargo/config.toml"),
        format!("[build]\nrustc-wrapper = \"{}\"\n", evil.display()),
    )
    .unwrap();
    // A fake cargo: records the configuration files cargo and rustup would read from its working
    // directory up, then "installs" skguard into --root.
    let seen = checkout.path().join("configs-seen");
    let fake = format!(
        r#"d=$(pwd -P)
while :; do
  for f in "$d/.cargo/config.toml" "$d/.cargo/config" "$d/rust-toolchain.toml" "$d/rust-toolchain"; do
    [ -e "$f" ] && echo "$f" >> '{seen}'
  done
  [ "$d" = / ] && break
  d=${{d%/*}}; [ -n "$d" ] || d=/
done
root=
while [ $# -gt 0 ]; do [ "$1" = --root ] && root=$2; shift; done
mkdir -p "$root/bin" && printf '%s' "$SKGUARD_WRAPPER" > "$root/bin/skguard" && chmod +x "$root/bin/skguard""#,
        seen = seen.display()
    );
    let run = run_action_with(
        &w,
        "push",
        json!({"before": before, "after": after}),
        &[],
        Runner {
            fake_cargo: Some(fake),
        },
    );
    assert_eq!(run.code, 1, "installed, then scanned: {}", run.log);
    let cargo: Vec<&Started> = run.processes.iter().filter(|p| p.name == "cargo").collect();
    assert_eq!(cargo.len(), 1, "{:?}", run.processes);
    let action_dir = root().canonicalize().unwrap();
    assert_eq!(
        cargo[0].cwd, action_dir,
        "cargo runs from the action's folder"
    );
    assert!(
        cargo[0]
            .args
            .starts_with(&format!("install --locked --path {}", root().display())),
        "{:?}",
        cargo[0]
    );
    let action = fs::read_to_string(root().join("action.yml")).unwrap();
    assert!(
        !cargo[0].toolchain.is_empty()
            && cargo[0]
                .toolchain
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
            && action.contains(&format!("RUSTUP_TOOLCHAIN: \"{}\"", cargo[0].toolchain)),
        "a pinned toolchain version: {:?}",
        cargo[0]
    );
    let configs = fs::read_to_string(&seen).unwrap_or_default();
    assert!(
        !configs.contains(w.to_str().unwrap()),
        "cargo or rustup would read the checkout's configuration: {configs}"
    );
    // Every third-party action is pinned by a full commit id.
    let yaml = YamlLoader::load_from_str(&action).unwrap().remove(0);
    for step in yaml["runs"]["steps"].as_vec().unwrap() {
        if let Some(uses) = step["uses"].as_str() {
            let (_, commit) = uses.split_once('@').unwrap();
            assert!(
                commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit()),
                "{uses} is not pinned by commit"
            );
        }
    }
}

/// Item 2: `path` and `sarif-file` are resolved against the workspace (not the action's folder,
/// where the steps run) and refused outside it, links included.
#[test]
fn action_path_and_sarif_file_stay_in_the_workspace() {
    let (_remote, checkout, before, after) = remote_and_checkout(None);
    let w = checkout.path().join("w");
    let outside = checkout.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("o.env"), format!("O={}\n", k(20))).unwrap();
    let victim = outside.join("victim");
    fs::write(&victim, "untouched").unwrap();
    std::os::unix::fs::symlink(&outside, w.join("link-out")).unwrap();
    std::os::unix::fs::symlink(&victim, w.join("planted.sarif")).unwrap();
    let push = json!({"before": before, "after": after});
    let outside_abs = outside.display().to_string();
    for (input, value) in [
        ("path", "../outside"),
        ("path", outside_abs.as_str()),
        ("path", "link-out"),
        ("path", "missing"),
        ("sarif-file", "../outside/out.sarif"),
        ("sarif-file", "/tmp/skguard-out.sarif"),
        ("sarif-file", "link-out/out.sarif"),
        ("sarif-file", "planted.sarif"),
    ] {
        let run = run_action(
            &w,
            "push",
            push.clone(),
            &[("mode", "files"), (input, value)],
        );
        assert_eq!(run.code, 2, "{input}: {value}: {}", run.log);
        assert!(
            run.log
                .contains(&format!("::error title=skguard::input {input}: ")),
            "{input}: {value}: {}",
            run.log
        );
        assert!(
            !run.processes
                .iter()
                .any(|p| p.name == "skguard" && p.args.starts_with("scan")),
            "refused before any scan: {input}: {value}"
        );
        assert_eq!(run.outputs["sarif-file"], "");
    }
    assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched");
    assert!(!outside.join("out.sarif").exists());
    // Inside the workspace: relative to it, whatever folder the steps run in.
    fs::create_dir_all(w.join("reports")).unwrap();
    let run = run_action(
        &w,
        "push",
        push,
        &[("mode", "files"), ("sarif-file", "reports/skguard.sarif")],
    );
    assert_eq!(run.code, 1, "{}", run.log);
    let written = w.canonicalize().unwrap().join("reports/skguard.sarif");
    assert!(written.is_file());
    assert_eq!(run.outputs["sarif-file"], written.to_str().unwrap());
    assert_eq!(
        outputs(&run).0,
        "2",
        "the checkout's files, not the action's: {}",
        run.log
    );
}

/// Items 3 and 4 are the range's semantics (elsewhere); the action passes the default branch from
/// the payload for push and pull_request events.
#[test]
fn action_passes_the_default_branch_from_the_payload() {
    let (_remote, checkout, before, after) = remote_and_checkout(None);
    let w = checkout.path().join("w");
    let null_id = "0".repeat(40);
    let repository = json!({"default_branch": "main"});
    for (event, payload) in [
        (
            "push",
            json!({"before": null_id, "after": after, "created": true, "repository": repository}),
        ),
        (
            "push",
            json!({"before": before, "after": after, "repository": repository}),
        ),
        (
            "pull_request",
            json!({"pull_request": {"base": {"sha": before}, "head": {"sha": after}}, "repository": repository}),
        ),
    ] {
        let run = run_action(&w, event, payload, &[]);
        let scan = run
            .processes
            .iter()
            .find(|p| p.name == "skguard" && p.args.starts_with("scan"))
            .unwrap_or_else(|| panic!("{}", run.log));
        assert!(
            scan.args.contains("--default-branch origin/main"),
            "{event}: {scan:?}"
        );
    }
}

/// Item 7: in a pushed range, a marker suppresses a key only next to it on its line, and the keys
/// markers suppress are listed in the step summary for reviewers.
#[test]
fn action_range_inline_markers_near_only_and_listed_in_the_summary() {
    let remote = Repo::new();
    remote.write("README", "x\n");
    let before = remote.commit_all("base");
    let (near, far) = (k(30), k(31));
    remote.write(
        "bundle.min.js",
        format!(
            "var a=\"{near}\"; // skguard:allow\nvar b=\"{far}\";{}// skguard:allow\n",
            "x=1;".repeat(40_000)
        ),
    );
    let after = remote.commit_all("a bundle");
    let checkout = tempfile::tempdir().unwrap();
    remote.clone_to(&checkout.path().join("w"), None);
    let w = checkout.path().join("w");
    let run = run_action(&w, "push", json!({"before": before, "after": after}), &[]);
    assert_eq!(
        run.code, 1,
        "the far marker suppresses nothing: {}",
        run.log
    );
    assert_eq!(outputs(&run).0, "1", "{}", run.log);
    assert!(
        run.log.contains("::error file=bundle.min.js,line=2"),
        "{}",
        run.log
    );
    let md = &run.summary;
    let listed = md
        .split("Suppressed by an inline marker")
        .nth(1)
        .unwrap_or_else(|| panic!("{md}"));
    assert!(
        listed.contains("sk_live_Ci0") && listed.contains("bundle.min.js:1"),
        "{md}"
    );
    assert!(!md.contains(&near) && !md.contains(&far));
}

/// Item 8: inputs that would be dropped or could inject are refused with an annotation, a bad
/// `fail-on` or any refusal of skguard is an annotation, and `sarif-file` names only a file that
/// was written.
#[test]
fn action_refusals_are_annotations_and_outputs_name_written_files_only() {
    let (_remote, checkout, before, after) = remote_and_checkout(None);
    let w = checkout.path().join("w");
    let push = json!({"before": before, "after": after});
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("args", "--threads 1\n--no-ignore")],
            "args must be one line",
        ),
        (
            &[("sarif-file", "a.sarif\nrevoked=999")],
            "input sarif-file: a.sarif\\nrevoked=999: a path with control characters",
        ),
        (
            &[("fail-on", "high")],
            "fail-on must be any, live, active or none",
        ),
        (&[("mode", "everything")], "mode must be"),
        (&[("args", "--max-file-size 1X")], "1X"),
    ];
    for (inputs, message) in cases {
        let run = run_action(&w, "push", push.clone(), inputs);
        assert_eq!(run.code, 2, "{inputs:?}: {}", run.log);
        let annotation = run
            .log
            .lines()
            .find(|l| l.starts_with("::error title=skguard::"))
            .unwrap_or_else(|| panic!("{inputs:?}: no annotation: {}", run.log));
        assert!(annotation.contains(message), "{inputs:?}: {annotation}");
        assert!(
            !run.raw_outputs.contains("revoked=999"),
            "{}",
            run.raw_outputs
        );
        assert_ne!(run.outputs["revoked"], "999");
        assert_eq!(
            run.outputs["sarif-file"], "",
            "{inputs:?}: {}",
            run.raw_outputs
        );
        assert!(!w.join("skguard.sarif").exists(), "{inputs:?}");
        assert!(!w.join("a.sarif").exists());
    }
}

/// Item 8: an incomplete answer (here a pull request's base that is not in the clone and cannot be
/// fetched) is an `::error` annotation with skguard's message, never the success line; the outputs
/// still name the SARIF file, which was written.
#[test]
fn action_incomplete_answer_is_an_error_annotation_not_a_success() {
    let (remote, checkout, _before, _after) = remote_and_checkout(None);
    let w = checkout.path().join("w");
    remote.write("clean.txt", "nothing here\n");
    let head = remote.commit_all("clean");
    git_in(&w, &["fetch", "-q", "origin"]);
    git_in(&w, &["remote", "remove", "origin"]);
    let gone = "1234567890abcdef1234567890abcdef12345678";
    let pr = json!({"pull_request": {"base": {"sha": gone}, "head": {"sha": head}}});
    let run = run_action(&w, "pull_request", pr, &[("fail-on", "none")]);
    assert_eq!(run.code, 2, "{}", run.log);
    assert!(
        run.log
            .lines()
            .any(|l| l.starts_with("::error title=skguard::") && l.contains(gone)),
        "{}",
        run.log
    );
    assert!(
        !run.summary.contains("No secret keys found"),
        "{}",
        run.summary
    );
    assert!(run.summary.contains(gone), "{}", run.summary);
    let sarif = &run.outputs["sarif-file"];
    assert!(
        !sarif.is_empty() && Path::new(sarif).is_file(),
        "{}",
        run.raw_outputs
    );
}

/// `skguard-files` is the manual sweep the README names (`pre-commit run skguard-files --all-files
/// --hook-stage manual`). It used to run in the pre-commit stage too: added to a configuration as the
/// README suggests, it repeated `skguard`'s block at every commit and blocked a commit that only
/// touched a file holding a key HEAD already had.
#[test]
fn ci_pre_commit_framework_skguard_files_runs_only_when_asked() {
    let text = fs::read_to_string(root().join(".pre-commit-hooks.yaml")).unwrap();
    let hooks = YamlLoader::load_from_str(&text).unwrap().remove(0);
    let hook = |id: &str| {
        hooks
            .as_vec()
            .unwrap()
            .iter()
            .find(|h| h["id"].as_str() == Some(id))
            .unwrap()
            .clone()
    };
    let stages = |id: &str| -> Vec<String> {
        hook(id)["stages"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(stages("skguard"), ["pre-commit"]);
    assert_eq!(
        hook("skguard")["entry"].as_str(),
        Some("skguard scan --staged")
    );
    assert_eq!(stages("skguard-files"), ["manual"]);
    assert_eq!(
        hook("skguard-files")["entry"].as_str(),
        Some("skguard scan")
    );
}
