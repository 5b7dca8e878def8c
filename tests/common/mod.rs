//! Helpers shared by the integration tests. Keys are built at run time (`format!("sk_live_{body}")`
//! is not a key in the source), so the test sources themselves scan clean.
#![allow(dead_code)]

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

/// Runs `skguard scan ARGS --format json` in `dir` and returns (exit code, findings, stats, stderr).
pub fn scan_json(dir: &Path, args: &[&str]) -> (i32, Vec<Value>, Value, String) {
    let out = skguard()
        .current_dir(dir)
        .arg("scan")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
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
