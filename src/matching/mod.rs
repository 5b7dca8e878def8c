//! Matching: from bytes to candidate keys.
//!
//! One Aho-Corasick automaton holds every literal that can start a key, in every form a key is
//! stored in: the rules' prefixes as they are (`sk_live_`), in UTF-16 (`s\0k\0…`), and the part of
//! their base64 encoding that does not depend on the bytes around them, at each of the three
//! alignments a prefix can have in a base64 quantum. The automaton scans a buffer once; only at a
//! hit does any other work happen: the rule's anchored pattern confirms the key, the boundary rule
//! is applied to the *decoded* text (so `"\nsk_live_…"` in JSON and `%22sk_live_…` in a URL are
//! keys), and placeholders are dropped. Nothing is decoded unless a literal points at it.
//!
//! The matcher is pure: bytes in, candidates out. Lines, paths and suppression belong to the
//! callers ([`crate::sources`], [`crate::findings`]).

mod decode;

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::findings::{Encoding, Secret};
use crate::rules::RuleSet;

/// How many bytes before a prefilter hit the matcher may look at (escape sequences, the base64
/// quantum before a hint).
pub const CONTEXT_BEFORE: usize = 64;

/// A key the matcher found.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Index of the rule in the rule set.
    pub rule: usize,
    /// Offset in the buffer of the first byte of the key's stored form (for base64: the
    /// character where the key's first byte is encoded).
    pub offset: usize,
    pub secret: Secret,
    pub encoding: Encoding,
}

#[derive(Debug, Clone, Copy)]
enum Literal {
    /// A rule's prefix as it is.
    Raw { rule: usize, prefix_len: usize },
    /// A rule's prefix in UTF-16, either byte order.
    Utf16 { rule: usize, prefix_len: usize },
    /// The stable part of a prefix's base64 encoding.
    Base64(decode::Base64Hint),
}

/// Finds candidate keys in buffers. Build once per scan; share between threads.
#[derive(Debug, Clone)]
pub struct Matcher {
    rules: RuleSet,
    automaton: AhoCorasick,
    literals: Vec<Literal>,
    context_after: usize,
}

impl Matcher {
    pub fn new(rules: RuleSet) -> Matcher {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut literals = Vec::new();
        for (rule, r) in rules.rules().iter().enumerate() {
            for prefix in &r.spec.prefixes {
                let prefix = prefix.as_bytes();
                let prefix_len = prefix.len();
                patterns.push(prefix.to_vec());
                literals.push(Literal::Raw { rule, prefix_len });
                patterns.push(decode::utf16_literal(prefix));
                literals.push(Literal::Utf16 { rule, prefix_len });
                for (text, hint) in decode::base64_hints(rule, prefix) {
                    patterns.push(text);
                    literals.push(Literal::Base64(hint));
                }
            }
        }
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&patterns)
            .expect("rule literals always build an automaton");
        // Enough bytes after a hit to see a whole key in its widest form (UTF-16) and the byte after.
        let context_after = 2 * (rules.max_key_len() + 2) + 16;
        Matcher {
            rules,
            automaton,
            literals,
            context_after,
        }
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// How many bytes after a hit the matcher may need to see.
    pub fn context_after(&self) -> usize {
        self.context_after
    }

    /// Appends to `out` the candidates of `buf` whose offset lies in `keep`. `base` is the offset of
    /// `buf` in its file (UTF-16 code units are aligned to the file, not the buffer). The bytes
    /// around `keep` are context: a caller that scans a stream in overlapping chunks keeps each
    /// candidate in exactly one chunk.
    pub fn find(&self, buf: &[u8], base: u64, keep: Range<usize>, out: &mut Vec<Candidate>) {
        for hit in self.automaton.find_iter(buf) {
            let found = match self.literals[hit.pattern().as_usize()] {
                Literal::Raw { rule, prefix_len } => self.raw(rule, prefix_len, buf, hit.start()),
                Literal::Utf16 { rule, prefix_len } => {
                    // The literal is both byte orders at once (see `decode::utf16_literal`): code
                    // units are aligned to the file, so the offset's parity tells which this is.
                    let at = hit.start();
                    if (base + at as u64) % 2 == 0 {
                        self.utf16(rule, prefix_len, false, buf, at)
                    } else {
                        // At the very start of a buffer this is context before a kept range: skip.
                        let Some(at) = at.checked_sub(1) else {
                            continue;
                        };
                        self.utf16(rule, prefix_len, true, buf, at)
                    }
                }
                Literal::Base64(hint) => self.base64(&hint, buf, hit.start()),
            };
            if let Some(c) = found.filter(|c| keep.contains(&c.offset)) {
                out.push(c);
            }
        }
    }

