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
pub mod placeholder;

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::findings::{Encoding, Secret};
use crate::rules::RuleSet;

/// How many bytes before a prefilter hit the matcher may look at (escape sequences, the base64
/// quantum before a hint, and for wrapped base64 the whole line before the hint's line).
pub const CONTEXT_BEFORE: usize = 512;
const _: () = assert!(decode::BASE64_BEFORE <= CONTEXT_BEFORE);

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
    /// A fragment of the stable part of a prefix's base64 encoding.
    Base64(decode::Base64Hint),
    /// A prefix with its punctuation percent-encoded (`sk%5Flive%5F`).
    Percent {
        rule: usize,
        prefix: usize,
        len: usize,
    },
}

/// Finds candidate keys in buffers. Build once per scan; share between threads.
#[derive(Debug, Clone)]
pub struct Matcher {
    rules: RuleSet,
    automaton: AhoCorasick,
    /// What each pattern of the automaton means (one text can mean several things when rules share
    /// a prefix).
    literals: Vec<Vec<Literal>>,
    context_after: usize,
}

impl Matcher {
    pub fn new(rules: RuleSet) -> Matcher {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut literals: Vec<Vec<Literal>> = Vec::new();
        let mut add =
            |text: Vec<u8>, literal: Literal| match patterns.iter().position(|p| *p == text) {
                Some(i) => literals[i].push(literal),
                None => {
                    patterns.push(text);
                    literals.push(vec![literal]);
                }
            };
        for (rule, r) in rules.rules().iter().enumerate() {
            for (index, prefix) in r.spec.prefixes.iter().enumerate() {
                let prefix = prefix.as_bytes();
                let prefix_len = prefix.len();
                add(prefix.to_vec(), Literal::Raw { rule, prefix_len });
                add(
                    decode::utf16_literal(prefix),
                    Literal::Utf16 { rule, prefix_len },
                );
                for (text, hint) in decode::base64_hints(rule, index, prefix) {
                    add(text, Literal::Base64(hint));
                }
                for text in decode::percent_literals(prefix) {
                    let len = text.len();
                    add(
                        text,
                        Literal::Percent {
                            rule,
                            prefix: index,
                            len,
                        },
                    );
                }
            }
        }
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&patterns)
            .expect("rule literals always build an automaton");
        // Enough bytes after a hit to see a whole key in its widest form (UTF-16, or base64 wrapped
        // over narrow indented lines) and the byte after.
        let max = rules.max_key_len();
        let context_after = (2 * (max + 2) + 16).max(decode::base64_after(max + 1));
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
            for &literal in &self.literals[hit.pattern().as_usize()] {
                if let Some(c) = self.at_hit(literal, buf, base, hit.start()) {
                    if keep.contains(&c.offset) {
                        out.push(c);
                    }
                }
            }
        }
    }

    /// The candidate a literal found at `at` points at, if any.
    fn at_hit(&self, literal: Literal, buf: &[u8], base: u64, at: usize) -> Option<Candidate> {
        match literal {
            Literal::Raw { rule, prefix_len } => self.raw(rule, prefix_len, buf, at),
            Literal::Utf16 { rule, prefix_len } => {
                // The literal is both byte orders at once (see `decode::utf16_literal`): code
                // units are aligned to the file, so the offset's parity tells which this is.
                if (base + at as u64) % 2 == 0 {
                    self.utf16(rule, prefix_len, false, buf, at)
                } else {
                    // At the very start of a buffer this is context before a kept range: skip.
                    let at = at.checked_sub(1)?;
                    self.utf16(rule, prefix_len, true, buf, at)
                }
            }
            Literal::Base64(hint) => self.base64(&hint, buf, at),
            Literal::Percent { rule, prefix, len } => self.percent(rule, prefix, len, buf, at),
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

    /// A prefix written with its punctuation percent-encoded, then the body as it is.
    fn percent(
        &self,
        rule: usize,
        prefix: usize,
        len: usize,
        buf: &[u8],
        at: usize,
    ) -> Option<Candidate> {
        let r = self.rules.get(rule);
        if at > 0 && is_word(buf[at - 1]) {
            match decode::char_before(buf, at) {
                Some((decoded, _)) if !is_word(decoded) => {}
                _ => return None,
            }
        }
        let prefix = &r.spec.prefixes[prefix];
        let rest = &buf[at + len..buf.len().min(at + len + r.max_len + 1)];
        let mut text = prefix.as_bytes().to_vec();
        text.extend_from_slice(rest);
        let key_len = r.confirm(&text, prefix.len())?;
        Some(candidate(
            rule,
            at,
            &text[..key_len],
            prefix.len(),
            Encoding::Percent,
        ))
    }

    fn base64(&self, hint: &decode::Base64Hint, buf: &[u8], at: usize) -> Option<Candidate> {
        let r = self.rules.get(hint.rule);
        let prefix = &r.spec.prefixes[hint.prefix];
        let decoded = hint.decode(buf, at, prefix.as_bytes(), r.max_len + 1)?;
        if decoded.before.is_some_and(is_word) {
            return None;
        }
        let text = &decoded.bytes[..];
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
        static M: std::sync::OnceLock<Matcher> = std::sync::OnceLock::new();
        let m = M.get_or_init(|| Matcher::new(RuleSet::builtin()));
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

    /// `text` base64-encoded and wrapped at `width` with `eol` and `indent` before every line.
    fn wrapped(text: &str, width: usize, eol: &str, indent: &str) -> String {
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        encoded
            .as_bytes()
            .chunks(width)
            .map(|line| format!("{indent}{}{eol}", std::str::from_utf8(line).unwrap()))
            .collect()
    }

    #[test]
    fn wrapped_base64_is_read_as_one_text() {
        let k = live();
        for width in [16, 60, 64, 70, 76] {
            for eol in ["\n", "\r\n"] {
                for indent in ["", "  ", "\t"] {
                    // Leads that put the key's encoding across a line break at every place.
                    for lead in 0..width {
                        let plain = format!("{}{k}\n", "x=".repeat(lead / 2 + 1));
                        let text = format!("data: |\n{}", wrapped(&plain, width, eol, indent));
                        let found = find(text.as_bytes());
                        assert_eq!(found.len(), 1, "{width} {eol:?} {indent:?} {lead}: {text}");
                        let (offset, key, encoding) = &found[0];
                        assert_eq!((key.as_str(), *encoding), (k.as_str(), Encoding::Base64));
                        // Reported at its first encoded character.
                        let chars = (lead / 2 + 1) * 2 * 4 / 3;
                        let line = chars / width;
                        let expect = "data: |\n".len()
                            + line * (indent.len() + width + eol.len())
                            + indent.len()
                            + chars % width;
                        assert_eq!(*offset, expect, "{width} {eol:?} {indent:?} {lead}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_key_cut_short_by_the_end_of_the_text_is_not_a_key() {
        let k = format!("sk_live_{BODY}{BODY}{BODY}");
        let encoded = wrapped(&format!("{k}\n"), 76, "\n", "");
        let lines: Vec<&str> = encoded.lines().collect();
        assert!(lines.len() >= 2);
        // Whole, it is found whole.
        assert_eq!(find(encoded.as_bytes())[0].1, k);
        // The next line cannot be joined (indented unlike the first: not one block), so the
        // first line ends mid-key: the key is not reported cut short.
        let first = format!("{}\n  {}\n", lines[0], lines[1]);
        assert!(find(first.as_bytes()).is_empty(), "{first}");
        // Nor when the next line cannot be joined (wider than the first: not one block).
        let wider = format!("{}\n{}\n", lines[0], "QUFB".repeat(20));
        assert!(find(wider.as_bytes()).is_empty(), "{wider}");
        // A key that ends inside one line is whole, wherever the text stops.
        let short = base64::engine::general_purpose::STANDARD.encode(live());
        assert_eq!(find(short.as_bytes()).len(), 1);
        let short_nopad = base64::engine::general_purpose::STANDARD_NO_PAD.encode(live());
        assert_eq!(
            find(format!("k: {short_nopad}\nnext: 1\n").as_bytes()).len(),
            1
        );
    }

    #[test]
    fn base64_lines_of_one_value_each_are_not_joined_into_one_key() {
        // Two padded values one a line: the first is whole and the second is no continuation.
        let a = base64::engine::general_purpose::STANDARD.encode(live());
        let b = base64::engine::general_purpose::STANDARD.encode(format!("sk_test_{BODY}"));
        let found = find(format!("{a}\n{b}\n").as_bytes());
        let keys: Vec<&str> = found.iter().map(|f| f.1.as_str()).collect();
        assert_eq!(keys, vec![live(), format!("sk_test_{BODY}")]);
    }

    #[test]
    fn percent_encoded_prefixes_are_found() {
        for text in [
            format!("https://x.test/?k=sk%5Flive%5F{BODY}&x=1"),
            format!("https://x.test/?k=sk%5flive%5f{BODY}"),
        ] {
            let found = find(text.as_bytes());
            assert_eq!(found, vec![(18, live(), Encoding::Percent)], "{text}");
        }
        assert!(find(format!("xsk%5Flive%5F{BODY}").as_bytes()).is_empty());
        assert_eq!(find(format!("%22sk%5Flive%5F{BODY}").as_bytes()).len(), 1);
    }

    #[test]
    fn placeholders_by_what_they_are() {
        for body in [
            "notarealkey",
            "thisisaboguskey",
            "provisioned",
            "envvar1234567890",
            "abc123456789qwerty",
            "12345678abcd",
            "yourkeyhere",
            "test1234567890",
            "Zt7Kq2Wm9Rb4EXAMPLE",
            "Zt7sampleKq2Wm9Rb4",
            "PlaceholderZt7Kq2Wm9",
            "FAKEZt7Kq2Wm9Rb4",
            "Zt7Kq2Wm9Rb4Fake",
        ] {
            let text = format!("sk_live_{body}");
            assert!(find(text.as_bytes()).is_empty(), "{body}");
        }
        for body in [
            "Zt7KeyWm9Rb4Xv8Lp3Nc6Hd1",
            "Zt7Kq2FAKEWm9Rb4",
            "Zt7Kq2Wm9Rb4ExAmPlE",
            BODY,
        ] {
            let text = format!("sk_live_{body}");
            assert_eq!(find(text.as_bytes()).len(), 1, "{body}");
        }
    }

    #[test]
    fn basic_auth_transcripts_masks_and_the_documentation_example() {
        // A key as the user name of Basic auth: base64 of `key:`.
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:", live()));
        let found = find(format!("Authorization: Basic {basic}\r\n").as_bytes());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, live());
        for text in [
            "sk_live_XXXXXXXXXXXXXXXX",
            "sk_live_xxxxxxxxxxxx1234",
            "sk_live_7777777777777",
            "sk_live_abc123xyz789",
        ] {
            assert!(find(text.as_bytes()).is_empty(), "{text}");
        }
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
