//! The command line as a person meets it: colour, quiet runs, completions and manual pages,
//! suggestions for mistyped flags, git errors in words, and the versions the README pins.

use std::path::Path;
use std::process::Output;

use crate::common::*;

/// A folder holding one live key.
fn folder_with_a_key() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let key = live("Q7vXk2LpR9sT4wYz8NbC3mDf");
    std::fs::write(dir.path().join("app.env"), format!("KEY={key}\n")).unwrap();
    dir
}

fn run(args: &[&str]) -> Output {
    skguard().args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const ESC: char = '\u{1b}';

/// Runs `command` (a shell command line) on a pseudo-terminal with `script` from util-linux and
/// returns its exit status and everything it wrote to the terminal.
fn on_a_terminal(command: &str, env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-q", "-e", "-c", command, "/dev/null"])
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .expect("`script` (util-linux) runs a command on a pseudo-terminal");
    (out.status.code().unwrap(), text(&out))
}

fn binary() -> String {
    assert_cmd::cargo::cargo_bin("skguard")
        .display()
        .to_string()
}

#[test]
fn color_always_never_and_no_color_decide_the_human_report() {
    let dir = folder_with_a_key();
    let p = dir.path().to_str().unwrap();
    let colored = |out: &Output| stdout(out).contains(ESC);
    // Piped: auto means none.
    assert!(!colored(&run(&["scan", p])));
    let out = run(&["scan", "--color", "always", p]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(colored(&out), "{}", stdout(&out));
    // A global option: before the command too.
    assert!(colored(&run(&["--color=always", "scan", p])));
    // --color always is asked for: it wins over NO_COLOR.
    let out = skguard()
        .env("NO_COLOR", "1")
        .args(["scan", "--color", "always", p])
        .output()
        .unwrap();
    assert!(colored(&out));
    assert!(!colored(&run(&["scan", "--color", "never", p])));
    assert!(!colored(&run(&["scan", "--no-color", p])));
    // The last one wins.
    assert!(colored(&run(&[
        "--no-color",
        "scan",
        "--color",
        "always",
        p
    ])));
    assert!(!colored(&run(&[
        "scan",
        "--color",
        "always",
        "--no-color",
        p
    ])));
    let out = run(&["scan", "--color", "sometimes", p]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn color_auto_on_a_terminal_honours_no_color_and_no_color_flag() {
    let dir = folder_with_a_key();
    // Standard output on the terminal; standard error away from it, so that a progress line (which
    // moves the cursor) cannot show up on a slow machine.
    let scan = format!("'{}' scan '{}' 2>/dev/null", binary(), dir.path().display());
    let (code, screen) = on_a_terminal(&scan, &[]);
    assert_eq!(code, 1, "{screen}");
    assert!(screen.contains(ESC), "{screen:?}");
    let (_, screen) = on_a_terminal(&scan, &[("NO_COLOR", "1")]);
    assert!(!screen.contains(ESC), "{screen:?}");
    let (_, screen) = on_a_terminal(&scan.replace(" scan ", " scan --no-color "), &[]);
    assert!(!screen.contains(ESC), "{screen:?}");
    assert!(screen.contains("app.env:1:5"), "{screen:?}");
    let (_, screen) = on_a_terminal(&scan.replace(" scan ", " scan --color never "), &[]);
    assert!(!screen.contains(ESC), "{screen:?}");
}

#[test]
fn quiet_prints_nothing_on_a_clean_scan_but_findings_and_errors_still() {
    let clean = tempfile::tempdir().unwrap();
    std::fs::write(clean.path().join("readme.txt"), "nothing here\n").unwrap();
    let out = run(&["scan", "-q", clean.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "");
    let out = run(&["--quiet", "scan", clean.path().to_str().unwrap()]);
    assert_eq!((out.status.code(), stdout(&out)), (Some(0), String::new()));
    // Without -q the success line is there (the test can fail).
    assert!(stdout(&run(&["scan", clean.path().to_str().unwrap()])).contains("No keys found"));

    let dir = folder_with_a_key();
    let out = run(&["scan", "-q", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("app.env:1:5"), "{}", stdout(&out));
    // Reported with --fail-on none too: a finding is not success output.
    let out = run(&[
        "scan",
        "-q",
        "--fail-on",
        "none",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("app.env:1:5"), "{}", stdout(&out));
    // JSON is data, not a success line: written as always.
    let out = run(&[
        "scan",
        "-q",
        "--format",
        "json",
        clean.path().to_str().unwrap(),
    ]);
    assert!(
        stdout(&out).contains("\"findings\": []"),
        "{}",
        stdout(&out)
    );

    let missing = clean.path().join("missing");
    let out = run(&["scan", "-q", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("could not be read"),
        "{}",
        stdout(&out)
    );
    // An incomplete answer never gets the success line.
    assert!(!stdout(&out).contains('✓'), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("No keys in what could be read"),
        "{}",
        stdout(&out)
    );

    let baseline = clean.path().join("baseline.json");
    let out = run(&[
        "baseline",
        "-q",
        dir.path().to_str().unwrap(),
        "-o",
        baseline.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out), "");
    assert!(baseline.is_file());
}

#[test]
fn completions_for_every_shell_come_from_the_command_line_definition() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out));
        let script = stdout(&out);
        assert!(script.contains("skguard"), "{shell}");
        assert!(
            script.contains("staged"),
            "{shell}: the scan flags are there"
        );
        assert!(script.contains("fail-on"), "{shell}");
    }
    let out = run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_pages_come_from_the_command_line_definition() {
    let out = run(&["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let page = stdout(&out);
    assert!(page.contains(".TH skguard 1"), "{page}");
    assert!(
        page.contains(&format!("\"skguard {}\"", env!("CARGO_PKG_VERSION"))),
        "{page}"
    );
    assert!(page.contains("completions"), "the commands are listed");
    assert!(page.contains("\\-\\-color"), "global options: {page}");

    let out = run(&["man", "scan"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let page = stdout(&out);
    assert!(page.contains(".TH skguard-scan 1"), "{page}");
    assert!(page.contains("\\-\\-staged"), "{page}");

    let out = run(&["man", "hook", "install"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout(&out).contains(".TH skguard-hook-install 1"));

    let out = run(&["man", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no command \"nope\""),
        "{}",
        stderr(&out)
    );
    // The commands it offers are the documented ones, not the action's hidden helpers.
    assert!(stderr(&out).contains("scan, verify"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("github-"), "{}", stderr(&out));

    let dir = tempfile::tempdir().unwrap();
    let out = run(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for page in [
        "skguard.1",
        "skguard-scan.1",
        "skguard-verify.1",
        "skguard-hook-install.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page}");
    }
}

/// `skguard scan FLAG`: exit 2, and what clap printed.
fn unknown_flag(flag: &str) -> String {
    let out = run(&["scan", flag, "."]);
    assert_eq!(out.status.code(), Some(2), "{flag}: {}", text(&out));
    assert_eq!(stdout(&out), "");
    stderr(&out)
}

#[test]
fn an_unknown_flag_is_offered_only_a_flag_that_is_really_close() {
    let err = unknown_flag("--verbose");
    assert!(err.contains("unexpected argument '--verbose'"), "{err}");
    assert!(!err.contains("similar argument"), "{err}");
    assert!(!err.contains("--revoke"), "{err}");
    // The plain usage, not one built around a flag that was never asked for.
    assert!(
        err.contains("Usage: skguard scan [OPTIONS] [PATH]..."),
        "{err}"
    );

    let err = unknown_flag("--colour");
    assert!(
        err.contains("a similar argument exists: '--color'"),
        "{err}"
    );
    assert!(!err.contains("--follow"), "{err}");

    let err = unknown_flag("--stagged");
    assert!(
        err.contains("a similar argument exists: '--staged'"),
        "{err}"
    );

    let err = unknown_flag("--fromat=json");
    assert!(
        err.contains("a similar argument exists: '--format'"),
        "{err}"
    );

    // In another command, that command's flags.
    let out = run(&["hook", "install", "--forse"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("'--force'"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Usage: skguard hook install"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn api_base_without_verify_or_revoke_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().to_str().unwrap();
    let out = run(&["scan", "--api-base", "http://127.0.0.1:9", p]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr(&out).contains("warning: --api-base is used only with --verify or --revoke"),
        "{}",
        stderr(&out)
    );
    // With --verify it is used: no warning (nothing is found, so nothing is sent).
    let out = run(&["scan", "--verify", "--api-base", "http://127.0.0.1:9", p]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!stderr(&out).contains("--api-base"), "{}", stderr(&out));
}

/// `--default-branch` without `--range` used to be accepted in silence: it changes nothing there.
#[test]
fn default_branch_without_range_is_a_warning() {
    let repo = Repo::new();
    repo.write("a.txt", "hello\n");
    repo.commit_all("one");
    let p = repo.path().to_str().unwrap();
    for mode in [&[][..], &["--git"][..], &["--staged"][..]] {
        let mut args = vec!["scan", "--default-branch", "main", p];
        args.extend_from_slice(mode);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", text(&out));
        assert!(
            stderr(&out).contains("warning: --default-branch is used only with --range"),
            "{mode:?}: {}",
            stderr(&out)
        );
    }
    // With --range it is used: no warning.
    let range = format!("{}..HEAD", "0".repeat(40));
    let out = run(&["scan", "--range", &range, "--default-branch", "main", p]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn a_git_mode_given_a_file_says_it_reads_the_whole_repository() {
    let repo = Repo::new();
    repo.write("config.py", "hello\n");
    repo.commit_all("one");
    let file = repo.path().join("config.py");
    let file = file.to_str().unwrap();
    for mode in ["--git", "--staged"] {
        let out = run(&["scan", mode, file]);
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", text(&out));
        assert!(
            stderr(&out).contains(&format!(
                "warning: {mode} reads the whole repository that holds"
            )),
            "{mode}: {}",
            stderr(&out)
        );
    }
    // A folder is what the mode expects: no warning.
    let out = run(&["scan", "--git", repo.path().to_str().unwrap()]);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    // Standard input is no repository, said as such.
    let out = run(&["scan", "--staged", "-"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr(&out).contains("read a repository, not standard input"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_with_a_terminal_for_standard_input_is_a_usage_error() {
    let command = format!("'{}' verify --api-base http://127.0.0.1:9", binary());
    let (code, screen) = on_a_terminal(&command, &[]);
    assert_eq!(code, 2, "{screen}");
    assert!(screen.contains("standard input is a terminal"), "{screen}");
    assert!(screen.contains("skguard verify < keys.txt"), "{screen}");
}

#[test]
fn verify_with_empty_input_verifies_nothing_and_says_so() {
    let out = skguard()
        .args(["verify", "--api-base", "http://127.0.0.1:9"])
        .write_stdin("\n\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("no keys on standard input"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn threads_help_shows_one_default() {
    let out = run(&["scan", "--help"]);
    let help = stdout(&out);
    let start = help.find("--threads").expect("--threads is documented");
    let entry = &help[start..];
    // Long help separates entries by a blank line.
    let end = entry.find("\n\n").unwrap_or(entry.len());
    let entry = &entry[..end];
    assert_eq!(entry.matches("[default").count(), 1, "{entry}");
    assert!(entry.contains("one per core"), "{entry}");
}

/// The one error line of a failed run: exit 2, said once, in words.
fn one_error_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{}", text(out));
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(!err.contains("class=") && !err.contains("code="), "{err}");
    err
}

#[test]
fn git_outside_a_repository_says_so_once_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = skguard()
        .current_dir(dir.path())
        .args(["scan", "--git"])
        .output()
        .unwrap();
    let err = one_error_line(&out);
    assert!(
        err.starts_with("skguard: error: . is not a git repository, nor in one"),
        "{err}"
    );
    assert!(err.contains("`skguard scan .` scans the files"), "{err}");
}

#[test]
fn an_unknown_range_base_is_named_once_with_what_to_do() {
    let repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit_all("first");
    let out = scan_output(repo.path(), &["--range", "garbage..HEAD"]);
    let err = one_error_line(&out);
    assert!(
        err.contains("range base \"garbage\" is not a commit, branch or tag in this repository"),
        "{err}"
    );
    assert!(err.contains("git fetch"), "{err}");
    let out = scan_output(repo.path(), &["--range", "HEAD..nosuchbranch"]);
    let err = one_error_line(&out);
    assert!(
        err.contains("range end \"nosuchbranch\" is not a commit"),
        "{err}"
    );
}

#[test]
fn a_repository_with_no_commits_says_no_commits_yet() {
    let repo = Repo::new();
    repo.write("a.txt", "a\n");
    let out = scan_output(repo.path(), &["--range", "main..HEAD"]);
    let err = one_error_line(&out);
    assert!(err.contains("no commits yet"), "{err}");
    let out = scan_output(
        repo.path(),
        &["--range", &format!("{}..HEAD", "0".repeat(40))],
    );
    let err = one_error_line(&out);
    assert!(err.contains("no commits yet"), "{err}");
    // The whole history of a repository with none: nothing to scan, a complete answer, said.
    let out = scan_output(repo.path(), &["--git"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stderr(&out).contains("no commits yet"), "{}", stderr(&out));
    // The first commit being made is scanned as always.
    repo.git(&["add", "a.txt"]);
    let out = scan_output(repo.path(), &["--staged"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// The versions the README tells people to use exist, or the README says how to create them: each
/// `rev:` of the pre-commit example and each `uses: skguard/skguard@REF` in its YAML examples is a
/// full commit id or the release tag `v` + Cargo.toml's version, and the README gives the command
/// that creates that tag.
#[test]
fn readme_versions_are_ones_that_exist_or_that_it_says_how_to_create() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let tag = format!("v{}", env!("CARGO_PKG_VERSION"));
    let mut refs = Vec::new();
    // Only what is meant to be copied as written: the YAML examples.
    let mut in_yaml = false;
    for line in readme.lines() {
        let line = line.trim();
        if line.starts_with("```") {
            in_yaml = line == "```yaml";
            continue;
        }
        if !in_yaml {
            continue;
        }
        if let Some(rest) = line.strip_prefix("rev:") {
            refs.push(rest.split('#').next().unwrap().trim().to_string());
        }
        if let Some((_, rest)) = line.split_once("uses: skguard/skguard@") {
            refs.push(rest.split_whitespace().next().unwrap().to_string());
        }
    }
    assert!(
        refs.len() >= 2,
        "the README shows the hook and the action: {refs:?}"
    );
    for r in &refs {
        let full_id = r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit());
        assert!(
            full_id || *r == tag,
            "{r:?} is neither a commit id nor the release tag {tag}"
        );
    }
    if refs.contains(&tag) {
        let create = format!("git tag -a {tag}");
        let push = format!("git push origin {tag}");
        assert!(
            readme.contains(&create) && readme.contains(&push),
            "the README uses {tag}: it must say how a maintainer creates it ({create} … && {push})"
        );
    }
}

#[test]
fn quiet_verify_prints_only_keys_that_need_something_done_and_revoke_nothing_on_success() {
    let api = crate::common::fake_api::FakeApi::start();
    let active = live("Ux001Qz8Cv6Bn4Mq2Wd7Rf5");
    let invalid = live("Ux002Qz8Cv6Bn4Mq2Wd7Rf5");
    let victim = live("Ux003Qz8Cv6Bn4Mq2Wd7Rf5");
    api.add("acct", "key_1", &active, 12);
    api.add("acct", "key_3", &victim, 12);
    let verify = |quiet: bool, input: String| {
        let mut cmd = skguard();
        cmd.args(["verify", "--api-base", &api.base]);
        if quiet {
            cmd.arg("-q");
        }
        cmd.write_stdin(input).output().unwrap()
    };
    let out = verify(true, format!("{active}\n{invalid}\n"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let printed = stdout(&out);
    assert_eq!(printed.lines().count(), 1, "{printed}");
    assert!(printed.contains("  active  "), "{printed}");
    // Without -q both are printed (the test can fail).
    let out = verify(false, format!("{active}\n{invalid}\n"));
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));
    // All well: nothing at all.
    let out = verify(true, format!("{invalid}\n"));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out), "");

    let revoke = |quiet: bool, id: &str| {
        let mut cmd = skguard();
        cmd.args(["revoke", "--key-id", id, "--api-base", &api.base])
            .env("SKGUARD_API_KEY", &active);
        if quiet {
            cmd.arg("--quiet");
        }
        cmd.output().unwrap()
    };
    let out = revoke(true, "key_3");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out), "");
    assert!(api.is_revoked(&victim));
    // A failure is still said.
    let out = revoke(true, "key_nope");
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("404"), "{}", text(&out));
}

/// The advice under the findings fits an 80-column terminal (it wrapped mid-word on a 100-column
/// one), and the hook's says to stage the configuration and the baseline it names.
#[test]
fn the_advice_fits_80_columns_and_the_hook_says_to_stage_both_files() {
    let dir = folder_with_a_key();
    std::fs::write(
        dir.path().join("t.env"),
        format!("T={}\n", test_key("Hj3kP9sQ2wErTy7uIo5aZ")),
    )
    .unwrap();
    let out = run(&["scan", "--color", "never", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let shown = stdout(&out);
    let advice = &shown[shown.find("What to do now").expect("advice")..];
    assert!(advice.contains("Rotate it now"), "{advice}");
    for line in advice.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(!words(advice).contains("git add` both files"), "{advice}");

    let repo = Repo::new();
    repo.write("k.txt", live("Q7vXk2LpR9sT4wYz8NbC3mDf"));
    repo.git(&["add", "k.txt"]);
    let out = scan_output(repo.path(), &["--staged", "--color", "never", "."]);
    assert_eq!(out.status.code(), Some(1));
    let shown = stdout(&out);
    let advice = &shown[shown.find("What to do now").expect("advice")..];
    // Wrapped to the width: the words, whatever the line breaks.
    assert!(
        words(advice).contains("then `git add` both files"),
        "{advice}"
    );
    for line in advice.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}",
            line.chars().count()
        );
    }
}

/// `skguard revoke` with no SKGUARD_API_KEY and nothing on standard input says what is missing.
#[test]
fn revoke_without_an_authorising_key_says_where_to_give_it() {
    let out = std::process::Command::new(binary())
        .args([
            "revoke",
            "--key-id",
            "key_123",
            "--api-base",
            "http://127.0.0.1:9",
        ])
        .env_remove("SKGUARD_API_KEY")
        .env_remove("SKGUARD_API_BASE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no authorising key: set SKGUARD_API_KEY"),
        "{}",
        stderr(&out)
    );
}
