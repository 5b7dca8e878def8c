//! `skguard hook install|uninstall`: the native pre-commit hook.
//!
//! The hook calls this binary by absolute path with `scan --staged`. A hook that was already there
//! is kept: it is moved aside and chained after skguard's check, and `uninstall` puts it back.
//! `--force` replaces it instead. Hooks live where git looks for them: `core.hooksPath` when set,
//! else the common git folder's `hooks/` (shared by every worktree).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use super::Status;
use skguard::sources::git;

/// The line that marks a hook as skguard's.
const MARKER: &str = "# installed by skguard hook install";
/// Where a hook that was already there is kept.
const CHAINED_SUFFIX: &str = ".before-skguard";

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Install the pre-commit hook in the repository at PATH.
    Install {
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Replace an existing pre-commit hook instead of chaining it after skguard's check.
        #[arg(long)]
        force: bool,
    },
    /// Remove skguard's pre-commit hook and restore the one that was there before.
    Uninstall {
        #[arg(default_value = ".")]
        path: PathBuf,
    },
}

/// The folder git runs hooks from.
fn hooks_dir(path: &Path) -> Result<PathBuf> {
    let repo = git::open(path)?;
    let configured = repo
        .config()
        .ok()
        .and_then(|c| c.get_path("core.hooksPath").ok());
    Ok(match configured {
        // A relative core.hooksPath is relative to the work tree's root, as git has it.
        Some(dir) if dir.is_relative() => git::root(&repo).join(dir),
        Some(dir) => dir,
        None => repo.commondir().join("hooks"),
    })
}

fn script(binary: &Path) -> String {
    let quoted = format!("'{}'", binary.display().to_string().replace('\'', r"'\''"));
    format!(
        r#"#!/bin/sh
{MARKER}
# Blocks a commit that adds a secret API key. To remove: skguard hook uninstall
{quoted} scan --staged || exit $?
if [ -x "$0{CHAINED_SUFFIX}" ]; then
    exec "$0{CHAINED_SUFFIX}" "$@"
fi
"#
    )
}

fn is_ours(hook: &Path) -> bool {
    fs::read_to_string(hook).is_ok_and(|text| text.contains(MARKER))
}

pub fn run(command: HookCommand) -> Result<Status> {
    match command {
        HookCommand::Install { path, force } => install(&path, force),
        HookCommand::Uninstall { path } => uninstall(&path),
    }
}

fn install(path: &Path, force: bool) -> Result<Status> {
    let dir = hooks_dir(path)?;
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let hook = dir.join("pre-commit");
    let chained = dir.join(format!("pre-commit{CHAINED_SUFFIX}"));
    let binary = std::env::current_exe().context("cannot tell where the skguard binary is")?;
    let binary = binary.canonicalize().unwrap_or(binary);
    if hook.exists() && !is_ours(&hook) {
        if force {
            eprintln!(
                "skguard: replacing the existing hook {} (--force)",
                hook.display()
            );
        } else if chained.exists() {
            bail!(
                "{} exists and so does {}: move one of them away, or use --force to replace the hook",
                hook.display(),
                chained.display()
            );
        } else {
            fs::rename(&hook, &chained)
                .with_context(|| format!("cannot move {} aside", hook.display()))?;
            eprintln!(
                "skguard: kept the existing hook as {}; it runs after skguard's check",
                chained.display()
            );
        }
    }
    fs::write(&hook, script(&binary))
        .with_context(|| format!("cannot write {}", hook.display()))?;
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755))?;
    eprintln!("skguard: installed {}", hook.display());
    Ok(Status::Clean)
}

fn uninstall(path: &Path) -> Result<Status> {
    let dir = hooks_dir(path)?;
    let hook = dir.join("pre-commit");
    let chained = dir.join(format!("pre-commit{CHAINED_SUFFIX}"));
    if !hook.exists() {
        bail!("no pre-commit hook in {}", dir.display());
    }
    if !is_ours(&hook) {
        bail!(
            "{} was not installed by skguard: left as it is",
            hook.display()
        );
    }
    fs::remove_file(&hook).with_context(|| format!("cannot remove {}", hook.display()))?;
    if chained.exists() {
        fs::rename(&chained, &hook)
            .with_context(|| format!("cannot restore {}", chained.display()))?;
        eprintln!("skguard: removed skguard's hook and restored the previous one");
    } else {
        eprintln!("skguard: removed {}", hook.display());
    }
    Ok(Status::Clean)
}
