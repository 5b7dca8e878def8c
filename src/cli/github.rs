//! What the GitHub Action's script needs from skguard, so that it runs no interpreter and reads no
//! JSON itself: fields of the event payload, the `path` and `sarif-file` inputs resolved inside the
//! workspace, and the action's outputs. Hidden commands: they are for `action/scan.sh`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::Value;

use super::Status;
use skguard::findings::{Finding, RevocationStatus};
use skguard::printable::printable;

/// `skguard github-event FIELD`: prints a field of the event payload (GITHUB_EVENT_PATH).
#[derive(Debug, Args)]
pub struct EventArgs {
    /// A dotted path into the payload, like `pull_request.base.sha`.
    pub field: String,
}

/// `skguard github-path [--file] PATH`: prints PATH resolved against GITHUB_WORKSPACE, refused
/// when it is outside the workspace.
#[derive(Debug, Args)]
pub struct PathArgs {
    /// PATH is a file to be written (it may not exist yet; it must not be a link or a folder).
    #[arg(long)]
    pub file: bool,
    pub path: PathBuf,
}

fn has_controls(s: &str) -> bool {
    s.chars().any(char::is_control)
}

pub fn run_event(args: EventArgs) -> Result<Status> {
    let path = std::env::var_os("GITHUB_EVENT_PATH")
        .filter(|p| !p.is_empty())
        .context("GITHUB_EVENT_PATH is not set: not in a GitHub Actions run")?;
    let text = fs::read(&path).with_context(|| {
        format!(
            "cannot read the event payload {}",
            printable(&Path::new(&path).display().to_string())
        )
    })?;
    let payload: Value = serde_json::from_slice(&text).context("the event payload is not JSON")?;
    let mut value = &payload;
    for key in args.field.split('.') {
        value = value.get(key).unwrap_or(&Value::Null);
    }
    let shown = match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if has_controls(s) => bail!(
            "the event's {} holds control characters: {}",
            printable(&args.field),
            printable(s)
        ),
        Value::String(s) => s.clone(),
        _ => bail!(
            "the event's {} is not a string, number or boolean",
            printable(&args.field)
        ),
    };
    println!("{shown}");
    Ok(Status::Clean)
}

pub fn run_path(args: PathArgs) -> Result<Status> {
    let workspace = std::env::var_os("GITHUB_WORKSPACE")
        .filter(|p| !p.is_empty())
        .context("GITHUB_WORKSPACE is not set: not in a GitHub Actions run")?;
    println!(
        "{}",
        resolve_in_workspace(Path::new(&workspace), &args.path, args.file)?.display()
    );
    Ok(Status::Clean)
}

/// `path` (relative to `workspace`, or absolute) with every link resolved, when it lies inside the
/// workspace. A `file` to be written need not exist, but its folder must, and it must not be a link
/// (writing would follow it) or a folder.
pub fn resolve_in_workspace(workspace: &Path, path: &Path, file: bool) -> Result<PathBuf> {
    let shown = printable(&path.display().to_string()).into_owned();
    if has_controls(&path.to_string_lossy()) {
        bail!("{shown}: a path with control characters is refused");
    }
    if path.as_os_str().is_empty() {
        bail!("the path is empty");
    }
    let workspace = workspace
        .canonicalize()
        .with_context(|| format!("the workspace {} is not there", workspace.display()))?;
    let joined = workspace.join(path);
    let resolved = if file {
        let name = match joined.components().next_back() {
            Some(Component::Normal(name)) => name.to_owned(),
            _ => bail!("{shown} is not a file name"),
        };
        if let Ok(meta) = fs::symlink_metadata(&joined) {
            if meta.file_type().is_symlink() {
                bail!("{shown} is a symbolic link: refused (writing would follow it)");
            }
            if meta.is_dir() {
                bail!("{shown} is a folder");
            }
        }
        let parent = joined.parent().unwrap_or(&workspace);
        parent
            .canonicalize()
            .with_context(|| format!("the folder of {shown} is not there"))?
            .join(name)
    } else {
        joined
            .canonicalize()
            .with_context(|| format!("{shown} is not there"))?
    };
    if !resolved.starts_with(&workspace) {
        bail!(
            "{shown} is outside the workspace ({}): refused",
            printable(&workspace.display().to_string())
        );
    }
    if has_controls(&resolved.to_string_lossy()) {
        bail!("{shown}: a path with control characters is refused");
    }
    Ok(resolved)
}

