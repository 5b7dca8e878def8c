//! Helpers shared by the integration tests. Keys are built at run time (`format!("sk_live_{body}")`
//! is not a key in the source), so the test sources themselves scan clean.

pub mod fake_api;

use std::io::Write;
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

pub fn live(body: &str) -> String {
    format!("sk_live_{body}")
}

pub fn test_key(body: &str) -> String {
    format!("sk_test_{body}")
}

pub fn skguard() -> Command {
    let mut cmd = Command::cargo_bin("skguard").unwrap();
    cmd.env_remove("NO_COLOR")
        .env_remove("SKGUARD_API_BASE")
        .env_remove("SKGUARD_API_KEY");
    cmd
}

/// Runs `skguard scan ARGS` in `dir`.
pub fn scan_output(dir: &Path, args: &[&str]) -> Output {
    skguard()
        .current_dir(dir)
        .arg("scan")
        .args(args)
        .output()
        .unwrap()
}

/// Runs `skguard scan ARGS --format json` in `dir` and returns (exit code, findings, stats, stderr).
pub fn scan_json(dir: &Path, args: &[&str]) -> (i32, Vec<Value>, Value, String) {
    scan_json_with(dir, args, &[])
}

/// [`scan_json`] with extra environment variables.
pub fn scan_json_with(
    dir: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (i32, Vec<Value>, Value, String) {
    let out = skguard()
        .current_dir(dir)
        .envs(envs.iter().copied())
        .arg("scan")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.stdout.is_empty() {
        return (out.status.code().unwrap(), Vec::new(), Value::Null, stderr);
    }
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(doc["version"], 1);
    (
        out.status.code().unwrap(),
        doc["findings"].as_array().unwrap().clone(),
        doc["stats"].clone(),
        stderr,
    )
}

/// (path, line, column, kind, encoding) of each finding, in report order.
pub fn places(findings: &[Value]) -> Vec<(String, u64, u64, String, String)> {
    findings
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["kind"].as_str().unwrap().to_string(),
                f["encoding"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn fingerprint(key: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{:x}", Sha256::digest(key.as_bytes()))
}

/// A real git repository in a temporary folder, driven by the real `git`, isolated from the
/// machine's git configuration.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

pub fn git_env(cmd: &mut std::process::Command) {
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Alice Example")
        .env("GIT_AUTHOR_EMAIL", "alice@example.test")
        .env("GIT_COMMITTER_NAME", "Alice Example")
        .env("GIT_COMMITTER_EMAIL", "alice@example.test")
        .env("GIT_AUTHOR_DATE", "2025-01-02T03:04:05+01:00")
        .env("GIT_COMMITTER_DATE", "2025-01-02T03:04:05+01:00")
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_WORK_TREE");
}

impl Repo {
    pub fn new() -> Repo {
        let repo = Repo {
            dir: tempfile::tempdir().unwrap(),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git; panics with its output when it fails.
    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(self.path(), args)
    }

    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let mut cmd = std::process::Command::new("git");
        git_env(&mut cmd);
        let out = cmd.current_dir(dir).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs git and returns whether it succeeded and what it printed.
    pub fn try_git(&self, args: &[&str]) -> (bool, String) {
        let mut cmd = std::process::Command::new("git");
        git_env(&mut cmd);
        let out = cmd.current_dir(self.path()).args(args).output().unwrap();
        (out.status.success(), text(&out))
    }

    pub fn write(&self, path: &str, content: impl AsRef<[u8]>) {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    /// Stages everything and commits; returns the new commit's id.
    pub fn commit_all(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// Clones this repository to `dest` (as `file://`, so `--depth` makes a real shallow clone).
    pub fn clone_to(&self, dest: &Path, depth: Option<u32>) {
        let mut cmd = std::process::Command::new("git");
        git_env(&mut cmd);
        cmd.args(["clone", "-q"]);
        if let Some(depth) = depth {
            cmd.arg(format!("--depth={depth}"));
        }
        let url = format!("file://{}", self.path().display());
        assert!(cmd.arg(url).arg(dest).status().unwrap().success());
    }

    /// `skguard ARGS --format json` in the repository: (exit code, findings, stats, stderr).
    pub fn scan(&self, args: &[&str]) -> (i32, Vec<Value>, Value, String) {
        scan_json(self.path(), args)
    }
}

/// A zip of `members` (deflated), for tests of archives.
pub fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    for (name, bytes) in members {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

/// A gzip stream of `bytes`.
pub fn gzip_of(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A bzip2 stream of `bytes`.
pub fn bzip2_of(bytes: &[u8]) -> Vec<u8> {
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(bytes).unwrap();
    bz.finish().unwrap()
}

/// An xz stream of `bytes`.
pub fn xz_of(bytes: &[u8]) -> Vec<u8> {
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(bytes).unwrap();
    xz.finish().unwrap()
}

/// A zstd frame of `bytes`.
pub fn zstd_of(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ruzstd::encoding::compress(bytes, &mut out, ruzstd::encoding::CompressionLevel::Fastest);
    out
}

/// A tar of `members`.
pub fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, *bytes).unwrap();
    }
    tar.into_inner().unwrap()
}
