//! Rules are data: `rules/*.toml` compiled into the binary as defaults, extended by `[[rules]]` in a
//! configuration file. A rule names the literal prefixes the prefilter looks for, the pattern that
//! confirms a key at a prefix, the placeholder patterns that make a matched body a non-finding, and
//! its own positive and negative examples (the test suite runs every rule against them).
//!
//! Only built-in rules may declare a `provider`: a key is sent to the provider's key-management API
//! only when a rule that ships with skguard found it, never because a configuration file in the
//! scanned tree (a pull request, say) asked for it.

use std::fmt;

use regex::bytes::{Regex, RegexSet};
use serde::{Deserialize, Serialize};

/// The provider whose key-management API `--verify` talks to.
pub const PROVIDER: &str = "example-api";

/// The rules that ship with skguard: (file name, TOML text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("rules/sk_live.toml", include_str!("../rules/sk_live.toml")),
    ("rules/sk_test.toml", include_str!("../rules/sk_test.toml")),
];

/// The longest key any rule may match, so that overlapping chunks can never cut a key in two.
pub const MAX_KEY_LEN: usize = 1024;

/// A rule as written in TOML.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    /// What the finding's `kind` says: `live`, `test`, or for a user's rule whatever it declares
    /// (its id when it declares nothing).
    #[serde(default)]
    pub kind: Option<String>,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub provider: Option<String>,
    pub severity: Severity,
    pub prefixes: Vec<String>,
    pub pattern: String,
    pub remediation: String,
    #[serde(default)]
    pub placeholders: Vec<String>,
    /// Placeholders recognised by what they are ([`crate::matching::placeholder`]): bodies that
    /// dictionary words, counting runs and short numbers explain.
    #[serde(default)]
    pub placeholder_words: Option<crate::matching::placeholder::PlaceholderWords>,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub negative_examples: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

/// Where a rule came from: shipped with skguard or added by a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Builtin(&'static str),
    Config(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Builtin(file) => write!(f, "built-in ({file})"),
            Origin::Config(file) => write!(f, "{file}"),
        }
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub spec: RuleSpec,
    pub origin: Origin,
    /// The pattern, anchored: it is only ever run at a prefilter hit.
    anchored: Regex,
    placeholders: RegexSet,
    /// The longest text the pattern can match.
    pub max_len: usize,
    /// The bytes a match can have right after its prefix, one bit each: a prefix followed by any
    /// other byte is no key, told without decoding or running the pattern.
    after_prefix: [u64; 4],
}

/// The bytes that can follow a prefix in a match of `hir` (whose every match starts with one of
/// `prefixes`), one bit each; every byte when the pattern's literal prefixes do not tell.
fn bytes_after_prefix(hir: &regex_syntax::hir::Hir, prefixes: &[String]) -> [u64; 4] {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let longest = prefixes.iter().map(String::len).max().unwrap_or(0);
    let seq = Extractor::new()
        .kind(ExtractKind::Prefix)
        .limit_class(256)
        .limit_repeat(1)
        .limit_literal_len(longest + 1)
        .limit_total(4096)
        .extract(hir);
    let mut bits = [0u64; 4];
    let Some(literals) = seq.literals() else {
        return [u64::MAX; 4];
    };
    for literal in literals {
        let literal = literal.as_bytes();
        for prefix in prefixes.iter().map(String::as_bytes) {
            if prefix.starts_with(literal) {
                // A match that starts with this literal and this prefix may have any byte after
                // the prefix: the literal ends before it (or with it).
                return [u64::MAX; 4];
            }
            if let Some(&b) = literal.strip_prefix(prefix).and_then(|rest| rest.first()) {
                bits[usize::from(b >> 6)] |= 1 << (b & 63);
            }
        }
    }
    bits
}

