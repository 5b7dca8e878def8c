//! Findings: a key, where it was found, and what became of it.
//!
//! The key itself lives in [`Secret`], whose `Debug` and `Display` print only the redacted form, so
//! no log line, error message or panic can show a whole key by accident. Only
//! [`Secret::expose`] gives the key out, and the callers of it are few and deliberate: the API
//! client's `Authorization` header and `--show-secret`.

use std::borrow::Cow;
use std::fmt;
use std::sync::{LazyLock, Mutex};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::rules::{Rule, RuleSet};

/// A secret key. Compared, hashed and ordered by its text; printed only redacted.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Secret {
    key: Box<str>,
    /// Length of the rule's literal prefix (`sk_live_`): shown whole in the redacted form.
    prefix_len: u32,
}

impl Secret {
    pub fn new(key: String, prefix_len: usize) -> Secret {
        let prefix_len = prefix_len.min(key.len()) as u32;
        Secret {
            key: key.into_boxed_str(),
            prefix_len,
        }
    }

    /// The key itself, by the built-in grammar: when what a rule matched holds a built-in key
    /// (`STRIPE_KEY=sk_live_…` by a user's rule), that key (prefix and body) and nothing around it,
    /// so the redacted form and the fingerprint never depend on how wide a rule's match is.
    /// Anything else stays as the rule matched it.
    pub fn key_itself(self) -> Secret {
        if self.prefix_len as usize == BUILTIN_PREFIX_LEN && is_builtin_prefix(&self.key) {
            return self;
        }
        match builtin_key_in(&self.key) {
            Some(range) => Secret::new(self.key[range].to_string(), BUILTIN_PREFIX_LEN),
            None => self,
        }
    }

    /// The whole key. Call it only to send the key to its own API or for `--show-secret`.
    pub fn expose(&self) -> &str {
        &self.key
    }

    /// `sha256:` and the hex SHA-256 of the key; `hmac-sha256:` and the hex HMAC-SHA-256 of the
    /// key when [`FINGERPRINT_KEY_VAR`] holds a key.
    pub fn fingerprint(&self) -> String {
        keyed_fingerprint(FINGERPRINT_KEY.as_deref(), self.key.as_bytes())
    }

    /// The prefix, then at most a quarter of the body (and never more than 8 of its characters):
    /// up to 4 first and 4 last characters, fewer for short keys.
    pub fn redacted(&self) -> String {
        let (prefix, body) = self.key.split_at(self.prefix_len as usize);
        let chars: Vec<char> = body.chars().collect();
        let shown = (chars.len() / 4).min(8);
        let head = shown.div_ceil(2);
        let tail = shown / 2;
        let first: String = chars[..head].iter().collect();
        let last: String = chars[chars.len() - tail..].iter().collect();
        format!("{prefix}{first}…{last}")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.redacted())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The length of the built-in prefixes (`sk_live_`, `sk_test_`).
const BUILTIN_PREFIX_LEN: usize = 8;

fn is_builtin_prefix(s: &str) -> bool {
    s.starts_with("sk_live_") || s.starts_with("sk_test_")
}

/// Where the first built-in key (prefix and a body of 10 or more letters and digits, the longest
/// run) stands in `s`.
fn builtin_key_in(s: &str) -> Option<std::ops::Range<usize>> {
    builtin_key_at_boundary(s).or_else(|| builtin_key_from(s, false))
}

/// The first built-in key in `s` that the boundary rule allows (not after a letter, digit or `_`).
fn builtin_key_at_boundary(s: &str) -> Option<std::ops::Range<usize>> {
    builtin_key_from(s, true)
}

fn builtin_key_from(s: &str, boundary: bool) -> Option<std::ops::Range<usize>> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(at) = s[from..].find("sk_").map(|i| i + from) {
        let bounded = at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        if is_builtin_prefix(&s[at..]) && (bounded || !boundary) {
            let body_start = at + BUILTIN_PREFIX_LEN;
            let body = bytes[body_start..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if body >= 10 {
                return Some(at..body_start + body);
            }
        }
        from = at + 3;
    }
    None
}

/// What kind of key a finding is: a live key (it can move money: revoked when compromised), a test
/// key, or what a user's rule declares. Written as its name (`"live"`, `"test"`, …) in every format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Live,
    Test,
    /// A user's rule's kind (its id unless it declares one), shared by its findings.
    Other(&'static str),
}

impl Kind {
    pub fn of(name: &str) -> Kind {
        match name {
            "live" => Kind::Live,
            "test" => Kind::Test,
            other => Kind::Other(intern(other)),
        }
    }

