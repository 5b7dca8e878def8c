//! Invariants over arbitrary input, checked by the fuzz targets in `fuzz/` and replayed over their
//! committed corpora by the ordinary test suite (`tests/fuzz_corpora.rs`). Each function panics
//! when an invariant breaks; none may panic otherwise, whatever the bytes.

use std::io::Read;
use std::sync::OnceLock;

use crate::config::Config;
use crate::matching::Matcher;
use crate::rules::RuleSet;
use crate::sources::{git, StreamScanner};
use crate::suppress::{Allowlist, Baseline};

fn builtin() -> &'static Matcher {
    static MATCHER: OnceLock<Matcher> = OnceLock::new();
    MATCHER.get_or_init(|| Matcher::new(RuleSet::builtin()))
}

/// A reader that hands out bytes in pieces of varying size, as pipes do.
struct Pieces<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step = self.step % 13 + 1;
        let n = self.data.len().min(buf.len()).min(self.step);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Matching and decoding: every candidate is a key of the grammar, inside the buffer, redacted to
/// at most 8 body characters; streaming the same bytes in pieces finds the same keys.
pub fn matching(data: &[u8]) {
    let matcher = builtin();
    let mut whole = Vec::new();
    matcher.find(data, 0, 0..data.len(), &mut whole);
    for c in &whole {
        assert!(c.offset < data.len().max(1));
        let key = c.secret.expose();
        let body = key
            .strip_prefix("sk_live_")
            .or_else(|| key.strip_prefix("sk_test_"))
            .expect("a known prefix");
        assert!((10..=247).contains(&body.len()), "{}", c.secret);
        assert!(body.bytes().all(|b| b.is_ascii_alphanumeric()));
        let redacted = c.secret.redacted();
        let shown = redacted[8..].replace('…', "");
        assert!(shown.len() <= 8 && shown.len() * 4 <= body.len());
    }
    let mut scanner = StreamScanner::new(matcher);
    let mut streamed = Vec::new();
    let read = scanner
        .scan(&mut Pieces { data, step: 0 }, &mut streamed)
        .expect("reading memory cannot fail");
    assert_eq!(read, data.len() as u64);
    let mut a: Vec<&str> = whole.iter().map(|c| c.secret.expose()).collect();
    let mut b: Vec<&str> = streamed
        .iter()
        .map(|l| l.candidate.secret.expose())
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

/// The configuration parser, and everything a configuration compiles into.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::parse(text, "fuzz") else {
        return;
    };
    let _ = Allowlist::compile(&config.allowlist, "fuzz");
    let mut rules = RuleSet::builtin();
    if rules.extend(config.rules, "fuzz").is_ok() {
        let matcher = Matcher::new(rules);
        let mut out = Vec::new();
        matcher.find(data, 0, 0..data.len(), &mut out);
    }
}

/// The baseline parser.
pub fn baseline(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Baseline::parse(text, "fuzz");
    }
}

/// The parsers of git's text: `A..B` ranges and `git diff-index -z` output.
pub fn git_text(data: &[u8]) {
    if let Ok(changes) = git::parse_raw_diff(data) {
        assert!(changes.iter().all(|c| !c.path.is_empty()));
    }
    if let Ok((base, tip)) = git::parse_range(&String::from_utf8_lossy(data)) {
        assert!(!base.is_empty() && !tip.is_empty());
    }
}
