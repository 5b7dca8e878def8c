//! The API flags shared by `scan`, `verify` and `revoke`, and the `verify` and `revoke` commands.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::Status;
use skguard::api::audit::{AuditLog, Event, KeySubject};
use skguard::api::revoke::Deleted;
use skguard::api::verify::verify;
use skguard::api::{ApiBase, ApiClient, ApiOptions, DEFAULT_BASE};
use skguard::findings::{RevocationStatus, Secret, VerificationStatus};
use skguard::matching::Matcher;
use skguard::printable::printable;
use skguard::rules::RuleSet;

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The key-management API [default: https://api.example.com, or SKGUARD_API_BASE]. Never read
    /// from a configuration file.
    #[arg(long, value_name = "URL")]
    pub api_base: Option<String>,
    /// Append a JSON line for every verification and revocation to FILE (created mode 0600).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Seconds a request may take, from connecting to the end of the answer.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub api_timeout: f64,
    /// Seconds the whole API stage may take; what is left then is `unknown`.
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    pub api_deadline: f64,
    /// Keys verified at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub api_concurrency: usize,
    /// Requests a second, at most.
    #[arg(long, value_name = "N", default_value_t = 10.0)]
    pub api_rate: f64,
    /// Seconds between the confirming GETs after a DELETE.
    #[arg(long, value_name = "SECS", default_value_t = 3.0, hide = true)]
    pub api_confirm_interval: f64,
}

fn seconds(flag: &str, value: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{flag} {value}: expected a positive number of seconds"))
}

impl ApiArgs {
    pub fn client(&self) -> Result<ApiClient> {
        let base = match &self.api_base {
            Some(base) => base.clone(),
            None => std::env::var("SKGUARD_API_BASE")
                .ok()
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| DEFAULT_BASE.to_string()),
        };
        let mut options = ApiOptions::new(ApiBase::parse(&base).map_err(anyhow::Error::msg)?);
        options.timeout = seconds("--api-timeout", self.api_timeout)?;
        options.deadline = seconds("--api-deadline", self.api_deadline)?;
        options.confirm_interval = seconds("--api-confirm-interval", self.api_confirm_interval)?;
        if self.api_concurrency == 0 || !self.api_rate.is_finite() || self.api_rate <= 0.0 {
            bail!("--api-concurrency and --api-rate must be positive");
        }
        options.concurrency = self.api_concurrency;
        options.rate = self.api_rate;
        Ok(ApiClient::new(options)?)
    }

    pub fn audit(&self) -> Result<Option<AuditLog>> {
        Ok(self.audit_log.as_deref().map(AuditLog::open).transpose()?)
    }
}

/// The verifiable key a line holds if the whole line (trimmed) is one, with its rule's id.
fn key_of_line(matcher: &Matcher, line: &str) -> Option<(Secret, String)> {
    let mut found = Vec::new();
    matcher.find(line.as_bytes(), 0, 0..line.len(), &mut found);
    found
        .into_iter()
        .find(|c| c.secret.expose() == line && matcher.rules().get(c.rule).verifiable())
        .map(|c| (c.secret, matcher.rules().get(c.rule).id().to_string()))
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub api: ApiArgs,
}

/// What `skguard verify` says when standard input is a terminal: it reads keys from a pipe or a
/// file, never by waiting on a terminal for keys to be typed (and echoed).
fn verify_input_usage(stdin_is_terminal: bool) -> Result<()> {
    if stdin_is_terminal {
        bail!(
            "verify reads keys from standard input, one a line, and standard input is a terminal: give it \
             a file or a pipe (`skguard verify < keys.txt`, `printenv API_KEY | skguard verify`)"
        );
    }
    Ok(())
}