    /// A prefix as it is: raw, or behind a JSON/JS escape or a percent-encoded byte.
    fn raw(&self, rule: usize, prefix_len: usize, buf: &[u8], at: usize) -> Option<Candidate> {
        let encoding = match at.checked_sub(1).map(|i| buf[i]) {
            None => Encoding::Raw,
            Some(b) if !is_word(b) => Encoding::Raw,
            Some(_) => match decode::char_before(buf, at) {
                Some((decoded, encoding)) if !is_word(decoded) => encoding,
                _ => return None,
            },
        };
        let text = &buf[at..];
        let len = self.rules.get(rule).confirm(text, prefix_len)?;
        Some(candidate(rule, at, &text[..len], prefix_len, encoding))
    }

    fn utf16(
        &self,
        rule: usize,
        prefix_len: usize,
        big_endian: bool,
        buf: &[u8],
        at: usize,
    ) -> Option<Candidate> {
        let r = self.rules.get(rule);
        let (text, before) = decode::from_utf16(buf, at, big_endian, r.max_len + 1);
        if before.is_some_and(is_word) {
            return None;
        }
        let len = r.confirm(&text, prefix_len)?;
        Some(candidate(
            rule,
            at,
            &text[..len],
            prefix_len,
            Encoding::Utf16,
        ))
    }

    fn base64(&self, hint: &decode::Base64Hint, buf: &[u8], at: usize) -> Option<Candidate> {
        let r = self.rules.get(hint.rule);
        let decoded = hint.decode(buf, at, r.max_len + 1)?;
        if decoded.before.is_some_and(is_word) {
            return None;
        }
        let text = &decoded.bytes[decoded.key_start..];
        let len = r.confirm(text, hint.prefix_len)?;
        Some(candidate(
            hint.rule,
            decoded.offset,
            &text[..len],
            hint.prefix_len,
            Encoding::Base64,
        ))
    }
}

fn candidate(
    rule: usize,
    offset: usize,
    key: &[u8],
    prefix_len: usize,
    encoding: Encoding,
) -> Candidate {
    let key = String::from_utf8_lossy(key).into_owned();
    Candidate {
        rule,
        offset,
        secret: Secret::new(key, prefix_len),
        encoding,
    }
}