    pub fn is_live(self) -> bool {
        self == Kind::Live
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Live => "live",
            Kind::Test => "test",
            Kind::Other(name) => name,
        }
    }
}

impl std::ops::Deref for Kind {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        crate::printable::serialize_redacted(self.as_str(), ser)
    }
}

/// One `'static` copy of each rule id and kind (a handful a run), shared by all findings.
fn intern(s: &str) -> &'static str {
    static INTERNED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut interned = crate::lock(&INTERNED);
    if let Some(&found) = interned.iter().find(|&&i| i == s) {
        return found;
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    interned.push(leaked);
    leaked
}

/// The environment variable that holds the key of keyed fingerprints.
pub const FINGERPRINT_KEY_VAR: &str = "SKGUARD_FINGERPRINT_KEY";

static FINGERPRINT_KEY: LazyLock<Option<Vec<u8>>> = LazyLock::new(|| {
    std::env::var_os(FINGERPRINT_KEY_VAR)
        .filter(|v| !v.is_empty())
        .map(|v| v.into_encoded_bytes())
});

/// `sha256:` and the hex SHA-256 of `bytes`.
pub fn fingerprint(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// With a key: `hmac-sha256:` and the hex HMAC-SHA-256 of `bytes` under it; without one,
/// [`fingerprint`].
pub fn keyed_fingerprint(key: Option<&[u8]>, bytes: &[u8]) -> String {
    match key {
        Some(key) => {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
            mac.update(bytes);
            format!("hmac-sha256:{:x}", mac.finalize().into_bytes())
        }
        None => fingerprint(bytes),
    }
}

/// 64 bits of a fingerprint, to tell keys apart in sets that hold a million of them (a 64-bit
/// collision among a million keys has odds of about 1 in 3·10^7).
pub fn fingerprint_bits(fingerprint: &str) -> u64 {
    let hex = fingerprint
        .get(fingerprint.len().saturating_sub(16)..)
        .unwrap_or("");
    u64::from_str_radix(hex, 16).unwrap_or_else(|_| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        fingerprint.hash(&mut h);
        h.finish()
    })
}

/// Whether `s` has the shape of a fingerprint (`sha256:` or `hmac-sha256:`, then 64 lowercase hex
/// digits).
pub fn is_fingerprint(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .or_else(|| s.strip_prefix("hmac-sha256:"))
        .is_some_and(|hex| {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// How the key was stored where it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Raw,
    Escape,
    Percent,
    Base64,
    Utf16,
    /// Inside a member of an archive or compressed file.
    Archive,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Raw => "raw",
            Encoding::Escape => "escape",
            Encoding::Percent => "percent",
            Encoding::Base64 => "base64",
            Encoding::Utf16 => "utf16",
            Encoding::Archive => "archive",
        }
    }
}

/// What the key-management API said of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    /// The key authenticates and lists the account's keys.
    Active,
    /// Never valid, or already revoked.
    Invalid,
    /// The key authenticates but may not list keys.
    Restricted,
    /// No trustworthy answer (network fault, rate limit, malformed answer).
    Unknown,
}

impl VerificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationStatus::Active => "active",
            VerificationStatus::Invalid => "invalid",
            VerificationStatus::Restricted => "restricted",
            VerificationStatus::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub status: VerificationStatus,
    pub detail: String,
    /// The key's own entry in the listing that verified it, when the listing identifies it (the
    /// revocation rule: exactly one listed key whose prefix the key starts with, whole listing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyEntry>,
    /// When the listing does not identify the key: how many listed keys could be it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matching_keys: Option<u64>,
}

/// A key's entry in the account's listing, as the API gave it (made printable when stored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationStatus {
    Revoked,
    AlreadyRevoked,
    Ambiguous,
    Failed,
    DryRun,
    Skipped,
}