/// `skguard verify`: keys on standard input, one a line.
pub fn run_verify(args: VerifyArgs) -> Result<Status> {
    verify_input_usage(io::stdin().is_terminal())?;
    let client = args.api.client()?;
    let audit = args.api.audit()?;
    let matcher = Matcher::new(RuleSet::builtin());
    let mut status = Status::Clean;
    let mut lines_read = 0u64;
    let mut seen = std::collections::HashSet::new();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    for (n, line) in io::stdin().lock().lines().enumerate() {
        let line = line.context("reading standard input")?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        lines_read += 1;
        let Some((key, rule)) = key_of_line(&matcher, line) else {
            eprintln!("skguard: line {}: not a key skguard can verify (sk_live_… or sk_test_…, one a line)", n + 1);
            status = Status::Incomplete;
            continue;
        };
        if !seen.insert(key.fingerprint()) {
            continue;
        }
        let verdict = verify(&client, &key);
        let v = &verdict.verification;
        let name = v.status.as_str();
        if let Some(audit) = &audit {
            let subject = KeySubject::new(&key, &rule, vec!["(standard input)".to_string()]);
            let event = Event::verify(v, verdict.http_status);
            audit.record(client.base().as_str(), subject.subject(), event)?;
        }
        // With -q only the keys that need something done are printed: an invalid key is all well.
        if !(super::quiet() && v.status == VerificationStatus::Invalid) {
            writeln!(out, "{}  {name}  {}", key.redacted(), v.detail)?;
        }
        status = status.max(match v.status {
            VerificationStatus::Active | VerificationStatus::Restricted => Status::Findings,
            VerificationStatus::Invalid => Status::Clean,
            VerificationStatus::Unknown => Status::Incomplete,
        });
    }
    if lines_read == 0 && !super::quiet() {
        eprintln!("skguard: no keys on standard input: nothing was verified");
    }
    Ok(status)
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The id of the key to revoke (as listed by GET /v1/api-keys).
    #[arg(long, value_name = "ID")]
    pub key_id: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `skguard revoke --key-id ID`: the authorising key comes from SKGUARD_API_KEY or standard input,
/// never from the command line (where other users and shell histories would see it).
pub fn run_revoke(args: RevokeArgs) -> Result<Status> {
    // Only a plain token goes into the URL (`..` would be the whole collection): refused before
    // anything else, so no request is sent.
    if !skguard::api::client::is_plain_id(&args.key_id) {
        bail!(
            "--key-id: {}; nothing was sent",
            skguard::api::client::not_plain(&args.key_id)
        );
    }
    let client = args.api.client()?;
    let audit = args.api.audit()?;
    let text = match std::env::var("SKGUARD_API_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
    {
        Some(key) => key,
        None => {
            if io::stdin().is_terminal() {
                eprintln!("skguard: the authorising key, then Enter:");
            }
            let mut line = String::new();
            io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the authorising key from standard input")?;
            line
        }
    };
    if text.trim().is_empty() {
        bail!(
            "no authorising key: set SKGUARD_API_KEY, or give the key on standard input \
             (`skguard revoke --key-id ID < key.txt`); nothing was sent"
        );
    }
    let matcher = Matcher::new(RuleSet::builtin());
    let Some((key, _)) = key_of_line(&matcher, text.trim()) else {
        bail!("the authorising key (from SKGUARD_API_KEY or standard input) is not an sk_live_/sk_test_ key");
    };
    let answer = client.delete_key(&key, &args.key_id);
    let http_status = answer.status();
    let says = skguard::api::revoke::api_says(&answer);
    let failed = RevocationStatus::Failed;
    let (status, detail, exit) = match Deleted::of(&answer) {
        Deleted::Accepted => (
            RevocationStatus::Revoked,
            format!("key {} revoked", args.key_id),
            Status::Clean,
        ),
        Deleted::NoSuchKey(code) => (
            failed,
            format!("no key {} in this account (HTTP {code}){says}", args.key_id),
            Status::Incomplete,
        ),
        Deleted::NotValid(code) => (
            failed,
            format!("the authorising key is not valid (HTTP {code}){says}"),
            Status::Incomplete,
        ),
        Deleted::Forbidden(code) => (
            failed,
            format!("the authorising key may not revoke keys (HTTP {code}){says}"),
            Status::Incomplete,
        ),
        Deleted::Other(code) => (
            failed,
            format!("DELETE answered HTTP {code}{says}"),
            Status::Incomplete,
        ),
        Deleted::Failed(why) => (failed, format!("DELETE failed: {why}"), Status::Incomplete),
    };
    // The detail may quote the API: printable, in the audit log and on stdout alike.
    let detail = printable(&detail).into_owned();
    if let Some(audit) = &audit {
        let subject = KeySubject::new(&key, "authorising key", Vec::new());
        let event = Event::revoke(Some(&args.key_id), status, http_status, &detail);
        audit.record(client.base().as_str(), subject.subject(), event)?;
    }
    if !(super::quiet() && exit == Status::Clean) {
        println!("{}: {detail}", status.as_str());
    }
    Ok(exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_refuses_a_terminal_for_standard_input() {
        let err = verify_input_usage(true).unwrap_err().to_string();
        assert!(err.contains("standard input is a terminal"), "{err}");
        assert!(err.contains("skguard verify < keys.txt"), "{err}");
        assert!(verify_input_usage(false).is_ok());
    }
}