/// Checks an output's value before the scan: one line, no control characters.
pub fn check_output_value(name: &str, value: &str) -> Result<()> {
    if has_controls(value) {
        bail!(
            "the action output {name} would hold control characters ({}): refused",
            printable(value)
        );
    }
    Ok(())
}

/// Appends the action's outputs to `file` (GITHUB_OUTPUT): `findings`, `live-findings`,
/// `revoked` (distinct keys this run revoked) and `sarif-file` (only when it was written).
pub fn write_outputs(file: &Path, findings: &[Finding], sarif: Option<&Path>) -> Result<()> {
    let live = findings.iter().filter(|f| f.kind.is_live()).count();
    let revoked: std::collections::HashSet<&str> = findings
        .iter()
        .filter(|f| {
            f.revocation
                .as_ref()
                .is_some_and(|r| r.status == RevocationStatus::Revoked)
        })
        .map(|f| f.fingerprint.as_str())
        .collect();
    let sarif = sarif
        .filter(|p| p.is_file())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    check_output_value("sarif-file", &sarif)?;
    let text = format!(
        "findings={}\nlive-findings={live}\nrevoked={}\nsarif-file={sarif}\n",
        findings.len(),
        revoked.len()
    );
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot append to {}", file.display()))?;
    Ok(())
}

/// Whether the command line asks for the `github` format on standard output: errors are then
/// also written as `::error` annotations, so that a refusal shows on the workflow run.
pub fn format_requested() -> bool {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    args.iter().any(|a| a == "--format=github")
        || args
            .windows(2)
            .any(|w| w[0] == "--format" && w[1] == "github")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_the_workspace_only() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        fs::create_dir_all(ws.join("sub")).unwrap();
        fs::create_dir_all(dir.path().join("outside")).unwrap();
        let canon = ws.canonicalize().unwrap();
        assert_eq!(
            resolve_in_workspace(&ws, Path::new("."), false).unwrap(),
            canon
        );
        assert_eq!(
            resolve_in_workspace(&ws, Path::new("sub"), false).unwrap(),
            canon.join("sub")
        );
        assert_eq!(
            resolve_in_workspace(&ws, &canon.join("sub"), false).unwrap(),
            canon.join("sub")
        );
        for bad in ["..", "../outside", "sub/../../outside", "/etc", "missing"] {
            assert!(
                resolve_in_workspace(&ws, Path::new(bad), false).is_err(),
                "{bad}"
            );
        }
        std::os::unix::fs::symlink(dir.path().join("outside"), ws.join("link")).unwrap();
        assert!(resolve_in_workspace(&ws, Path::new("link"), false).is_err());
        // Files to be written.
        assert_eq!(
            resolve_in_workspace(&ws, Path::new("out.sarif"), true).unwrap(),
            canon.join("out.sarif")
        );
        assert_eq!(
            resolve_in_workspace(&ws, Path::new("sub/out.sarif"), true).unwrap(),
            canon.join("sub/out.sarif")
        );
        for bad in [
            "../out.sarif",
            "/tmp/out.sarif",
            "link/out.sarif",
            "sub",
            "sub/..",
            "a\nrevoked=999",
            "nofolder/out.sarif",
        ] {
            assert!(
                resolve_in_workspace(&ws, Path::new(bad), true).is_err(),
                "{bad:?}"
            );
        }
        std::os::unix::fs::symlink("/tmp/elsewhere", ws.join("s.sarif")).unwrap();
        assert!(resolve_in_workspace(&ws, Path::new("s.sarif"), true).is_err());
        std::os::unix::fs::symlink(ws.join("sub/x"), ws.join("t.sarif")).unwrap();
        assert!(
            resolve_in_workspace(&ws, Path::new("t.sarif"), true).is_err(),
            "any link: writing would follow it"
        );
    }
}