impl RevocationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationStatus::Revoked => "revoked",
            RevocationStatus::AlreadyRevoked => "already_revoked",
            RevocationStatus::Ambiguous => "ambiguous",
            RevocationStatus::Failed => "failed",
            RevocationStatus::DryRun => "dry_run",
            RevocationStatus::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub status: RevocationStatus,
    pub key_id: Option<String>,
    pub detail: String,
    /// For `ambiguous`: the ids of the listed keys that could be this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
}

/// The path of a key found in a commit's message.
pub const COMMIT_MESSAGE: &str = "(commit message)";
/// The path of a key found in an annotated tag's message.
pub const TAG_MESSAGE: &str = "(tag message)";

/// Where a finding is, as a type that reports switch on. A finding stores it as `path`, `line` and
/// `column` (what json and jsonl print, and 40 bytes a finding instead of an enum's); this is the
/// one place that reads those back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location<'a> {
    /// A line and column of a file (or blob).
    File {
        path: &'a str,
        line: u64,
        column: u64,
    },
    /// The key is in the file's path itself.
    PathName { path: &'a str, column: u64 },
    /// A commit's message (the commit is the finding's provenance).
    CommitMessage { line: u64, column: u64 },
    /// An annotated tag's message.
    TagMessage { line: u64, column: u64 },
    /// A blob a tag points at directly, or a file of a tree it points at: `(tag NAME)[/path]`.
    TaggedBlob {
        path: &'a str,
        line: u64,
        column: u64,
    },
    /// A member of an archive (at any depth): `archive!member`; line and column are the member's.
    ArchiveMember {
        archive: &'a str,
        member: &'a str,
        line: u64,
        column: u64,
    },
}

impl Finding {
    /// Where the finding is.
    pub fn location(&self) -> Location<'_> {
        let (path, line, column) = (self.path.as_str(), self.line, self.column);
        if path == COMMIT_MESSAGE {
            return Location::CommitMessage { line, column };
        }
        if path == TAG_MESSAGE {
            return Location::TagMessage { line, column };
        }
        if path.starts_with("(tag ") && self.commit.is_none() {
            return Location::TaggedBlob { path, line, column };
        }
        if self.encoding == Encoding::Archive {
            if let Some((archive, member)) = path.split_once('!') {
                return Location::ArchiveMember {
                    archive,
                    member,
                    line,
                    column,
                };
            }
        }
        if line == 0 {
            return Location::PathName { path, column };
        }
        Location::File { path, line, column }
    }
}

/// The commit a history finding was introduced in: where it came from, besides its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub id: String,
    /// `Name <email>`.
    pub author: String,
    /// ISO-8601 with the author's offset.
    pub date: String,
}

impl CommitInfo {
    /// The short id (12 hex digits) shown to people.
    pub fn short_id(&self) -> &str {
        self.id.get(..12).unwrap_or(&self.id)
    }
}

fn serialize_commit<S: serde::Serializer>(
    commit: &Option<std::sync::Arc<CommitInfo>>,
    ser: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut s = ser.serialize_struct("CommitInfo", 3)?;
    match commit {
        Some(c) => {
            s.serialize_field("commit", &c.id)?;
            s.serialize_field("author", &*crate::printable::redact_keys(&c.author))?;
            s.serialize_field("date", &c.date)?;
        }
        None => {
            s.serialize_field("commit", &None::<&str>)?;
            s.serialize_field("author", &None::<&str>)?;
            s.serialize_field("date", &None::<&str>)?;
        }
    }
    s.end()
}

