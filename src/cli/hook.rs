//! `skguard hook install|uninstall`: the native pre-commit hook.
//!
//! The hook calls this binary by absolute path with `scan --staged`. A hook that was already there
//! is kept: it is moved aside and chained after skguard's check, and `uninstall` puts it back.
//! `--force` replaces it instead (kept aside, not run, and restored by `uninstall` too). Nothing is
//! ever written through a symbolic link: a linked hook is moved aside as a link. Hooks live where git looks for them: `core.hooksPath` when set,
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
/// Where a hook that was already there is kept, and run after skguard's check.
const CHAINED_SUFFIX: &str = ".before-skguard";
/// Where a hook that `--force` replaced is kept (not run), for `uninstall` to restore.
const REPLACED_SUFFIX: &str = ".replaced-by-skguard";

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
if [ ! -x {quoted} ]; then
    echo 'skguard: this pre-commit hook runs '{quoted}', which is gone: run `skguard hook install` again with the skguard you use now (or `skguard hook uninstall`)' >&2
    exit 1
fi
{quoted} scan --staged || exit $?
if [ -x "$0{CHAINED_SUFFIX}" ]; then
    exec "$0{CHAINED_SUFFIX}" "$@"
fi
"#
    )
}

/// Whether `hook` is a hook skguard wrote: a regular file (never a symbolic link, whatever it
/// points at) with skguard's marker.
fn is_ours(hook: &Path) -> bool {
    fs::symlink_metadata(hook).is_ok_and(|m| m.file_type().is_file())
        && fs::read_to_string(hook).is_ok_and(|text| text.contains(MARKER))
}

/// Whether anything is at `path`, a dangling symbolic link included (`Path::exists` follows links).
fn present(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

pub fn run(command: HookCommand) -> Result<Status> {
    match command {
        HookCommand::Install { path, force } => install(&path, force),
        HookCommand::Uninstall { path } => uninstall(&path),
    }
}

/// Writes skguard's hook at `hook` without ever writing through what is there: the script goes to
/// a new file beside it, which is then renamed over `hook` (a rename replaces a symbolic link
/// itself, never the file it points at).
fn write_hook(dir: &Path, hook: &Path, binary: &Path) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temp = dir.join(format!("pre-commit.skguard-{}.tmp", std::process::id()));
    let _ = fs::remove_file(&temp);
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(script(binary).as_bytes())?;
            file.set_permissions(fs::Permissions::from_mode(0o755))?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temp, hook));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e).with_context(|| format!("cannot write {}", hook.display()));
    }
    Ok(())
}

fn install(path: &Path, force: bool) -> Result<Status> {
    let dir = hooks_dir(path)?;
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let hook = dir.join("pre-commit");
    let chained = dir.join(format!("pre-commit{CHAINED_SUFFIX}"));
    let replaced = dir.join(format!("pre-commit{REPLACED_SUFFIX}"));
    let binary = std::env::current_exe().context("cannot tell where the skguard binary is")?;
    let binary = binary.canonicalize().unwrap_or(binary);
    // A hook that is not skguard's (a symbolic link, even a dangling one, is never skguard's) is
    // moved aside as it is, the link itself and not what it points at, so that `uninstall` puts
    // back exactly what this install replaced. One place for it: if an earlier install's copy is
    // still there, uninstall could not tell which to restore, so nothing is changed.
    if present(&hook) && !is_ours(&hook) {
        if let Some(stale) = [&chained, &replaced].into_iter().find(|p| present(p)) {
            bail!(
                "{} exists and so does {} from an earlier install: move one of them away (uninstall \
                 restores only what the last install replaced)",
                hook.display(),
                stale.display()
            );
        }
        let (aside, said) = if force {
            (
                &replaced,
                "it no longer runs; uninstall restores it (--force)",
            )
        } else {
            (&chained, "it runs after skguard's check")
        };
        fs::rename(&hook, aside)
            .with_context(|| format!("cannot move {} aside", hook.display()))?;
        eprintln!(
            "skguard: kept the existing hook as {}; {said}",
            aside.display()
        );
    }
    write_hook(&dir, &hook, &binary)?;
    eprintln!("skguard: installed {}", hook.display());
    Ok(Status::Clean)
}

fn uninstall(path: &Path) -> Result<Status> {
    let dir = hooks_dir(path)?;
    let hook = dir.join("pre-commit");
    let chained = dir.join(format!("pre-commit{CHAINED_SUFFIX}"));
    let replaced = dir.join(format!("pre-commit{REPLACED_SUFFIX}"));
    if !present(&hook) {
        // What was asked for is already so: a second uninstall is not an error.
        eprintln!(
            "skguard: no pre-commit hook in {}: nothing to uninstall",
            skguard::printable::printable(&dir.display().to_string())
        );
        return Ok(Status::Clean);
    }
    if !is_ours(&hook) {
        bail!(
            "{} was not installed by skguard: left as it is",
            hook.display()
        );
    }
    let saved: Vec<&PathBuf> = [&replaced, &chained]
        .into_iter()
        .filter(|p| present(p))
        .collect();
    if saved.len() > 1 {
        bail!(
            "both {} and {} exist: skguard keeps one, so it cannot tell which to restore; move one away",
            replaced.display(),
            chained.display()
        );
    }
    match saved.first() {
        // A rename moves a symbolic link itself: what comes back is exactly what was there.
        Some(saved) => {
            fs::rename(saved, &hook)
                .with_context(|| format!("cannot restore {}", saved.display()))?;
            eprintln!("skguard: removed skguard's hook and restored the previous one");
        }
        None => {
            fs::remove_file(&hook).with_context(|| format!("cannot remove {}", hook.display()))?;
            eprintln!("skguard: removed {}", hook.display());
        }
    }
    Ok(Status::Clean)
}