/// A rule that cannot be used: where it is (file and rule id) and why. The same shape as
/// [`crate::config::ConfigError`]. Shown with key-shaped text redacted (a regex error quotes the
/// pattern).
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", crate::printable::printable_lines(.origin), crate::printable::printable_lines(.message))]
pub struct RuleError {
    pub origin: String,
    pub message: String,
}

impl Rule {
    pub fn compile(spec: RuleSpec, origin: Origin) -> Result<Rule, RuleError> {
        let fail = |message: String| RuleError {
            origin: format!("{origin}: rule {:?}", spec.id),
            message,
        };
        if spec.id.is_empty()
            || !spec
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(fail(
                "id must be non-empty and made of letters, digits, '_' and '-'".into(),
            ));
        }
        if let (Some(provider), Origin::Config(_)) = (&spec.provider, &origin) {
            return Err(fail(format!(
                "provider = {provider:?} is not allowed in a configuration file: only skguard's built-in rules \
                 send keys to a provider's API"
            )));
        }
        if spec.prefixes.is_empty() || spec.prefixes.iter().any(|p| p.len() < 3) {
            return Err(fail(
                "prefixes must list at least one literal of 3 or more bytes".into(),
            ));
        }
        let hir = regex_syntax::Parser::new()
            .parse(&spec.pattern)
            .map_err(|e| fail(format!("pattern: {e}")))?;
        let max_len = match hir.properties().maximum_len() {
            Some(n) if n <= MAX_KEY_LEN => n,
            _ => {
                return Err(fail(format!(
                    "pattern must match at most {MAX_KEY_LEN} bytes (use bounded repetition)"
                )))
            }
        };
        let anchored = Regex::new(&format!("^(?:{})", spec.pattern))
            .map_err(|e| fail(format!("pattern: {e}")))?;
        // The prefilter only looks for keys at the prefixes, so every match must begin with one.
        let starts = regex_syntax::hir::literal::Extractor::new().extract(&hir);
        let covered = starts.literals().is_some_and(|lits| {
            !lits.is_empty()
                && lits.iter().all(|lit| {
                    spec.prefixes
                        .iter()
                        .any(|p| lit.as_bytes().starts_with(p.as_bytes()))
                })
        });
        if !covered {
            return Err(fail(format!(
                "pattern must start with one of the prefixes {:?}",
                spec.prefixes
            )));
        }
        let placeholders =
            RegexSet::new(&spec.placeholders).map_err(|e| fail(format!("placeholders: {e}")))?;
        let after_prefix = bytes_after_prefix(&hir, &spec.prefixes);
        Ok(Rule {
            spec,
            origin,
            anchored,
            placeholders,
            max_len,
            after_prefix,
        })
    }

    /// Whether a match can have `b` right after its prefix.
    pub fn may_follow_prefix(&self, b: u8) -> bool {
        self.after_prefix[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }

    pub fn id(&self) -> &str {
        &self.spec.id
    }

    pub fn kind(&self) -> &str {
        self.spec.kind.as_deref().unwrap_or(&self.spec.id)
    }

    /// Whether keys of this rule may be sent to the provider's key-management API.
    pub fn verifiable(&self) -> bool {
        matches!(self.origin, Origin::Builtin(_)) && self.spec.provider.as_deref() == Some(PROVIDER)
    }

    /// The length of the key that starts at `text[0]`, if the pattern matches there and the key is
    /// not followed by more of its body (a key is the *longest* run, so a longer run is no key).
    pub fn confirm(&self, text: &[u8], prefix_len: usize) -> Option<usize> {
        if text
            .get(prefix_len)
            .is_some_and(|&b| !self.may_follow_prefix(b))
        {
            return None;
        }
        let window = &text[..text.len().min(self.max_len + 1)];
        let end = self.anchored.find(window)?.end();
        if text.get(end).is_some_and(u8::is_ascii_alphanumeric) {
            return None;
        }
        let body = &text[prefix_len.min(end)..end];
        if self.placeholders.is_match(body) {
            return None;
        }
        if let Some(words) = &self.spec.placeholder_words {
            if words.explain(body) {
                return None;
            }
        }
        Some(end)
    }
}