/// One occurrence of a key.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The rule's id (shared by every finding of the rule: a million findings hold no copy).
    #[serde(serialize_with = "crate::printable::serialize_redacted")]
    pub rule: Cow<'static, str>,
    pub kind: Kind,
    /// Relative to the scanned root, `/` separators. Written with key-shaped text redacted.
    #[serde(serialize_with = "crate::printable::serialize_redacted")]
    pub path: String,
    /// 1-based; 0 for a key in the path itself (its column is then the key's in the path).
    pub line: u64,
    /// 1-based, in Unicode scalar values.
    pub column: u64,
    /// The commit that introduced it (history and range scans), shared by its findings (8 bytes a
    /// finding). Written as three fields, `commit`, `author` (key-shaped text redacted) and `date`,
    /// each `null` for a file.
    #[serde(flatten, serialize_with = "serialize_commit")]
    pub commit: Option<std::sync::Arc<CommitInfo>>,
    pub fingerprint: String,
    pub encoding: Encoding,
    pub redacted: String,
    /// Boxed, like `revocation`: most findings have neither, and a million findings are held at once.
    pub verification: Option<Box<Verification>>,
    pub revocation: Option<Box<Revocation>>,
    #[serde(skip)]
    pub secret: Secret,
    /// The text around a raw key on its line, printable and redacted (human output, `--context`).
    #[serde(skip)]
    pub context: Option<Box<str>>,
    /// Index of the rule in the rule set in force.
    #[serde(skip)]
    pub rule_index: usize,
}

impl Finding {
    /// A finding of `rule` at a place in a file (not in a commit).
    pub fn new(
        rule: &Rule,
        rule_index: usize,
        path: String,
        line: u64,
        column: u64,
        secret: Secret,
        encoding: Encoding,
    ) -> Finding {
        let secret = secret.key_itself();
        Finding {
            rule: Cow::Borrowed(intern(rule.id())),
            kind: Kind::of(rule.kind()),
            path,
            line,
            column,
            commit: None,
            fingerprint: secret.fingerprint(),
            encoding,
            redacted: secret.redacted(),
            verification: None,
            revocation: None,
            secret,
            context: None,
            rule_index,
        }
    }

    /// Sort order of reports: path, line, column; then rule and key so that equal places are stable.
    pub fn sort_key(&self) -> (&str, u64, u64, &str, &str, Option<&str>) {
        (
            &self.path,
            self.line,
            self.column,
            &self.rule,
            &self.fingerprint,
            self.commit.as_ref().map(|c| c.id.as_str()),
        )
    }
}

/// When `secret`, found by a rule that does not ship with skguard, holds a built-in key (a user's
/// rule matching `STRIPE_KEY=sk_live_…`): the built-in rule that finds that key and how many
/// characters into the match it starts. A user's rule never hides a built-in finding: the caller
/// reports that key under the built-in rule too ([`Finding::as_rule`]).
pub fn builtin_inside(rules: &RuleSet, rule: usize, secret: &Secret) -> Option<(usize, u64)> {
    if matches!(rules.get(rule).origin, crate::rules::Origin::Builtin(_)) {
        return None;
    }
    let text = secret.expose();
    let range = builtin_key_at_boundary(text)?;
    let key = &text[range.clone()];
    let (index, builtin) = rules.rules().iter().enumerate().find(|(_, r)| {
        matches!(r.origin, crate::rules::Origin::Builtin(_))
            && r.spec.prefixes.iter().any(|p| key.starts_with(p.as_str()))
    })?;
    let prefix_len = builtin
        .spec
        .prefixes
        .iter()
        .find(|p| key.starts_with(p.as_str()))
        .map_or(0, String::len);
    (builtin.confirm(key.as_bytes(), prefix_len)? == key.len())
        .then(|| (index, text[..range.start].chars().count() as u64))
}

impl Finding {
    /// This finding's key, reported under another rule `offset` characters further on its line
    /// (for a base64-encoded key, at the same place: the encoded text has no per-character column).
    pub fn as_rule(&self, rule: &Rule, rule_index: usize, offset: u64) -> Finding {
        let mut f = self.clone();
        f.rule = Cow::Borrowed(intern(rule.id()));
        f.kind = Kind::of(rule.kind());
        f.rule_index = rule_index;
        if f.encoding != Encoding::Base64 {
            f.column += offset;
        }
        f
    }
}