/// The key boundary: a key is not preceded by a letter, digit or `_`.
#[inline]
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    const BODY: &str = "Zt7Kq2Wm9Rb4Xv8Lp3Nc6Hd1";

    fn live() -> String {
        format!("sk_live_{BODY}")
    }

    fn find(buf: &[u8]) -> Vec<(usize, String, Encoding)> {
        let m = Matcher::new(RuleSet::builtin());
        let mut out = Vec::new();
        m.find(buf, 0, 0..buf.len(), &mut out);
        out.into_iter()
            .map(|c| (c.offset, c.secret.expose().to_string(), c.encoding))
            .collect()
    }

    #[test]
    fn raw_keys_and_the_boundary_rule() {
        let k = live();
        assert_eq!(find(k.as_bytes()), vec![(0, k.clone(), Encoding::Raw)]);
        assert_eq!(
            find(format!("x={k}\n").as_bytes()),
            vec![(2, k.clone(), Encoding::Raw)]
        );
        assert!(find(format!("de{k}").as_bytes()).is_empty());
        assert!(find(format!("_{k}").as_bytes()).is_empty());
        assert!(find(format!("7{k}").as_bytes()).is_empty());
        assert!(find(b"risk_test_DataProcessorFactory").is_empty());
    }

    #[test]
    fn escaped_keys_are_found_behind_json_and_js_escapes() {
        let k = live();
        for (text, at) in [
            (format!(r#""a\n{k}""#), 4),
            (format!(r#""\t{k}""#), 3),
            (format!(r#""\u0022{k}""#), 7),
            (format!(r#"'\x20{k}'"#), 5),
        ] {
            assert_eq!(
                find(text.as_bytes()),
                vec![(at, k.clone(), Encoding::Escape)],
                "{text}"
            );
        }
        // An escaped backslash: the text really is `\` then `n`, so the `n` is part of a word.
        assert!(find(format!(r#""\\n{k}""#).as_bytes()).is_empty());
        // \u0041 is "A": still a word character before the key.
        assert!(find(format!(r#""\u0041{k}""#).as_bytes()).is_empty());
    }

    #[test]
    fn percent_encoded_context_is_decoded() {
        let k = live();
        let url = format!("https://x.test/?k=%22{k}%22");
        assert_eq!(
            find(url.as_bytes()),
            vec![(21, k.clone(), Encoding::Percent)]
        );
        assert!(find(format!("?k=%41{k}").as_bytes()).is_empty());
    }

    #[test]
    fn base64_keys_at_every_alignment_and_in_both_alphabets() {
        let k = live();
        // Leads of 0 to 6 bytes put the prefix at every alignment in its quantum.
        for lead in ["", "\n", "x=", "ab ", "KEY=", "{\"k\":\""] {
            let plain = format!("{lead}{k}\n");
            for engine in [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::URL_SAFE,
            ] {
                let encoded = engine.encode(&plain);
                let text = format!("data: {encoded}\n");
                let found = find(text.as_bytes());
                assert_eq!(found.len(), 1, "{lead:?} {text}");
                let (offset, key, encoding) = &found[0];
                assert_eq!((key.as_str(), *encoding), (k.as_str(), Encoding::Base64));
                assert_eq!(*offset, 6 + lead.len() * 4 / 3, "{lead:?}");
            }
        }
        // The boundary rule applies to the decoded text.
        let text = base64::engine::general_purpose::STANDARD.encode(format!("x{k}"));
        assert!(find(text.as_bytes()).is_empty());
    }

    #[test]
    fn utf16_keys_in_both_byte_orders() {
        let k = live();
        let line = format!("key = {k}\r\n");
        let le: Vec<u8> = line.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = line.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(find(&le), vec![(12, k.clone(), Encoding::Utf16)]);
        assert_eq!(find(&be), vec![(12, k.clone(), Encoding::Utf16)]);
        let word: Vec<u8> = format!("x{k}")
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert!(find(&word).is_empty());
    }

    #[test]
    fn placeholders_and_the_documentation_example_are_not_keys() {
        for text in [
            "sk_live_abc123xyz789",
            "sk_live_xxxxxxxxxxxxxxxx",
            "sk_test_0000000000000",
        ] {
            assert!(find(text.as_bytes()).is_empty(), "{text}");
        }
    }

    #[test]
    fn keep_range_assigns_each_candidate_to_one_chunk() {
        let m = Matcher::new(RuleSet::builtin());
        let k = live();
        let buf = format!("{k} {k}");
        let mut out = Vec::new();
        m.find(buf.as_bytes(), 0, 0..5, &mut out);
        assert_eq!(out.len(), 1);
        out.clear();
        m.find(buf.as_bytes(), 0, 5..buf.len(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].offset, k.len() + 1);
    }

    /// Every rule finds each of its examples and none of its negative examples.
    #[test]
    fn every_rule_against_its_own_examples() {
        let rules = RuleSet::builtin();
        let m = Matcher::new(rules.clone());
        for (index, rule) in rules.rules().iter().enumerate() {
            assert!(
                !rule.spec.examples.is_empty(),
                "{} has no examples",
                rule.id()
            );
            assert!(
                !rule.spec.negative_examples.is_empty(),
                "{} has no negative examples",
                rule.id()
            );
            for example in &rule.spec.examples {
                let mut out = Vec::new();
                m.find(example.as_bytes(), 0, 0..example.len(), &mut out);
                assert!(
                    out.iter().any(|c| c.rule == index),
                    "{}: example not found: {example}",
                    rule.id()
                );
            }
            for example in &rule.spec.negative_examples {
                let mut out = Vec::new();
                m.find(example.as_bytes(), 0, 0..example.len(), &mut out);
                assert!(
                    out.iter().all(|c| c.rule != index),
                    "{}: negative example found: {example}",
                    rule.id()
                );
            }
        }
    }
}