/// The rules in force.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// The built-in rules. They are checked by the test suite, so failing to compile is a bug.
    pub fn builtin() -> RuleSet {
        let rules = BUILTIN
            .iter()
            .map(|(file, text)| {
                let spec: RuleSpec =
                    toml::from_str(text).unwrap_or_else(|e| panic!("built-in rule {file}: {e}"));
                Rule::compile(spec, Origin::Builtin(file))
                    .unwrap_or_else(|e| panic!("built-in rule: {e}"))
            })
            .collect();
        RuleSet { rules }
    }

    /// Adds a configuration file's rules; ids must be unique.
    pub fn extend(&mut self, specs: Vec<RuleSpec>, origin: &str) -> Result<(), RuleError> {
        for spec in specs {
            if self.rules.iter().any(|r| r.id() == spec.id) {
                return Err(RuleError {
                    origin: origin.to_string(),
                    message: format!("rule id {:?} is already defined", spec.id),
                });
            }
            self.rules
                .push(Rule::compile(spec, Origin::Config(origin.to_string()))?);
        }
        Ok(())
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn get(&self, index: usize) -> &Rule {
        &self.rules[index]
    }

    pub fn by_id(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id() == id)
    }

    /// The longest key any rule can match.
    pub fn max_key_len(&self) -> usize {
        self.rules.iter().map(|r| r.max_len).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_compile_and_are_verifiable() {
        let set = RuleSet::builtin();
        assert_eq!(set.rules().len(), 2);
        assert!(set.rules().iter().all(Rule::verifiable));
        assert_eq!(set.by_id("sk_live").unwrap().kind(), "live");
        assert_eq!(set.by_id("sk_test").unwrap().kind(), "test");
        assert_eq!(set.max_key_len(), 8 + 247);
    }

    #[test]
    fn every_rule_file_is_compiled_in() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| format!("rules/{}", e.unwrap().file_name().to_string_lossy()))
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let mut built_in: Vec<String> = BUILTIN.iter().map(|(f, _)| f.to_string()).collect();
        built_in.sort();
        assert_eq!(
            on_disk, built_in,
            "every rules/*.toml must be listed in rules::BUILTIN"
        );
    }

    fn user_spec(id: &str, pattern: &str) -> RuleSpec {
        RuleSpec {
            id: id.into(),
            kind: None,
            name: "n".into(),
            description: "d".into(),
            provider: None,
            severity: Severity::High,
            prefixes: vec!["acme_".into()],
            pattern: pattern.into(),
            remediation: "r".into(),
            placeholders: vec![],
            placeholder_words: None,
            examples: vec![],
            negative_examples: vec![],
        }
    }

    #[test]
    fn the_bytes_after_a_prefix_are_those_a_match_can_have_there() {
        let follows = |rule: &Rule| -> String {
            (0..=255u8)
                .filter(|&b| rule.may_follow_prefix(b))
                .map(char::from)
                .collect()
        };
        let alnum: String = ('0'..='9').chain('A'..='Z').chain('a'..='z').collect();
        let set = RuleSet::builtin();
        assert_eq!(follows(set.by_id("sk_live").unwrap()), alnum);
        let compile = |prefixes: &[&str], pattern: &str| {
            let mut spec = user_spec("acme", pattern);
            spec.prefixes = prefixes.iter().map(|p| p.to_string()).collect();
            Rule::compile(spec, Origin::Config("c".into())).unwrap()
        };
        assert_eq!(
            follows(&compile(&["acme_"], "acme_(?:[a-c]{1,5}|-x){1,9}")),
            "-abc"
        );
        // Two prefixes, one the start of the other: the byte after each.
        assert_eq!(
            follows(&compile(
                &["acme_", "acme_v2_"],
                "acme_(?:v2_[0-9]|[k-m])[a-z]{3}"
            )),
            "0123456789klmv"
        );
        // What the literal prefixes cannot tell, every byte: among them, a literal that ends inside
        // a longer prefix (a hit of `acme_v2_` says nothing of the byte after it here).
        let all = follows(&compile(&["acme_", "acme_v2_"], "acme_v[0-9a-z_]{3}"));
        assert_eq!(all.chars().count(), 256);
        for pattern in ["acme_.{3}", "acme_[^x]{3}", "acme_(?:[a-z]{2}|.)"] {
            let all = follows(&compile(&["acme_"], pattern));
            assert_eq!(all.chars().count(), 256, "{pattern}");
        }
        // Sound: whatever matches has a byte after its prefix that may follow it.
        let mut rng = fastrand::Rng::with_seed(3);
        const ALPHABET: &[u8] = b"abcklmxyz0129-_AZ\xc3\xa9";
        for pattern in [
            "acme_(?:[a-c]{1,5}|-x){1,9}",
            "acme_(?:v2_[0-9]|[k-m])[a-z]{3}",
            "acme_[A-Za-z0-9]{10,20}",
            "acme_v[0-9a-z_]{3}",
            "acme_(?:é|ü)[a-z]{2}",
        ] {
            let rule = compile(&["acme_", "acme_v2_"], pattern);
            for _ in 0..20_000 {
                let tail: Vec<u8> = (0..rng.usize(1..12))
                    .map(|_| ALPHABET[rng.usize(..ALPHABET.len())])
                    .collect();
                for prefix in ["acme_", "acme_v2_"] {
                    let text = [prefix.as_bytes(), &tail].concat();
                    if rule.anchored.is_match(&text) {
                        assert!(rule.may_follow_prefix(tail[0]), "{pattern} {text:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn config_rules_cannot_declare_the_provider() {
        let mut set = RuleSet::builtin();
        let mut spec = user_spec("acme", "acme_[a-z0-9]{20}");
        spec.provider = Some(PROVIDER.into());
        let err = set
            .extend(vec![spec], ".skguard.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not allowed in a configuration file"), "{err}");
    }

    #[test]
    fn config_rules_must_be_bounded_unique_and_start_with_their_prefix() {
        let mut set = RuleSet::builtin();
        let err = set
            .extend(vec![user_spec("acme", "acme_[a-z0-9]+")], "c")
            .unwrap_err();
        assert!(err.to_string().contains("at most"), "{err}");
        let err = set
            .extend(vec![user_spec("sk_live", "acme_[a-z]{4}")], "c")
            .unwrap_err();
        assert!(err.to_string().contains("already defined"), "{err}");
        let err = set
            .extend(vec![user_spec("acme", "[a-z]{4}")], "c")
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("must start with one of the prefixes"),
            "{err}"
        );
        set.extend(vec![user_spec("acme", "acme_[a-z0-9]{20}")], "c")
            .unwrap();
        let acme = set.by_id("acme").unwrap();
        assert_eq!(acme.kind(), "acme");
        assert!(!acme.verifiable());
    }

    #[test]
    fn confirm_takes_the_longest_run_only() {
        let set = RuleSet::builtin();
        let live = set.by_id("sk_live").unwrap();
        let body = "Ab3De6Gh9Jk2";
        assert_eq!(
            live.confirm(format!("sk_live_{body}\"").as_bytes(), 8),
            Some(8 + body.len())
        );
        assert_eq!(
            live.confirm(format!("sk_live_{body}_x").as_bytes(), 8),
            Some(8 + body.len())
        );
        let long = "a".repeat(100) + &"B1".repeat(100);
        assert_eq!(live.confirm(format!("sk_live_{long}").as_bytes(), 8), None);
        let max = "Ab3".repeat(82) + "z";
        assert_eq!(max.len(), 247);
        assert_eq!(
            live.confirm(format!("sk_live_{max}").as_bytes(), 8),
            Some(255)
        );
    }
}