/// Sorts findings by path, line, column, and removes a key reported twice at one place (found raw
/// and through a decoder, say): the plainest encoding is kept.
pub fn sort_and_dedup(findings: &mut Vec<Finding>) {
    // Unstable: equal keys are equal findings, and a stable sort would allocate half the findings
    // again.
    findings.sort_unstable_by(|a, b| {
        a.sort_key()
            .cmp(&b.sort_key())
            .then(a.encoding.cmp(&b.encoding))
    });
    findings.dedup_by(|later, earlier| later.sort_key() == earlier.sort_key());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_read_back_from_path_line_column_and_encoding() {
        let rules = RuleSet::builtin();
        let at = |path: &str, line: u64, encoding: Encoding| {
            Finding::new(
                rules.get(0),
                0,
                path.into(),
                line,
                4,
                secret("Zt7Kq2Wm9Rb4Xv8Lp3Nc6Hd1"),
                encoding,
            )
        };
        let f = at("src/a.rs", 2, Encoding::Raw);
        assert_eq!(
            f.location(),
            Location::File {
                path: "src/a.rs",
                line: 2,
                column: 4
            }
        );
        let f = at("keys/x.txt", 0, Encoding::Raw);
        assert_eq!(
            f.location(),
            Location::PathName {
                path: "keys/x.txt",
                column: 4
            }
        );
        let f = at(COMMIT_MESSAGE, 1, Encoding::Raw);
        assert_eq!(f.location(), Location::CommitMessage { line: 1, column: 4 });
        let f = at(TAG_MESSAGE, 3, Encoding::Raw);
        assert_eq!(f.location(), Location::TagMessage { line: 3, column: 4 });
        let f = at("(tag v1)", 1, Encoding::Raw);
        assert_eq!(
            f.location(),
            Location::TaggedBlob {
                path: "(tag v1)",
                line: 1,
                column: 4
            }
        );
        let f = at("d/a.zip!in.tar!m.txt", 5, Encoding::Archive);
        assert_eq!(
            f.location(),
            Location::ArchiveMember {
                archive: "d/a.zip",
                member: "in.tar!m.txt",
                line: 5,
                column: 4
            }
        );
        // A `!` in a file's own name is not an archive.
        let f = at("odd!name.txt", 1, Encoding::Raw);
        assert_eq!(
            f.location(),
            Location::File {
                path: "odd!name.txt",
                line: 1,
                column: 4
            }
        );
    }

    fn secret(body: &str) -> Secret {
        Secret::new(format!("sk_live_{body}"), 8)
    }

    #[test]
    fn redaction_shows_at_most_a_quarter_and_eight_characters() {
        assert_eq!(
            secret("4eC39HqLyjWDarjtT1zdp7dcXXXXXXXX").redacted(),
            "sk_live_4eC3…XXXX"
        );
        assert_eq!(
            secret("4eC39HqLyjWDarjtT1zdp7dc").redacted(),
            "sk_live_4eC…7dc"
        );
        assert_eq!(secret("a1B2c3D4e5").redacted(), "sk_live_a…5");
        assert_eq!(secret("a1B2c3D4e5f6g").redacted(), "sk_live_a1…g");
        assert_eq!(secret("a1B2c3D4e5f6g7h").redacted(), "sk_live_a1…h");
        let long = "Z".repeat(247);
        assert_eq!(secret(&long).redacted(), format!("sk_live_ZZZZ…ZZZZ"));
    }

    #[test]
    fn debug_and_display_never_show_the_key() {
        let s = secret("Zt7Kq2Wm9Rb4Xv8Lp3Nc6Hd1");
        for shown in [format!("{s:?}"), format!("{s}"), format!("{:?}", Some(&s))] {
            assert!(!shown.contains(s.expose()), "{shown}");
            assert!(shown.contains("sk_live_Zt7…Hd1"), "{shown}");
        }
    }

    #[test]
    fn status_names_are_their_json_names() {
        use VerificationStatus as V;
        for v in [V::Active, V::Invalid, V::Restricted, V::Unknown] {
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        }
        use RevocationStatus as R;
        for r in [
            R::Revoked,
            R::AlreadyRevoked,
            R::Ambiguous,
            R::Failed,
            R::DryRun,
            R::Skipped,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }

    #[test]
    fn fingerprint_is_sha256_of_the_key() {
        // sha256("abc"), a published test vector.
        assert_eq!(
            fingerprint(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let s = secret("Zt7Kq2Wm9Rb4Xv8Lp3Nc6Hd1");
        assert_eq!(s.fingerprint(), fingerprint(s.expose().as_bytes()));
        assert!(is_fingerprint(&s.fingerprint()));
        assert!(!is_fingerprint("sha256:abc"));
        assert!(!is_fingerprint(&s.fingerprint().to_uppercase()));
    }
}
